namespace KvBlockPool.Prefix;

/// <summary>
/// One change to a pool's prefix cache, as a router or a shared tier follows it (see
/// <see cref="KvPrefixCache.Subscribe"/>). Events carry consecutive sequence numbers per pool.
/// </summary>
public readonly struct KvPrefixEvent
{
    internal KvPrefixEvent(KvPrefixEventKind kind, long sequence, KvChunkKey key = default, KvChunkKey parentKey = default, KvChunkKey contextKey = default, int tokenCount = 0, long lost = 0)
    {
        Kind = kind;
        Sequence = sequence;
        Key = key;
        ParentKey = parentKey;
        ContextKey = contextKey;
        TokenCount = tokenCount;
        Lost = lost;
    }

    /// <summary>What happened.</summary>
    public KvPrefixEventKind Kind { get; }

    /// <summary>The event's number in its pool, from 1, with no holes; for a <see cref="KvPrefixEventKind.Gap"/>, the number of the first event lost.</summary>
    public long Sequence { get; }

    /// <summary>The chunk's key (<see cref="KvPrefixEventKind.Stored"/> and <see cref="KvPrefixEventKind.Removed"/>).</summary>
    public KvChunkKey Key { get; }

    /// <summary>The parent chunk's key, or the chain's root for a prompt's first chunk (<see cref="KvPrefixEventKind.Stored"/>).</summary>
    public KvChunkKey ParentKey { get; }

    /// <summary>
    /// The root key of the chunk's chain (<see cref="KvPrefixCache.GetRootKey"/>): it names the context (salt and
    /// adapter) without revealing it (<see cref="KvPrefixEventKind.Stored"/>).
    /// </summary>
    public KvChunkKey ContextKey { get; }

    /// <summary>Tokens in the chunk (<see cref="KvPrefixEventKind.Stored"/>).</summary>
    public int TokenCount { get; }

    /// <summary>Events dropped (<see cref="KvPrefixEventKind.Gap"/>).</summary>
    public long Lost { get; }

    /// <summary>A one-line description, for logs.</summary>
    /// <returns>For example <c>#12 Stored 0f3a… (parent 77b1…, 16 tokens)</c>.</returns>
    public override string ToString() => Kind switch
    {
        KvPrefixEventKind.Stored => $"#{Sequence} Stored {Key} (parent {ParentKey}, {TokenCount} tokens)",
        KvPrefixEventKind.Removed => $"#{Sequence} Removed {Key}",
        KvPrefixEventKind.Gap => $"#{Sequence} Gap: {Lost} event(s) lost",
        _ => $"#{Sequence} {Kind}",
    };
}
