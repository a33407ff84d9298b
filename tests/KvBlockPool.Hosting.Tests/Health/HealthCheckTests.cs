using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace KvBlockPool.Hosting.Tests.Health;

/// <summary>The pool's health check: healthy, degraded from a share of blocks allocated, failed when exhausted or disposed.</summary>
public sealed class HealthCheckTests
{
    // TinyLlama: 22 layers, 10 blocks per layer in all (220 blocks), 16 tokens per block.
    private const int Layers = 22;

    [Fact]
    public async Task An_empty_pool_is_healthy_and_reports_its_figures()
    {
        using IHost host = Build(checks => checks.AddKvBlockPoolHealthCheck());

        HealthReportEntry entry = await Check(host);

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal("Block pool 'health': 0/220 blocks in use (0%), 0 agent(s).", entry.Description);
        Assert.Equal("health", entry.Data["pool"]);
        Assert.Equal(220, entry.Data["capacity"]);
        Assert.Equal(0, entry.Data["allocated"]);
        Assert.Equal(220, entry.Data["available"]);
        Assert.Equal(0.0, entry.Data["occupancy"]);
        Assert.Equal(0, entry.Data["agents"]);
        Assert.Equal(0, entry.Data["highWaterMark"]);
        Assert.Equal(0.0, (double)entry.Data["overhead"], precision: 6);
        Assert.Equal(220L * 16384, entry.Data["nativeBytes"]);
    }

    [Fact]
    public async Task The_pool_degrades_at_the_threshold_and_fails_when_exhausted()
    {
        using IHost host = Build(checks => checks.AddKvBlockPoolHealthCheck());
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();

        manager.Admit(new AgentId(1), promptTokens: 8 * 16); // 8 of 10 blocks per layer: 80%
        Assert.Equal(HealthStatus.Healthy, (await Check(host)).Status);

        manager.Append(new AgentId(1), tokens: 16);          // 9 of 10: 90%, the default threshold
        HealthReportEntry degraded = await Check(host);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Equal("Block pool 'health' is 90% full (198/220 blocks in use, 1 agent(s)), at or above the 90% threshold.", degraded.Description);
        Assert.Equal(0.9, (double)degraded.Data["occupancy"], precision: 9);

        manager.Admit(new AgentId(2), promptTokens: 1);     // the last block of every layer
        HealthReportEntry exhausted = await Check(host);
        Assert.Equal(HealthStatus.Unhealthy, exhausted.Status);
        Assert.Equal(
            "Block pool 'health' is exhausted: all 220 blocks are in use (2 agent(s)); admissions and appends that need a block are refused until blocks are released.",
            exhausted.Description);
        Assert.Equal(0, exhausted.Data["available"]);
        Assert.Equal(2, exhausted.Data["agents"]);
        Assert.Equal(220, exhausted.Data["highWaterMark"]);

        manager.Release(new AgentId(1));
        manager.Release(new AgentId(2));
        HealthReportEntry recovered = await Check(host);
        Assert.Equal(HealthStatus.Healthy, recovered.Status);
        Assert.Equal(220, recovered.Data["highWaterMark"]);
    }

    [Fact]
    public async Task The_threshold_and_the_failure_status_are_configurable()
    {
        using IHost host = Build(checks => checks.AddKvBlockPoolHealthCheck("cache", degradedOccupancy: 0.5, failureStatus: HealthStatus.Degraded, tags: ["ready"]));
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();

        manager.Admit(new AgentId(1), promptTokens: 4 * 16);
        Assert.Equal(HealthStatus.Healthy, (await Check(host, "cache")).Status);
        manager.Append(new AgentId(1), tokens: 16);
        Assert.Equal(HealthStatus.Degraded, (await Check(host, "cache")).Status);
        manager.Append(new AgentId(1), tokens: 5 * 16);
        HealthReportEntry exhausted = await Check(host, "cache");
        Assert.Equal(HealthStatus.Degraded, exhausted.Status);
        Assert.StartsWith("Block pool 'health' is exhausted", exhausted.Description, StringComparison.Ordinal);
        Assert.Equal(["ready"], exhausted.Tags);
    }

    [Fact]
    public async Task Blocks_of_cached_chunks_no_agent_uses_are_available_and_a_pool_full_of_them_is_healthy()
    {
        Dictionary<string, string?> settings = TestHosts.Small("health");
        settings["KvBlockPool:PrefixCache:Enabled"] = "true";
        using IHost host = TestHosts.Build(settings, services => services.AddHealthChecks().AddKvBlockPoolHealthCheck());
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();
        int[] first = [.. Enumerable.Range(1, 10 * 16)];
        int[] second = [.. Enumerable.Range(1_000, 10 * 16)];

        // Every block of every layer holds one of the first prompt's 10 chunks; once released, no agent uses them.
        manager.Admit(new AgentId(1), first);
        manager.PublishComputed(new AgentId(1), first.Length);
        manager.Release(new AgentId(1));
        HealthReportEntry cached = await Check(host);

        Assert.Equal(HealthStatus.Healthy, cached.Status);
        Assert.Equal("Block pool 'health': 0/220 blocks in use (0%), 0 agent(s); 220 of the available blocks hold cached chunks, evicted when needed.", cached.Description);
        Assert.Equal((0, 220, 220, 220, 0.0), ((int)cached.Data["allocated"], (int)cached.Data["available"], (int)cached.Data["cachedBlocks"], (int)cached.Data["evictableBlocks"], (double)cached.Data["occupancy"]));

        // An admission evicts them all; now the pool is exhausted.
        manager.Admit(new AgentId(2), second);
        HealthReportEntry exhausted = await Check(host);
        Assert.Equal(HealthStatus.Unhealthy, exhausted.Status);
        Assert.Equal((0, 0), ((int)exhausted.Data["cachedBlocks"], (int)exhausted.Data["evictableBlocks"]));
        manager.Release(new AgentId(2));
    }

    [Fact]
    public async Task A_disposed_pool_is_unhealthy_and_reports_what_it_leaked()
    {
        using IHost host = Build(checks => checks.AddKvBlockPoolHealthCheck());
        BlockPool pool = host.Services.GetRequiredService<BlockPool>();
        pool.AllocateAllLayers(new AgentId(9), blocksPerLayer: 2);
        pool.Dispose();

        HealthReportEntry entry = await Check(host);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("Block pool 'health' is disposed with 44 blocks still allocated.", entry.Description);
        Assert.Equal(true, entry.Data["disposed"]);
        Assert.Equal(2 * Layers, entry.Data["leakedBlocks"]);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void A_threshold_outside_0_to_1_is_refused_when_registered(double occupancy)
    {
        IHealthChecksBuilder checks = new ServiceCollection().AddHealthChecks();

        ArgumentOutOfRangeException refused = Assert.Throws<ArgumentOutOfRangeException>(() => checks.AddKvBlockPoolHealthCheck(degradedOccupancy: occupancy));

        Assert.Equal("degradedOccupancy", refused.ParamName);
    }

    private static IHost Build(Action<IHealthChecksBuilder> add) =>
        TestHosts.Build(TestHosts.Small("health"), services => add(services.AddHealthChecks()));

    private static async Task<HealthReportEntry> Check(IHost host, string name = KvBlockPoolHealthChecksBuilderExtensions.DefaultName)
    {
        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        return report.Entries[name];
    }
}
