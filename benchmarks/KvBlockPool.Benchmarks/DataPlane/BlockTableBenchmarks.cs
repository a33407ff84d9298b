using BenchmarkDotNet.Attributes;
using KvBlockPool.Lifecycle;

namespace KvBlockPool.Benchmarks.DataPlane;

/// <summary>
/// Getting an agent's block table (32 layers x 64 block ids) for a kernel. <see cref="CopyFromArray"/> is the floor:
/// the same 2,048 ids copied from an <c>int[]</c>. <see cref="ManagerTable"/> copies them from the lifecycle layer's
/// books in one call; <see cref="ManagerTablePerLayer"/> a layer per call; <see cref="PoolTablePerLayer"/> from the
/// pool, a gate trip per layer; <see cref="AgentBlocksSnapshot"/> is what a host did before (a snapshot of handles).
/// </summary>
[MemoryDiagnoser]
public class BlockTableBenchmarks
{
    private const int BlocksPerLayer = 64;
    private static readonly AgentId Agent = new(1);

    private BlockPool _pool = null!;
    private AgentCacheManager _manager = null!;
    private int[] _source = [];
    private int[] _table = [];
    private int _layers;

    /// <summary>An agent admitted with 1,024 tokens on a Llama-3-8B-shaped pool.</summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        _layers = spec.Layers;
        _pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = BlocksPerLayer * spec.Layers, ClearMode = BlockClearMode.None });
        _manager = new AgentCacheManager(_pool);
        _manager.Admit(Agent, BlocksPerLayer * spec.TokensPerBlock);
        _table = new int[BlocksPerLayer * spec.Layers];
        _manager.CopyBlockIds(Agent, _table);
        _source = (int[])_table.Clone();
    }

    /// <summary>Releases the agent and frees the pool.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _manager.Dispose();
        _pool.Dispose();
    }

    /// <summary>The floor: one copy of the ids from an array.</summary>
    /// <returns>The first id.</returns>
    [Benchmark(Baseline = true)]
    public int CopyFromArray()
    {
        _source.AsSpan().CopyTo(_table);
        return _table[0];
    }

    /// <summary>The whole table from the lifecycle layer in one call.</summary>
    /// <returns>Blocks per layer.</returns>
    [Benchmark]
    public int ManagerTable() => _manager.CopyBlockIds(Agent, _table);

    /// <summary>The table from the lifecycle layer, a layer per call.</summary>
    /// <returns>The ids copied.</returns>
    [Benchmark]
    public int ManagerTablePerLayer()
    {
        int copied = 0;
        for (int layer = 0; layer < _layers; layer++)
        {
            copied += _manager.CopyBlockIds(Agent, layer, _table.AsSpan(layer * BlocksPerLayer));
        }

        return copied;
    }

    /// <summary>The table from the pool, a gate trip per layer.</summary>
    /// <returns>The ids copied.</returns>
    [Benchmark]
    public int PoolTablePerLayer()
    {
        int copied = 0;
        for (int layer = 0; layer < _layers; layer++)
        {
            copied += _pool.CopyBlockIds(Agent, layer, _table.AsSpan(layer * BlocksPerLayer));
        }

        return copied;
    }

    /// <summary>Before: a snapshot of the agent's handles, read layer by layer.</summary>
    /// <returns>The ids read.</returns>
    [Benchmark]
    public int AgentBlocksSnapshot()
    {
        AgentBlocks blocks = _pool.GetAgentBlocks(Agent);
        int copied = 0;
        for (int layer = 0; layer < _layers; layer++)
        {
            blocks.GetBlockIds(layer).CopyTo(_table.AsSpan(layer * BlocksPerLayer));
            copied += BlocksPerLayer;
        }

        return copied;
    }
}
