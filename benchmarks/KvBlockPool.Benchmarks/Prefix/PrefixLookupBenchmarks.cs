using BenchmarkDotNet.Attributes;
using KvBlockPool.Prefix;

namespace KvBlockPool.Benchmarks.Prefix;

/// <summary>
/// The cost of a prefix-cache hit, per chunk, on a Llama-3-8B-shaped pool (32 layers) holding a published
/// 2,048-token prompt (128 chunks). <see cref="DictionaryLookup"/> is the floor: the same 128 keys looked up in a
/// <c>Dictionary&lt;KvChunkKey, int&gt;</c>. <see cref="CachedPrefixLength"/> looks the keys up in the pool's cache
/// under its gate; <see cref="ReferenceHits"/> admits an agent on all 128 chunks (each referenced, its 32 block ids
/// appended to the agent's tables and 32 handles written), then releases it, per chunk.
/// </summary>
[MemoryDiagnoser]
public class PrefixLookupBenchmarks
{
    private const int Chunks = 128;
    private static readonly AgentId Publisher = new(1);
    private static readonly AgentId Reader = new(2);

    private BlockPool _pool = null!;
    private KvChunkKey[] _keys = [];
    private Dictionary<KvChunkKey, int> _dictionary = [];
    private KvBlock[] _handles = [];
    private int _layers;

    /// <summary>Publishes a 2,048-token prompt (plus one token, so every chunk is hittable).</summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        _layers = spec.Layers;
        _pool = new BlockPool(new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = (Chunks + 2) * 2 * spec.Layers,
            ClearMode = BlockClearMode.None,
            PrefixCache = new KvPrefixCacheOptions(),
        });
        using var manager = new KvBlockPool.Lifecycle.AgentCacheManager(_pool);
        int[] tokens = Enumerable.Range(0, (Chunks * spec.TokensPerBlock) + 1).ToArray();
        manager.Admit(Publisher, tokens);
        manager.PublishComputed(Publisher, tokens.Length);
        _keys = new KvChunkKey[Chunks];
        _pool.PrefixCache!.ComputeKeys(tokens, KvPrefixContext.None, _keys);
        _dictionary = _keys.Select((key, i) => (key, i)).ToDictionary(p => p.key, p => p.i);
        _handles = new KvBlock[(Chunks + 1) * spec.Layers];
        manager.Release(Publisher); // the chunks stay cached, unreferenced
    }

    /// <summary>Frees the pool.</summary>
    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    /// <summary>The floor: a dictionary lookup per key.</summary>
    /// <returns>The sum of the values found.</returns>
    [Benchmark(Baseline = true, OperationsPerInvoke = Chunks)]
    public int DictionaryLookup()
    {
        int sum = 0;
        foreach (KvChunkKey key in _keys)
        {
            _dictionary.TryGetValue(key, out int value);
            sum += value;
        }

        return sum;
    }

    /// <summary>The longest cached prefix, one gate trip for all 128 keys.</summary>
    /// <returns>The chunks cached.</returns>
    [Benchmark(OperationsPerInvoke = Chunks)]
    public int CachedPrefixLength() => _pool.PrefixCache!.CountCachedChunks(_keys);

    /// <summary>Lookup and reference of every chunk (and the agent's own last block), then the release.</summary>
    /// <returns>The chunks hit.</returns>
    [Benchmark(OperationsPerInvoke = Chunks)]
    public int ReferenceHits()
    {
        int hits = _pool.AdmitWithPrefix(Reader, _keys, Chunks + 1, priority: 0, promptTokens: 0, _handles, throwOnExhaustion: true);
        _pool.FreeAgent(Reader);
        return hits;
    }
}
