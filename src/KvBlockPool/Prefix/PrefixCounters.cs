namespace KvBlockPool.Prefix;

/// <summary>
/// The prefix cache's running totals. Written under the pool's gate, read without it (each value on its own; a
/// reader may see one counter a step ahead of another, never a torn value).
/// </summary>
internal sealed class PrefixCounters
{
    private long _lookups;
    private long _queriedTokens;
    private long _hitTokens;
    private long _evictedChunks;
    private long _storedChunks;
    private long _duplicateChunks;

    public long Lookups => Interlocked.Read(ref _lookups);

    public long QueriedTokens => Interlocked.Read(ref _queriedTokens);

    public long HitTokens => Interlocked.Read(ref _hitTokens);

    public long EvictedChunks => Interlocked.Read(ref _evictedChunks);

    public long StoredChunks => Interlocked.Read(ref _storedChunks);

    public long DuplicateChunks => Interlocked.Read(ref _duplicateChunks);

    public void Lookup(int queriedTokens, int hitTokens)
    {
        Interlocked.Increment(ref _lookups);
        Interlocked.Add(ref _queriedTokens, queriedTokens);
        Interlocked.Add(ref _hitTokens, hitTokens);
    }

    public void Evicted(int chunks) => Interlocked.Add(ref _evictedChunks, chunks);

    public void Stored(int chunks, int duplicates)
    {
        Interlocked.Add(ref _storedChunks, chunks);
        Interlocked.Add(ref _duplicateChunks, duplicates);
    }
}
