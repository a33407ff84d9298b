using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>Allocation scopes: multi-layer allocation as a transaction. Allocation and rollback go through the same bodies as an agent's.</content>
public sealed partial class BlockPool
{
    /// <summary>
    /// Opens an allocation scope for <paramref name="agent"/>: allocate on any layers through the scope, then
    /// <see cref="AllocationScope.Commit"/> to append every block to the agent's lists in one atomic step.
    /// Disposing the scope without committing returns every block of every layer; the agent is left exactly
    /// as it was, and no reader ever sees part of a scope.
    /// </summary>
    /// <param name="agent">The agent the blocks are for.</param>
    /// <returns>The scope; use it with <c>using</c>.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public AllocationScope BeginScope(AgentId agent)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable table = _table;
            ThrowIfOwnerTableFull(table);
            OwnerRecord record = _owners.OpenScope(agent, table.Layers);
            return new AllocationScope(this, record, record.Token);
        }
    }

    /// <summary>Allocates through an open scope into <paramref name="destination"/>: one layer, or every layer (<paramref name="blocksPerLayer"/> each).</summary>
    internal bool ScopeAllocate(OwnerRecord record, int token, LayerChoice layers, int blocksPerLayer, Span<KvBlock> destination, bool throwOnExhaustion) =>
        AllocateCore(record.Agent, record, token, layers, blocksPerLayer, destination, throwOnExhaustion);

    internal void ScopeCommit(OwnerRecord record, int token)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            ThrowIfScopeEnded(record, token);
            BlockTable table = _table;
            if (record.BlockCount > 0)
            {
                OwnerRecord agent = RentAgentRecord(record.Agent, table, out bool isNew);
                agent.ReserveFor(record);

                // Nothing below can fail: the commit is all or nothing.
                if (isNew)
                {
                    _owners.RegisterAgent(agent);
                }

                agent.TakeOver(record, table);
            }

            _owners.CloseScope(record);
            _owners.Recycle(record, table.Layers);
        }
    }

    internal void ScopeDispose(OwnerRecord record, int token)
    {
        if (record.HasMovedOnFrom(token))
        {
            // Committed or disposed already (its record was recycled): the `using` that ends every committed scope
            // returns here without taking the gate.
            return;
        }

        int count;
        bool deferred;
        lock (_gate)
        {
            if (_guard.IsClosed || !IsScopeOpen(record, token))
            {
                return; // committed, disposed already, or the pool is gone: nothing to roll back
            }

            _owners.CloseScope(record);
            (count, deferred) = DetachRecord(record);
        }

        _metrics.RolledBack(count);
        if (deferred)
        {
            FinishRelease(new ReleasedBlocks(record), record.Agent, recycle: record);
        }
    }

    internal int ScopeBlockCount(OwnerRecord record, int token)
    {
        lock (_gate)
        {
            return !_guard.IsClosed && IsScopeOpen(record, token) ? record.BlockCount : 0;
        }
    }

    internal bool ScopeIsOpen(OwnerRecord record, int token)
    {
        lock (_gate)
        {
            return !_guard.IsClosed && IsScopeOpen(record, token);
        }
    }

    private static bool IsScopeOpen(OwnerRecord record, int token) => record.Token == token && record.IsScope && record.Slot >= 0;

    private static void ThrowIfScopeEnded(OwnerRecord record, int token)
    {
        if (!IsScopeOpen(record, token))
        {
            ThrowHelper.ThrowScopeEnded();
        }
    }
}
