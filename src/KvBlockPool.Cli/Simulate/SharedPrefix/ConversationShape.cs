namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>
/// How long the shared-prefix workload's conversations are. An agent keeps the default workload's budget (an eighth
/// of the pool, <see cref="WorkloadShape.For"/>), so a run without sharing meets the same pressure; the system prompt
/// takes at most half of it by default, and each turn's user message and answer at most a quarter of what is left, so
/// every conversation has room to come back at least once.
/// </summary>
internal sealed record ConversationShape(int TokenBudget, int SystemPromptTokens, int MinUser, int MaxUser, int MinAnswer, int MaxAnswer)
{
    /// <summary>The longest default system prompt: long enough to matter, short enough for the default pool.</summary>
    public const int MaxDefaultSystemPromptTokens = 512;

    /// <summary>The longest user message or answer of one turn.</summary>
    public const int MaxTurnTokens = 256;

    public static ConversationShape For(KvCacheSpec spec, int capacityBlocks, SharedPrefixSettings settings)
    {
        int budget = WorkloadShape.For(spec, capacityBlocks).TokenBudget;
        int system = settings.SystemPromptTokens ?? DefaultSystemPrompt(budget, spec.TokensPerBlock);
        int rest = budget - system;
        if (rest < 2)
        {
            throw new UsageException($"--system-prompt-tokens {system} leaves no room for a conversation: one agent may use {budget} tokens of this pool (an eighth of it). Lower --system-prompt-tokens or raise --capacity-mib.");
        }

        int maxTurn = Math.Clamp(rest / 4, 1, MaxTurnTokens);
        int minTurn = Math.Min(8, maxTurn);
        return new ConversationShape(budget, system, minTurn, maxTurn, minTurn, maxTurn);
    }

    /// <summary>The longest prompt a conversation can present (a turn is admitted only while it fits the budget): what an abandoned prefill is sized for.</summary>
    public int MaxPrompt => TokenBudget;

    /// <summary>Whether a conversation of <paramref name="tokens"/> tokens has room for one more turn of the longest kind.</summary>
    public bool HasRoomForTurn(int tokens) => tokens + MaxUser + MaxAnswer <= TokenBudget;

    // Half the budget in whole chunks, so that the system prompt's chunks are all shareable; a budget under two chunks
    // gets a system prompt shorter than a chunk, which no admission can hit (the run says so with a hit rate of 0).
    private static int DefaultSystemPrompt(int budget, int tokensPerBlock)
    {
        int half = Math.Min(budget / 2, MaxDefaultSystemPromptTokens);
        return half >= tokensPerBlock ? half / tokensPerBlock * tokensPerBlock : half;
    }
}
