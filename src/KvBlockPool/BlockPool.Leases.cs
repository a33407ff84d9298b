using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>
/// Leases: an agent's blocks resolved in one trip through the gate, read and written without it. A lease pins its
/// agent (the pin of <see cref="Pin"/>), so the blocks it hands out cannot be freed under it; the pool's slabs
/// outlive every open lease, even the pool's own <see cref="Dispose"/>.
/// </content>
public sealed partial class BlockPool
{
    /// <summary>
    /// Leases every layer of <paramref name="agent"/>'s blocks: one trip through the gate, then spans, vectors,
    /// pointers and block ids without locking, until the lease is disposed. See <see cref="KvCacheLease"/> for what
    /// a lease holds off.
    /// </summary>
    /// <param name="agent">The agent; one that holds no blocks gets an empty lease (every layer with 0 blocks), which pins nothing.</param>
    /// <returns>The lease; dispose it (a <c>using</c> declaration) when the step is done.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvCacheLease Lease(AgentId agent)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            return LeaseUnderGate(agent, 0, _table.Layers);
        }
    }

    /// <summary>Leases <paramref name="agent"/>'s blocks on one layer (see <see cref="Lease(AgentId)"/>).</summary>
    /// <param name="agent">The agent; one that holds no blocks gets an empty lease, which pins nothing.</param>
    /// <param name="layer">The layer, 0 to <c>Spec.Layers - 1</c>.</param>
    /// <returns>The lease; dispose it when the step is done.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvCacheLease Lease(AgentId agent, int layer)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            ValidateLayer(layer, _table);
            return LeaseUnderGate(agent, layer, layer + 1);
        }
    }

    /// <summary>Ends a lease if <paramref name="stamp"/> still names it; frees the slabs of a disposed pool after its last lease.</summary>
    internal void EndLease(LeaseState state, int stamp)
    {
        BlockTable? orphaned;
        lock (_gate)
        {
            if (state.Stamp != stamp)
            {
                return; // disposed before, through this copy or another
            }

            if (state.Pinned)
            {
                _guard.Unpin(state.Agent);
            }

            orphaned = _leases.End(state);
        }

        // The last lease of a disposed pool: nothing can reach these slabs any more.
        orphaned?.Dispose();
    }

    private KvCacheLease LeaseUnderGate(AgentId agent, int firstLayer, int endLayer)
    {
        BlockTable table = _table;
        LeaseState state = _leases.Rent(table.Layers);
        state.Table = table;
        state.Guard = _guard;
        state.Slabs = table.Slabs;
        state.BytesPerHalf = table.Spec.BytesPerHalf;
        state.ElementType = table.Spec.ElementType;
        state.Agent = agent;
        state.FirstLayer = firstLayer;
        state.EndLayer = endLayer;
        if (_owners.TryGetAgent(agent, out OwnerRecord? record))
        {
            // The record's own arrays, not copies: the pin keeps the first Counts ids of each from changing.
            for (int layer = firstLayer; layer < endLayer; layer++)
            {
                ref BlockList list = ref record.Layers[layer];
                state.Ids[layer] = list.Items;
                state.Counts[layer] = list.Count;
            }

            _guard.Pin(agent);
            state.Pinned = true;
        }

        _leases.Begin();
        return new KvCacheLease(this, state);
    }
}
