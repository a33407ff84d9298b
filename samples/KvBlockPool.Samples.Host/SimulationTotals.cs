namespace KvBlockPool.Samples.Host;

/// <summary>What the workers did, counted across threads.</summary>
internal sealed class SimulationTotals
{
    private long _admitted;
    private long _completed;
    private long _preempted;
    private long _prefillTokens;
    private long _decodedTokens;
    private long _exhaustionWaits;
    private long _corrupt;
    private long _cachedTokens;
    private long _tierTokens;

    public long Admitted => Interlocked.Read(ref _admitted);

    public long Completed => Interlocked.Read(ref _completed);

    public long Preempted => Interlocked.Read(ref _preempted);

    public long PrefillTokens => Interlocked.Read(ref _prefillTokens);

    public long DecodedTokens => Interlocked.Read(ref _decodedTokens);

    public long ExhaustionWaits => Interlocked.Read(ref _exhaustionWaits);

    public long Corrupt => Interlocked.Read(ref _corrupt);

    /// <summary>Prompt tokens the prefix cache already held (from the pool or the tier), so no agent wrote them.</summary>
    public long CachedTokens => Interlocked.Read(ref _cachedTokens);

    /// <summary>The part of <see cref="CachedTokens"/> restored from the tier.</summary>
    public long TierTokens => Interlocked.Read(ref _tierTokens);

    public void AddAdmitted(int promptTokens)
    {
        Interlocked.Increment(ref _admitted);
        Interlocked.Add(ref _prefillTokens, promptTokens);
    }

    public void AddAdmitted(int promptTokens, int cachedTokens, int tierTokens)
    {
        AddAdmitted(promptTokens);
        Interlocked.Add(ref _cachedTokens, cachedTokens);
        Interlocked.Add(ref _tierTokens, tierTokens);
    }

    public void AddCompleted() => Interlocked.Increment(ref _completed);

    public void AddPreempted() => Interlocked.Increment(ref _preempted);

    public void AddDecoded() => Interlocked.Increment(ref _decodedTokens);

    public void AddExhaustionWait() => Interlocked.Increment(ref _exhaustionWaits);

    public void AddCorrupt() => Interlocked.Increment(ref _corrupt);
}
