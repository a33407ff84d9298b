using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Garnet;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier;
using StackExchange.Redis;

namespace KvBlockPool.Benchmarks.Tier;

/// <summary>
/// Restoring Llama-3-8B chunks (16 tokens on 32 layers: 2 MiB of K and V, plus the value's header) from a Garnet
/// embedded in the process, 1 or 8 at a time, each layer by layer from the floor up to a whole admission.
/// <see cref="RawGet"/> is the floor: StackExchange.Redis GETs of the same values (<c>StringGetLeaseAsync</c>, the
/// call the store makes) copied into reused buffers, nothing else. <see cref="StoreGet"/> adds the store
/// (<see cref="RedisKvChunkStore.GetAsync"/>: timeouts, status, metrics) into reused buffer writers;
/// <see cref="StoreGetVerifyCopy"/> adds what a restore does with a value before and after it trusts it: the whole
/// value checked (header, spec, chunk key, XXH3 of every layer) and its layers copied into pool blocks;
/// <see cref="AdmitAsync"/> is the library's restore as a host calls it, an admission of a prompt whose chunks only the
/// tier holds. The target is a restore at ≥ 0.7× the floor's throughput, verification included: a ratio to
/// <see cref="RawGet"/> of at most 1.43.
/// </summary>
/// <remarks>
/// Every row starts its N reads at once and then awaits them in order (the tier's <see cref="KvTierOptions.MaxReadsInFlight"/>
/// is set to 8 so the admission pipelines as deep as the other rows). The values were written by another pool (the
/// "publisher", same key secret) in the setup, from blocks of random bytes, so the checksums run over real data.
/// The restoring pool uses <see cref="BlockClearMode.None"/>: the admission row evicts the restored chunks at the end of
/// each operation (<see cref="KvPrefixCache.Reset"/>, within the operation, so every operation restores again), and
/// with the default clear mode that eviction would add the clearing of 2 MiB per chunk, which a host pays whenever a
/// chunk is evicted, not because it was restored.
/// </remarks>
[MemoryDiagnoser]
[BenchmarkCategory("Tier")]
public class TierRestoreBenchmarks
{
    private static readonly AgentId Publisher = new(1);
    private static readonly AgentId Holder = new(2);
    private static readonly AgentId Agent = new(3);

    private EmbeddedGarnetServer _server = null!;
    private RedisKvChunkStore _store = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _database = null!;
    private BlockPool _pool = null!;
    private AgentCacheManager _manager = null!;
    private TierCodec _codec = null!;
    private int[] _prompt = [];
    private KvChunkKey[] _chunkKeys = [];
    private KvTierKey[] _tierKeys = [];
    private RedisKey[] _redisKeys = [];
    private byte[][] _rawBuffers = [];
    private ArrayBufferWriter<byte>[] _writers = [];
    private Task<Lease<byte>?>[] _rawReads = [];
    private ValueTask<KvChunkStoreStatus>[] _storeReads = [];
    private KvBlock[][] _blocks = []; // [layer][chunk]: the holder's blocks the verify-and-copy row writes into
    private int _tokensPerChunk;

    /// <summary>Chunks restored per operation.</summary>
    [Params(1, 8)]
    public int Chunks { get; set; }

    /// <summary>
    /// Starts Garnet, lets a publisher pool compute (random bytes) and offload the prompt's chunks, then builds the
    /// restoring pool, the raw client, the keys and the reused buffers.
    /// </summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        _tokensPerChunk = spec.TokensPerBlock;
        _prompt = [.. Enumerable.Range(100, (Chunks * _tokensPerChunk) + 1)]; // whole chunks and one token, never a hit
        _server = TierBenchmarkServer.Start();
        _store = TierBenchmarkServer.Connect(_server, "restore");
        byte[] secret = TierBenchmarkServer.KeySecret();

        using (var publisher = new BlockPool(NewOptions(spec, secret)))
        using (var publisherManager = new AgentCacheManager(publisher))
        {
            publisherManager.Admit(Publisher, _prompt);
            TierBenchmarkServer.FillRandom(publisher, publisherManager, Publisher, seed: Chunks);
            publisherManager.PublishComputed(Publisher, _prompt.Length);
            publisherManager.Release(Publisher);
            TierBenchmarkServer.RequireOffloaded(publisher, Chunks);
        }

        _pool = new BlockPool(NewOptions(spec, secret));
        _manager = new AgentCacheManager(_pool);
        _codec = new TierCodec(spec);
        KvPrefixCache cache = _pool.PrefixCache!;
        _chunkKeys = new KvChunkKey[Chunks];
        cache.ComputeKeys(_prompt.AsSpan(0, Chunks * _tokensPerChunk), default, _chunkKeys);
        ulong saltId = KvTierKey.GetSaltId(cache.GetRootKey(default));
        _tierKeys = [.. _chunkKeys.Select(key => new KvTierKey(KvTierKey.GetSpecFingerprint(spec), saltId, key))];

        // The raw client reads the very keys the store wrote: the store's prefix, then the key's text form.
        byte[] prefix = Encoding.ASCII.GetBytes("bench-restore:");
        _redisKeys = [.. _tierKeys.Select(key =>
        {
            var bytes = new byte[prefix.Length + KvTierKey.FormattedLength];
            prefix.CopyTo(bytes, 0);
            key.Format(bytes.AsSpan(prefix.Length));
            return (RedisKey)bytes;
        })];
        _raw = ConnectionMultiplexer.Connect(_server.EndPoint);
        _database = _raw.GetDatabase();
        _rawBuffers = [.. Enumerable.Range(0, Chunks).Select(_ => new byte[_codec.ValueLength])];
        _writers = [.. Enumerable.Range(0, Chunks).Select(_ => new ArrayBufferWriter<byte>(_codec.ValueLength))];
        _rawReads = new Task<Lease<byte>?>[Chunks];
        _storeReads = new ValueTask<KvChunkStoreStatus>[Chunks];

