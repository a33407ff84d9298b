using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;

namespace KvBlockPool.Tier.Tests.Integration;

/// <summary>
/// Two pools ("hosts") sharing one real Garnet (the collection's server): what one computes, the other restores from
/// the tier, byte for byte; a foreign, corrupt or unreachable tier costs a miss and nothing else.
/// </summary>
[Collection(GarnetCollection.Name)]
[Trait(GarnetCollection.TraitName, GarnetCollection.TraitValue)]
public sealed partial class SharedTierTests(GarnetFixture garnet)
{
    // 3 layers, 4 tokens per block; a 14-token prompt is 3 full chunks the model need not compute and 2 tokens it must.
    internal static readonly KvCacheSpec Spec = new(layers: 3, kvHeads: 2, headDim: 8, tokensPerBlock: 4, KvElementType.Float16);
    private static readonly byte[] Secret = [.. Enumerable.Range(7, 32).Select(i => (byte)i)];
    private static readonly int[] Prompt = [.. Enumerable.Range(500, 14)];

    [Fact]
    public async Task A_prompt_one_host_computed_is_restored_by_the_other_from_the_tier_bit_for_bit()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("shared-hosts"));
        using BlockPool first = Create(store, Secret);
        using BlockPool second = Create(store, Secret);
        using var firstManager = new AgentCacheManager(first);
        using var secondManager = new AgentCacheManager(second);

        KvPrefixAdmission cold = await firstManager.AdmitAsync(new AgentId(1), Prompt);
        Assert.Equal((0, 0), (cold.CachedTokens, cold.TierTokens));
        byte[][] computed = Compute(first, firstManager, new AgentId(1), seed: 3);
        firstManager.PublishComputed(new AgentId(1), Prompt.Length);
        await first.Tier!.DrainAsync(CancellationToken.None);
        Assert.Equal(3, first.Tier.Offloaded);

        KvPrefixAdmission warm = await secondManager.AdmitAsync(new AgentId(9), Prompt);

        Assert.Equal((12, 12, 0, 2), (warm.CachedTokens, warm.TierTokens, warm.LocalTokens, warm.ComputedTokens));
        Assert.Equal(3, second.Tier!.Restored);
        using (KvCacheLease lease = secondManager.Lease(new AgentId(9)))
        {
            for (int layer = 0; layer < Spec.Layers; layer++)
            {
                for (int chunk = 0; chunk < 3; chunk++)
                {
                    byte[] bytes = [.. lease.GetKeys<byte>(layer, chunk), .. lease.GetValues<byte>(layer, chunk)];
                    Assert.True(bytes.AsSpan().SequenceEqual(computed[layer].AsSpan(chunk * Spec.BytesPerBlock, Spec.BytesPerBlock)), $"layer {layer}, chunk {chunk}");
                }
            }
        }

        // The restored chunks are the second host's own now: the next agent hits them locally, and nothing is offloaded twice.
        Assert.Equal(3, second.PrefixCache!.GetStatistics().CachedChunks);
        KvPrefixAdmission local = await secondManager.AdmitAsync(new AgentId(10), Prompt);
        Assert.Equal((12, 0), (local.LocalTokens, local.TierTokens));
        await second.Tier.DrainAsync(CancellationToken.None);
        Assert.Equal((0L, 3L), (second.Tier.Offloaded, second.Tier.AlreadyStored));
        Assert.Null(second.FindInvariantViolation());
    }

    [Fact]
    public async Task Another_deployment_s_secret_never_reads_the_tier_s_chunks()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("foreign-secret"));
        using BlockPool first = Create(store, Secret);
        using var firstManager = new AgentCacheManager(first);
        await firstManager.AdmitAsync(new AgentId(1), Prompt);
        firstManager.PublishComputed(new AgentId(1), Prompt.Length);
        await first.Tier!.DrainAsync(CancellationToken.None);

        using BlockPool foreign = Create(store, [.. Secret.Reverse()]);
        using var foreignManager = new AgentCacheManager(foreign);
        KvPrefixAdmission admission = await foreignManager.AdmitAsync(new AgentId(2), Prompt);

        Assert.Equal(0, admission.CachedTokens);
        Assert.Equal((0L, 0L), (foreign.Tier!.Restored, foreign.Tier.Rejected));
    }

    [Fact]
    public async Task A_corrupt_value_is_a_miss_and_is_deleted_and_the_chunks_before_it_are_still_used()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("corrupt-value"));
        using BlockPool first = Create(store, Secret);
        using var firstManager = new AgentCacheManager(first);
        await firstManager.AdmitAsync(new AgentId(1), Prompt);
        Compute(first, firstManager, new AgentId(1), seed: 4);
        firstManager.PublishComputed(new AgentId(1), Prompt.Length);
        await first.Tier!.DrainAsync(CancellationToken.None);

        // Chunk 1's value gets a flipped bit in its last layer.
        var keys = new KvChunkKey[3];
        first.PrefixCache!.ComputeKeys(Prompt, default, keys);
        KvTierKey chunk1 = first.Tier.KeyOf(keys[1], first.PrefixCache.GetRootKey(default));
        var value = new ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(chunk1, value));
        byte[] bad = value.WrittenSpan.ToArray();
        bad[^3] ^= 0x20;
        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(chunk1, bad));

        using BlockPool second = Create(store, Secret);
        using var secondManager = new AgentCacheManager(second);
        KvPrefixAdmission admission = await secondManager.AdmitAsync(new AgentId(2), Prompt);

        Assert.Equal((4, 4), (admission.CachedTokens, admission.TierTokens)); // chunk 0 only: after a gap nothing is usable
        Assert.Equal(1L, second.Tier!.Rejected);
        for (int i = 0; i < 100 && await store.ExistsAsync(chunk1) == KvChunkStoreStatus.Ok; i++)
        {
            await Task.Delay(10); // the delete is sent in the background
        }

        Assert.Equal(KvChunkStoreStatus.NotFound, await store.ExistsAsync(chunk1));
        Assert.Null(second.FindInvariantViolation());
    }

    [Fact]
    public async Task An_unreachable_tier_costs_at_most_the_restore_timeout_and_leaks_nothing()
    {
        EmbeddedGarnet server = EmbeddedGarnet.Start();
        var options = new RedisKvChunkStoreOptions { Name = "unreachable", OperationTimeout = TimeSpan.FromSeconds(10) };
        options.EndPoints.Add(server.EndPoint);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        using BlockPool pool = Create(store, Secret, restoreTimeout: TimeSpan.FromMilliseconds(200));
        using var manager = new AgentCacheManager(pool);
        server.Dispose();

        var clock = Stopwatch.StartNew();
        KvPrefixAdmission admission = await manager.AdmitAsync(new AgentId(1), Prompt);
        clock.Stop();

        Assert.Equal(0, admission.CachedTokens);
        // Well below the store's own 10 s timeout (what the admission would wait without its deadline), with room for a
        // busy machine where the 200 ms timer fires late.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"the admission waited {clock.Elapsed} for a dead tier");
        manager.PublishComputed(new AgentId(1), Prompt.Length); // the offload fails in the background, counted
        await pool.Tier!.DrainAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.Equal((0L, 3L), (pool.Tier.Offloaded, pool.Tier.NotOffloaded));
        manager.Release(new AgentId(1));
        Assert.Equal(0, pool.GetStatistics().Allocated);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public async Task The_pool_publishes_the_tier_instruments_docs_metrics_md_lists_with_the_tier_s_counts()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("pool-metrics"));
        using BlockPool first = Create(store, Secret, name: "first");
        using BlockPool second = Create(store, Secret, name: "second");
        var measured = new Dictionary<string, (long Value, Instrument Instrument)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name.StartsWith("kvblockpool.tier.", StringComparison.Ordinal) && instrument.Meter.Name == "KvBlockPool")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "kvblockpool.pool.name" && Equals(tag.Value, "second"))
                {
                    measured[instrument.Name] = (value, instrument);
                }
            }
        });
        listener.Start();
        using var firstManager = new AgentCacheManager(first);
        await firstManager.AdmitAsync(new AgentId(1), Prompt);
        firstManager.PublishComputed(new AgentId(1), Prompt.Length);
        await first.Tier!.DrainAsync(CancellationToken.None);
        using var secondManager = new AgentCacheManager(second);
        await secondManager.AdmitAsync(new AgentId(2), Prompt);
        await second.Tier!.DrainAsync(CancellationToken.None);

        listener.RecordObservableInstruments();

        string doc = File.ReadAllText(Path.Combine(Repository.Root(), "docs", "metrics.md"));
        Dictionary<string, (string Unit, string Kind)> documented = TierRow().Matches(doc).ToDictionary(m => m.Groups["name"].Value, m => (m.Groups["unit"].Value, m.Groups["kind"].Value));
        Assert.Equal(documented.Keys.Order(), measured.Keys.Order());
        foreach ((string name, (long _, Instrument instrument)) in measured)
        {
            Assert.Equal(documented[name].Unit, instrument.Unit);
            Assert.Equal(documented[name].Kind, instrument.GetType().Name.Split('`')[0]);
            Assert.Contains($"| `{name}` | `{name.Replace('.', '_')}_total` | counter |", doc, StringComparison.Ordinal); // OpenTelemetry's Prometheus name
        }

        Assert.Equal(3, measured["kvblockpool.tier.restored_chunks"].Value);
        Assert.Equal(3, measured["kvblockpool.tier.already_stored_chunks"].Value);
        Assert.Equal(0, measured["kvblockpool.tier.offloaded_chunks"].Value);
    }

    [Theory]
    [InlineData("store")]
    [InlineData("timeout")]
    [InlineData("reads")]
    [InlineData("queue")]
    public void Bad_tier_options_are_refused_before_any_memory_is_taken(string setting)
    {
        var tier = new KvTierOptions { Store = new UnusedStore() };
        switch (setting)
        {
            case "store": tier.Store = null; break;
            case "timeout": tier.RestoreTimeout = TimeSpan.Zero; break;
            case "reads": tier.MaxReadsInFlight = KvTierOptions.MaxReadsInFlightLimit + 1; break;
            case "queue": tier.OffloadQueueCapacity = 0; break;
        }

        long before = BlockPool.LiveNativeBytes;
        ArgumentException error = Assert.Throws<ArgumentException>(() => new BlockPool(new BlockPoolOptions { Spec = Spec, CapacityBlocks = 30, PrefixCache = new KvPrefixCacheOptions { Tier = tier } }));
        Assert.StartsWith("KvTierOptions.", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, BlockPool.LiveNativeBytes);
    }

    [GeneratedRegex(@"^\| `(?<name>kvblockpool\.tier\.[a-z_]+)` \| (?<kind>ObservableCounter) \| `(?<unit>[^`]+)` \|", RegexOptions.Multiline)]
    private static partial Regex TierRow();

    internal static BlockPool Create(IKvChunkStore store, byte[] secret, TimeSpan? restoreTimeout = null, string? name = null) => new(new BlockPoolOptions
    {
        Name = name,
        Spec = Spec,
        CapacityBlocks = 60,
        PrefixCache = new KvPrefixCacheOptions
        {
            KeySecret = secret,
            Tier = new KvTierOptions { Store = store, RestoreTimeout = restoreTimeout ?? TimeSpan.FromSeconds(5) },
        },
    });

    /// <summary>What a prefill does: writes the agent's own blocks (random bytes from <paramref name="seed"/>); returns every layer's bytes in token order.</summary>
    internal static byte[][] Compute(BlockPool pool, AgentCacheManager manager, AgentId agent, int seed)
    {
        var random = new Random(seed);
        var layers = new byte[Spec.Layers][];
        var blocks = new KvBlock[manager.GetInfo(agent).BlocksPerLayer];
        for (int layer = 0; layer < Spec.Layers; layer++)
        {
            manager.CopyBlocks(agent, layer, blocks);
            layers[layer] = new byte[blocks.Length * Spec.BytesPerBlock];
            random.NextBytes(layers[layer]);
            for (int i = 0; i < blocks.Length; i++)
            {
                layers[layer].AsSpan(i * Spec.BytesPerBlock, Spec.BytesPerBlock).CopyTo(pool.GetBlockSpan(blocks[i]));
            }
        }

        return layers;
    }

    /// <summary>A store the option checks refuse before they would ever call it.</summary>
    private sealed class UnusedStore : IKvChunkStore
    {
        public ValueTask<KvChunkStoreStatus> GetAsync(KvTierKey key, IBufferWriter<byte> destination, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<KvChunkStoreStatus> PutAsync(KvTierKey key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<KvChunkStoreStatus> ExistsAsync(KvTierKey key, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<KvChunkStoreStatus> DeleteAsync(KvTierKey key, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
