using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>Counters that readers get without taking the gate.</content>
public sealed partial class BlockPool
{
    /// <summary>The pool's hard capacity in blocks. Read without the gate.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int Capacity
    {
        get
        {
            _guard.ThrowIfClosed();
            return _counts.Capacity;
        }
    }

    /// <summary>
    /// The counters at one instant, read without the gate: <see cref="BlockPoolStatistics.Available"/> and
    /// <see cref="BlockPoolStatistics.Allocated"/> come from one atomic read, so they always add up to
    /// <see cref="BlockPoolStatistics.Capacity"/>, and the high-water mark is at least the allocated count.
    /// </summary>
    /// <returns>The statistics.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed: there is nothing left to count (what was still allocated then is in <see cref="LeakReport"/>).</exception>
    public BlockPoolStatistics GetStatistics()
    {
        _guard.ThrowIfClosed();
        BlockTable table = Volatile.Read(ref _table);
        return _counts.Read(table.Spec.BytesPerBlock, table.Slabs.Layout.Stride);
    }

    /// <summary>The statistics, or false once the pool is disposed; for observers (metrics) that must never throw.</summary>
    internal bool TryGetStatistics(out BlockPoolStatistics statistics)
    {
        BlockTable table = Volatile.Read(ref _table);
        statistics = _counts.Read(table.Spec.BytesPerBlock, table.Slabs.Layout.Stride);
        return !_guard.IsClosed;
    }
}
