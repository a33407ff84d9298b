namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// Lets threads that met an exhausted pool sleep until another thread frees blocks, instead of spinning. Freeing
/// threads pulse only when someone waits, so the common path takes no lock.
/// </summary>
internal sealed class SpaceSignal
{
    private readonly object _gate = new();
    private int _waiters;

    public void Pulse()
    {
        if (Volatile.Read(ref _waiters) == 0)
        {
            return;
        }

        lock (_gate)
        {
            Monitor.PulseAll(_gate);
        }
    }

    public void Wait(int milliseconds)
    {
        lock (_gate)
        {
            _waiters++;
            try
            {
                Monitor.Wait(_gate, milliseconds);
            }
            finally
            {
                _waiters--;
            }
        }
    }
}
