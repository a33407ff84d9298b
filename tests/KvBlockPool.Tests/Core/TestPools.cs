namespace KvBlockPool.Tests.Core;

/// <summary>Small pools for tests: a few hundred bytes per block, so every test stays far from the machine's limits.</summary>
internal static class TestPools
{
    /// <summary>2 KV heads x 8 dims x 4 tokens in FP16: 128 bytes per half, 256 per block.</summary>
    public static KvCacheSpec Spec(int layers = 2) => new(layers, kvHeads: 2, headDim: 8, tokensPerBlock: 4, KvElementType.Float16);

    public static BlockPool Create(
        int capacity = 16,
        int layers = 2,
        BlockClearMode clearMode = BlockClearMode.ZeroOnFree,
        bool diagnostics = false,
        int blocksPerSlab = 0,
        string? name = null) => new(Options(capacity, layers, clearMode, diagnostics, blocksPerSlab, name));

    public static BlockPoolOptions Options(
        int capacity = 16,
        int layers = 2,
        BlockClearMode clearMode = BlockClearMode.ZeroOnFree,
        bool diagnostics = false,
        int blocksPerSlab = 0,
        string? name = null) => new()
        {
            Spec = Spec(layers),
            CapacityBlocks = capacity,
            Alignment = 64,
            ClearMode = clearMode,
            Diagnostics = diagnostics,
            BlocksPerSlab = blocksPerSlab,
            Name = name,
        };

    /// <summary>A handle the pool never issued: the fields of <paramref name="block"/> with some replaced.</summary>
    public static KvBlock Forge(KvBlock block, int? id = null, int? layer = null, uint? generation = null) =>
        new(id ?? block.Id, layer ?? block.Layer, generation ?? block.Generation, block.PoolStamp);
}
