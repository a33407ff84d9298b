namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>
/// What every worker of a shared-prefix run shares: the settings, the conversations' shape, the system prompts
/// (made once from the seed) and the ledger of memory saved.
/// </summary>
internal sealed class SharedPrefixWorkload
{
    private readonly int[][] _systemPrompts;
    private readonly int _seed;

    public SharedPrefixWorkload(SharedPrefixSettings settings, ConversationShape shape, int seed)
    {
        Settings = settings;
        Shape = shape;
        _seed = seed;
        _systemPrompts = new int[settings.SystemPrompts][];
        for (int i = 0; i < _systemPrompts.Length; i++)
        {
            _systemPrompts[i] = new int[shape.SystemPromptTokens];
            TokenIds.SystemPrompt(seed, i, _systemPrompts[i]);
        }
    }

    public SharedPrefixSettings Settings { get; }

    public ConversationShape Shape { get; }

    public SharingLedger Ledger { get; } = new();

    /// <summary>
    /// A new conversation: one of the shared system prompts, drawn with <paramref name="random"/>, or, with no shared
    /// prompts, its own, made from <paramref name="serial"/> (unique in the run).
    /// </summary>
    public Conversation Start(Random random, long serial)
    {
        if (_systemPrompts.Length > 0)
        {
            return new Conversation(_systemPrompts[random.Next(_systemPrompts.Length)], Shape.TokenBudget);
        }

        int[] own = new int[Shape.SystemPromptTokens];
        TokenIds.SystemPrompt(_seed, serial, own);
        return new Conversation(own, Shape.TokenBudget);
    }
}
