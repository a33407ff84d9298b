namespace KvBlockPool.Prefix;

/// <summary>A snapshot of a pool's prefix cache: what it holds and how well it has served (see <see cref="KvPrefixCache.GetStatistics"/>).</summary>
public readonly struct KvPrefixCacheStatistics
{
    internal KvPrefixCacheStatistics(int chunks, int evictableChunks, int pinnedChunks, int layers, long lookups, long queriedTokens, long hitTokens, long storedChunks, long duplicateChunks, long evictedChunks)
    {
        CachedChunks = chunks;
        EvictableChunks = evictableChunks;
        CachedBlocks = chunks * layers;
        EvictableBlocks = evictableChunks * layers;
        PinnedChunks = pinnedChunks;
        PinnedBlocks = pinnedChunks * layers;
        Lookups = lookups;
        QueriedTokens = queriedTokens;
        HitTokens = hitTokens;
        StoredChunks = storedChunks;
        DuplicateChunks = duplicateChunks;
        EvictedChunks = evictedChunks;
    }

    /// <summary>Chunks in the cache, referenced or not.</summary>
    public int CachedChunks { get; }

    /// <summary>Chunks no agent references: kept for future hits, evicted (least recently used first) when memory is needed.</summary>
    public int EvictableChunks { get; }

    /// <summary>Blocks of the cached chunks (one per layer each).</summary>
    public int CachedBlocks { get; }

    /// <summary>Blocks of the evictable chunks; the pool counts them as available.</summary>
    public int EvictableBlocks { get; }

    /// <summary>Pinned chunks (<see cref="KvPrefixCache.Pin"/>): never evicted, referenced or not.</summary>
    public int PinnedChunks { get; }

    /// <summary>Blocks of the pinned chunks.</summary>
    public int PinnedBlocks { get; }

    /// <summary>Admissions that looked the cache up.</summary>
    public long Lookups { get; }

    /// <summary>Prompt tokens of those admissions.</summary>
    public long QueriedTokens { get; }

    /// <summary>Prompt tokens found in the cache (not computed again).</summary>
    public long HitTokens { get; }

    /// <summary><see cref="HitTokens"/> / <see cref="QueriedTokens"/>; 0 before the first lookup.</summary>
    public double HitRate => QueriedTokens == 0 ? 0 : (double)HitTokens / QueriedTokens;

    /// <summary>Chunks published into the cache.</summary>
    public long StoredChunks { get; }

    /// <summary>Chunks not published because another agent's copy of the same key was cached first (the agent kept its own copy).</summary>
    public long DuplicateChunks { get; }

    /// <summary>Chunks evicted to make room (or by a reset).</summary>
    public long EvictedChunks { get; }
}