        _manager.Admit(Holder, Chunks * _tokensPerChunk);
        _blocks = new KvBlock[spec.Layers][];
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            _blocks[layer] = new KvBlock[Chunks];
            _manager.CopyBlocks(Holder, layer, _blocks[layer]);
        }

        if (_database.StringGetLease(_redisKeys[0]) is not { } lease || lease.Length != _codec.ValueLength)
        {
            throw new InvalidOperationException("The raw client does not find the publisher's value under the key it built.");
        }

        lease.Dispose();

        BlockPoolOptions NewOptions(KvCacheSpec shape, byte[] keySecret) => new()
        {
            Spec = shape,
            CapacityBlocks = 2 * (Chunks + 1) * shape.Layers,
            ClearMode = BlockClearMode.None,
            PrefixCache = new KvPrefixCacheOptions
            {
                KeySecret = keySecret,
                Tier = new KvTierOptions { Store = _store, MaxReadsInFlight = 8, RestoreTimeout = TimeSpan.FromSeconds(5) },
            },
        };
    }

    /// <summary>Prints the restoring pool's tier statistics, then disposes the clients, the pool and the server.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.FlushTierAsync().GetAwaiter().GetResult();
        Console.WriteLine($"// Tier statistics of the restoring pool ({Chunks} chunks): {_pool.GetTierStatistics()}");
        _manager.Release(Holder);
        _manager.Dispose();
        _pool.Dispose();
        _raw.Dispose();
        _store.Dispose();
        _server.Dispose();
    }

    /// <summary>The floor: a raw GET of each value, all in flight at once, each copied into its reused buffer.</summary>
    /// <returns>Bytes read.</returns>
    [Benchmark(Baseline = true)]
    public async Task<int> RawGet()
    {
        for (int i = 0; i < Chunks; i++)
        {
            _rawReads[i] = _database.StringGetLeaseAsync(_redisKeys[i]);
        }

        int bytes = 0;
        for (int i = 0; i < Chunks; i++)
        {
            using Lease<byte>? lease = await _rawReads[i].ConfigureAwait(false);
            lease!.Span.CopyTo(_rawBuffers[i]);
            bytes += lease.Length;
        }

        return bytes;
    }

    /// <summary>The store's read of each value into its reused buffer writer.</summary>
    /// <returns>Bytes read.</returns>
    [Benchmark]
    public async Task<int> StoreGet()
    {
        await ReadAllAsync().ConfigureAwait(false);
        int bytes = 0;
        for (int i = 0; i < Chunks; i++)
        {
            bytes += _writers[i].WrittenCount;
        }

        return bytes;
    }

    /// <summary>The store's reads, then each value checked whole and its 32 layers copied into pool blocks.</summary>
    /// <returns>Tokens restored.</returns>
    [Benchmark]
    public async Task<int> StoreGetVerifyCopy()
    {
        await ReadAllAsync().ConfigureAwait(false);
        int tokens = 0;
        for (int i = 0; i < Chunks; i++)
        {
            tokens += VerifyAndCopy(i);
        }

        return tokens;
    }

    /// <summary>
    /// The library's restore: an admission of the prompt, whose chunks only the tier holds, then the release and the
    /// eviction of the restored chunks (so the next operation restores again).
    /// </summary>
    /// <returns>Tokens restored from the tier.</returns>
    [Benchmark]
    public async Task<int> AdmitAsync()
    {
        KvPrefixAdmission admission = await _manager.AdmitAsync(Agent, _prompt).ConfigureAwait(false);
        if (admission.TierTokens != Chunks * _tokensPerChunk)
        {
            throw new InvalidOperationException($"The admission restored {admission.TierTokens} tokens; the tier holds {Chunks * _tokensPerChunk}.");
        }

        _manager.Release(Agent);
        _pool.PrefixCache!.Reset();
        return admission.TierTokens;
    }

    private async Task ReadAllAsync()
    {
        for (int i = 0; i < Chunks; i++)
        {
            _writers[i].ResetWrittenCount();
            _storeReads[i] = _store.GetAsync(_tierKeys[i], _writers[i]);
        }

        for (int i = 0; i < Chunks; i++)
        {
            if (await _storeReads[i].ConfigureAwait(false) != KvChunkStoreStatus.Ok)
            {
                throw new InvalidOperationException($"The store missed chunk {i}.");
            }
        }
    }

    /// <summary>What the admission does with a value (TierFetch's check, then its fill): nothing reaches a block before the whole value passed.</summary>
    private int VerifyAndCopy(int chunk)
    {
        if (_codec.TryRead(_writers[chunk].WrittenSpan, _chunkKeys[chunk], out TierValueReader reader, out _) != TierValueError.None)
        {
            throw new InvalidOperationException($"Chunk {chunk}'s value failed its checks.");
        }

        for (int layer = 0; layer < reader.Layers; layer++)
        {
            reader.CopyLayerTo(layer, _pool.GetBlockSpan(_blocks[layer][chunk]));
        }

        return reader.TokenCount;
    }
}
