using System.Diagnostics;
using System.Diagnostics.Metrics;
using KvBlockPool.Tier;

namespace KvBlockPool.Redis;

/// <summary>
/// The tier's instruments on the <c>KvBlockPool</c> meter (docs/metrics.md). Every measurement carries the tier's
/// name; counters are added only when a listener is attached (<see cref="Instrument.Enabled"/>).
/// </summary>
internal sealed class TierMetrics : IDisposable
{
    public const string MeterName = "KvBlockPool";

    private static readonly string[] OperationNames = ["get", "put", "exists", "delete"];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _tierTag;
    private readonly Counter<long> _gets;
    private readonly Counter<long> _hits;
    private readonly Counter<long> _misses;
    private readonly Counter<long> _puts;
    private readonly Counter<long> _bytesRead;
    private readonly Counter<long> _bytesWritten;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _duration;

    public TierMetrics(IMeterFactory? factory, string tierName)
    {
        // A factory may hand several stores (and pools) the same meter: only a meter created here is ours to dispose.
        _ownsMeter = factory is null;
        _meter = factory?.Create(new MeterOptions(MeterName)) ?? new Meter(MeterName);
        _tierTag = new KeyValuePair<string, object?>("kvblockpool.tier.name", tierName);
        _gets = _meter.CreateCounter<long>("kvblockpool.tier.gets", "{get}", "Chunk reads asked of the tier.");
        _hits = _meter.CreateCounter<long>("kvblockpool.tier.hits", "{get}", "Chunk reads that returned a value.");
        _misses = _meter.CreateCounter<long>("kvblockpool.tier.misses", "{get}", "Chunk reads that returned no value, by reason.");
        _puts = _meter.CreateCounter<long>("kvblockpool.tier.puts", "{put}", "Chunk writes stored in the tier.");
        _bytesRead = _meter.CreateCounter<long>("kvblockpool.tier.read.bytes", "By", "Bytes of the values read.");
        _bytesWritten = _meter.CreateCounter<long>("kvblockpool.tier.written.bytes", "By", "Bytes of the values stored.");
        _errors = _meter.CreateCounter<long>("kvblockpool.tier.errors", "{error}", "Calls that failed (timed out, unavailable, rejected, too large, failed), by operation and reason.");
        _duration = _meter.CreateHistogram(
            "kvblockpool.tier.duration",
            "s",
            "Time of each call, from its start to its result.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
    }

    /// <summary>Records a finished call: its duration, and what it counts for.</summary>
    public void Record(TierOperation operation, KvChunkStoreStatus status, long bytes, long startTimestamp)
    {
        if (_duration.Enabled)
        {
            _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, _tierTag, new KeyValuePair<string, object?>("kvblockpool.tier.operation", OperationNames[(int)operation]));
        }

        if (operation == TierOperation.Get)
        {
            Add(_gets, 1);
            if (status == KvChunkStoreStatus.Ok)
            {
                Add(_hits, 1);
                Add(_bytesRead, bytes);
            }
            else if (_misses.Enabled)
            {
                _misses.Add(1, _tierTag, new KeyValuePair<string, object?>("kvblockpool.tier.reason", ReasonName(status)));
            }
        }
        else if (operation == TierOperation.Put && status == KvChunkStoreStatus.Ok)
        {
            Add(_puts, 1);
            Add(_bytesWritten, bytes);
        }

        if (IsError(status) && _errors.Enabled)
        {
            _errors.Add(
                1,
                _tierTag,
                new KeyValuePair<string, object?>("kvblockpool.tier.operation", OperationNames[(int)operation]),
                new KeyValuePair<string, object?>("kvblockpool.tier.reason", ReasonName(status)));
        }
    }

    /// <summary>A failure of the store, as opposed to an answer (found, not found) or the caller's own cancellation.</summary>
    public static bool IsError(KvChunkStoreStatus status) => status is not (KvChunkStoreStatus.Ok or KvChunkStoreStatus.NotFound or KvChunkStoreStatus.Canceled);

    /// <summary>The status as the tag <c>kvblockpool.tier.reason</c> spells it.</summary>
    public static string ReasonName(KvChunkStoreStatus status) => status switch
    {
        KvChunkStoreStatus.Ok => "ok",
        KvChunkStoreStatus.NotFound => "not_found",
        KvChunkStoreStatus.TimedOut => "timed_out",
        KvChunkStoreStatus.Canceled => "canceled",
        KvChunkStoreStatus.Unavailable => "unavailable",
        KvChunkStoreStatus.Rejected => "rejected",
        KvChunkStoreStatus.TooLarge => "too_large",
        _ => "failed",
    };

    public static string OperationName(TierOperation operation) => OperationNames[(int)operation];

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private void Add(Counter<long> counter, long value)
    {
        if (counter.Enabled)
        {
            counter.Add(value, _tierTag);
        }
    }
}
