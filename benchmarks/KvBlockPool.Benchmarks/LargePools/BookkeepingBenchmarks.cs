using BenchmarkDotNet.Attributes;

namespace KvBlockPool.Benchmarks.LargePools;

/// <summary>
/// Measures per-block bookkeeping: the managed bytes a pool allocates when it is built (its per-block state) at
/// two capacities. Per block = (Allocated(100,000) - Allocated(10,000)) / 90,000, which removes the fixed cost
/// (options, meter, tables) and leaves what grows with the capacity.
/// </summary>
[MemoryDiagnoser]
public class BookkeepingBenchmarks
{
    /// <summary>Blocks in the pool.</summary>
    [Params(10_000, 100_000)]
    public int Capacity { get; set; }

    /// <summary>Builds and disposes a pool; the Allocated column is its managed footprint.</summary>
    [Benchmark]
    public long ConstructAndDispose()
    {
        using BlockPool pool = LargePoolBenchmarks.CreatePool(Capacity);
        return pool.NativeBytes;
    }
}
