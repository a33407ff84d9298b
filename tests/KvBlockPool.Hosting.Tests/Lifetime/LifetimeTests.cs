using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace KvBlockPool.Hosting.Tests.Lifetime;

/// <summary>The container owns the pool and the manager: one of each, built at start, disposed manager first, leaks logged.</summary>
public sealed class LifetimeTests
{
    [Fact]
    public async Task The_pool_and_the_manager_are_singletons_and_the_pool_is_built_when_the_host_starts()
    {
        using IHost host = TestHosts.Build(TestHosts.Small("singletons"));
        Assert.DoesNotContain(host.Logs(), r => r.Id.Id == 100);

        await host.StartAsync();

        FakeLogRecord ready = Assert.Single(host.Logs(), r => r.Id.Id == 100);
        Assert.Equal(LogLevel.Information, ready.Level);
        Assert.StartsWith("Block pool 'singletons' ready: 22 layers x 4 KV heads x 64 dims, 16 tokens/block, Float16", ready.Message, StringComparison.Ordinal);
        Assert.Contains("220 blocks", ready.Message, StringComparison.Ordinal);

        BlockPool pool = host.Services.GetRequiredService<BlockPool>();
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();
        Assert.Same(pool, host.Services.GetRequiredService<BlockPool>());
        Assert.Same(manager, host.Services.GetRequiredService<AgentCacheManager>());
        Assert.Same(pool, manager.Pool);
        await host.StopAsync();
    }

    [Fact]
    public async Task Disposing_the_host_disposes_the_manager_then_the_pool_and_logs_what_each_still_held()
    {
        BlockPool pool;
        AgentCacheManager manager;
        IReadOnlyList<FakeLogRecord> logs;
        using (IHost host = TestHosts.Build(TestHosts.Small("leaky")))
        {
            await host.StartAsync();
            pool = host.Services.GetRequiredService<BlockPool>();
            manager = host.Services.GetRequiredService<AgentCacheManager>();

            manager.Admit(new AgentId(1), promptTokens: 40);      // 3 blocks per layer, through the manager
            pool.AllocateAllLayers(new AgentId(2), blocksPerLayer: 1); // 1 per layer, behind the manager's back

            await host.StopAsync();
            Assert.False(pool.IsDisposed); // stopping leaves the singletons to the container
            FakeLogCollector collector = host.Services.GetFakeLogCollector();
            host.Dispose();
            logs = collector.GetSnapshot();
        }

        Assert.True(manager.IsDisposed);
        Assert.True(pool.IsDisposed);

        // The manager went first: it released its agent into a live pool, so the pool's leak report holds only the other one.
        Assert.Equal(new Dictionary<AgentId, int> { [new AgentId(1)] = 3 * 22 }, manager.LiveAgentsAtDispose);
        Assert.NotNull(pool.LeakReport);
        Assert.Equal(new Dictionary<AgentId, int> { [new AgentId(2)] = 22 }, pool.LeakReport.BlocksByAgent);

        FakeLogRecord managerLog = Assert.Single(logs, r => r.Id.Id == 103);
        Assert.Equal(LogLevel.Warning, managerLog.Level);
        Assert.Contains("1 agent(s) still admitted, holding 66 block(s)", managerLog.Message, StringComparison.Ordinal);
        FakeLogRecord poolLog = Assert.Single(logs, r => r.Id.Id == 1 && r.Category == typeof(BlockPool).FullName);
        Assert.Equal(LogLevel.Warning, poolLog.Level);
        Assert.StartsWith("Block pool 'leaky' disposed with 22 block(s) still allocated.", poolLog.Message, StringComparison.Ordinal);
        Assert.True(logs.ToList().IndexOf(managerLog) < logs.ToList().IndexOf(poolLog));
    }

    [Fact]
    public async Task A_host_that_released_everything_logs_no_leak()
    {
        using IHost host = TestHosts.Build(TestHosts.Small("tidy"));
        await host.StartAsync();
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();
        manager.Admit(new AgentId(7), promptTokens: 16);
        manager.Release(new AgentId(7));
        await host.StopAsync();
        FakeLogCollector collector = host.Services.GetFakeLogCollector();
        BlockPool pool = host.Services.GetRequiredService<BlockPool>();

        host.Dispose();

        Assert.True(pool.IsDisposed);
        Assert.Null(pool.LeakReport);
        Assert.Null(manager.LiveAgentsAtDispose);
        Assert.DoesNotContain(collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);
    }

    [Fact]
    public void Without_a_host_the_service_provider_owns_them_the_same_way()
    {
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddFakeLogging());
        services.AddKvBlockPool(options =>
        {
            options.Preset = "TinyLlama_1_1B";
            options.CapacityBlocks = 44;
        });
        ServiceProvider provider = services.BuildServiceProvider();
        AgentCacheManager manager = provider.GetRequiredService<AgentCacheManager>();
        manager.Admit(new AgentId(3), promptTokens: 1);
        FakeLogCollector collector = provider.GetFakeLogCollector();

        provider.Dispose();

        Assert.True(manager.IsDisposed);
        Assert.True(manager.Pool.IsDisposed);
        Assert.Null(manager.Pool.LeakReport);
        Assert.Single(collector.GetSnapshot(), r => r.Id.Id == 103);
    }

    [Fact]
    public void Registering_twice_keeps_one_pool_one_manager_and_one_start_up_service()
    {
        var services = new ServiceCollection();
        services.AddKvBlockPool(options => options.Preset = "TinyLlama_1_1B");
        services.AddKvBlockPool(options => options.CapacityBlocks = 22);

        Assert.Single(services, d => d.ServiceType == typeof(BlockPool));
        Assert.Single(services, d => d.ServiceType == typeof(AgentCacheManager));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService));
        using ServiceProvider provider = services.BuildServiceProvider();
        Assert.Equal(22, provider.GetRequiredService<BlockPool>().Capacity); // both configure actions applied
    }
}
