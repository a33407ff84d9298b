using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Core;

namespace KvBlockPool.Benchmarks.Construction;

/// <summary>
/// Start-up, part 1: building a pool with the default settings (zero-on-free, page alignment, 128 MiB slabs) of
/// 256 MiB, 2 GiB and 8 GiB of Llama-3-8B blocks. Slabs are fresh mappings, already zero, so nothing is touched:
/// the goal is at most 50 ms at every size. The pool is disposed after each build (not timed).
/// </summary>
public class ConstructionBenchmarks
{
    private BlockPool? _pool;

    /// <summary>The pool's native memory in MiB.</summary>
    [Params(256, 2048, 8192)]
    public int SizeMiB { get; set; }

    /// <summary>Builds the pool: slabs mapped, the kernel's zero pages standing in for the clear.</summary>
    [Benchmark]
    [InvocationCount(1)]
    public BlockPool Construct() => _pool = StartupPools.Create(SizeMiB);

    /// <summary>Disposes the pool built by the last invocation.</summary>
    [IterationCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _pool = null;
    }
}

/// <summary>
/// Start-up, part 1b: the same build the way every pool was built before slabs were mapped (heap slabs, each
/// block zeroed at construction), in the same run, for 256 MiB and 2 GiB (8 GiB takes about half a minute a build).
/// </summary>
public class HeapConstructionBenchmarks
{
    private BlockPool? _pool;

    /// <summary>The pool's native memory in MiB.</summary>
    [Params(256, 2048)]
    public int SizeMiB { get; set; }

    /// <summary>Builds the pool on heap slabs, zeroing every block: all of its memory is faulted in.</summary>
    [Benchmark]
    [InvocationCount(1)]
    public BlockPool ConstructOnHeap() => _pool = StartupPools.Create(SizeMiB, HeapAllocator.Instance);

    /// <summary>Disposes the pool built by the last invocation.</summary>
    [IterationCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _pool = null;
    }
}

/// <summary>
/// Start-up, part 2: <see cref="BlockPool.WarmUpAsync"/> of a freshly built pool (every page made resident, on
/// every core) against the machine's first-touch floor: <c>NativeMemory.Clear</c> (a memset) of a fresh
/// <c>NativeMemory.AlignedAlloc</c> of the same size, on one thread. Goal: warm-up at most 1.2× the floor.
/// <c>WarmUpByTouch</c> is the path taken where <c>MADV_POPULATE_WRITE</c> is not offered (one atomic no-op write per page).
/// </summary>
public unsafe class WarmUpBenchmarks
{
    private BlockPool? _pool;
    private void* _memory;
    private bool _mapped;

    /// <summary>The pool's native memory in MiB.</summary>
    [Params(256, 2048)]
    public int SizeMiB { get; set; }

    private nuint Bytes => (nuint)SizeMiB * 1024 * 1024;

    /// <summary>A fresh allocation of the pool's size, untouched.</summary>
    [IterationSetup(Target = nameof(FirstTouchFloor))]
    public void SetupFloor()
    {
        _memory = NativeMemory.AlignedAlloc(Bytes, (nuint)Environment.SystemPageSize);
        _mapped = false;
    }

    /// <summary>A freshly built pool, untouched.</summary>
    [IterationSetup(Targets = [nameof(WarmUp), nameof(WarmUpByTouch)])]
    public void SetupPool() => _pool = StartupPools.Create(SizeMiB);

    /// <summary>A fresh mapping of the pool's size, placed and advised for huge pages as the pool's slabs are.</summary>
    [IterationSetup(Target = nameof(FirstTouchFloorHugePages))]
    public void SetupHugeFloor()
    {
        _memory = AnonymousMapping.TryMap(Bytes, (nuint)Environment.SystemPageSize);
        _mapped = _memory is not null;
        if (!_mapped)
        {
            _memory = NativeMemory.AlignedAlloc(Bytes, (nuint)Environment.SystemPageSize); // no mapping here: the plain floor again
        }
    }

    /// <summary>The floor: memset of fresh memory of the same size, one thread.</summary>
    [Benchmark(Baseline = true)]
    [InvocationCount(1)]
    public void FirstTouchFloor() => NativeMemory.Clear(_memory, Bytes);

    /// <summary>The same memset of a fresh mapping with transparent huge pages advised (where the OS offers them), one thread.</summary>
    [Benchmark]
    [InvocationCount(1)]
    public void FirstTouchFloorHugePages() => NativeMemory.Clear(_memory, Bytes);

    /// <summary>The pool's warm-up: <c>MADV_POPULATE_WRITE</c> over 32 MiB chunks on every core.</summary>
    [Benchmark]
    [InvocationCount(1)]
    public void WarmUp() => _pool!.WarmUpAsync().GetAwaiter().GetResult();

