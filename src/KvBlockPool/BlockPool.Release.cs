using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>
/// Freeing blocks. A free is validated and detached under the gate (handles go stale at once), then the bytes
/// are cleared (or poisoned) outside the gate, and only then do the blocks go back on the free stack: the
/// gate is never held while large memory is written, and no one can be handed a block that is still dirty.
/// </content>
public sealed partial class BlockPool
{
    /// <summary>Handles copied to the stack for one free; larger requests rent from <see cref="ArrayPool{T}"/>.</summary>
    private const int StackBatch = 32;

    /// <summary>Whether freed blocks need work on their bytes (done outside the gate).</summary>
    private bool DefersScrub => _clearMode == BlockClearMode.ZeroOnFree || _diag is not null;

    /// <summary>Frees one block that <paramref name="agent"/> holds.</summary>
    /// <param name="agent">The block's owner.</param>
    /// <param name="block">The handle.</param>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale, already freed or not held by <paramref name="agent"/>; nothing changed.</exception>
    /// <exception cref="AgentPinnedException"><paramref name="agent"/> is pinned by a save in progress; nothing changed.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found the block's guard bytes overwritten; the block was freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public void Free(AgentId agent, KvBlock block)
    {
        // The common decode-time case, without the batch path's copy and compaction pass. The handle is a copy
        // on this stack, so no other thread can change it between the check and the detach.
        bool deferred;
        lock (_gate)
        {
            ThrowIfDisposed();
            ThrowIfPinned(agent);
            DetachOneForFree(agent, block);
            deferred = DefersScrub;
            if (deferred)
            {
                _releasesInFlight++;
            }
            else
            {
                PushFree(block.Id);
                PublishCounts();
            }
        }

        _metrics.Freed(1);
        if (deferred)
        {
            CompleteRelease(new ReadOnlySpan<KvBlock>(in block), agent);
        }
    }

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
    /// <exception cref="AgentPinnedException"><paramref name="agent"/> is pinned by a save in progress; nothing changed.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found guard bytes overwritten; the blocks were freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    [SkipLocalsInit] // the stack batch is written before it is read; zeroing it cost more than the rest of a small free
    public void Free(AgentId agent, ReadOnlySpan<KvBlock> blocks)
    {
        int count = blocks.Length;
        if (count == 0)
        {
            ThrowIfDisposed();
            return;
        }

        KvBlock[]? rented = null;
        Span<KvBlock> detached = count <= StackBatch
            ? stackalloc KvBlock[StackBatch]
            : (rented = ArrayPool<KvBlock>.Shared.Rent(count));
        detached = detached[..count];
        try
        {
            bool deferred;
            lock (_gate)
            {
                ThrowIfDisposed();
                ThrowIfPinned(agent);
                DetachForFree(agent, blocks, detached);
                deferred = DefersScrub;
                if (deferred)
                {
                    _releasesInFlight++;
                }
                else
                {
                    foreach (KvBlock block in detached)
                    {
                        PushFree(block.Id);
                    }

                    PublishCounts();
                }
            }

            _metrics.Freed(count);
            if (deferred)
            {
                CompleteRelease(detached, agent);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<KvBlock>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Frees every block <paramref name="agent"/> holds, on every layer, and forgets the agent.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>How many blocks were freed; 0 if the pool holds nothing for <paramref name="agent"/>.</returns>
    /// <exception cref="AgentPinnedException"><paramref name="agent"/> is pinned by a save in progress; nothing changed.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found guard bytes overwritten; the blocks were freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int FreeAgent(AgentId agent)
    {
        OwnerRecord? record;
        int count;
        bool deferred;
        lock (_gate)
        {
            ThrowIfDisposed();
            if (!TryFindAgent(agent, out record))
            {
                return 0;
            }

            ThrowIfPinned(agent);
            UnregisterAgent(record);
            (count, deferred) = ReleaseRecord(record);
        }

        _metrics.Freed(count);
        if (deferred)
        {
            CompleteRecordRelease(record);
        }

        return count;
    }

    /// <summary>
    /// Validates every handle, then detaches them from <paramref name="agent"/>'s lists. Throws (with nothing
    /// changed) at the first invalid handle. Caller holds the gate.
    /// </summary>
    private void DetachForFree(AgentId agent, ReadOnlySpan<KvBlock> blocks, Span<KvBlock> detached)
    {
        // If the first handle is valid, its owner slot leads to the agent's record; if it is not, the loop throws
        // on it before the record is used, so no agent-table lookup is needed.
        OwnerRecord? record = AgentRecordThrough(blocks[0], agent);
        for (int i = 0; i < blocks.Length; i++)
        {
            KvBlock block = blocks[i];
            InvalidBlockHandleException? error = CheckFreeable(block, agent, record);
            if (error is not null)
            {
                // Undo the marks of the handles already checked: the pool is exactly as it was.
                for (int j = 0; j < i; j++)
                {
                    _owner[detached[j].Id] = OwnerWord(record!.Slot, detached[j].Layer);
                }

                throw error;
            }

            _owner[block.Id] = Marked;
            detached[i] = block;
        }

        // Every handle is valid, so record is the owner of all of them. From here nothing can fail.
        OwnerRecord owner = record!;
        int epoch = NextFreeEpoch();
        foreach (KvBlock block in detached)
        {
            if (owner.LayerMarks[block.Layer] != epoch)
            {
                owner.LayerMarks[block.Layer] = epoch;
                RemoveMarked(ref owner.Layers[block.Layer]);
            }
        }

        // Clear the marks again: no mark outlives this free, so a later free can never mistake a mark left
        // over from long ago for its own when the epoch counter wraps around.
        foreach (KvBlock block in detached)
        {
            owner.LayerMarks[block.Layer] = 0;
        }

        int newState = DefersScrub ? Releasing : NoOwner;
        foreach (KvBlock block in detached)
        {
            _generation[block.Id]++;
            _owner[block.Id] = newState;
            _diag?.OnFreed(block.Id, agent, block.Layer);
        }

        owner.BlockCount -= detached.Length;
        if (owner.BlockCount == 0)
        {
            UnregisterAgent(owner);
            RecycleRecord(owner);
        }
    }

    /// <summary>
    /// Validates one handle, then detaches its block from <paramref name="agent"/>'s list: the one-block form of
    /// <see cref="DetachForFree"/>. Throws with nothing changed. Caller holds the gate.
    /// </summary>
    private void DetachOneForFree(AgentId agent, KvBlock block)
    {
        OwnerRecord? record = AgentRecordThrough(block, agent);
        InvalidBlockHandleException? error = CheckFreeable(block, agent, record);
        if (error is not null)
        {
            throw error;
        }

        // From here nothing can fail.
        OwnerRecord owner = record!;
        RemoveOne(ref owner.Layers[block.Layer], block.Id);
        _generation[block.Id]++;
        _owner[block.Id] = DefersScrub ? Releasing : NoOwner;
        _diag?.OnFreed(block.Id, agent, block.Layer);
        if (--owner.BlockCount == 0)
        {
            UnregisterAgent(owner);
            RecycleRecord(owner);
        }
    }

    /// <summary>
    /// The record of <paramref name="agent"/> found through <paramref name="block"/>'s owner slot, or
    /// <see langword="null"/> when the block is not (validly) the agent's. <see cref="CheckFreeable"/> needs the
    /// record only to confirm ownership, so <see langword="null"/> yields the same refusal as the agent table would.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private OwnerRecord? AgentRecordThrough(KvBlock block, AgentId agent)
    {
        if ((uint)block.Id >= (uint)_owner.Length)
        {
            return null;
        }

        int slot = SlotOf(_owner[block.Id]);
        OwnerRecord? record = slot >= 0 && slot < _records.Length ? _records[slot] : null;
        return IsRegisteredAgentRecord(record, agent) ? record : null;
    }

    private InvalidBlockHandleException? CheckFreeable(KvBlock block, AgentId agent, OwnerRecord? record)
    {
        if (!IsIssuedHere(block))
        {
            return ForeignHandle(block, "Nothing was freed.");
        }

        uint current = _generation[block.Id];
        int owner = _owner[block.Id];
        if (current != block.Generation)
        {
            if (current == block.Generation + 1 && owner is NoOwner or Releasing)
            {
                return new DoubleFreeException(block, $"{block} was already freed (double free). Nothing was freed.");
            }

            return StaleHandle(block, current, "Nothing was freed.");
        }

        if (owner == Marked)
        {
            return new DoubleFreeException(block, $"{block} appears more than once in this request (double free). Nothing was freed.");
        }

        if (record is null || SlotOf(owner) != record.Slot)
        {
            return new BlockOwnershipException(block, $"{block} is held by {DescribeOwner(owner)}, not by {agent}. Nothing was freed.");
        }

        return LayerOf(owner) != block.Layer ? WrongLayer(block, owner, "Nothing was freed.") : null;
    }

    /// <summary>Marks every block of a record that is no longer registered as released. Caller holds the gate.</summary>
    /// <returns>How many blocks, and whether their bytes must still be scrubbed outside the gate (then the record is recycled after).</returns>
    private (int Count, bool Deferred) ReleaseRecord(OwnerRecord record)
    {
        int count = record.BlockCount;
        bool deferred = DefersScrub && count > 0;
        int newState = deferred ? Releasing : NoOwner;
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            foreach (int id in record.Layers[layer].AsSpan())
            {
                _generation[id]++;
                _owner[id] = newState;
                _diag?.OnFreed(id, record.Agent, layer);
                if (!deferred)
                {
                    _freeStack[_freeCount++] = id;
                }
            }
        }

        if (deferred)
        {
            _releasesInFlight++;
        }
        else
        {
            RecycleRecord(record);
            PublishCounts();
        }

        return (count, deferred);
    }

    /// <summary>Outside the gate: scrub the detached blocks, then put them on the free stack.</summary>
    private void CompleteRelease(ReadOnlySpan<KvBlock> blocks, AgentId owner)
    {
        NativeSlabs slabs = _slabs; // stable: Dispose and Reconfigure wait for or refuse in-flight releases
        BlockCorruptionException? corruption = null;
        try
        {
            foreach (KvBlock block in blocks)
            {
                Scrub(slabs, block.Id, owner, block.Layer, ref corruption);
            }
        }
        finally
        {
            lock (_gate)
            {
                foreach (KvBlock block in blocks)
                {
                    PushFree(block.Id);
                }

                EndRelease();
            }
        }

        ReportCorruption(corruption);
    }

    private void CompleteRecordRelease(OwnerRecord record)
    {
        NativeSlabs slabs = _slabs;
        BlockCorruptionException? corruption = null;
        try
        {
            for (int layer = 0; layer < record.LayerCount; layer++)
            {
                foreach (int id in record.Layers[layer].AsSpan())
                {
                    Scrub(slabs, id, record.Agent, layer, ref corruption);
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                for (int layer = 0; layer < record.LayerCount; layer++)
                {
                    foreach (int id in record.Layers[layer].AsSpan())
                    {
                        PushFree(id);
                    }
                }

                RecycleRecord(record);
                EndRelease();
            }
        }

        ReportCorruption(corruption);
    }

    private void Scrub(NativeSlabs slabs, int id, AgentId owner, int layer, ref BlockCorruptionException? corruption)
    {
        if (_diag is not null)
        {
            BlockCorruptionException? found = CheckGuardAndPoison(slabs, id, owner, layer);
            corruption ??= found;
        }
        else
        {
            slabs.Data(id).Clear();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PushFree(int id)
    {
        _owner[id] = NoOwner;
        _freeStack[_freeCount++] = id;
    }

    /// <summary>Ends one deferred release: publishes counts and wakes a <see cref="Dispose"/> waiting for it. Caller holds the gate.</summary>
    private void EndRelease()
    {
        PublishCounts();
        _releasesInFlight--;
        if (_disposed)
        {
            Monitor.PulseAll(_gate);
        }
    }

    private static void RemoveMarkedFrom(ref BlockList list, int[] owner)
    {
        int write = 0;
        int[] items = list.Items;
        for (int read = 0; read < list.Count; read++)
        {
            int id = items[read];
            if (owner[id] != Marked)
            {
                items[write++] = id;
            }
        }

        list.Count = write;
    }

    private void RemoveMarked(ref BlockList list) => RemoveMarkedFrom(ref list, _owner);

    /// <summary>The free epoch counter; a test hook to drive it across its wraparound.</summary>
    internal int FreeEpoch
    {
        get => _freeEpoch;
        set => _freeEpoch = value;
    }

    /// <summary>Removes one id, keeping the order of the rest. Searches from the end: the newest blocks are the ones freed most often.</summary>
    /// <remarks>A plain loop: for the usual one or few steps, the calls of <c>Array.LastIndexOf</c> and <c>Array.Copy</c> cost more than the work.</remarks>
    private static void RemoveOne(ref BlockList list, int id)
    {
        int[] items = list.Items;
        int count = list.Count;
        int index = count - 1;
        while (index >= 0 && items[index] != id)
        {
            index--;
        }

        Debug.Assert(index >= 0, "a validated block is in its owner's list for its layer");
        for (int i = index + 1; i < count; i++)
        {
            items[i - 1] = items[i];
        }

        list.Count = count - 1;
    }

    private int NextFreeEpoch()
    {
        int epoch = unchecked(++_freeEpoch);
        if (epoch == 0)
        {
            // 0 is what a fresh record's marks hold; skip it so a fresh record is never mistaken for compacted.
            epoch = ++_freeEpoch;
        }

        return epoch;
    }
}
