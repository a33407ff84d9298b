using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>Allocating blocks for one layer, or for every layer at once.</content>
public sealed partial class BlockPool
{
    /// <summary>
    /// The agent record the last allocation or free found, checked before the agent table (see
    /// <see cref="TryFindAgent"/>). Only a hint: it is validated on every use, so it needs no invalidation.
    /// </summary>
    private OwnerRecord? _lastAgent;

    /// <summary>Allocates one block for <paramref name="agent"/> on <paramref name="layer"/>, appended to the agent's list for that layer.</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="layer">The layer, from 0 to <c>Spec.Layers - 1</c>.</param>
    /// <returns>The block's handle.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">No block is available; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvBlock Allocate(AgentId agent, int layer)
    {
        KvBlock block = default;
        AllocateCore(agent, layer, new Span<KvBlock>(ref block), throwOnExhaustion: true);
        return block;
    }

    /// <summary>Allocates <paramref name="count"/> blocks for <paramref name="agent"/> on <paramref name="layer"/>: all of them or none.</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="count">How many blocks, at least 1.</param>
    /// <returns>The handles, in the order they were appended to the agent's list.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> or <paramref name="count"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Fewer than <paramref name="count"/> blocks are available; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvBlock[] Allocate(AgentId agent, int layer, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        RefuseIfLargerThanPool(layer, count, scope: null, token: 0);
        var blocks = new KvBlock[count];
        AllocateCore(agent, layer, blocks, throwOnExhaustion: true);
        return blocks;
    }

    /// <summary>
    /// Allocates <c>destination.Length</c> blocks for <paramref name="agent"/> on <paramref name="layer"/> into a
    /// buffer the caller supplies: all of them or none. Allocates nothing on the managed heap once the agent's
    /// list has room.
    /// </summary>
    /// <param name="agent">The owner.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="destination">Receives the handles; its length is the count (at least 1).</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Not enough blocks are available; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public void Allocate(AgentId agent, int layer, Span<KvBlock> destination) =>
        AllocateCore(agent, layer, destination, throwOnExhaustion: true);

    /// <summary>Like <see cref="Allocate(AgentId, int, Span{KvBlock})"/>, but reports exhaustion by returning <see langword="false"/> (other errors still throw).</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="destination">Receives the handles; its length is the count (at least 1).</param>
    /// <returns><see langword="true"/> if every block was allocated; <see langword="false"/> if too few were available (nothing changed).</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public bool TryAllocate(AgentId agent, int layer, Span<KvBlock> destination) =>
        AllocateCore(agent, layer, destination, throwOnExhaustion: false);

    /// <summary>
    /// Allocates <paramref name="blocksPerLayer"/> blocks on every layer for <paramref name="agent"/> in one atomic
    /// step: every layer or none. The common admission path.
    /// </summary>
    /// <param name="agent">The owner.</param>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <returns>The handles, layer-major: layer 0's blocks first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Not enough blocks for every layer; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvBlock[] AllocateAllLayers(AgentId agent, int blocksPerLayer)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerLayer);
        long requested = (long)blocksPerLayer * Spec.Layers;
        RefuseIfLargerThanPool(layer: -1, requested, scope: null, token: 0);
        var blocks = new KvBlock[requested];
        AllocateAllLayersCore(agent, blocksPerLayer, blocks, throwOnExhaustion: true);
        return blocks;
    }

    /// <summary>Allocates <paramref name="blocksPerLayer"/> blocks on every layer into a caller-supplied buffer, atomically.</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <param name="destination">Receives the handles, layer-major; its length must be <c>blocksPerLayer * Spec.Layers</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Not enough blocks for every layer; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public void AllocateAllLayers(AgentId agent, int blocksPerLayer, Span<KvBlock> destination) =>
        AllocateAllLayersCore(agent, blocksPerLayer, destination, throwOnExhaustion: true);

    /// <summary>Like <see cref="AllocateAllLayers(AgentId, int, Span{KvBlock})"/>, but reports exhaustion by returning <see langword="false"/>.</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <param name="destination">Receives the handles, layer-major; its length must be <c>blocksPerLayer * Spec.Layers</c>.</param>
    /// <returns><see langword="true"/> if every layer got its blocks; <see langword="false"/> if too few were available (nothing changed).</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public bool TryAllocateAllLayers(AgentId agent, int blocksPerLayer, Span<KvBlock> destination) =>
        AllocateAllLayersCore(agent, blocksPerLayer, destination, throwOnExhaustion: false);

    private bool AllocateCore(AgentId agent, int layer, Span<KvBlock> destination, bool throwOnExhaustion)
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
            ValidateLayer(layer);
            available = _freeCount;
            if (available >= count)
            {
                _diag?.VerifyPoisonOnTop(this, count);
                OwnerRecord record = PrepareAgentRecord(agent, out bool isNew);
                record.Layers[layer].EnsureRoomFor(count);
                if (isNew)
                {
                    RegisterAgent(record);
                }

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

    private bool AllocateAllLayersCore(AgentId agent, int blocksPerLayer, Span<KvBlock> destination, bool throwOnExhaustion)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerLayer);
        StackTrace? trace = _diagnostics ? new StackTrace(false) : null; // the library's own frames are dropped when it is formatted (CallerStack)
        int total, available, capacity;
        lock (_gate)
        {
            ThrowIfDisposed();
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
                OwnerRecord record = PrepareAgentRecord(agent, out bool isNew);
                for (int layer = 0; layer < layers; layer++)
                {
                    record.Layers[layer].EnsureRoomFor(blocksPerLayer);
                }

                if (isNew)
                {
                    RegisterAgent(record);
                }

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

    /// <summary>
    /// Refuses a request for more blocks than the whole pool holds before the caller allocates a handle array for
    /// it: such a request can never succeed, and its array alone could exhaust the managed heap. Validates like the
    /// allocation itself (disposed, scope, layer; <paramref name="layer"/> -1 means every layer), then throws
    /// <see cref="BlockPoolExhaustedException"/>. Does nothing for a request that fits.
    /// </summary>
    internal void RefuseIfLargerThanPool(int layer, long requested, OwnerRecord? scope, int token)
    {
        if (requested <= Capacity)
        {
            return; // the allocation checks availability again under the gate
        }

        int available, capacity;
        lock (_gate)
        {
            ThrowIfDisposed();
            if (scope is not null)
            {
                ThrowIfScopeEnded(scope, token);
            }

            if (layer >= 0)
            {
                ValidateLayer(layer);
            }

            available = _freeCount;
            capacity = _freeStack.Length;
        }

        if (requested > capacity)
        {
            Completed((int)Math.Min(requested, int.MaxValue), available, capacity, throwOnExhaustion: true);
        }
    }

    /// <summary>After the gate: records the outcome; <paramref name="capacity"/> is -1 when the allocation succeeded.</summary>
    private bool Completed(int requested, int available, int capacity, bool throwOnExhaustion)
    {
        if (capacity < 0)
        {
            _metrics.Allocated(requested);
            return true;
        }

        _metrics.AllocationFailed();
        if (throwOnExhaustion)
        {
            throw new BlockPoolExhaustedException(requested, available, capacity);
        }

        return false;
    }

    /// <summary>
    /// Pops <c>destination.Length</c> blocks onto <paramref name="record"/>'s list for <paramref name="layer"/>.
    /// The caller holds the gate, has checked availability and has made room in the list: nothing here can fail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PopInto(OwnerRecord record, int layer, Span<KvBlock> destination, StackTrace? trace)
    {
        ref BlockList list = ref record.Layers[layer];
        int[] freeStack = _freeStack;
        uint[] generation = _generation;
        int[] owner = _owner;
        int free = _freeCount;
        int word = OwnerWord(record.Slot, layer);
        int stamp = _stamp;
        for (int i = 0; i < destination.Length; i++)
        {
            int id = freeStack[--free];
            uint gen = ++generation[id];
            owner[id] = word;
            list.AddUnchecked(id);
            destination[i] = new KvBlock(id, layer, gen, stamp);
        }

        _freeCount = free;
        record.BlockCount += destination.Length;
        _diag?.OnAllocated(destination, trace);
    }

    /// <summary>Finds the agent's record, or rents a fresh one that is not yet registered (so a failure before registration leaves no trace).</summary>
    private OwnerRecord PrepareAgentRecord(AgentId agent, out bool isNew)
    {
        if (TryFindAgent(agent, out OwnerRecord? record))
        {
            isNew = false;
            return record;
        }

        isNew = true;
        ThrowIfOwnerTableFull();
        record = RentRecord();
        record.Agent = agent;
        return record;
    }

    /// <summary>
    /// Finds an agent's registered record: first the record the last call used (a decoding host calls for the
    /// same agent many times in a row), then the agent table. Caller holds the gate.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryFindAgent(AgentId agent, [NotNullWhen(true)] out OwnerRecord? record)
    {
        record = _lastAgent;
        if (IsRegisteredAgentRecord(record, agent))
        {
            return true;
        }

        if (_agents.TryGetValue(agent, out record))
        {
            _lastAgent = record;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Whether <paramref name="record"/> is <paramref name="agent"/>'s registered record. Records are recycled, so
    /// a cached or slot-found record is trusted only while it is registered in its slot, is not a scope and still
    /// names the agent; only one such record per agent exists, the one the agent table holds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsRegisteredAgentRecord([NotNullWhen(true)] OwnerRecord? record, AgentId agent) =>
        record is not null && !record.IsScope && record.Agent == agent
        && (uint)record.Slot < (uint)_records.Length && ReferenceEquals(_records[record.Slot], record);

    private void RegisterAgent(OwnerRecord record)
    {
        RegisterSlot(record);
        _agents.Add(record.Agent, record);
        _lastAgent = record;
        Volatile.Write(ref _agentCount, _agents.Count);
    }

    private void UnregisterAgent(OwnerRecord record)
    {
        _agents.Remove(record.Agent);
        UnregisterSlot(record);
        Volatile.Write(ref _agentCount, _agents.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ValidateLayer(int layer)
    {
        if ((uint)layer >= (uint)_spec.Layers)
        {
            ThrowHelper.ThrowLayerOutOfRange(layer, _spec.Layers);
        }
    }
}
