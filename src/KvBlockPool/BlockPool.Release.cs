using System.Buffers;
using System.Runtime.CompilerServices;
using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>
/// Freeing blocks. A free is validated and detached under the gate (handles go stale at once), then the bytes
/// are scrubbed outside the gate, and only then do the blocks go back on the free stack: the gate is never held
/// while large memory is written, and no one can be handed a block that is still dirty. Three ways to detach
/// (one handle, a set of handles, a whole owner record) share one way to retire a block and one way to finish.
/// </content>
public sealed partial class BlockPool
{
    /// <summary>Handles copied to the stack for one free; larger requests rent from <see cref="ArrayPool{T}"/>.</summary>
    private const int StackBatch = 32;

    /// <summary>Frees one block that <paramref name="agent"/> holds.</summary>
    /// <param name="agent">The block's owner.</param>
    /// <param name="block">The handle.</param>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale, already freed or not held by <paramref name="agent"/>; nothing changed.</exception>
    /// <exception cref="AgentPinnedException"><paramref name="agent"/> is pinned by a save in progress or an open <see cref="KvCacheLease"/>; nothing changed.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found the block's guard bytes overwritten; the block was freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public void Free(AgentId agent, KvBlock block) =>
        FreeHandles(agent, new ReadOnlySpan<KvBlock>(in block), detached: default); // the handle is a copy on this stack

