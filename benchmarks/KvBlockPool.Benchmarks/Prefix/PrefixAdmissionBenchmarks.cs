using BenchmarkDotNet.Attributes;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;

namespace KvBlockPool.Benchmarks.Prefix;

/// <summary>
/// Admitting an agent with a 2,048-token prompt through <see cref="AgentCacheManager"/> on a Llama-3-8B-shaped pool
/// (32 layers, 16 tokens per block), then releasing it. <see cref="Cold"/> is the baseline: the prompt's chunks are
/// not cached (its keys are computed, looked up, missed; 128 blocks per layer allocated), as with no cache;
/// <see cref="FullPrefixHit"/> finds the first 127 chunks cached (the last is always computed) and allocates one
/// block per layer; <see cref="NoCache"/> is the admission by token count on a pool without a cache. With clear mode
/// <c>None</c> the figures are bookkeeping alone; with the default <c>ZeroOnFree</c> the release clears what the
/// agent held alone (128 blocks per layer cold, 1 on a hit): what a host with default settings pays per agent.
/// </summary>
[MemoryDiagnoser]
public class PrefixAdmissionBenchmarks
{
    private const int PromptTokens = 2048;
    private static readonly AgentId Agent = new(2);

    private BlockPool _pool = null!;
    private BlockPool _plainPool = null!;
    private AgentCacheManager _manager = null!;
    private AgentCacheManager _plainManager = null!;
    private int[] _cached = [];
    private int[] _cold = [];

    /// <summary>The pools' clear mode.</summary>
    [Params(BlockClearMode.None, BlockClearMode.ZeroOnFree)]
    public BlockClearMode ClearMode { get; set; }

    /// <summary>Publishes the cached prompt; the cold prompt differs in its first token, so none of its chunks match.</summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        int capacity = 3 * (PromptTokens / spec.TokensPerBlock) * spec.Layers;
        _pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = capacity, ClearMode = ClearMode, PrefixCache = new KvPrefixCacheOptions() });
        _plainPool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = capacity, ClearMode = ClearMode });
        _manager = new AgentCacheManager(_pool);
        _plainManager = new AgentCacheManager(_plainPool);
        _cached = Enumerable.Range(1, PromptTokens).ToArray();
        _cold = [.. _cached];
        _cold[0] = 999_999;
        var publisher = new AgentId(1);
        _manager.Admit(publisher, _cached);
        _manager.PublishComputed(publisher, PromptTokens);
        _manager.Release(publisher); // cached, unreferenced
    }

    /// <summary>Frees the pools.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _manager.Dispose();
        _plainManager.Dispose();
        _pool.Dispose();
        _plainPool.Dispose();
    }

    /// <summary>The baseline: a prompt with no cached chunk.</summary>
    /// <returns>The tokens cached (0).</returns>
    [Benchmark(Baseline = true)]
    public int Cold()
    {
        int cached = _manager.Admit(Agent, _cold).CachedTokens;
        _manager.Release(Agent);
        return cached;
    }

    /// <summary>A prompt whose first 127 chunks are cached.</summary>
    /// <returns>The tokens cached (2,032).</returns>
    [Benchmark]
    public int FullPrefixHit()
    {
        int cached = _manager.Admit(Agent, _cached).CachedTokens;
        _manager.Release(Agent);
        return cached;
    }

    /// <summary>What a host without the cache does: admit by token count.</summary>
    /// <returns>0.</returns>
    [Benchmark]
    public int NoCache()
    {
        _plainManager.Admit(Agent, PromptTokens);
        _plainManager.Release(Agent);
        return 0;
    }
}
