using System.Buffers;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Benchmarks.Baselines;

namespace KvBlockPool.Benchmarks.SingleThread;

/// <summary>
/// Suite 1b: allocate 16 blocks on one layer in one call and free them in one call (a 256-token prompt on one
/// layer). The agent keeps a resident block, as in <see cref="SingleBlockBenchmarks"/>. The alternatives that
/// have no batch call take and return 16 blocks one by one.
/// </summary>
[MemoryDiagnoser]
public unsafe class SixteenBlockBenchmarks : IDisposable
{
    private const int Count = 16;
    private static readonly AgentId Agent = new(1);
    private readonly KvBlock[] _blocks = new KvBlock[Count];
    private readonly ModelBlock[] _modelBlocks = new ModelBlock[Count];
    private readonly int[] _ids = new int[Count];
    private readonly byte[][] _arrays = new byte[Count][];
    private readonly nint[] _pointers = new nint[Count];
    private BlockPool _pool = null!;
    private LockedIntStackFloor _floor = null!;
    private PoolLogicModel _model = null!;
    private ConcurrentQueuePool _queue = null!;
    private int _blockBytes;

    /// <summary>Builds a 1024-block pool (no clearing) and the baselines.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchmarkPools.Create(1024, BlockClearMode.None);
        _pool.Allocate(Agent, layer: 0);
        _floor = new LockedIntStackFloor(1024);
        _model = new PoolLogicModel(1024, BenchmarkPools.BlockSpec.Layers);
        _model.Allocate(Agent, 0, new ModelBlock[1]);
        _queue = new ConcurrentQueuePool(1024);
        _blockBytes = BenchmarkPools.BlockSpec.BytesPerBlock;
    }

    /// <summary>The floor: one lock to pop 16 ints (writing each state), one lock to push them back.</summary>
    [Benchmark(Baseline = true)]
    public int Floor()
    {
        _floor.PopMany(_ids);
        _floor.PushMany(_ids);
        return _ids[0];
    }

    /// <summary>The pool: one <c>Allocate</c> of 16 into a span, one <c>Free</c> of the 16.</summary>
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

    /// <summary>16 rents of a block-sized array, then 16 returns.</summary>
    [Benchmark]
    public int ArrayPoolShared()
    {
        for (int i = 0; i < Count; i++)
        {
            _arrays[i] = ArrayPool<byte>.Shared.Rent(_blockBytes);
        }

        for (int i = 0; i < Count; i++)
        {
            ArrayPool<byte>.Shared.Return(_arrays[i]);
        }

        return _arrays[0].Length;
    }

    /// <summary>16 aligned native allocations, then 16 releases.</summary>
    [Benchmark]
    public nint NativeAlignedAlloc()
    {
        for (int i = 0; i < Count; i++)
        {
            _pointers[i] = (nint)NativeMemory.AlignedAlloc((nuint)_blockBytes, (nuint)BenchmarkPools.Alignment);
        }

        for (int i = 0; i < Count; i++)
        {
            NativeMemory.AlignedFree((void*)_pointers[i]);
        }

        return _pointers[0];
    }

    /// <summary>16 dequeues, then 16 enqueues.</summary>
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
