namespace KvBlockPool.Prefix;

/// <summary>What a <see cref="KvPrefixEvent"/> reports.</summary>
public enum KvPrefixEventKind
{
    /// <summary>A chunk was published: <see cref="KvPrefixEvent.Key"/>, its parent and context, its token count.</summary>
    Stored = 0,

    /// <summary>A chunk was evicted (to make room, or by a reset): its key is no longer cached.</summary>
    Removed = 1,

    /// <summary>Every chunk is gone at once (the pool was reconfigured or disposed).</summary>
    AllCleared = 2,

    /// <summary>
    /// The subscriber fell behind its buffer and <see cref="KvPrefixEvent.Lost"/> events were dropped before this
    /// point: resynchronise from <see cref="KvPrefixCache.GetSnapshot"/>.
    /// </summary>
    Gap = 3,
}
