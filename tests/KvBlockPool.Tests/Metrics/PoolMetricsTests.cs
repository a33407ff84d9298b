using System.Diagnostics.Metrics;
using KvBlockPool.Lifecycle;
using KvBlockPool.Testing;

namespace KvBlockPool.Tests.Metrics;

public sealed class PoolMetricsTests
{
    /// <summary>Every instrument, as docs/metrics.md lists it: name, unit.</summary>
    public static readonly TheoryData<string, string> Documented = new()
    {
        { "kvblockpool.blocks.allocated", "{block}" },
        { "kvblockpool.blocks.freed", "{block}" },
        { "kvblockpool.allocation.failures", "{failure}" },
        { "kvblockpool.scope.rollbacks", "{rollback}" },
        { "kvblockpool.blocks.in_use", "{block}" },
        { "kvblockpool.blocks.available", "{block}" },
        { "kvblockpool.bytes.in_use", "By" },
        { "kvblockpool.bytes.available", "By" },
        { "kvblockpool.agents", "{agent}" },
        { "kvblockpool.native.bytes", "By" },
    };

    /// <summary>The prefix cache's instruments, as docs/metrics.md lists them: published only by a pool with a prefix cache.</summary>
    public static readonly TheoryData<string, string> DocumentedPrefix = new()
    {
        { "kvblockpool.prefix.lookups", "{lookup}" },
        { "kvblockpool.prefix.queried_tokens", "{token}" },
        { "kvblockpool.prefix.hit_tokens", "{token}" },
        { "kvblockpool.prefix.stored_chunks", "{chunk}" },
        { "kvblockpool.prefix.evicted_chunks", "{chunk}" },
        { "kvblockpool.prefix.cached_blocks", "{block}" },
        { "kvblockpool.prefix.evictable_blocks", "{block}" },
        { "kvblockpool.prefix.pinned_blocks", "{block}" },
    };

    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);

    [Fact]
    public void The_pool_publishes_exactly_the_documented_instruments_through_the_hosts_meter_factory()
    {
        using var factory = new ScopedMeterFactory();
        using var recorder = new MetricsRecorder(i => i.Meter.Scope == factory);
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 4, meterFactory: factory);

        var expected = Documented.Select(row => ((string)row[0], (string)row[1])).OrderBy(p => p.Item1).ToArray();
        var published = recorder.Instruments.Values.Select(i => (i.Name, i.Unit ?? string.Empty)).OrderBy(p => p.Name).ToArray();
        Assert.Equal(expected, published);
        Assert.All(recorder.Instruments.Values, i =>
        {
            Assert.Equal("KvBlockPool", i.Meter.Name);
            Assert.Matches("^[a-z_.]+$", i.Name);
            Assert.False(string.IsNullOrWhiteSpace(i.Description));
        });
    }

    [Fact]
    public void A_pool_with_a_prefix_cache_adds_the_documented_prefix_instruments_with_the_caches_figures()
    {
        using var factory = new ScopedMeterFactory();
        using var recorder = new MetricsRecorder(i => i.Meter.Scope == factory);
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 2, meterFactory: factory, prefixCache: new KvBlockPool.Prefix.KvPrefixCacheOptions());
        var expected = Documented.Concat(DocumentedPrefix).Select(row => ((string)row[0], (string)row[1])).OrderBy(p => p.Item1).ToArray();
        Assert.Equal(expected, recorder.Instruments.Values.Select(i => (i.Name, i.Unit ?? string.Empty)).OrderBy(p => p.Name).ToArray());

        using var manager = new AgentCacheManager(pool);
        int[] prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9]; // 4 tokens per block: 2 chunks and a partial block
        manager.Admit(Alice, prompt);
        manager.PublishComputed(Alice, prompt.Length);
        manager.Admit(Bob, prompt);
        manager.Release(Alice);
        manager.Release(Bob);
        IReadOnlyDictionary<string, long> values = recorder.Observe();
        Assert.Equal((2L, 18L, 8L, 2L, 0L), (values["kvblockpool.prefix.lookups"], values["kvblockpool.prefix.queried_tokens"], values["kvblockpool.prefix.hit_tokens"], values["kvblockpool.prefix.stored_chunks"], values["kvblockpool.prefix.evicted_chunks"]));
        Assert.Equal((4L, 4L, 16L), (values["kvblockpool.prefix.cached_blocks"], values["kvblockpool.prefix.evictable_blocks"], values["kvblockpool.blocks.available"]));
        pool.PrefixCache!.Reset();
        Assert.Equal(2L, recorder.Observe()["kvblockpool.prefix.evicted_chunks"]);
        pool.Dispose();
        Assert.Empty(recorder.Observe());
    }

    [Fact]
    public void Counters_count_exactly_the_blocks_allocated_and_freed_the_failures_and_the_rollbacks()
    {
        using var factory = new ScopedMeterFactory();
        using var recorder = new MetricsRecorder(i => i.Meter.Scope == factory);
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 4, meterFactory: factory);

        KvBlock[] three = pool.Allocate(Alice, layer: 0, count: 3);  // +3
        pool.AllocateAllLayers(Bob, blocksPerLayer: 2);              // +8
        Assert.False(pool.TryAllocate(Alice, 1, new KvBlock[6]));    // failure: 5 left
        Assert.Throws<BlockPoolExhaustedException>(() => pool.AllocateAllLayers(Alice, 2)); // failure
        using (AllocationScope scope = pool.BeginScope(Alice))
        {
            scope.Allocate(layer: 2, count: 2);                      // +2, rolled back: freed +2
        }

        pool.Free(Alice, three[0]);                                  // freed +1
        Assert.Equal(8, pool.FreeAgent(Bob));                        // freed +8

        Assert.Equal(13, recorder.Total("kvblockpool.blocks.allocated"));
        Assert.Equal(11, recorder.Total("kvblockpool.blocks.freed"));
        Assert.Equal(2, recorder.Total("kvblockpool.allocation.failures"));
        Assert.Equal(1, recorder.Total("kvblockpool.scope.rollbacks"));
    }

    [Fact]
    public void Gauges_report_the_pools_state_at_the_moment_they_are_observed()
    {
        using var factory = new ScopedMeterFactory();
        using var recorder = new MetricsRecorder(i => i.Meter.Scope == factory);
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 4, meterFactory: factory);
        int bytesPerBlock = pool.Spec.BytesPerBlock;

        pool.Allocate(Alice, layer: 0, count: 3);
        pool.AllocateAllLayers(Bob, blocksPerLayer: 1);
        IReadOnlyDictionary<string, long> values = recorder.Observe();

        Assert.Equal(7, values["kvblockpool.blocks.in_use"]);
        Assert.Equal(9, values["kvblockpool.blocks.available"]);
        Assert.Equal(7L * bytesPerBlock, values["kvblockpool.bytes.in_use"]);
        Assert.Equal(9L * bytesPerBlock, values["kvblockpool.bytes.available"]);
        Assert.Equal(2, values["kvblockpool.agents"]);
        Assert.Equal(pool.NativeBytes, values["kvblockpool.native.bytes"]);

        pool.FreeAgent(Alice);
        values = recorder.Observe();
        Assert.Equal(4, values["kvblockpool.blocks.in_use"]);
        Assert.Equal(1, values["kvblockpool.agents"]);

        pool.Dispose();
        Assert.Empty(recorder.Observe()); // a disposed pool reports nothing rather than stale figures
    }

    [Fact]
    public void The_lifecycle_layer_shows_up_in_the_pools_instruments()
    {
        using var factory = new ScopedMeterFactory();
        using var recorder = new MetricsRecorder(i => i.Meter.Scope == factory);
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 4, meterFactory: factory);
        using var manager = new AgentCacheManager(pool);

        manager.Admit(Alice, promptTokens: 5);           // 2 blocks x 4 layers: +8
        Assert.Equal(0, manager.Append(Alice, 3));       // fits
        Assert.False(manager.TryAdmit(Bob, 9));          // 12 needed, 8 left: failure
        Assert.Equal(1, manager.Truncate(Alice, 4));     // freed +4
        Assert.Equal(1, manager.Append(Alice));          // +4

        Assert.Equal(12, recorder.Total("kvblockpool.blocks.allocated"));
        Assert.Equal(4, recorder.Total("kvblockpool.blocks.freed"));
        Assert.Equal(1, recorder.Total("kvblockpool.allocation.failures"));
        Assert.Equal(8, recorder.Observe()["kvblockpool.blocks.in_use"]);
        Assert.Equal(8, manager.Release(Alice));
        Assert.Equal(0, recorder.Observe()["kvblockpool.blocks.in_use"]);
        Assert.Equal(12, recorder.Total("kvblockpool.blocks.freed"));
    }

    [Fact]
    public void Without_a_meter_factory_the_static_meter_tags_every_measurement_with_the_pool_name()
    {
        string name = "metrics-static-" + Guid.NewGuid().ToString("N");
        using var recorder = new MetricsRecorder(i => i.Meter.Name == "KvBlockPool" && i.Meter.Scope is null, poolName: name);
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 4, name: name);

        pool.Allocate(Alice, layer: 0, count: 2);
        pool.FreeAgent(Alice);

        Assert.Equal(2, recorder.Total("kvblockpool.blocks.allocated"));
        Assert.Equal(2, recorder.Total("kvblockpool.blocks.freed"));
        Assert.Equal(16, recorder.Observe()["kvblockpool.blocks.available"]);
    }

    [Fact]
    public void With_no_listener_the_counters_are_disabled()
    {
        using var factory = new ScopedMeterFactory();
        using BlockPool pool = TestPools.Create(capacity: 4, layers: 4, meterFactory: factory);
        var seen = new List<Instrument>();
        using var probe = new MeterListener { InstrumentPublished = (i, _) => { if (i.Meter.Scope == factory) { seen.Add(i); } } };
        probe.Start(); // sees the instruments, enables none

        pool.Allocate(Alice, layer: 0);

        Assert.NotEmpty(seen);
        Assert.All(seen, i => Assert.False(i.Enabled));
    }
}
