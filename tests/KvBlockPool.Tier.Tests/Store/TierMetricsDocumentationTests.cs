using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using KvBlockPool.Redis;
using KvBlockPool.Testing;
using KvBlockPool.Tier.Tests.Shared;

namespace KvBlockPool.Tier.Tests.Store;

/// <summary>docs/metrics.md lists exactly the tier's instruments, with their kinds, units and Prometheus names.</summary>
[Collection(GarnetCollection.Name)]
[Trait(GarnetCollection.TraitName, GarnetCollection.TraitValue)]
public sealed partial class TierMetricsDocumentationTests(GarnetFixture garnet)
{
    [Fact]
    public async Task The_tier_tables_match_the_instruments_a_store_publishes()
    {
        // This store's own meter: pools with a tier publish instruments named kvblockpool.tier.* on a meter also named
        // KvBlockPool, and a test of another collection may hold one while this runs.
        using var meters = new ScopedMeterFactory();
        var published = new Dictionary<string, Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Meter.Name == "KvBlockPool" && instrument.Name.StartsWith("kvblockpool.tier.", StringComparison.Ordinal))
                {
                    lock (published)
                    {
                        published[instrument.Name] = instrument;
                    }
                }
            },
        };
        listener.Start();
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("documented", o => o.MeterFactory = meters));

        string doc = File.ReadAllText(Path.Combine(Repository.Root(), "docs", "metrics.md"));
        Dictionary<string, Match> rows = InstrumentRow().Matches(doc).ToDictionary(m => m.Groups["name"].Value);
        // The pool's own tier rows (kvblockpool.tier.restored_chunks, …) are checked by SharedTierTests.
        Dictionary<string, string> series = PrometheusRow().Matches(doc).Where(m => rows.ContainsKey(m.Groups["name"].Value)).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["series"].Value);

        Assert.Equal(8, published.Count);
        Assert.Equal(published.Keys.Order(), rows.Keys.Order());
        Assert.Equal(published.Keys.Order(), series.Keys.Order());
        foreach (Instrument instrument in published.Values)
        {
            bool histogram = instrument.GetType().GetGenericTypeDefinition() == typeof(Histogram<>);
            Assert.Equal(histogram ? "Histogram" : "Counter", rows[instrument.Name].Groups["kind"].Value);
            Assert.Equal(instrument.Unit, rows[instrument.Name].Groups["unit"].Value);
            string name = instrument.Name.Replace('.', '_');
            string expected = histogram ? name + "_seconds" : name + (instrument.Unit == "By" && !name.EndsWith("_bytes", StringComparison.Ordinal) ? "_bytes" : string.Empty) + "_total";
            Assert.Equal(expected, series[instrument.Name]);
        }
    }


    [GeneratedRegex(@"^\| `(?<name>kvblockpool\.tier\.[a-z._]+)` \| (?<kind>Counter|Histogram) \| `(?<unit>[^`]+)` \|", RegexOptions.Multiline)]
    private static partial Regex InstrumentRow();

    [GeneratedRegex(@"^\| `(?<name>kvblockpool\.tier\.[a-z._]+)` \| `(?<series>kvblockpool_[a-z_]+)`", RegexOptions.Multiline)]
    private static partial Regex PrometheusRow();
}
