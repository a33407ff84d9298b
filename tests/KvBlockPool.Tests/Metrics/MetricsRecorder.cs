using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using KvBlockPool.Testing;

namespace KvBlockPool.Tests.Metrics;

/// <summary>
/// A real <see cref="MeterListener"/> on the pool's instruments, limited to one meter (the one a test's own
/// <see cref="IMeterFactory"/> created, or the static meter's measurements tagged with one pool name), so tests
/// running in parallel never see each other's measurements.
/// </summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();
    private readonly ConcurrentDictionary<string, long> _lastObserved = new();
    private readonly ConcurrentDictionary<string, Instrument> _instruments = new();
    private readonly string? _poolName;

    public MetricsRecorder(Func<Instrument, bool> select, string? poolName = null)
    {
        _poolName = poolName;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (select(instrument))
            {
                _instruments[instrument.Name] = instrument;
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    public IReadOnlyDictionary<string, Instrument> Instruments => _instruments;

    /// <summary>The sum of a counter's measurements since the recorder started.</summary>
    public long Total(string name) => _totals.GetValueOrDefault(name);

    /// <summary>Collects every observable instrument now and returns each one's value.</summary>
    public IReadOnlyDictionary<string, long> Observe()
    {
        _lastObserved.Clear();
        _listener.RecordObservableInstruments();
        return new Dictionary<string, long>(_lastObserved);
    }

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (_poolName is not null && !HasPoolName(tags, _poolName))
        {
            return;
        }

        if (instrument.IsObservable)
        {
            _lastObserved[instrument.Name] = value;
        }
        else
        {
            _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value);
        }
    }

    private static bool HasPoolName(ReadOnlySpan<KeyValuePair<string, object?>> tags, string poolName)
    {
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == "kvblockpool.pool.name" && Equals(tag.Value, poolName))
            {
                return true;
            }
        }

        return false;
    }
}
