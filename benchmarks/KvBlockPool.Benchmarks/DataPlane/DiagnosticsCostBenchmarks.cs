using BenchmarkDotNet.Attributes;
using KvBlockPool.Lifecycle;

namespace KvBlockPool.Benchmarks.DataPlane;

/// <summary>
/// What diagnostics mode costs the bookkeeping of the lifecycle suite: 16 agents, each admitted with a 100-token
/// prompt, decoding 200 tokens one at a time (a block on every layer each 16 tokens), then released — on small
/// blocks (the tiny GPT-2 of the real-model sample: 5 layers x 4 heads x 8 dims, float32, 4 KiB per block), so the
/// bytes cleared or poisoned weigh little beside the bookkeeping. Compare <see cref="Diagnostics"/> on with off, per
/// clear mode; the goal is at most 3x.
/// </summary>
[MemoryDiagnoser]
public class DiagnosticsCostBenchmarks
{
    private const int Agents = 16;
    private const int Prompt = 100;
    private const int Decode = 200;

    private BlockPool _pool = null!;
    private AgentCacheManager _manager = null!;

    /// <summary>Diagnostics mode on or off.</summary>
    [Params(false, true)]
    public bool Diagnostics { get; set; }

    /// <summary>What happens to freed blocks.</summary>
    [Params(BlockClearMode.None, BlockClearMode.ZeroOnFree)]
    public BlockClearMode ClearMode { get; set; }

    /// <summary>A pool that holds every agent at its longest.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var spec = new KvCacheSpec(5, 4, 8, 16, KvElementType.Float32);
        _pool = new BlockPool(new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = Agents * spec.BlocksForTokens(Prompt + Decode) * spec.Layers,
            ClearMode = ClearMode,
            Diagnostics = Diagnostics,
        });
        _manager = new AgentCacheManager(_pool);
    }

    /// <summary>Disposes the manager, then the pool.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _manager.Dispose();
        _pool.Dispose();
    }

    /// <summary>Admit every agent, decode them interleaved, release them.</summary>
    /// <returns>Blocks released.</returns>
    [Benchmark]
    public int LifecycleSuite()
    {
        for (int agent = 0; agent < Agents; agent++)
        {
            _manager.Admit(new AgentId(agent), Prompt);
        }

        for (int step = 0; step < Decode; step++)
        {
            for (int agent = 0; agent < Agents; agent++)
            {
                _manager.AppendToken(new AgentId(agent));
            }
        }

        int released = 0;
        for (int agent = 0; agent < Agents; agent++)
        {
            released += _manager.Release(new AgentId(agent));
        }

        return released;
    }
}
