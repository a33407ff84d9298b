using KvBlockPool.Core;

namespace KvBlockPool.SystematicTests.Harness;

/// <summary>
/// Tiny pools for scenarios: a handful of 64-byte blocks in slabs of two, so that every interleaving is cheap to
/// run and exhaustion, slab boundaries and reuse all happen within a few operations.
/// </summary>
internal static class ScenarioPools
{
    /// <summary>Both clear modes: with <see cref="BlockClearMode.ZeroOnFree"/> a free is two critical sections with a scrub between them.</summary>
    public static TheoryData<BlockClearMode> ClearModes => new(BlockClearMode.ZeroOnFree, BlockClearMode.None);

    /// <summary>A spec with 64-byte blocks (1 head of 8 dims, 2 tokens per block, FP16, K and V).</summary>
    public static KvCacheSpec Spec(int layers, int headDim = 8) =>
        new(layers, kvHeads: 1, headDim: headDim, tokensPerBlock: 2, KvElementType.Float16);

    public static BlockPool Create(BlockClearMode clearMode, int capacity, int layers, INativeAllocator? allocator = null, bool prefixCache = false) =>
        new(
            new BlockPoolOptions
            {
                Spec = Spec(layers),
                CapacityBlocks = capacity,
                BlocksPerSlab = 2,
                Alignment = 64,
                ClearMode = clearMode,
                Diagnostics = false, // not from the environment: every run explores the same program
                Name = "systematic",
                PrefixCache = prefixCache ? new Prefix.KvPrefixCacheOptions { KeySecret = new byte[32] } : null, // a fixed secret: every run hashes alike
            },
            allocator ?? SystemNativeAllocator.Instance);
}
