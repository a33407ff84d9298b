using KvBlockPool.Hosting;
using KvBlockPool.Lifecycle;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace KvBlockPool.Tier.Tests.Integration;

/// <summary>
/// The tier configured the way a host configures it: a <c>Tier</c> section beside <c>PrefixCache</c> in the pool's
/// configuration, connected by <c>AddKvBlockPool</c> when the host starts, against the collection's real server.
/// </summary>
[Collection(GarnetCollection.Name)]
[Trait(GarnetCollection.TraitName, GarnetCollection.TraitValue)]
public sealed class HostedTierTests(GarnetFixture garnet)
{
    // A 64-byte secret in base64, as a deployment writes it; shared by the two hosts of a test.
    private static readonly string Secret = Convert.ToBase64String([.. Enumerable.Range(40, 64).Select(i => (byte)i)]);

    // 4 layers, 4 tokens per block: a 14-token prompt is 3 full chunks and 2 tokens to compute.
    private static readonly int[] Prompt = [.. Enumerable.Range(900, 14)];

    [Fact]
    public async Task A_host_configured_from_a_section_offloads_and_a_second_host_restores_what_it_computed()
    {
        Dictionary<string, string?> settings = Settings("hosted");
        using IHost first = Build(settings);
        using IHost second = Build(settings);
        await first.StartAsync();
        await second.StartAsync();

        AgentCacheManager firstManager = first.Services.GetRequiredService<AgentCacheManager>();
        KvPrefixAdmission cold = await firstManager.AdmitAsync(new AgentId(1), Prompt);
        Assert.Equal(0, cold.CachedTokens);
        Fill(firstManager, new AgentId(1));
        firstManager.PublishComputed(new AgentId(1), Prompt.Length);
        BlockPool firstPool = first.Services.GetRequiredService<BlockPool>();
        await firstPool.FlushTierAsync();
        Assert.Equal(3, firstPool.GetTierStatistics()!.Value.Offloaded);

        AgentCacheManager secondManager = second.Services.GetRequiredService<AgentCacheManager>();
        KvPrefixAdmission warm = await secondManager.AdmitAsync(new AgentId(2), Prompt);

        Assert.Equal((12, 12, 2), (warm.CachedTokens, warm.TierTokens, warm.ComputedTokens));
        using (KvCacheLease lease = secondManager.Lease(new AgentId(2)))
        {
            Assert.True(lease.GetKeys<byte>(3, 2).IndexOfAnyExcept(Stamp(3)) < 0, "restored bytes differ from the first host's");
        }

        // Connected once each, logged with the tier's description and never the password.
        foreach (IHost host in new[] { first, second })
        {
            IReadOnlyList<FakeLogRecord> logs = host.Services.GetFakeLogCollector().GetSnapshot();
            FakeLogRecord ready = Assert.Single(logs, r => r.Id.Id == 101);
            Assert.Contains(garnet.EndPoint, ready.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(logs, r => r.Id.Id == 102); // a secret is configured: no warning
        }

        firstManager.Release(new AgentId(1));
        secondManager.Release(new AgentId(2));
        await first.StopAsync();
        await second.StopAsync();
    }

    [Fact]
    public async Task A_stopping_host_writes_what_it_published_before_its_pool_goes()
    {
        using IHost host = Build(Settings("stopping"));
        await host.StartAsync();
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();
        BlockPool pool = host.Services.GetRequiredService<BlockPool>();
        await manager.AdmitAsync(new AgentId(1), Prompt);
        Fill(manager, new AgentId(1));
        manager.PublishComputed(new AgentId(1), Prompt.Length);
        manager.Release(new AgentId(1));

        // No flush of our own: the host's stop waits for the offload, so all 3 chunks are written when it returns.
        await host.StopAsync();

        Assert.Equal(3, pool.GetTierStatistics()!.Value.Offloaded);
    }

    [Fact]
    public async Task A_tier_without_a_key_secret_works_for_its_own_pool_and_warns_that_no_other_host_can_share_it()
    {
        Dictionary<string, string?> settings = Settings("no-secret");
        settings.Remove("KvBlockPool:PrefixCache:KeySecret");
        settings["KvBlockPool:PrefixCache:Enabled"] = "true";
        using IHost host = Build(settings);
        await host.StartAsync();

        FakeLogRecord warning = Assert.Single(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 102);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("KeySecret", warning.Message, StringComparison.Ordinal);
        await host.StopAsync();
    }

    [Fact]
    public async Task A_wrong_password_fails_the_start_before_the_pool_is_built_and_names_no_password()
    {
        const string Password = "hosted-tier-right-password";
        const string WrongPassword = "hosted-tier-WRONG-password";
        using EmbeddedGarnet server = EmbeddedGarnet.Start(password: Password);
        Dictionary<string, string?> settings = Settings("guarded");
        settings["KvBlockPool:Tier:EndPoints"] = server.EndPoint;
        settings["KvBlockPool:Tier:Password"] = WrongPassword;
        settings["KvBlockPool:Tier:ConnectTimeout"] = "2s";
        using IHost host = Build(settings);

        KvTierConnectionException error = await Assert.ThrowsAsync<KvTierConnectionException>(() => host.StartAsync());

        Assert.True(error.IsAuthenticationFailure, error.ToString());
        Assert.DoesNotContain(WrongPassword, error.ToString(), StringComparison.Ordinal);
        IReadOnlyList<FakeLogRecord> logs = host.Services.GetFakeLogCollector().GetSnapshot();
        Assert.DoesNotContain(logs, r => r.Id.Id == 100); // no pool was built: nothing allocated
        Assert.DoesNotContain(logs, r => r.Message.Contains(WrongPassword, StringComparison.Ordinal) || (r.Exception?.ToString().Contains(WrongPassword, StringComparison.Ordinal) ?? false));

        // With the right password the same configuration starts.
        settings["KvBlockPool:Tier:Password"] = Password;
        using IHost fixedHost = Build(settings);
        await fixedHost.StartAsync();
        Assert.True(fixedHost.Services.GetRequiredService<BlockPool>().GetTierStatistics().HasValue);
        await fixedHost.StopAsync();
    }

    [Fact]
    public async Task A_pool_resolved_without_starting_the_host_connects_on_that_resolve_and_the_container_closes_it_after_the_pool()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings("plain-provider")).Build();
        var services = new ServiceCollection();
        services.AddKvBlockPool(configuration.GetSection("KvBlockPool"));
        BlockPool pool;
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            pool = provider.GetRequiredService<BlockPool>();
            var manager = provider.GetRequiredService<AgentCacheManager>();
            await manager.AdmitAsync(new AgentId(5), Prompt);
            Fill(manager, new AgentId(5));
            manager.PublishComputed(new AgentId(5), Prompt.Length);
            await pool.FlushTierAsync();
            Assert.Equal(3, pool.GetTierStatistics()!.Value.Offloaded);
            manager.Release(new AgentId(5));
        }

        // Disposed in order: the pool (its offload stopped) and then the store; nothing threw.
        Assert.Throws<ObjectDisposedException>(() => pool.GetStatistics());
    }

    [Fact]
    public async Task The_health_check_reports_the_tier_and_degrades_while_its_server_is_gone()
    {
        EmbeddedGarnet server = EmbeddedGarnet.Start();
        Dictionary<string, string?> settings = Settings("health");
        settings["KvBlockPool:Tier:EndPoints"] = server.EndPoint;
        using IHost host = Build(settings, services => services.AddHealthChecks().AddKvBlockPoolHealthCheck());
        await host.StartAsync();
        HealthCheckService health = host.Services.GetRequiredService<HealthCheckService>();

        HealthReportEntry connected = (await health.CheckHealthAsync()).Entries["kvblockpool"];
        Assert.Equal(HealthStatus.Healthy, connected.Status);
        Assert.Equal((true, 0L, 0L), ((bool)connected.Data["tierConnected"], (long)connected.Data["tierOffloaded"], (long)connected.Data["tierRestored"]));

        server.Dispose();
        HealthReportEntry lost = connected;
        for (int attempt = 0; attempt < 200 && lost.Status == HealthStatus.Healthy; attempt++)
        {
            await Task.Delay(50); // the client notices the closed connection on its own
            lost = (await health.CheckHealthAsync()).Entries["kvblockpool"];
        }

        Assert.Equal(HealthStatus.Degraded, lost.Status);
        Assert.Equal(false, lost.Data["tierConnected"]);
        Assert.StartsWith("Block pool 'health' lost its shared tier (health): admissions compute the prefixes they would restore", lost.Description, StringComparison.Ordinal);
        await host.StopAsync();
    }

    private Dictionary<string, string?> Settings(string name) => new()
    {
        ["KvBlockPool:Layers"] = "4",
        ["KvBlockPool:KvHeads"] = "2",
        ["KvBlockPool:HeadDim"] = "8",
        ["KvBlockPool:TokensPerBlock"] = "4",
        ["KvBlockPool:CapacityBlocks"] = "64",
        ["KvBlockPool:Name"] = name,
        ["KvBlockPool:PrefixCache:KeySecret"] = Secret,
        ["KvBlockPool:Tier:EndPoints"] = garnet.EndPoint,
        ["KvBlockPool:Tier:KeyPrefix"] = garnet.KeyPrefix(name),
        ["KvBlockPool:Tier:RestoreTimeout"] = "5s",
    };

    private static IHost Build(Dictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Debug).AddFakeLogging();
        builder.Services.AddKvBlockPool(builder.Configuration.GetSection("KvBlockPool"));
        configure?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>Writes every computed position of the agent's prompt: layer L's bytes are the stamp of L.</summary>
    private static void Fill(AgentCacheManager manager, AgentId agent)
    {
        using KvCacheLease lease = manager.Lease(agent);
        for (int layer = 0; layer < lease.Spec.Layers; layer++)
        {
            for (int block = 0; block < lease.GetBlockCount(layer); block++)
            {
                lease.GetKeys<byte>(layer, block).Fill(Stamp(layer));
                lease.GetValues<byte>(layer, block).Fill(Stamp(layer));
            }
        }
    }

    private static byte Stamp(int layer) => (byte)(0x51 + layer);
}
