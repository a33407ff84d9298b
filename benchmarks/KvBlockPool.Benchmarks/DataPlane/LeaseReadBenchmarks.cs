using BenchmarkDotNet.Attributes;

namespace KvBlockPool.Benchmarks.DataPlane;

/// <summary>
/// Reading an agent's whole cache, 32 layers x 64 blocks (a Llama-3-8B-shaped agent at 1,024 tokens): touch the
/// first element of every block's K and V half, as a kernel's first load would. <see cref="PerBlockSpans"/> is what a
/// host did before leases (two gate trips per block, through <see cref="BlockPool.GetKeySpan(KvBlock)"/> and
/// <see cref="BlockPool.GetValueSpan(KvBlock)"/>); <see cref="Lease"/> resolves everything in one gate trip;
/// <see cref="RawPointers"/> is the floor, addresses computed before the run. The memory touched is the same in all
/// of them (4,096 cache lines 32 KiB apart, most of them misses), so the <c>...Resolve</c> pair, which resolves the
/// same spans without reading them, isolates what the access path itself costs.
/// </summary>
[MemoryDiagnoser]
public unsafe class LeaseReadBenchmarks
{
    private const int BlocksPerLayer = 64;
    private static readonly AgentId Agent = new(1);

    private BlockPool _pool = null!;
    private KvBlock[] _blocks = [];
    private nint[] _addresses = [];
    private int _half;

    /// <summary>A pool holding exactly the agent's 2,048 blocks of 64 KiB.</summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        _pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = BlocksPerLayer * spec.Layers, ClearMode = BlockClearMode.None });
        _blocks = _pool.AllocateAllLayers(Agent, BlocksPerLayer);
        _addresses = _blocks.Select(b => (nint)_pool.GetPointer(b)).ToArray();
        _half = spec.BytesPerHalf;
        foreach (KvBlock block in _blocks)
        {
            _pool.GetBlockSpan(block).Fill(1);
        }
    }

    /// <summary>Frees the pool.</summary>
    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    /// <summary>Before leases: one checked span per half, each a trip through the pool's gate.</summary>
    /// <returns>The sum of the bytes read.</returns>
    [Benchmark(Baseline = true)]
    public int PerBlockSpans()
    {
        int sum = 0;
        foreach (KvBlock block in _blocks)
        {
            sum += _pool.GetKeySpan(block)[0] + _pool.GetValueSpan(block)[0];
        }

        return sum;
    }

    /// <summary>One lease of every layer, then spans of every block without locking.</summary>
    /// <returns>The sum of the bytes read.</returns>
    [Benchmark]
    public int Lease()
    {
        int sum = 0;
        using KvCacheLease lease = _pool.Lease(Agent);
        for (int layer = 0; layer < lease.LayerCount; layer++)
        {
            int count = lease.GetBlockCount(layer);
            for (int index = 0; index < count; index++)
            {
                sum += lease.GetKeys<byte>(layer, index)[0] + lease.GetValues<byte>(layer, index)[0];
            }
        }

        return sum;
    }

    /// <summary>The lease's block table and addressing, as a kernel uses them: one address computation per block.</summary>
    /// <returns>The sum of the bytes read.</returns>
    [Benchmark]
    public int LeaseAddressing()
    {
        int sum = 0;
        using KvCacheLease lease = _pool.Lease(Agent);
        KvBlockAddressing addressing = lease.Addressing;
        for (int layer = 0; layer < lease.LayerCount; layer++)
        {
            foreach (int id in lease.GetBlockIds(layer))
            {
                byte* block = (byte*)addressing.GetBlockAddress(id);
                sum += block[0] + block[_half];
            }
        }

        return sum;
    }

    /// <summary>Resolving every span the per-block way, without reading the memory.</summary>
    /// <returns>A sum of the spans' addresses, so nothing is optimized away.</returns>
    [Benchmark]
    public nint PerBlockSpansResolve()
    {
        nint sum = 0;
        foreach (KvBlock block in _blocks)
        {
            sum += Address(_pool.GetKeySpan(block)) + Address(_pool.GetValueSpan(block));
        }

        return sum;
    }

    /// <summary>Resolving every span through one lease, without reading the memory.</summary>
    /// <returns>A sum of the spans' addresses.</returns>
    [Benchmark]
    public nint LeaseResolve()
    {
        nint sum = 0;
        using KvCacheLease lease = _pool.Lease(Agent);
        for (int layer = 0; layer < lease.LayerCount; layer++)
        {
            int count = lease.GetBlockCount(layer);
            for (int index = 0; index < count; index++)
            {
                sum += Address(lease.GetKeys<byte>(layer, index)) + Address(lease.GetValues<byte>(layer, index));
            }
        }

        return sum;
    }

    /// <summary>Resolving every half's address through one lease's block table and addressing, as a kernel does, without reading the memory.</summary>
    /// <returns>A sum of the addresses.</returns>
    [Benchmark]
    public nint LeaseAddressingResolve()
    {
        nint sum = 0;
        using KvCacheLease lease = _pool.Lease(Agent);
        KvBlockAddressing addressing = lease.Addressing;
        for (int layer = 0; layer < lease.LayerCount; layer++)
        {
            foreach (int id in lease.GetBlockIds(layer))
            {
                nint block = addressing.GetBlockAddress(id);
                sum += block + block + _half;
            }
        }

        return sum;
    }

    /// <summary>The floor: addresses computed before the run.</summary>
    /// <returns>The sum of the bytes read.</returns>
    [Benchmark]
    public int RawPointers()
    {
        int sum = 0;
        foreach (nint address in _addresses)
        {
            sum += ((byte*)address)[0] + ((byte*)address)[_half];
        }

        return sum;
    }

    private static nint Address(Span<byte> span) => (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref span[0]);
}
