using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace KvBlockPool.Benchmarks.Clearing;

/// <summary>
/// Suite 3: what zero-on-free costs. A pool with <see cref="BlockClearMode.ZeroOnFree"/> allocates and frees
/// <see cref="Blocks"/> blocks (the free zeroes them outside the gate), against <see cref="NativeMemory.Clear"/>
/// of the same number of bytes in a block-aligned native buffer, the least any zeroing can cost.
/// </summary>
[MemoryDiagnoser]
public unsafe class ClearingBenchmarks : IDisposable
{
    private static readonly AgentId Agent = new(1);
    private KvBlock[] _blocks = [];
    private BlockPool _zeroing = null!;
    private BlockPool _notClearing = null!;
    private void* _buffer;
    private nuint _bytes;

    /// <summary>Blocks per call: 1 (a decode step) or 16.</summary>
    [Params(1, 16)]
    public int Blocks { get; set; }

    /// <summary>Builds a zeroing pool, a non-clearing pool and the native buffer of the same bytes.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _zeroing = BenchmarkPools.Create(256, BlockClearMode.ZeroOnFree);
        _zeroing.Allocate(Agent, layer: 0);
        _notClearing = BenchmarkPools.Create(256, BlockClearMode.None);
        _notClearing.Allocate(Agent, layer: 0);
        _blocks = new KvBlock[Blocks];
        _bytes = (nuint)((long)Blocks * BenchmarkPools.BlockSpec.BytesPerBlock);
        _buffer = NativeMemory.AlignedAlloc(_bytes, (nuint)BenchmarkPools.Alignment);
        NativeMemory.Fill(_buffer, _bytes, 1);
    }

    /// <summary>The floor for zeroing: <see cref="NativeMemory.Clear"/> of the blocks' bytes.</summary>
    [Benchmark(Baseline = true)]
    public void NativeMemoryClear() => NativeMemory.Clear(_buffer, _bytes);

    /// <summary>The pool with zero-on-free: allocate, then free (which zeroes every byte of the blocks).</summary>
    [Benchmark]
    public int PoolZeroOnFree()
    {
        _zeroing.Allocate(Agent, 0, _blocks);
        _zeroing.Free(Agent, _blocks);
        return _blocks[0].Id;
    }

    /// <summary>The same allocate and free with no clearing: the bookkeeping share of <see cref="PoolZeroOnFree"/>.</summary>
    [Benchmark]
    public int PoolWithoutClearing()
    {
        _notClearing.Allocate(Agent, 0, _blocks);
        _notClearing.Free(Agent, _blocks);
        return _blocks[0].Id;
    }

    /// <summary>Frees the pools and the buffer.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _zeroing?.Dispose();
        _notClearing?.Dispose();
        if (_buffer is not null)
        {
            NativeMemory.AlignedFree(_buffer);
            _buffer = null;
        }

        GC.SuppressFinalize(this);
    }
}
