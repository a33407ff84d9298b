namespace KvBlockPool.Prefix;

/// <summary>
/// Turns on the prefix cache of a <see cref="BlockPool"/> (see <see cref="BlockPoolOptions.PrefixCache"/>): full
/// blocks are published under content keys, shared by every agent whose prompt starts with the same tokens, and kept
/// after their last agent is released until the memory is needed.
/// </summary>
public sealed class KvPrefixCacheOptions
{
    /// <summary>The smallest key secret accepted, in bytes.</summary>
    public const int MinKeySecretBytes = 16;

    /// <summary>The largest key secret accepted, in bytes.</summary>
    public const int MaxKeySecretBytes = 1024;

    /// <summary>
    /// The deployment secret every chunk key is derived from, so that an outsider cannot precompute keys. Hosts that
    /// share chunks (a shared tier) must share it. <see langword="null"/> (the default): 32 random bytes per pool.
    /// Copied when the pool is created; never logged.
    /// </summary>
    public byte[]? KeySecret { get; set; }

    /// <summary>How chunk keys are computed; <see cref="KvChunkHashAlgorithm.XxHash128"/> by default.</summary>
    public KvChunkHashAlgorithm HashAlgorithm { get; set; } = KvChunkHashAlgorithm.XxHash128;

    /// <summary>
    /// The largest share of the pool's blocks that pinned chunks (<see cref="KvPrefixCache.Pin"/>) may hold: more than
    /// 0, at most 1; 0.5 by default, so pins can never starve admissions of more than half the pool.
    /// </summary>
    public double MaxPinnedShare { get; set; } = 0.5;

    /// <summary>
    /// A shared tier the cache writes its chunks to and restores missing ones from (see <see cref="Tier.KvTierOptions"/>);
    /// <see langword="null"/> (the default): no tier.
    /// </summary>
    public Tier.KvTierOptions? Tier { get; set; }
}
