using System.Buffers;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Benchmarks.Baselines;

namespace KvBlockPool.Benchmarks.SingleThread;

/// <summary>
/// Suite 1c: admit an agent on all 32 layers through an allocation scope (<see cref="BlocksPerLayer"/> blocks per
/// layer), commit, then release the agent: per layer (<see cref="PoolScope"/>, one gate acquisition per layer) and
/// in bulk (<see cref="PoolScopeAllLayers"/>). Each is beside the same steps with no gate
/// (<c>PoolLogic...WithoutLock</c>), which the lock-overhead target compares it with.
/// </summary>
[MemoryDiagnoser]
public unsafe class AllLayerScopeBenchmarks : IDisposable
{
    private static readonly AgentId Agent = new(1);
    private KvBlock[] _blocks = [];
    private ModelBlock[] _modelBlocks = [];
    private int[] _ids = [];
    private byte[][] _arrays = [];
    private nint[] _pointers = [];
    private BlockPool _pool = null!;
    private LockedIntStackFloor _floor = null!;
    private PoolLogicModel _model = null!;
    private LockedPoolLogicModel _lockedModel = null!;
    private ConcurrentQueuePool _queue = null!;
    private int _layers;
    private int _blockBytes;

    /// <summary>Blocks per layer: 1 (a 16-token prompt) or 8 (a 128-token prompt).</summary>
    [Params(1, 8)]
    public int BlocksPerLayer { get; set; }

    private int Total => _layers * BlocksPerLayer;

    /// <summary>Builds a 1024-block pool (no clearing) and the baselines.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _layers = BenchmarkPools.BlockSpec.Layers;
        _pool = BenchmarkPools.Create(1024, BlockClearMode.None);
        _floor = new LockedIntStackFloor(1024);
        _model = new PoolLogicModel(1024, _layers);
        _lockedModel = new LockedPoolLogicModel(new PoolLogicModel(1024, _layers));
        _queue = new ConcurrentQueuePool(1024);
        _blockBytes = BenchmarkPools.BlockSpec.BytesPerBlock;
        _blocks = new KvBlock[Total];
        _modelBlocks = new ModelBlock[Total];
        _ids = new int[Total];
        _arrays = new byte[Total][];
        _pointers = new nint[Total];
    }

    /// <summary>The floor: one lock to pop every block, one lock to push them all back.</summary>
    [Benchmark(Baseline = true)]
    public int Floor()
    {
        _floor.PopMany(_ids);
        _floor.PushMany(_ids);
        return _ids[0];
    }

    /// <summary>The pool through a scope: begin, one <c>Allocate</c> per layer, commit, <c>FreeAgent</c>.</summary>
    [Benchmark]
    public int PoolScope()
    {
        Span<KvBlock> blocks = _blocks;
        using (AllocationScope scope = _pool.BeginScope(Agent))
        {
            for (int layer = 0; layer < _layers; layer++)
            {
                scope.Allocate(layer, blocks.Slice(layer * BlocksPerLayer, BlocksPerLayer));
            }

            scope.Commit();
        }

        return _pool.FreeAgent(Agent);
    }

    /// <summary>The pool through a scope's bulk path: begin, one <c>AllocateAllLayers</c>, commit, <c>FreeAgent</c>.</summary>
    [Benchmark]
    public int PoolScopeAllLayers()
    {
        using (AllocationScope scope = _pool.BeginScope(Agent))
        {
            scope.AllocateAllLayers(BlocksPerLayer, _blocks);
            scope.Commit();
        }

        return _pool.FreeAgent(Agent);
    }

    /// <summary>The scope bulk path's logic with no gate: the lock-overhead target compares <see cref="PoolScopeAllLayers"/> with this.</summary>
    [Benchmark]
    public int PoolLogicAllLayersWithoutLock()
    {
        PoolLogicModel.Record scope = _model.BeginScope(Agent);
        _model.ScopeAllocateAllLayers(scope, BlocksPerLayer, _modelBlocks);
        _model.Commit(scope);
        return _model.FreeAgent(Agent);
    }

    /// <summary>The same with one lock acquisition per call (4; <see cref="PoolScopeAllLayers"/> takes 5, one more in the scope's <c>Dispose</c>).</summary>
    [Benchmark]
    public int PoolLogicAllLayersWithLock()
    {
        PoolLogicModel.Record scope = _lockedModel.BeginScope(Agent);
        _lockedModel.ScopeAllocateAllLayers(scope, BlocksPerLayer, _modelBlocks);
        _lockedModel.Commit(scope);
        return _lockedModel.FreeAgent(Agent);
    }

    /// <summary>The pool's one-call admission: <c>AllocateAllLayers</c> then <c>FreeAgent</c>.</summary>
    [Benchmark]
    public int PoolAllocateAllLayers()
    {
        _pool.AllocateAllLayers(Agent, BlocksPerLayer, _blocks);
        return _pool.FreeAgent(Agent);
    }

    /// <summary>The scope path's logic with no gate.</summary>
    [Benchmark]
    public int PoolLogicWithoutLock()
    {
        Span<ModelBlock> blocks = _modelBlocks;
        PoolLogicModel.Record scope = _model.BeginScope(Agent);
        for (int layer = 0; layer < _layers; layer++)
        {
            _model.ScopeAllocate(scope, layer, blocks.Slice(layer * BlocksPerLayer, BlocksPerLayer));
        }

        _model.Commit(scope);
        return _model.FreeAgent(Agent);
    }

    /// <summary>The same logic with one lock acquisition per call (35; <see cref="PoolScope"/> takes 36, one more in the scope's <c>Dispose</c>).</summary>
    [Benchmark]
    public int PoolLogicWithLock()
    {
        Span<ModelBlock> blocks = _modelBlocks;
        PoolLogicModel.Record scope = _lockedModel.BeginScope(Agent);
        for (int layer = 0; layer < _layers; layer++)
        {
            _lockedModel.ScopeAllocate(scope, layer, blocks.Slice(layer * BlocksPerLayer, BlocksPerLayer));
        }

        _lockedModel.Commit(scope);
        return _lockedModel.FreeAgent(Agent);
    }

    /// <summary>One rent per block, then one return per block.</summary>
    [Benchmark]
    public int ArrayPoolShared()
    {
        for (int i = 0; i < _arrays.Length; i++)
        {
            _arrays[i] = ArrayPool<byte>.Shared.Rent(_blockBytes);
        }

        for (int i = 0; i < _arrays.Length; i++)
        {
            ArrayPool<byte>.Shared.Return(_arrays[i]);
        }

        return _arrays[0].Length;
    }

    /// <summary>One aligned native allocation per block, then one release per block.</summary>
    [Benchmark]
    public nint NativeAlignedAlloc()
    {
        for (int i = 0; i < _pointers.Length; i++)
        {
            _pointers[i] = (nint)NativeMemory.AlignedAlloc((nuint)_blockBytes, (nuint)BenchmarkPools.Alignment);
        }

        for (int i = 0; i < _pointers.Length; i++)
        {
            NativeMemory.AlignedFree((void*)_pointers[i]);
        }

        return _pointers[0];
    }

    /// <summary>One dequeue per block, then one enqueue per block.</summary>
    [Benchmark]
    public int ConcurrentQueue()
    {
        return _queue.RentAndReturnMany(_ids);
    }

    /// <summary>Frees the pool's native memory.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _pool?.Dispose();
        GC.SuppressFinalize(this);
    }
}
