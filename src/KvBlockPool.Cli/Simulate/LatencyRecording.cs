using HdrHistogram;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// How latencies are recorded: HdrHistogram, in nanoseconds, with two significant digits (a percentile is within 1%
/// of the true value). One histogram per operation per worker keeps recording free of sharing; they are added up at
/// the end. Two digits rather than three keep each histogram at about 30 KiB, which matters at 256 threads.
/// </summary>
internal static class LatencyRecording
{
    /// <summary>One minute: far beyond any pool operation, so only a stalled process would clip.</summary>
    public const long HighestNanoseconds = 60_000_000_000;

    private const int SignificantDigits = 2;

    public static LongHistogram Create() => new(1, HighestNanoseconds, SignificantDigits);

    public static void Record(LongHistogram histogram, long nanoseconds) =>
        histogram.RecordValue(Math.Clamp(nanoseconds, 1, HighestNanoseconds));
}