    /// <summary>
    /// Frees a set of blocks that <paramref name="agent"/> holds (on any layers), all or none: every handle is
    /// checked before any block is freed. The blocks leave the agent's lists (the others keep their order),
    /// their handles go stale, and their bytes are cleared per <see cref="ClearMode"/> before they can be
    /// handed out again. An agent left with no blocks is forgotten.
    /// </summary>
    /// <param name="agent">The blocks' owner.</param>
    /// <param name="blocks">The handles; may be empty.</param>
    /// <exception cref="ForeignBlockHandleException">A handle comes from another pool, an earlier configuration, or is <c>default</c>; nothing changed.</exception>
    /// <exception cref="StaleBlockHandleException">A handle's block was freed and handed out again; nothing changed.</exception>
    /// <exception cref="DoubleFreeException">A block is already free, or a handle appears twice; nothing changed.</exception>
    /// <exception cref="BlockOwnershipException">A block is held by another agent or an uncommitted scope; nothing changed.</exception>
    /// <exception cref="AgentPinnedException"><paramref name="agent"/> is pinned by a save in progress or an open <see cref="KvCacheLease"/>; nothing changed.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found guard bytes overwritten; the blocks were freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    [SkipLocalsInit] // the stack batch is written before it is read; zeroing it cost more than the rest of a small free
    public void Free(AgentId agent, ReadOnlySpan<KvBlock> blocks)
    {
        int count = blocks.Length;
        if (count == 0)
        {
            _guard.ThrowIfClosed();
            return;
        }

        if (count == 1)
        {
            // The common decode-time case, without the batch path's copy and compaction pass.
            KvBlock only = blocks[0];
            FreeHandles(agent, new ReadOnlySpan<KvBlock>(in only), detached: default);
            return;
        }

        KvBlock[]? rented = null;
        Span<KvBlock> detached = count <= StackBatch
            ? stackalloc KvBlock[StackBatch]
            : (rented = ArrayPool<KvBlock>.Shared.Rent(count));
        try
        {
            FreeHandles(agent, blocks, detached[..count]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<KvBlock>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// The body of both frees of handles. One handle (a copy on the caller's stack, so no other thread can change it
    /// between the check and the detach) is detached directly; several are copied into <paramref name="detached"/> as
    /// they are validated, and the copies are what is scrubbed, whatever the caller does to its span meanwhile.
    /// </summary>
    private void FreeHandles(AgentId agent, ReadOnlySpan<KvBlock> blocks, Span<KvBlock> detached)
    {
        bool one = blocks.Length == 1;
        bool deferred;
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            _guard.ThrowIfPinned(agent);
            BlockTable table = _table;
            deferred = _scrubber.ScrubsOnFree;
            if (one)
            {
                DetachOne(agent, blocks[0], table, deferred);
            }
            else
            {
                DetachMany(agent, blocks, detached, table, deferred);
            }

            EndDetach(table, deferred);
        }

        _metrics.Freed(blocks.Length);
        if (deferred)
        {
            FinishRelease(new ReleasedBlocks(one ? blocks : detached), agent, recycle: null);
        }
    }

    /// <summary>Frees every block <paramref name="agent"/> holds, on every layer, and forgets the agent.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>How many blocks were freed; 0 if the pool holds nothing for <paramref name="agent"/>.</returns>
    /// <exception cref="AgentPinnedException"><paramref name="agent"/> is pinned by a save in progress or an open <see cref="KvCacheLease"/>; nothing changed.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found guard bytes overwritten; the blocks were freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int FreeAgent(AgentId agent)
    {
        OwnerRecord? record;
        int count;
        bool deferred;
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            if (!_owners.TryFindAgent(agent, out record))
            {
                return 0;
            }

            _guard.ThrowIfPinned(agent);
            _owners.UnregisterAgent(record);
            (count, deferred) = DetachRecord(record);
        }

        _metrics.Freed(count);
        if (deferred)
        {
            FinishRelease(new ReleasedBlocks(record), agent, recycle: record);
        }

        return count;
    }

    /// <summary>
    /// Validates every handle, then detaches them from <paramref name="agent"/>'s lists. Throws (with nothing
    /// changed) at the first invalid handle. Caller holds the gate.
    /// </summary>
    private void DetachMany(AgentId agent, ReadOnlySpan<KvBlock> blocks, Span<KvBlock> detached, BlockTable table, bool scrubLater)
    {
        // If the first handle is valid, its owner slot leads to the agent's record; if it is not, the loop throws
        // on it before the record is used, so no agent-table lookup is needed.
        OwnerRecord? record = _owners.AgentRecordInSlot(table.OwnerSlotOf(blocks[0].Id), agent);
        for (int i = 0; i < blocks.Length; i++)
        {
            KvBlock block = blocks[i];
            InvalidBlockHandleException? error = CheckFreeable(block, agent, record, table);
            if (error is not null)
            {
                // Undo the marks of the handles already checked: the pool is exactly as it was.
                for (int j = 0; j < i; j++)
                {
                    table.Unmark(detached[j].Id, table.OwnerWord(record!.Slot, detached[j].Layer));
                }

                throw error;
            }

            table.Mark(block.Id);
            detached[i] = block;
        }

        // Every handle is valid, so record is the owner of all of them. From here nothing can fail.
        OwnerRecord owner = record!;
        owner.RemoveMarked(detached, _owners.NextFreeEpoch(), table);
        foreach (KvBlock block in detached)
        {
            Retire(table, block.Id, block.Layer, agent, scrubLater);
        }

        ForgetIfEmpty(owner, table);
    }

    /// <summary>
    /// Validates one handle, then detaches its block from <paramref name="agent"/>'s list: the one-block form of
    /// <see cref="DetachMany"/>. Throws with nothing changed. Caller holds the gate.
    /// </summary>
    private void DetachOne(AgentId agent, KvBlock block, BlockTable table, bool scrubLater)
    {
        OwnerRecord? record = _owners.AgentRecordInSlot(table.OwnerSlotOf(block.Id), agent);
        InvalidBlockHandleException? error = CheckFreeable(block, agent, record, table);
        if (error is not null)
        {
            throw error;
        }

        // From here nothing can fail.
        OwnerRecord owner = record!;
        owner.RemoveOne(block.Layer, block.Id);
        Retire(table, block.Id, block.Layer, agent, scrubLater);
        ForgetIfEmpty(owner, table);
    }

    /// <summary>
    /// Retires every block of a record that is no longer registered (an agent released whole, a scope rolled
    /// back). Caller holds the gate.
    /// </summary>
    /// <returns>How many blocks, and whether their bytes must still be scrubbed outside the gate (then the record is recycled after).</returns>
    private (int Count, bool Deferred) DetachRecord(OwnerRecord record)
    {
        BlockTable table = _table;
        int count = record.BlockCount;
        if (record.SharedBlocks > 0)
        {
            DropReferences(record, table); // what is left in the lists is the agent's own, to free
            PublishCounts(table); // chunks whose last reference went are available now, before any scrub ends
        }

        bool deferred = _scrubber.ScrubsOnFree && record.BlockCount > 0;
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            foreach (int id in record.BlocksOn(layer))
            {
                Retire(table, id, layer, record.Agent, deferred);
            }
        }

        if (!deferred)
        {
            _owners.Recycle(record, table.Layers);
        }

        EndDetach(table, deferred);
        return (count, deferred);
    }

