using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

namespace KvBlockPool.Hosting.Tests.Metrics;

/// <summary>
/// A console host adopts the pool with <c>AddKvBlockPool</c> and one resolve, and OpenTelemetry's console exporter
/// prints the pool's metrics without an <c>AddMeter</c> call. Alone, because it redirects the console.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class OpenTelemetryExportTests
{
    [Fact]
    public async Task The_console_exporter_prints_the_pools_metrics_without_AddMeter()
    {
        string output = await ExportOnce(disable: false);

        Assert.Contains("kvblockpool.blocks.allocated", output, StringComparison.Ordinal);
        Assert.Contains("kvblockpool.blocks.in_use", output, StringComparison.Ordinal);
        Assert.Contains("kvblockpool.native.bytes", output, StringComparison.Ordinal);
        Assert.Contains("kvblockpool.pool.name: exported", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_DisableMetrics_rule_added_after_AddKvBlockPool_turns_the_export_off()
    {
        string output = await ExportOnce(disable: true);

        Assert.DoesNotContain("kvblockpool.", output, StringComparison.Ordinal);
    }

    private static async Task<string> ExportOnce(bool disable)
    {
        var console = new StringWriter();
        TextWriter original = Console.Out;
        Console.SetOut(console);
        try
        {
            using IHost host = TestHosts.Build(TestHosts.Small("exported"), services =>
            {
                services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddConsoleExporter());
                if (disable)
                {
                    services.AddMetrics(metrics => metrics.DisableMetrics(KvBlockPoolServiceCollectionExtensions.MeterName));
                }
            });
            await host.StartAsync();
            AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();
            manager.Admit(new AgentId(1), promptTokens: 48);

            Assert.True(host.Services.GetRequiredService<MeterProvider>().ForceFlush(timeoutMilliseconds: 10_000));
            manager.Release(new AgentId(1));
            await host.StopAsync();
        }
        finally
        {
            Console.SetOut(original);
        }

        return console.ToString();
    }
}
