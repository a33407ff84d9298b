namespace KvBlockPool.Core;

/// <summary>
/// The pool's open leases: a free list of <see cref="LeaseState"/> objects (so leasing allocates nothing once
/// warm), how many leases are open, and a configuration whose slabs wait for the last lease before they are freed.
/// </summary>
/// <remarks>
/// <para>Used under the pool's gate only.</para>
/// <para>
/// A lease hands out spans and pointers that are read without the gate, so the slabs must outlive every open
/// lease. <c>Dispose</c> of the pool does not wait for leases (a host that forgot one would hang it for ever): it
/// closes the pool — every later call on a lease throws <see cref="ObjectDisposedException"/> — and leaves the
/// slabs to <see cref="End"/> of the last lease. A lease that is never disposed keeps them until the finalizer of
/// the slabs runs, once nothing references the pool.
/// </para>
/// </remarks>
internal sealed class LeaseBook
{
    /// <summary>States kept for reuse; more than a host's concurrent leases in practice.</summary>
    private const int MaxRetained = 256;

    private readonly Stack<LeaseState> _spare = new();
    private BlockTable? _deferred;

    /// <summary>Leases open now.</summary>
    public int Open { get; private set; }

    /// <summary>Whether the slabs of a disposed pool wait for the last lease.</summary>
    public bool HasDeferredTable => _deferred is not null;

    /// <summary>A cleared state for a spec of <paramref name="layers"/> layers.</summary>
    public LeaseState Rent(int layers)
    {
        while (_spare.TryPop(out LeaseState? state))
        {
            if (state.LayerCount == layers)
            {
                return state;
            }
        }

        return new LeaseState(layers);
    }

    /// <summary>Counts a lease open once its state is filled (nothing can fail after this).</summary>
    public void Begin() => Open++;

    /// <summary>
    /// Ends a lease: clears its state (the stamp moves on) and keeps it for reuse. Returns the table whose slabs
    /// the caller must free now, when this was the last lease of a disposed pool.
    /// </summary>
    public BlockTable? End(LeaseState state)
    {
        state.Clear();
        if (_spare.Count < MaxRetained)
        {
            _spare.Push(state);
        }

        Open--;
        if (Open > 0 || _deferred is null)
        {
            return null;
        }

        BlockTable table = _deferred;
        _deferred = null;
        return table;
    }

    /// <summary>
    /// Called by the pool's <c>Dispose</c>: if leases are open, keeps <paramref name="table"/> for the last one to
    /// free and returns <see langword="true"/>; otherwise the caller frees it now.
    /// </summary>
    public bool TryDefer(BlockTable table)
    {
        if (Open == 0)
        {
            return false;
        }

        _deferred = table;
        return true;
    }
}
