using System.Buffers;
using KvBlockPool.Lifecycle;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using KvBlockPool.Tier.Tests.Store;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StackExchange.Redis;

namespace KvBlockPool.Tier.Tests.Integration;

/// <summary>
/// A tier that is full: a Redis server at its <c>maxmemory</c> with the <c>noeviction</c> policy refuses every write
/// (OOM) and still serves reads. Garnet has no such mode (it drops its oldest records instead; see
/// <see cref="EvictingTierTests"/>), so this runs against Debian's <c>redis-server</c>, which <c>.ci/run</c> starts
/// (<c>--maxmemory-policy noeviction</c>) and names in <see cref="EndPointVariable"/>; the test lowers its
/// <c>maxmemory</c> below what it holds, and puts it back. Without that server the test is reported as skipped, not
/// passed.
/// </summary>
[Trait(GarnetCollection.TraitName, FullServerFactAttribute.TraitValue)]
public sealed class FullTierTests
{
    public const string EndPointVariable = "KVBLOCKPOOL_FULL_TIER_ENDPOINT";

    private static readonly byte[] Secret = [.. Enumerable.Range(40, 32).Select(i => (byte)i)];

    [FullServerFact]
    public async Task A_full_store_refuses_the_offload_counted_and_logged_and_admissions_go_on_computing_with_nothing_leaked()
    {
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        var options = new RedisKvChunkStoreOptions { Name = "full", KeyPrefix = $"full-{Guid.NewGuid():N}:", LoggerFactory = loggerFactory };
        options.EndPoints.Add(LoopbackEndPoint.Parse(Environment.GetEnvironmentVariable(EndPointVariable)!, EndPointVariable));
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);

        KvTierKey kept = RedisKvChunkStoreTests.Key(TestChunks.Small, 1);
        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(kept, new byte[] { 1, 2, 3 }));

        // Full: the server's memory limit drops below what it holds (filling it by writes is not exact: a refused
        // write's request buffer counts against the limit only while it is read). Under noeviction it then refuses
        // every write with an OOM error and still serves reads.
        string endPoint = options.EndPoints[0];
        await using ConnectionMultiplexer admin = await ConnectionMultiplexer.ConnectAsync($"{endPoint},allowAdmin=true");
        IServer server = admin.GetServer(endPoint);
        string limit = (await server.ConfigGetAsync("maxmemory"))[0].Value;
        Assert.Equal("noeviction", (await server.ConfigGetAsync("maxmemory-policy"))[0].Value);
        await server.ConfigSetAsync("maxmemory", "1");
        try
        {
            await RunFullAsync(store, kept, logs);
        }
        finally
        {
            await server.ConfigSetAsync("maxmemory", limit);
        }
    }

    private static async Task RunFullAsync(RedisKvChunkStore store, KvTierKey kept, FakeLogCollector logs)
    {
        Assert.Equal(KvChunkStoreStatus.Rejected, await store.PutAsync(RedisKvChunkStoreTests.Key(TestChunks.Small, 2), new byte[64]));
        Assert.Contains(logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("OOM", StringComparison.Ordinal));

        // A host computes a prompt: its offload is refused, counted, and nothing is held; reads still work.
        using BlockPool first = SharedTierTests.Create(store, Secret);
        using var firstManager = new AgentCacheManager(first);
        int[] prompt = [.. Enumerable.Range(700, 14)];
        await firstManager.AdmitAsync(new AgentId(1), prompt);
        firstManager.PublishComputed(new AgentId(1), prompt.Length);
        await first.FlushTierAsync();
        Assert.Equal(new KvTierStatistics(Offloaded: 0, AlreadyStored: 0, NotOffloaded: 3, Restored: 0, Rejected: 0), first.GetTierStatistics());
        var read = new ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(kept, read));
        Assert.Equal([1, 2, 3], read.WrittenSpan.ToArray());

        // Another host finds nothing in the tier and computes the prompt; both hosts end whole.
        using BlockPool second = SharedTierTests.Create(store, Secret);
        using var secondManager = new AgentCacheManager(second);
        KvPrefixAdmission admission = await secondManager.AdmitAsync(new AgentId(2), prompt);
        Assert.Equal((0, 14), (admission.TierTokens, admission.ComputedTokens));
        firstManager.Release(new AgentId(1));
        secondManager.Release(new AgentId(2));
        foreach (BlockPool pool in new[] { first, second })
        {
            Assert.Equal(0, pool.GetStatistics().Allocated);
            Assert.Null(pool.FindInvariantViolation());
        }
    }
}

/// <summary>A fact that needs the full Redis server <c>.ci/run</c> starts; skipped, and said so, without it.</summary>
internal sealed class FullServerFactAttribute : FactAttribute
{
    public const string TraitValue = "Full";

    public FullServerFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(FullTierTests.EndPointVariable)))
        {
            Skip = $"needs a full Redis server named in {FullTierTests.EndPointVariable} (.ci/run starts one)";
        }
    }
}
