using BenchmarkDotNet.Attributes;
using KvBlockPool.Lifecycle;
using KvBlockPool.Samples.OnnxDecode;

namespace KvBlockPool.Benchmarks.Model;

/// <summary>
/// One greedy decode step of the sample's tiny GPT-2 (5 layers, 4 KV heads x 8 dims, float32) at 200 tokens of
/// context, for a host that keeps the KV cache in the pool against contiguous hosts. Every step is undone after it
/// (the pooled agent truncated back, the contiguous caches rewound), so every invocation runs at the same context.
/// </summary>
/// <remarks>
/// <see cref="ContiguousPingPong"/> is the best contiguous host: the model writes <c>present</c> into one of two
/// preallocated buffers, which is the next step's <c>past</c> as it stands. <see cref="ContiguousOrtAllocated"/> feeds
/// back the <c>present</c> tensors ONNX Runtime allocated. <see cref="Pooled"/> is the sample's host: append the token,
/// lease, gather the past from 13 blocks per layer, run, scatter the new K and V into its slot (the truncation that
/// undoes the append frees nothing: the token stays in the 13th block). <see cref="PoolCalls"/> is the pool work of a
/// decode loop alone, per step over 16 steps that fill a block (so it includes one all-layer allocation and one
/// free per 16 steps), in normal and in diagnostics mode.
/// </remarks>
[MemoryDiagnoser]
public class OnnxDecodeStepBenchmarks
{
    private const int Context = 200;
    private const int BookkeepingContext = 192;
    private const int BlockSteps = 16;
    private static readonly AgentId Agent = new(1);
    private static readonly AgentId BookkeepingAgent = new(2);

    private DecoderModel _model = null!;
    private BlockPool _pool = null!;
    private AgentCacheManager _cache = null!;
    private PooledDecoder _pooled = null!;
    private BlockPool _diagnosticPool = null!;
    private AgentCacheManager _diagnosticCache = null!;
    private PooledDecoder _diagnosticPooled = null!;
    private ContiguousDecoder _pingPong = null!;
    private ContiguousDecoder _ortAllocated = null!;
    private int _token;

    /// <summary>Loads the model and brings every host to 200 tokens of the same prompt.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _model = DecoderModel.Load(DecoderModel.DefaultPath);
        int[] prompt = new DecodeRunOptions { PromptTokens = Context, Agents = 1 }.Prompt(0, _model.VocabSize);
        (_pool, _cache, _pooled) = NewPooledHost(diagnostics: false);
        (_diagnosticPool, _diagnosticCache, _diagnosticPooled) = NewPooledHost(diagnostics: true);
        _token = MultiAgentDecode.ArgMaxOfLastRow(_pooled.Prefill(Agent, prompt), _model.VocabSize);
        _diagnosticPooled.Prefill(Agent, prompt);
        _pingPong = new ContiguousDecoder(_model, PresentHandling.PingPong, Context);
        _pingPong.Prefill(prompt);
        _ortAllocated = new ContiguousDecoder(_model, PresentHandling.OrtAllocated, Context);
        _ortAllocated.Prefill(prompt);

        (BlockPool, AgentCacheManager, PooledDecoder) NewPooledHost(bool diagnostics)
        {
            var pool = new BlockPool(new BlockPoolOptions
            {
                Spec = _model.Spec,
                CapacityBlocks = 2 * _model.Spec.BlocksForTokens(_model.ContextLength) * _model.Spec.Layers,
                Diagnostics = diagnostics,
            });
            var cache = new AgentCacheManager(pool);
            cache.Admit(BookkeepingAgent, BookkeepingContext); // its KV is never read: only the pool's calls are timed
            return (pool, cache, new PooledDecoder(_model, cache, Context));
        }
    }

    /// <summary>Releases the agents, disposes the hosts, pools and model.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _pooled.Dispose();
        _diagnosticPooled.Dispose();
        foreach (AgentCacheManager cache in (AgentCacheManager[])[_cache, _diagnosticCache])
        {
            cache.Release(Agent);
            cache.Release(BookkeepingAgent);
        }

        _cache.Dispose();
        _diagnosticCache.Dispose();
        _pool.Dispose();
        _diagnosticPool.Dispose();
        _pingPong.Dispose();
        _ortAllocated.Dispose();
        _model.Dispose();
    }

    /// <summary>The best contiguous host: present written into a preallocated buffer, fed back as it stands.</summary>
    /// <returns>The greedy token.</returns>
    [Benchmark(Baseline = true)]
    public int ContiguousPingPong()
    {
        int next = MultiAgentDecode.ArgMaxOfLastRow(_pingPong.Decode(_token), _model.VocabSize);
        _pingPong.RewindLastStep();
        return next;
    }

    /// <summary>A contiguous host that feeds back the present tensors ONNX Runtime allocated.</summary>
    /// <returns>The greedy token.</returns>
    [Benchmark]
    public int ContiguousOrtAllocated()
    {
        int next = MultiAgentDecode.ArgMaxOfLastRow(_ortAllocated.Decode(_token), _model.VocabSize);
        _ortAllocated.RewindLastStep();
        return next;
    }

    /// <summary>The sample's host: the KV cache in the pool, gathered and scattered every step.</summary>
    /// <returns>The greedy token.</returns>
    [Benchmark]
    public int Pooled()
    {
        int next = MultiAgentDecode.ArgMaxOfLastRow(_pooled.Decode(Agent, _token), _model.VocabSize);
        _cache.Truncate(Agent, Context);
        return next;
    }

    /// <summary>The same with the pool in diagnostics mode.</summary>
    /// <returns>The greedy token.</returns>
    [Benchmark]
    public int PooledDiagnostics()
    {
        int next = MultiAgentDecode.ArgMaxOfLastRow(_diagnosticPooled.Decode(Agent, _token), _model.VocabSize);
        _diagnosticCache.Truncate(Agent, Context);
        return next;
    }

    /// <summary>
    /// The pooled steps' pool work alone, per step of 16 from 192 tokens (so one block per layer is allocated, and
    /// freed by the truncation back to 192): append, lease, end of lease; then truncate.
    /// </summary>
    /// <returns>The last appended token's slot and the leased block count.</returns>
    [Benchmark(OperationsPerInvoke = BlockSteps)]
    public int PoolCalls() => PoolWork(_cache);

    /// <summary>The same in diagnostics mode.</summary>
    /// <returns>The last appended token's slot and the leased block count.</returns>
    [Benchmark(OperationsPerInvoke = BlockSteps)]
    public int PoolCallsDiagnostics() => PoolWork(_diagnosticCache);

    private static int PoolWork(AgentCacheManager cache)
    {
        int result = 0;
        for (int step = 0; step < BlockSteps; step++)
        {
            KvTokenSlot slot = cache.AppendToken(BookkeepingAgent);
            using KvCacheLease lease = cache.Lease(BookkeepingAgent);
            result += slot.Offset + lease.GetBlockCount(0);
        }

        cache.Truncate(BookkeepingAgent, BookkeepingContext);
        return result;
    }
}
