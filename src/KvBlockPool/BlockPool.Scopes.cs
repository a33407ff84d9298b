using System.Diagnostics;
using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>Allocation scopes: multi-layer allocation as a transaction.</content>
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
            ThrowIfDisposed();
            ThrowIfOwnerTableFull();
            OwnerRecord record = RentRecord();
            record.Agent = agent;
            record.IsScope = true;
            RegisterSlot(record);
            _openScopes++;
            return new AllocationScope(this, record, record.Token);
        }
    }

    internal bool ScopeAllocate(OwnerRecord record, int token, int layer, Span<KvBlock> destination, bool throwOnExhaustion)
    {
        int count = destination.Length;
        if (count == 0)
        {
            ThrowHelper.ThrowEmptyDestination(nameof(destination));
        }

        StackTrace? trace = _diagnostics ? new StackTrace(false) : null; // the library's own frames are dropped when it is formatted (CallerStack)
        int available, capacity;
        lock (_gate)
        {
            ThrowIfDisposed();
            ThrowIfScopeEnded(record, token);
            ValidateLayer(layer);
            available = _freeCount;
            if (available >= count)
            {
                _diag?.VerifyPoisonOnTop(this, count);
                record.Layers[layer].EnsureRoomFor(count);
                PopInto(record, layer, destination, trace);
                PublishCounts();
                capacity = -1;
            }
            else
            {
                capacity = _freeStack.Length;
            }
        }

        return Completed(count, available, capacity, throwOnExhaustion);
    }

    /// <summary>
    /// The scope form of <see cref="AllocateAllLayers(AgentId, int, Span{KvBlock})"/>: every layer's blocks under
    /// one acquisition of the gate instead of one per layer, every layer or none.
    /// </summary>
    internal bool ScopeAllocateAllLayers(OwnerRecord record, int token, int blocksPerLayer, Span<KvBlock> destination, bool throwOnExhaustion)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerLayer);
        StackTrace? trace = _diagnostics ? new StackTrace(false) : null; // the library's own frames are dropped when it is formatted (CallerStack)
        int total, available, capacity;
        lock (_gate)
        {
            ThrowIfDisposed();
            ThrowIfScopeEnded(record, token);
            int layers = _spec.Layers;
            long wanted = (long)blocksPerLayer * layers;
            if (destination.Length != wanted)
            {
                ThrowHelper.ThrowDestinationLength(nameof(destination), wanted, destination.Length, blocksPerLayer, layers);
            }

            total = (int)wanted;
            available = _freeCount;
            if (available >= total)
            {
                _diag?.VerifyPoisonOnTop(this, total);
                for (int layer = 0; layer < layers; layer++)
                {
                    record.Layers[layer].EnsureRoomFor(blocksPerLayer);
                }

                // Nothing below can fail.
                for (int layer = 0; layer < layers; layer++)
                {
                    PopInto(record, layer, destination.Slice(layer * blocksPerLayer, blocksPerLayer), trace);
                }

                PublishCounts();
                capacity = -1;
            }
            else
            {
                capacity = _freeStack.Length;
            }
        }

        return Completed(total, available, capacity, throwOnExhaustion);
    }

    internal void ScopeCommit(OwnerRecord record, int token)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            ThrowIfScopeEnded(record, token);
            if (record.BlockCount > 0)
            {
                OwnerRecord agent = PrepareAgentRecord(record.Agent, out bool isNew);
                for (int layer = 0; layer < record.LayerCount; layer++)
                {
                    agent.Layers[layer].EnsureRoomFor(record.Layers[layer].Count);
                }

                if (isNew)
                {
                    RegisterAgent(agent);
                }

                // Nothing below can fail: the commit is all or nothing.
                for (int layer = 0; layer < record.LayerCount; layer++)
                {
                    ref BlockList target = ref agent.Layers[layer];
                    int word = OwnerWord(agent.Slot, layer);
                    foreach (int id in record.Layers[layer].AsSpan())
                    {
                        _owner[id] = word;
                        target.AddUnchecked(id);
                    }
                }

                agent.BlockCount += record.BlockCount;
            }

            UnregisterSlot(record);
            _openScopes--;
            RecycleRecord(record);
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
            if (_disposed || !IsScopeOpen(record, token))
            {
                return; // committed, disposed already, or the pool is gone: nothing to roll back
            }

            UnregisterSlot(record);
            _openScopes--;
            (count, deferred) = ReleaseRecord(record);
        }

        _metrics.RolledBack(count);
        if (deferred)
        {
            CompleteRecordRelease(record);
        }
    }

    internal int ScopeBlockCount(OwnerRecord record, int token)
    {
        lock (_gate)
        {
            return !_disposed && IsScopeOpen(record, token) ? record.BlockCount : 0;
        }
    }

    internal bool ScopeIsOpen(OwnerRecord record, int token)
    {
        lock (_gate)
        {
            return !_disposed && IsScopeOpen(record, token);
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
