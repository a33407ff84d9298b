namespace KvBlockPool.Lifecycle;

/// <summary>What an admission with the prompt's tokens found in the prefix cache: how much of the prompt is already computed.</summary>
public readonly struct KvPrefixAdmission
{
    internal KvPrefixAdmission(int promptTokens, int cachedTokens, int tokensPerBlock, int tierTokens = 0)
    {
        PromptTokens = promptTokens;
        CachedTokens = cachedTokens;
        CachedBlocksPerLayer = cachedTokens / tokensPerBlock;
        TierTokens = tierTokens;
    }

    /// <summary>The prompt's length.</summary>
    public int PromptTokens { get; }

    /// <summary>
    /// Tokens from the start of the prompt whose keys and values are already in the agent's cache (shared chunks):
    /// run the model from this position. Always less than <see cref="PromptTokens"/> (the last token is computed
    /// again, so the model yields logits), and a multiple of the spec's tokens per block.
    /// </summary>
    public int CachedTokens { get; }

    /// <summary>
    /// Of <see cref="CachedTokens"/>, those restored from the shared tier by <see cref="AgentCacheManager.AdmitAsync"/>
    /// (the rest were this pool's own chunks); 0 without a tier.
    /// </summary>
    public int TierTokens { get; }

    /// <summary>Of <see cref="CachedTokens"/>, those this pool held: <see cref="CachedTokens"/> - <see cref="TierTokens"/>.</summary>
    public int LocalTokens => CachedTokens - TierTokens;

    /// <summary>Tokens the host must compute: <see cref="PromptTokens"/> - <see cref="CachedTokens"/>.</summary>
    public int ComputedTokens => PromptTokens - CachedTokens;

    /// <summary>Blocks on each layer that are shared (read-only) cached chunks: the first ones of the agent's block table.</summary>
    public int CachedBlocksPerLayer { get; }
}
