namespace KvBlockPool.Benchmarks;

/// <summary>The pool shapes the suites share, so every suite measures the same block size.</summary>
internal static class BenchmarkPools
{
    /// <summary>A Llama-3-8B block: 16 tokens x 8 KV heads x 128 dims, FP16, K and V: 64 KiB.</summary>
    public static KvCacheSpec BlockSpec { get; } = KvCacheSpec.Llama3_8B();

    /// <summary>The alignment the pool and the <c>AlignedAlloc</c> baseline use: one page.</summary>
    public static int Alignment => Environment.SystemPageSize;

    /// <summary>
    /// A pool of <paramref name="capacity"/> Llama-3-8B blocks. The single-thread and contention suites use
    /// <see cref="BlockClearMode.None"/> so they measure bookkeeping; the clearing suite measures the bytes.
    /// </summary>
    public static BlockPool Create(int capacity, BlockClearMode clearMode) => new(new BlockPoolOptions
    {
        Spec = BlockSpec,
        CapacityBlocks = capacity,
        ClearMode = clearMode,
        Diagnostics = false,
        Name = "benchmark",
    });
}
