using System.Buffers;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Benchmarks.Baselines;

namespace KvBlockPool.Benchmarks.SingleThread;

/// <summary>
/// Suite 1a: allocate and free one 64 KiB block on one thread, the decode step of a host. The agent keeps one
/// resident block throughout, as a decoding agent does, so the figure is the steady state rather than agent
/// admission. Every alternative does the same: take one block, give it back.
/// </summary>
[MemoryDiagnoser]
public unsafe class SingleBlockBenchmarks : IDisposable
{
    private static readonly AgentId Agent = new(1);
    private readonly ModelBlock[] _modelBlock = new ModelBlock[1];
    private BlockPool _pool = null!;
    private LockedIntStackFloor _floor = null!;
    private PoolLogicModel _model = null!;
    private ConcurrentQueuePool _queue = null!;
    private int _blockBytes;

    /// <summary>Builds a 1024-block pool (no clearing: this suite measures bookkeeping) and the baselines.</summary>
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

    /// <summary>The floor: lock, pop an int, write its state; lock, write its state, push it back.</summary>
    [Benchmark(Baseline = true)]
    public int Floor()
    {
        int id = _floor.Pop();
        _floor.Push(id);
        return id;
    }

    /// <summary>The pool: <see cref="BlockPool.Allocate(AgentId, int)"/> then <see cref="BlockPool.Free(AgentId, KvBlock)"/>.</summary>
    [Benchmark]
    public int Pool()
    {
        KvBlock block = _pool.Allocate(Agent, layer: 0);
        _pool.Free(Agent, block);
        return block.Id;
    }

    /// <summary>The pool's logic with no gate: what the lock costs is <c>Pool - PoolLogicWithoutLock</c>.</summary>
    [Benchmark]
    public int PoolLogicWithoutLock()
    {
        _model.Allocate(Agent, 0, _modelBlock);
        _model.Free(Agent, _modelBlock);
        return _modelBlock[0].Id;
    }

    /// <summary>What a .NET user reaches for first: a pooled managed array of one block's size.</summary>
    [Benchmark]
    public int ArrayPoolShared()
    {
        byte[] array = ArrayPool<byte>.Shared.Rent(_blockBytes);
        ArrayPool<byte>.Shared.Return(array);
        return array.Length;
    }

    /// <summary>No pool at all: one aligned native allocation and its release.</summary>
    [Benchmark]
    public nint NativeAlignedAlloc()
    {
        void* block = NativeMemory.AlignedAlloc((nuint)_blockBytes, (nuint)BenchmarkPools.Alignment);
        NativeMemory.AlignedFree(block);
        return (nint)block;
    }

    /// <summary>A lock-free queue of free ids, with no owners, generations or validation.</summary>
    [Benchmark]
    public int ConcurrentQueue()
    {
        int id = _queue.Rent();
        _queue.Return(id);
        return id;
    }

    /// <summary>Frees the pool's native memory.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _pool?.Dispose();
        GC.SuppressFinalize(this);
    }
}
