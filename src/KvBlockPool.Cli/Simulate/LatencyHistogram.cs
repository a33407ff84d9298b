using System.Numerics;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// Latencies in nanoseconds, in log-linear buckets (8 per power of two, so a percentile is within 12.5%). A fixed
/// array, so recording allocates nothing and costs a few instructions; one histogram per thread, merged at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int Linear = 16;
    private const int SubBuckets = 8;
    private readonly long[] _counts = new long[Linear + ((64 - 4) * SubBuckets)];

    public long Count { get; private set; }

    public void Record(long nanoseconds)
    {
        _counts[BucketOf(Math.Max(0, nanoseconds))]++;
        Count++;
    }

    public void Add(LatencyHistogram other)
    {
        for (int i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
    }

    /// <summary>The latency below which <paramref name="fraction"/> of the samples fall (the middle of its bucket), or 0 with no samples.</summary>
    public long Percentile(double fraction)
    {
        if (Count == 0)
        {
            return 0;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(fraction * Count));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return MiddleOf(i);
            }
        }

        return MiddleOf(_counts.Length - 1);
    }

    private static int BucketOf(long value)
    {
        if (value < Linear)
        {
            return (int)value;
        }

        int exponent = BitOperations.Log2((ulong)value); // >= 4
        int sub = (int)(value >> (exponent - 3)) & (SubBuckets - 1);
        return Linear + ((exponent - 4) * SubBuckets) + sub;
    }

    private static long MiddleOf(int bucket)
    {
        if (bucket < Linear)
        {
            return bucket;
        }

        int exponent = ((bucket - Linear) / SubBuckets) + 4;
        int sub = (bucket - Linear) % SubBuckets;
        long width = 1L << (exponent - 3);
        long low = (SubBuckets + sub) * width;
        return low + (width / 2);
    }
}
