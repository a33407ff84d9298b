using System.Diagnostics.Metrics;
using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;

namespace KvBlockPool.Hosting.Tests.Metrics;

/// <summary>The pool's meter comes from the host's <see cref="IMeterFactory"/>, so the host's listeners see its instruments.</summary>
public sealed class HostMetricsTests
{
    private const int Layers = 22;

    [Fact]
    public async Task The_pools_instruments_come_from_the_hosts_meter_factory()
    {
        using IHost host = TestHosts.Build(TestHosts.Small("metered"));
        await host.StartAsync();
        IMeterFactory meterFactory = host.Services.GetRequiredService<IMeterFactory>();
        using var allocated = new MetricCollector<long>(meterFactory, KvBlockPoolServiceCollectionExtensions.MeterName, "kvblockpool.blocks.allocated");
        using var freed = new MetricCollector<long>(meterFactory, KvBlockPoolServiceCollectionExtensions.MeterName, "kvblockpool.blocks.freed");
        using var inUse = new MetricCollector<long>(meterFactory, KvBlockPoolServiceCollectionExtensions.MeterName, "kvblockpool.blocks.in_use");
        using var agents = new MetricCollector<long>(meterFactory, KvBlockPoolServiceCollectionExtensions.MeterName, "kvblockpool.agents");
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();

        manager.Admit(new AgentId(1), promptTokens: 20); // 2 blocks per layer
        manager.Admit(new AgentId(2), promptTokens: 1);  // 1 block per layer
        manager.Release(new AgentId(2));
        inUse.RecordObservableInstruments();
        agents.RecordObservableInstruments();

        Assert.Equal([2 * Layers, Layers], allocated.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.All(allocated.GetMeasurementSnapshot(), m => Assert.Equal("metered", m.Tags["kvblockpool.pool.name"]));
        Assert.Equal(Layers, Assert.Single(freed.GetMeasurementSnapshot()).Value);
        Assert.Equal(2 * Layers, inUse.LastMeasurement?.Value);
        Assert.Equal(1, agents.LastMeasurement?.Value);
        Assert.Equal("{block}", allocated.Instrument?.Unit);
    }

    [Fact]
    public async Task A_listener_on_the_static_meters_does_not_see_the_hosted_pool()
    {
        using IHost host = TestHosts.Build(TestHosts.Small("scoped"));
        await host.StartAsync();
        using var global = new MetricCollector<long>((IMeterFactory?)null, KvBlockPoolServiceCollectionExtensions.MeterName, "kvblockpool.blocks.allocated");
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();

        manager.Admit(new AgentId(1), promptTokens: 1);

        Assert.DoesNotContain(global.GetMeasurementSnapshot(), m => Equals(m.Tags["kvblockpool.pool.name"], "scoped"));
    }

    [Fact]
    public void AddKvBlockPool_enables_the_meter_in_the_hosts_metrics_rules()
    {
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddKvBlockPool(options => options.Preset = "TinyLlama_1_1B");
        services.AddKvBlockPool(options => options.CapacityBlocks = 22);
        using ServiceProvider provider = services.BuildServiceProvider();

        MetricsOptions metrics = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<MetricsOptions>>().Value;

        InstrumentRule rule = Assert.Single(metrics.Rules); // once, however often AddKvBlockPool is called
        Assert.Equal(KvBlockPoolServiceCollectionExtensions.MeterName, rule.MeterName);
        Assert.True(rule.Enable);
        Assert.Null(rule.ListenerName);
    }
}
