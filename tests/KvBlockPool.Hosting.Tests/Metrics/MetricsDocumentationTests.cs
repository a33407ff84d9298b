using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using KvBlockPool.Hosting.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KvBlockPool.Hosting.Tests.Metrics;

/// <summary>docs/metrics.md lists exactly the instruments a hosted pool publishes, with their units and Prometheus names.</summary>
public sealed partial class MetricsDocumentationTests
{
    [Theory]
    [InlineData(false, 10)] // four counters, six gauges (src/KvBlockPool/Observability/BlockPoolMetrics.cs)
    [InlineData(true, 18)] // and the prefix cache's five counters and three gauges (PrefixMetrics.cs)
    public async Task The_instrument_table_and_the_prometheus_table_match_the_published_instruments(bool prefixCache, int instruments)
    {
        Dictionary<string, string?> settings = TestHosts.Small("documented");
        if (prefixCache)
        {
            settings["KvBlockPool:PrefixCache:Enabled"] = "true";
        }

        using IHost host = TestHosts.Build(settings);
        IMeterFactory meterFactory = host.Services.GetRequiredService<IMeterFactory>();
        var published = new Dictionary<string, Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Scope == meterFactory && instrument.Meter.Name == KvBlockPoolServiceCollectionExtensions.MeterName)
                {
                    lock (published)
                    {
                        published[instrument.Name] = instrument;
                    }
                }
            },
        };
        listener.Start();
        await host.StartAsync();

        string doc = File.ReadAllText(Path.Combine(Repository.Root(), "docs", "metrics.md"));
        // A pool without a prefix cache does not publish the prefix instruments, so their rows are left out of its check.
        // The shared tier's rows belong to KvBlockPool.Redis, not the pool: tests/KvBlockPool.Tier.Tests checks them.
        Dictionary<string, (string Unit, string Type)> units = InstrumentRow().Matches(doc).Where(m => (prefixCache || !IsPrefix(m)) && !IsTier(m)).ToDictionary(m => m.Groups["name"].Value, m => (Unit: m.Groups["unit"].Value, Type: m.Groups["type"].Value));
        Dictionary<string, string> prometheus = PrometheusRow().Matches(doc).Where(m => (prefixCache || !IsPrefix(m)) && !IsTier(m)).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["series"].Value);

        Assert.Equal(instruments, published.Count);
        Assert.Equal(published.Keys.Order(), units.Keys.Order());
        Assert.Equal(published.Keys.Order(), prometheus.Keys.Order());
        foreach (Instrument instrument in published.Values)
        {
            Assert.Equal(instrument.Unit, units[instrument.Name].Unit);
            Assert.Equal(instrument.GetType().Name.Split('`')[0], units[instrument.Name].Type);
            Assert.Equal(PrometheusName(instrument), prometheus[instrument.Name]);
        }

        await host.StopAsync();
    }

    /// <summary>OpenTelemetry's Prometheus naming as docs/metrics.md states it: dots to underscores, "_bytes" for byte units, "_total" for counters.</summary>
    private static string PrometheusName(Instrument instrument)
    {
        string name = instrument.Name.Replace('.', '_');
        if (instrument.Unit == "By" && !name.EndsWith("_bytes", StringComparison.Ordinal))
        {
            name += "_bytes";
        }

        Type type = instrument.GetType().GetGenericTypeDefinition();
        return type == typeof(Counter<>) || type == typeof(ObservableCounter<>) ? name + "_total" : name;
    }

    private static bool IsPrefix(Match row) => row.Groups["name"].Value.StartsWith("kvblockpool.prefix.", StringComparison.Ordinal);

    private static bool IsTier(Match row) => row.Groups["name"].Value.StartsWith("kvblockpool.tier.", StringComparison.Ordinal);

    [GeneratedRegex(@"^\| `(?<name>kvblockpool\.[a-z._]+)` \| (?<type>Counter|ObservableCounter|ObservableUpDownCounter) \| `(?<unit>[^`]+)` \|", RegexOptions.Multiline)]
    private static partial Regex InstrumentRow();

    [GeneratedRegex(@"^\| `(?<name>kvblockpool\.[a-z._]+)` \| `(?<series>kvblockpool_[a-z_]+)`", RegexOptions.Multiline)]
    private static partial Regex PrometheusRow();
}
