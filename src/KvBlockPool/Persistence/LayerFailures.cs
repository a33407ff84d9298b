using System.Runtime.ExceptionServices;

namespace KvBlockPool.Persistence;

/// <summary>
/// What went wrong while layers were restored in parallel, and what the workers should still do. A bad layer (a
/// <see cref="KvCacheFormatException"/>) lets every layer before it finish, so the error reported is the first in
/// file order, exactly as a sequential read would report it; anything else (cancellation, I/O, a disposed pool)
/// stops every worker at its next chunk.
/// </summary>
internal sealed class LayerFailures(int layers)
{
    private readonly Exception?[] _errors = new Exception?[layers];
    private readonly Lock _gate = new();
    private int _lowestBadLayer = int.MaxValue;
    private volatile bool _stopped;

    /// <summary>Whether work on <paramref name="layer"/> can no longer change the outcome.</summary>
    public bool ShouldAbandon(int layer) => _stopped || layer > Volatile.Read(ref _lowestBadLayer);

    public void Record(int layer, Exception error)
    {
        _errors[layer] = error;
        if (error is not KvCacheFormatException)
        {
            _stopped = true;
            return;
        }

        lock (_gate)
        {
            // Failures are rare and few; a lock keeps "lowest so far" simple. Readers need only a recent value.
            if (layer < _lowestBadLayer)
            {
                Volatile.Write(ref _lowestBadLayer, layer);
            }
        }
    }

    /// <summary>Rethrows the first failure that is not about the data, else the first bad layer's; returns if none. Call after every worker ended.</summary>
    public void ThrowIfAny()
    {
        Exception? first = Array.Find(_errors, e => e is not null and not KvCacheFormatException) ?? Array.Find(_errors, e => e is not null);
        if (first is not null)
        {
            ExceptionDispatchInfo.Throw(first);
        }
    }
}
