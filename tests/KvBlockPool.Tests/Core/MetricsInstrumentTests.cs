using System.Diagnostics.Metrics;

namespace KvBlockPool.Tests.Core;

/// <summary>The pool reports through its instruments: counters after each operation, gauges from the lock-free counters.</summary>
public sealed class MetricsInstrumentTests
{
    [Fact]
    public void Counters_and_gauges_report_the_pools_activity()
    {
        string name = $"metrics-{Guid.NewGuid():N}";
        var totals = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "KvBlockPool")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "kvblockpool.pool.name" && (string?)tag.Value == name)
                {
                    lock (totals)
                    {
                        totals[instrument.Name] = totals.GetValueOrDefault(instrument.Name) + value;
                    }
                }
            }
        });
        listener.Start();

        BlockPool pool = TestPools.Create(capacity: 8, name: name);
        var agent = new AgentId(1);
        pool.Allocate(agent, 0, 3);
        Assert.False(pool.TryAllocate(agent, 0, new KvBlock[9]));
        using (AllocationScope scope = pool.BeginScope(agent))
        {
            scope.Allocate(1, 2);
        }

        pool.FreeAgent(agent);
        pool.Allocate(agent, 1, 2);
        listener.RecordObservableInstruments();

        Assert.Equal(7, totals["kvblockpool.blocks.allocated"]);
        Assert.Equal(5, totals["kvblockpool.blocks.freed"]);
        Assert.Equal(1, totals["kvblockpool.allocation.failures"]);
        Assert.Equal(1, totals["kvblockpool.scope.rollbacks"]);
        Assert.Equal(2, totals["kvblockpool.blocks.in_use"]);
        Assert.Equal(6, totals["kvblockpool.blocks.available"]);
        Assert.Equal(512, totals["kvblockpool.bytes.in_use"]);
        Assert.Equal(1536, totals["kvblockpool.bytes.available"]);
        Assert.Equal(1, totals["kvblockpool.agents"]);
        Assert.Equal(2048, totals["kvblockpool.native.bytes"]);

        pool.Dispose();
        totals.Clear();
        listener.RecordObservableInstruments();
        Assert.Empty(totals); // a disposed pool reports nothing
    }
}
