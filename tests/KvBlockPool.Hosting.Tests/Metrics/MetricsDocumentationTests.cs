using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using KvBlockPool.Hosting.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KvBlockPool.Hosting.Tests.Metrics;

/// <summary>docs/metrics.md lists exactly the instruments a hosted pool publishes, with their units and Prometheus names.</summary>
public sealed partial class MetricsDocumentationTests
{
    [Fact]
    public async Task The_instrument_table_and_the_prometheus_table_match_the_published_instruments()
    {
        using IHost host = TestHosts.Build(TestHosts.Small("documented"));
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
        // This host's pool has no prefix cache: the prefix instruments' rows are checked by PoolMetricsTests and below.
        Dictionary<string, string> units = InstrumentRow().Matches(doc).Where(m => !IsPrefix(m)).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["unit"].Value);
        Dictionary<string, string> prometheus = PrometheusRow().Matches(doc).Where(m => !IsPrefix(m)).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["series"].Value);
        Assert.Equal(8, PrometheusRow().Matches(doc).Count(IsPrefix)); // every prefix instrument has its Prometheus name
        foreach (Match row in PrometheusRow().Matches(doc).Where(IsPrefix))
        {
            string name = row.Groups["name"].Value;
            bool counter = name is "kvblockpool.prefix.lookups" or "kvblockpool.prefix.queried_tokens" or "kvblockpool.prefix.hit_tokens" or "kvblockpool.prefix.stored_chunks" or "kvblockpool.prefix.evicted_chunks";
            Assert.Equal(name.Replace('.', '_') + (counter ? "_total" : string.Empty), row.Groups["series"].Value);
        }

        Assert.Equal(10, published.Count); // four counters, six gauges (src/KvBlockPool/Observability/BlockPoolMetrics.cs)
        Assert.Equal(published.Keys.Order(), units.Keys.Order());
        Assert.Equal(published.Keys.Order(), prometheus.Keys.Order());
        foreach (Instrument instrument in published.Values)
        {
            Assert.Equal(instrument.Unit, units[instrument.Name]);
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

        return instrument.GetType().GetGenericTypeDefinition() == typeof(Counter<>) ? name + "_total" : name;
    }

    private static bool IsPrefix(Match row) => row.Groups["name"].Value.StartsWith("kvblockpool.prefix.", StringComparison.Ordinal);

    [GeneratedRegex(@"^\| `(?<name>kvblockpool\.[a-z._]+)` \| (Counter|ObservableUpDownCounter) \| `(?<unit>[^`]+)` \|", RegexOptions.Multiline)]
    private static partial Regex InstrumentRow();

    [GeneratedRegex(@"^\| `(?<name>kvblockpool\.[a-z._]+)` \| `(?<series>kvblockpool_[a-z_]+)`", RegexOptions.Multiline)]
    private static partial Regex PrometheusRow();
}