    /// <summary>The warm-up's fallback: one atomic no-op write per page, on every core.</summary>
    [Benchmark]
    [InvocationCount(1)]
    public void WarmUpByTouch() => _pool!.WarmUp(null, touchOnly: true);

    /// <summary>Frees what the iteration used.</summary>
    [IterationCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _pool = null;
        if (_memory is not null)
        {
            if (_mapped)
            {
                AnonymousMapping.Unmap(_memory, Bytes);
            }
            else
            {
                NativeMemory.AlignedFree(_memory);
            }

            _memory = null;
        }
    }
}

/// <summary>
/// Start-up, part 3: the first use of a block of a pool nobody warmed up (allocate it, then write all of its
/// 64 KiB, which faults its pages in; with transparent huge pages, one 2 MiB fault serves 32 blocks) against the
/// same on a warmed-up pool. Each iteration builds a 256 MiB pool and uses 2,048 of its 4,096 blocks once each.
/// </summary>
public class FirstAllocationBenchmarks
{
    private const int Blocks = 4096;
    private static readonly AgentId Agent = new(1);
    private BlockPool? _pool;

    /// <summary>A pool built and left cold.</summary>
    [IterationSetup(Target = nameof(ColdBlock))]
    public void SetupCold() => _pool = StartupPools.Create(Blocks * 64 / 1024);

    /// <summary>A pool built and warmed up.</summary>
    [IterationSetup(Target = nameof(WarmBlock))]
    public void SetupWarm()
    {
        _pool = StartupPools.Create(Blocks * 64 / 1024);
        _pool.WarmUpAsync().GetAwaiter().GetResult();
    }

    /// <summary>Allocate a never-touched block and write it.</summary>
    [Benchmark]
    [InvocationCount(Blocks / 2)]
    public void ColdBlock() => Use();

    /// <summary>Allocate a block of a warmed-up pool and write it.</summary>
    [Benchmark(Baseline = true)]
    [InvocationCount(Blocks / 2)]
    public void WarmBlock() => Use();

    /// <summary>A pool built and left cold, for the 2 MiB runs.</summary>
    [IterationSetup(Target = nameof(ColdTwoMiB))]
    public void SetupColdRuns() => SetupCold();

    /// <summary>A pool built and warmed up, for the 2 MiB runs.</summary>
    [IterationSetup(Target = nameof(WarmTwoMiB))]
    public void SetupWarmRuns() => SetupWarm();

    /// <summary>Allocate 32 never-touched blocks (2 MiB, one huge page where the OS offers them) in one call and write them.</summary>
    [Benchmark]
    [InvocationCount(Blocks / 64)]
    public void ColdTwoMiB() => UseRun();

    /// <summary>The same on a warmed-up pool.</summary>
    [Benchmark]
    [InvocationCount(Blocks / 64)]
    public void WarmTwoMiB() => UseRun();

    /// <summary>Disposes the iteration's pool.</summary>
    [IterationCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _pool = null;
    }

    private void UseRun()
    {
        Span<KvBlock> run = stackalloc KvBlock[32];
        _pool!.Allocate(Agent, 0, run);
        foreach (KvBlock block in run)
        {
            _pool.GetBlockSpan(block).Fill(1);
        }
    }

    private void Use()
    {
        KvBlock block = _pool!.Allocate(Agent, 0);
        _pool.GetBlockSpan(block).Fill(1);
    }
}

/// <summary>The pools of the start-up suites: Llama-3-8B blocks, default settings, a byte budget.</summary>
internal static class StartupPools
{
    public static BlockPool Create(int sizeMiB, INativeAllocator? allocator = null)
    {
        var options = new BlockPoolOptions
        {
            Spec = BenchmarkPools.BlockSpec,
            CapacityBytes = (long)sizeMiB * 1024 * 1024,
            Diagnostics = false,
            Name = "benchmark-startup",
        };
        return allocator is null ? new BlockPool(options) : new BlockPool(options, allocator);
    }
}

/// <summary>The allocator every pool used before slabs were mapped: heap memory, which the pool zeroes block by block.</summary>
internal sealed unsafe class HeapAllocator : INativeAllocator
{
    public static readonly HeapAllocator Instance = new();

    public void* AlignedAlloc(nuint bytes, nuint alignment, out NativeMemoryOrigin origin)
    {
        origin = NativeMemoryOrigin.Heap;
        return NativeMemory.AlignedAlloc(bytes, alignment);
    }

    public void AlignedFree(void* pointer, nuint bytes, NativeMemoryOrigin origin) => NativeMemory.AlignedFree(pointer);
}
