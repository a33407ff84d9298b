namespace KvBlockPool.Prefix;

/// <summary>
/// Every chunk a pool's prefix cache held at one moment (from <see cref="KvPrefixCache.GetSnapshot"/>), with the
/// sequence number of the last event before that moment: a subscriber that saw a gap rebuilds its view from the
/// chunks, then applies only events numbered after <see cref="Sequence"/>.
/// </summary>
public sealed class KvPrefixSnapshot
{
    internal KvPrefixSnapshot(long sequence, IReadOnlyList<KvPrefixEvent> chunks)
    {
        Sequence = sequence;
        Chunks = chunks;
    }

    /// <summary>The number of the last event included in this snapshot (0 before any event).</summary>
    public long Sequence { get; }

    /// <summary>One <see cref="KvPrefixEventKind.Stored"/> event per cached chunk (their own sequence numbers are 0).</summary>
    public IReadOnlyList<KvPrefixEvent> Chunks { get; }
}
