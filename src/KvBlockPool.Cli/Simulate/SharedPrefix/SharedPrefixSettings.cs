namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>The knobs of the shared-prefix workload (<c>--workload shared-prefix</c>).</summary>
internal sealed record SharedPrefixSettings
{
    public const int DefaultSystemPrompts = 4;
    public const double DefaultReturnProbability = 0.5;

    /// <summary>Distinct system prompts new conversations draw from; 0 gives every conversation its own, so agents share nothing but their own earlier turns.</summary>
    public int SystemPrompts { get; init; } = DefaultSystemPrompts;

    /// <summary>The system prompt's length in tokens, or null for the default that fits the pool (see <see cref="ConversationShape"/>).</summary>
    public int? SystemPromptTokens { get; init; }

    /// <summary>The chance that a conversation whose answer is complete comes back for another turn.</summary>
    public double ReturnProbability { get; init; } = DefaultReturnProbability;
}
