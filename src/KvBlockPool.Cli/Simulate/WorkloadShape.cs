namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// The traffic the simulated host sees: prompt and answer lengths, how often a client disconnects during prefill,
/// how many sequences decode speculatively. Lengths scale with the pool so that one agent never needs more than
/// an eighth of it: the default slots then overcommit the pool a little, so some admissions wait and some
/// long decodes are preempted, as on a busy host.
/// </summary>
/// <param name="MinPrompt">The shortest prompt.</param>
/// <param name="MaxPrompt">The longest prompt.</param>
/// <param name="MinDecode">The shortest answer.</param>
/// <param name="MaxDecode">The longest answer.</param>
/// <param name="TokenBudget">The most tokens one agent may hold: an eighth of the pool.</param>
internal sealed record WorkloadShape(int MinPrompt, int MaxPrompt, int MinDecode, int MaxDecode, int TokenBudget)
{
    /// <summary>Share of admissions abandoned part-way through prefill (the client went away): their scope rolls back.</summary>
    public const double AbortProbability = 0.05;

    /// <summary>Share of agents that decode speculatively: draft several tokens, keep some, truncate the rest.</summary>
    public const double SpeculativeProbability = 0.25;

    public const int DraftTokens = 4;

    /// <summary>How long a decode step waits for a block before the host preempts its agent (as vLLM does) to free space.</summary>
    public const int DecodePatienceMilliseconds = 50;

    public static WorkloadShape For(KvCacheSpec spec, int capacityBlocks)
    {
        long tokensPerAgent = (long)capacityBlocks / 8 / spec.Layers * spec.TokensPerBlock;
        if (tokensPerAgent < 8)
        {
            throw new UsageException($"a pool of {capacityBlocks} blocks is too small for a {spec.Layers}-layer model: one agent may use an eighth of it, which is fewer than 8 tokens. Raise --capacity-mib.");
        }

        int maxPrompt = (int)Math.Min(768, tokensPerAgent * 3 / 4);
        int maxDecode = (int)Math.Min(256, tokensPerAgent - maxPrompt);
        return new WorkloadShape(Math.Min(16, maxPrompt), maxPrompt, Math.Min(8, maxDecode), maxDecode, (int)Math.Min(int.MaxValue, tokensPerAgent));
    }
}
