using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvBlockPool.Core;

/// <summary>
/// The lifetime of the pool's memory: whether the pool is closed, the work running outside the gate that
/// <c>Dispose</c> must wait for before it frees the slabs (frees scrubbing their blocks, data accesses copying
/// block memory), and the pins that keep an agent's blocks from being freed while a reader copies them.
/// </summary>
/// <remarks>
/// Takes no lock of its own: every member but <see cref="IsClosed"/> is used under the pool's gate, which it is
/// given only to wait on and to wake waiters (<see cref="Monitor.Wait(object)"/> needs the monitor).
/// </remarks>
internal sealed class AccessGuard(object gate)
{
    private readonly Dictionary<AgentId, int> _pins = [];
    private int _releasesInFlight;
    private int _accessesInFlight;
    private int _drainWaiters;
    private volatile bool _closed;

    /// <summary>Whether the pool is disposed; read without the gate.</summary>
    public bool IsClosed => _closed;

    /// <summary>Frees scrubbing blocks outside the gate.</summary>
    public int ReleasesInFlight => _releasesInFlight;

    /// <summary>Data accesses (copies between block memory and a caller's buffer) running outside the gate.</summary>
    public int AccessesInFlight => _accessesInFlight;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ThrowIfClosed()
    {
        if (_closed)
        {
            ThrowHelper.ThrowPoolDisposed();
        }
    }

    /// <summary>Closes the pool and waits until no free is scrubbing and no data access is copying; never waits for a pin.</summary>
    public void CloseAndDrain()
    {
        _closed = true;
        while (_releasesInFlight > 0 || _accessesInFlight > 0)
        {
            Monitor.Wait(gate);
        }
    }

    /// <summary>
    /// Waits (releasing the gate meanwhile) until no data access is in flight, without closing the pool:
    /// <c>Reconfigure</c> calls it after the swap, before it frees the old configuration's slabs under a warm-up.
    /// </summary>
    public void DrainAccesses()
    {
        while (_accessesInFlight > 0)
        {
            _drainWaiters++;
            try
            {
                Monitor.Wait(gate);
            }
            finally
            {
                _drainWaiters--;
            }
        }
    }

    public void BeginRelease() => _releasesInFlight++;

    public void EndRelease() => End(ref _releasesInFlight);

    public void BeginAccess() => _accessesInFlight++;

    public void EndAccess() => End(ref _accessesInFlight);

    /// <summary>
    /// Ends a data access from outside the gate: the one member that takes the gate itself, because a
    /// <see cref="BlockAccess"/> lease ends wherever its holder disposes it.
    /// </summary>
    public void EndAccessOutsideGate()
    {
        lock (gate)
        {
            EndAccess();
        }
    }

    public void Pin(AgentId agent) => CollectionsMarshal.GetValueRefOrAddDefault(_pins, agent, out _)++;

    public void Unpin(AgentId agent)
    {
        ref int pins = ref CollectionsMarshal.GetValueRefOrNullRef(_pins, agent);
        if (Unsafe.IsNullRef(ref pins))
        {
            return;
        }

        if (--pins == 0)
        {
            _pins.Remove(agent);
        }
    }

    public int PinCount(AgentId agent) => _pins.GetValueOrDefault(agent);

    /// <summary>The pins, in agent order, for "nothing changed" assertions.</summary>
    public string DescribePins() => string.Join(',', _pins.OrderBy(p => p.Key.Value).Select(p => $"{p.Key}x{p.Value}"));

    /// <summary>
    /// Refuses a free of a pinned agent rather than waiting: a waiting free could deadlock a host that saves and
    /// releases on one thread, and a refusal is easy to retry.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ThrowIfPinned(AgentId agent)
    {
        if (_pins.Count != 0 && _pins.TryGetValue(agent, out int pins))
        {
            ThrowPinned(agent, pins);
        }
    }

    /// <summary>
    /// Checks the pin invariants: every pinned agent is registered (a pin keeps its agent's blocks from being
    /// freed), every pin count is positive, and no data access is in flight once the pool is closed.
    /// </summary>
    public string? FindViolation(OwnerTable owners)
    {
        if (_closed)
        {
            return _accessesInFlight == 0 ? null : $"{_accessesInFlight} data access(es) in flight after dispose";
        }

        foreach (KeyValuePair<AgentId, int> pin in _pins)
        {
            if (pin.Value <= 0)
            {
                return $"{pin.Key} has pin count {pin.Value}";
            }

            if (!owners.TryGetAgent(pin.Key, out _))
            {
                return $"{pin.Key} is pinned but holds no blocks: its blocks were freed under a pin";
            }
        }

        return _accessesInFlight < 0 ? $"data accesses in flight is {_accessesInFlight}" : null;
    }

    private static void ThrowPinned(AgentId agent, int pins) => throw new AgentPinnedException(
        agent,
        pins,
        string.Create(CultureInfo.InvariantCulture, $"{agent} is pinned by {pins} save(s) or lease(s), so its blocks cannot be freed now: a freed block could be reused while they read it. Nothing was freed. Retry when the save has finished or the lease is disposed."));

    /// <summary>Ends one piece of work outside the gate and wakes a <c>Dispose</c> (or a <c>Reconfigure</c>) waiting for it.</summary>
    private void End(ref int inFlight)
    {
        inFlight--;
        if (_closed || _drainWaiters > 0)
        {
            Monitor.PulseAll(gate);
        }
    }
}
