using System.Diagnostics.Metrics;

namespace KvBlockPool.Testing;

/// <summary>
/// An <see cref="IMeterFactory"/> of the kind a host's dependency injection provides: its meters are scoped to it, so a
/// collector given this scope sees one test's instruments only. Compiled into each test project that needs it
/// (tests/Shared is linked, not a project). (A collector on the unscoped meter binds to whichever
/// store's instrument of that name was published first, which in a parallel run may be another test's.)
/// </summary>
internal sealed class ScopedMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            foreach (Meter meter in _meters)
            {
                meter.Dispose();
            }
        }
    }
}
