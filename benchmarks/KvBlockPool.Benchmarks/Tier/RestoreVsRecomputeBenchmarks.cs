using BenchmarkDotNet.Attributes;
using KvBlockPool.Garnet;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Samples.OnnxDecode;
using KvBlockPool.Tier;

namespace KvBlockPool.Benchmarks.Tier;

/// <summary>
/// What a restore saves on the sample's real model, the tiny GPT-2 (5 layers, 4 KV heads × 8 dims, float32, 16 tokens
/// per block: a chunk is 20 KiB): getting 1 or 8 chunks' K and V into an agent's blocks by computing them against
/// restoring them from an embedded Garnet. <see cref="Recompute"/> is the baseline, the sample's prefill of the
/// chunks' tokens (admission by count, one ONNX Runtime run over the tokens with no past, the K and V scattered into
/// the blocks, release); <see cref="Restore"/> is <see cref="AgentCacheManager.AdmitAsync"/> of the same tokens and
/// one more (the last token of a prompt is never a hit), whose chunks only the tier holds, then the release and the
/// eviction of the restored chunks within the operation so the next one restores again.
/// </summary>
/// <remarks>
/// The tier's values are the model's own K and V: a publisher host ran the sample's cached prefill over the prompt in
/// the setup and its pool offloaded the chunks. Both pools use <see cref="BlockClearMode.None"/> (the restore's eviction
/// would otherwise add a clearing the recompute's release pays as well, but of a different number of blocks). The
/// model's cost grows with the tokens (and quadratically in attention); a restore's with the bytes, and a tiny model's
/// chunk is small, so this says where the two cross for this model, not for a large one.
/// </remarks>
[MemoryDiagnoser]
[BenchmarkCategory("Tier")]
public class RestoreVsRecomputeBenchmarks
{
    private static readonly AgentId Publisher = new(1);
    private static readonly AgentId Agent = new(2);

    private DecoderModel _model = null!;
    private EmbeddedGarnetServer _server = null!;
    private RedisKvChunkStore _store = null!;
    private BlockPool _computePool = null!;
    private AgentCacheManager _computeManager = null!;
    private PooledDecoder _decoder = null!;
    private BlockPool _restorePool = null!;
    private AgentCacheManager _restoreManager = null!;
    private int[] _prompt = [];
    private int _chunkTokens;

    /// <summary>Chunks computed or restored per operation.</summary>
    [Params(1, 8)]
    public int Chunks { get; set; }

    /// <summary>Loads the model, starts Garnet, has a publisher host compute and offload the prompt, builds both hosts.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _model = DecoderModel.Load(DecoderModel.DefaultPath);
        KvCacheSpec spec = _model.Spec;
        _chunkTokens = spec.TokensPerBlock;
        var random = new Random(16);
        _prompt = [.. Enumerable.Range(0, (Chunks * _chunkTokens) + 1).Select(_ => random.Next(_model.VocabSize))];
        _server = TierBenchmarkServer.Start();
        _store = TierBenchmarkServer.Connect(_server, "recompute");
        byte[] secret = TierBenchmarkServer.KeySecret();
        int capacity = 2 * spec.BlocksForTokens(_prompt.Length) * spec.Layers;

        using (var publisher = new BlockPool(TierOptions()))
        using (var publisherManager = new AgentCacheManager(publisher))
        using (var publisherDecoder = new PooledDecoder(_model, publisherManager, _prompt.Length))
        {
            publisherDecoder.PrefillCachedAsync(Publisher, _prompt).GetAwaiter().GetResult();
            publisherManager.Release(Publisher);
            TierBenchmarkServer.RequireOffloaded(publisher, Chunks);
        }

        _computePool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = capacity, ClearMode = BlockClearMode.None });
        _computeManager = new AgentCacheManager(_computePool);
        _decoder = new PooledDecoder(_model, _computeManager, _prompt.Length);
        _restorePool = new BlockPool(TierOptions());
        _restoreManager = new AgentCacheManager(_restorePool);

        BlockPoolOptions TierOptions() => new()
        {
            Spec = spec,
            CapacityBlocks = capacity,
            ClearMode = BlockClearMode.None,
            PrefixCache = new KvPrefixCacheOptions
            {
                KeySecret = secret,
                Tier = new KvTierOptions { Store = _store, MaxReadsInFlight = 8, RestoreTimeout = TimeSpan.FromSeconds(5) },
            },
        };
    }

    /// <summary>Prints the restoring pool's tier statistics, then disposes the hosts, the store, the server and the model.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _restorePool.FlushTierAsync().GetAwaiter().GetResult();
        Console.WriteLine($"// Tier statistics of the restoring pool ({Chunks} chunks): {_restorePool.GetTierStatistics()}");
        _decoder.Dispose();
        _computeManager.Dispose();
        _computePool.Dispose();
        _restoreManager.Dispose();
        _restorePool.Dispose();
        _store.Dispose();
        _server.Dispose();
        _model.Dispose();
    }

    /// <summary>The baseline: the chunks' K and V computed by the model (the sample's prefill of their tokens), then released.</summary>
    /// <returns>Logits computed.</returns>
    [Benchmark(Baseline = true)]
    public int Recompute()
    {
        int logits = _decoder.Prefill(Agent, _prompt.AsSpan(0, Chunks * _chunkTokens)).Length;
        _computeManager.Release(Agent);
        return logits;
    }

    /// <summary>The chunks restored from the tier by an admission, then released and evicted.</summary>
    /// <returns>Tokens restored.</returns>
    [Benchmark]
    public async Task<int> Restore()
    {
        KvPrefixAdmission admission = await _restoreManager.AdmitAsync(Agent, _prompt).ConfigureAwait(false);
        if (admission.TierTokens != Chunks * _chunkTokens)
        {
            throw new InvalidOperationException($"The admission restored {admission.TierTokens} tokens; the tier holds {Chunks * _chunkTokens}.");
        }

        _restoreManager.Release(Agent);
        _restorePool.PrefixCache!.Reset();
        return admission.TierTokens;
    }
}
