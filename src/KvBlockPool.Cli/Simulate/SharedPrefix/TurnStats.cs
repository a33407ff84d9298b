namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>Admissions of one kind of turn (first turns, or returning ones) and how much of their prompts the cache held.</summary>
internal sealed class TurnStats
{
    public long Admitted { get; private set; }

    public long PromptTokens { get; private set; }

    /// <summary>Prompt tokens found in the prefix cache: prefill skipped.</summary>
    public long CachedTokens { get; private set; }

    /// <summary>Of <see cref="CachedTokens"/>, those restored from the shared tier (another host, or an earlier run, computed them).</summary>
    public long TierTokens { get; private set; }

    /// <summary><see cref="CachedTokens"/> / <see cref="PromptTokens"/>; 0 before the first admission.</summary>
    public double HitRate => PromptTokens == 0 ? 0 : (double)CachedTokens / PromptTokens;

    public void Record(int promptTokens, int cachedTokens, int tierTokens)
    {
        Admitted++;
        PromptTokens += promptTokens;
        CachedTokens += cachedTokens;
        TierTokens += tierTokens;
    }

    public void Add(TurnStats other)
    {
        Admitted += other.Admitted;
        PromptTokens += other.PromptTokens;
        CachedTokens += other.CachedTokens;
        TierTokens += other.TierTokens;
    }
}
