using System.Runtime.ExceptionServices;

namespace KvBlockPool.Persistence;

/// <summary>
/// What went wrong while layers were restored in parallel, and what the workers should still do. A failed layer
/// (bad data, an I/O error, a disposed pool) lets every layer before it finish, so the error reported is the one a
/// reader going through the file in order would meet first, whichever thread met what first. A cancellation is
/// the caller's request, not a property of the file: it stops every worker at its next chunk and is reported as
/// such.
/// </summary>
internal sealed class LayerFailures(int layers)
{
    private readonly Exception?[] _errors = new Exception?[layers];
    private readonly Lock _gate = new();
    private int _lowestFailedLayer = int.MaxValue;
    private volatile OperationCanceledException? _cancellation;

    /// <summary>Whether work on <paramref name="layer"/> can no longer change the outcome.</summary>
    public bool ShouldAbandon(int layer) => _cancellation is not null || layer > Volatile.Read(ref _lowestFailedLayer);

    public void Record(int layer, Exception error)
    {
        if (error is OperationCanceledException canceled)
        {
            _cancellation = canceled;
            return;
        }

        lock (_gate)
        {
            // Failures are rare and few; a lock keeps "lowest so far" simple. Readers need only a recent value.
            _errors[layer] = error;
            if (layer < _lowestFailedLayer)
            {
                Volatile.Write(ref _lowestFailedLayer, layer);
            }
        }
    }

    /// <summary>Rethrows the cancellation, if any, else the lowest failed layer's error; returns if none. Call after every worker ended.</summary>
    public void ThrowIfAny()
    {
        if (_cancellation is not null)
        {
            ExceptionDispatchInfo.Throw(_cancellation);
        }

        if (_lowestFailedLayer != int.MaxValue)
        {
            ExceptionDispatchInfo.Throw(_errors[_lowestFailedLayer]!);
        }
    }
}
