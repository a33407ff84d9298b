using BenchmarkDotNet.Attributes;
using KvBlockPool.Benchmarks.Baselines;

namespace KvBlockPool.Benchmarks.LargePools;

/// <summary>
/// Suite 4, the shape of vLLM's block-pool benchmark: a pool of 100,000 blocks; allocate <see cref="K"/> blocks in
/// one call, then free them in one call; time per call pair. Small blocks (256 bytes) keep the native memory at
/// 25 MB: only the bookkeeping is measured, and it does not depend on the block size.
/// </summary>
[MemoryDiagnoser]
public class LargePoolBenchmarks : IDisposable
{
    /// <summary>Blocks in the pool.</summary>
    public const int Capacity = 100_000;

    private static readonly AgentId Agent = new(1);
    private KvBlock[] _blocks = [];
    private ModelBlock[] _modelBlocks = [];
    private int[] _ids = [];
    private BlockPool _pool = null!;
    private LockedIntStackFloor _floor = null!;
    private PoolLogicModel _model = null!;
    private ConcurrentQueuePool _queue = null!;

    /// <summary>Blocks per call.</summary>
    [Params(10, 100, 1000)]
    public int K { get; set; }

    /// <summary>A 1-layer, 256-byte-block spec: large pools measure bookkeeping, not bytes.</summary>
    internal static KvCacheSpec SmallBlockSpec { get; } = new(layers: 1, kvHeads: 1, headDim: 16, tokensPerBlock: 4, KvElementType.Float16);

    /// <summary>Builds the 100,000-block pool and the baselines of the same capacity.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _pool = CreatePool(Capacity);
        _pool.Allocate(Agent, layer: 0);
        _floor = new LockedIntStackFloor(Capacity);
        _model = new PoolLogicModel(Capacity, layers: 1);
        _model.Allocate(Agent, 0, new ModelBlock[1]);
        _queue = new ConcurrentQueuePool(Capacity);
        _blocks = new KvBlock[K];
        _modelBlocks = new ModelBlock[K];
        _ids = new int[K];
    }

    /// <summary>The floor: one lock to pop k ints, one to push them back.</summary>
    [Benchmark(Baseline = true)]
    public int Floor()
    {
        _floor.PopMany(_ids);
        _floor.PushMany(_ids);
        return _ids[0];
    }

    /// <summary>The pool: one <c>Allocate</c> of k into a span, one <c>Free</c> of the k.</summary>
    [Benchmark]
    public int Pool()
    {
        _pool.Allocate(Agent, 0, _blocks);
        _pool.Free(Agent, _blocks);
        return _blocks[0].Id;
    }

    /// <summary>The pool's logic with no gate.</summary>
    [Benchmark]
    public int PoolLogicWithoutLock()
    {
        _model.Allocate(Agent, 0, _modelBlocks);
        _model.Free(Agent, _modelBlocks);
        return _modelBlocks[0].Id;
    }

    /// <summary>k dequeues, then k enqueues.</summary>
    [Benchmark]
    public int ConcurrentQueue()
    {
        return _queue.RentAndReturnMany(_ids);
    }

    /// <summary>Frees the pool.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _pool?.Dispose();
        GC.SuppressFinalize(this);
    }

    internal static BlockPool CreatePool(int capacity) => new(new BlockPoolOptions
    {
        Spec = SmallBlockSpec,
        CapacityBlocks = capacity,
        Alignment = 64,
        ClearMode = BlockClearMode.None,
        Diagnostics = false,
        Name = "benchmark-large",
    });
}
