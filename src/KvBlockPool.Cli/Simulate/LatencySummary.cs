using HdrHistogram;

namespace KvBlockPool.Cli.Simulate;

/// <summary>The figures reported for one operation's latencies, in nanoseconds.</summary>
internal sealed record LatencySummary(long Count, long P50, long P90, long P99, long P999, long Max)
{
    public static LatencySummary Of(HistogramBase histogram) => histogram.TotalCount == 0
        ? new LatencySummary(0, 0, 0, 0, 0, 0)
        : new LatencySummary(
            histogram.TotalCount,
            histogram.GetValueAtPercentile(50),
            histogram.GetValueAtPercentile(90),
            histogram.GetValueAtPercentile(99),
            histogram.GetValueAtPercentile(99.9),
            histogram.GetMaxValue());
}