    /// <summary>The one way a detached block leaves its owner: its handles go stale, and it is free at once or waits for its scrub.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Retire(BlockTable table, int id, int layer, AgentId owner, bool scrubLater)
    {
        table.Retire(id, scrubLater);
        _scrubber.OnFreed(id, owner, layer);
    }

    /// <summary>Ends the part of a release under the gate: counts a scrub to come, or publishes the blocks already freed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndDetach(BlockTable table, bool deferred)
    {
        if (deferred)
        {
            _guard.BeginRelease();
        }
        else
        {
            PublishCounts(table);
        }
    }

    /// <summary>
    /// The one way a release ends when bytes need scrubbing: outside the gate, scrub every detached block, then
    /// under the gate put them on the free stack, recycle the record they came from (if any) and wake a waiting
    /// <see cref="Dispose"/>. The slabs cannot go away meanwhile: Dispose waits for releases in flight and
    /// Reconfigure refuses while blocks are out.
    /// </summary>
    private void FinishRelease(ReleasedBlocks released, AgentId owner, OwnerRecord? recycle)
    {
        BlockTable table = _table;
        BlockCorruptionException? corruption = null;
        try
        {
            foreach ((int id, int layer) in released)
            {
                // Every block is scrubbed; the first corruption found is the one reported.
                BlockCorruptionException? found = _scrubber.Scrub(table.Slabs, id, owner, layer);
                corruption ??= found;
            }
        }
        finally
        {
            lock (_gate)
            {
                foreach ((int id, _) in released)
                {
                    table.PushFree(id);
                }

                if (recycle is not null)
                {
                    _owners.Recycle(recycle, table.Layers);
                }

                PublishCounts(table);
                _guard.EndRelease();
            }
        }

        if (corruption is not null)
        {
            _log.BlockCorrupted(corruption.Message);
            throw corruption;
        }
    }

    /// <summary>Forgets an agent whose last block was freed. Caller holds the gate.</summary>
    private void ForgetIfEmpty(OwnerRecord owner, BlockTable table)
    {
        if (owner.BlockCount == 0)
        {
            _owners.UnregisterAgent(owner);
            _owners.Recycle(owner, table.Layers);
        }
    }

    private InvalidBlockHandleException? CheckFreeable(KvBlock block, AgentId agent, OwnerRecord? record, BlockTable table)
    {
        if (!table.IsIssuedHere(block))
        {
            return HandleErrors.Foreign(block, Name, "Nothing was freed.");
        }

        uint current = table.GenerationOf(block.Id);
        int owner = table.OwnerOf(block.Id);
        if (current != block.Generation)
        {
            if (current == block.Generation + 1 && owner is BlockTable.NoOwner or BlockTable.Releasing)
            {
                return new DoubleFreeException(block, $"{block} was already freed (double free). Nothing was freed.");
            }

            return HandleErrors.Stale(block, current, "Nothing was freed.");
        }

        if (owner == BlockTable.Marked)
        {
            return new DoubleFreeException(block, $"{block} appears more than once in this request (double free). Nothing was freed.");
        }

        if (record is null || table.SlotOf(owner) != record.Slot)
        {
            if (table.IsCached(block.Id))
            {
                return new SharedBlockException(block, $"{block} belongs to a cached prefix chunk, shared read-only by the agents that reference it: no agent frees it. Release or truncate the agent to drop its reference. Nothing was freed.");
            }

            return HandleErrors.NotOwned(block, agent, owner, table, _owners, "Nothing was freed.");
        }

        return table.LayerOf(owner) != block.Layer ? HandleErrors.WrongLayer(block, owner, table, "Nothing was freed.") : null;
    }
}
