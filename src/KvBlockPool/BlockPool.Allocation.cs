using System.Diagnostics;
using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>Allocating blocks for one layer, or for every layer at once: one body for agents and scopes.</content>
public sealed partial class BlockPool
{
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
        AllocateCore(agent, scope: null, token: 0, LayerChoice.One(layer), blocksPerLayer: 1, new Span<KvBlock>(ref block), throwOnExhaustion: true);
        return block;
    }

    /// <summary>Allocates <paramref name="count"/> blocks for <paramref name="agent"/> on <paramref name="layer"/>: all of them or none.</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="count">How many blocks, at least 1.</param>
    /// <returns>The handles, in the order they were appended to the agent's list.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> or <paramref name="count"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Fewer than <paramref name="count"/> blocks are available (or the whole pool holds fewer); nothing changed, and no handle array was built.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvBlock[] Allocate(AgentId agent, int layer, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return AllocateArray(agent, scope: null, token: 0, LayerChoice.One(layer), count);
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
        AllocateCore(agent, scope: null, token: 0, LayerChoice.One(layer), destination.Length, destination, throwOnExhaustion: true);

    /// <summary>Like <see cref="Allocate(AgentId, int, Span{KvBlock})"/>, but reports exhaustion by returning <see langword="false"/> (other errors still throw).</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="destination">Receives the handles; its length is the count (at least 1).</param>
    /// <returns><see langword="true"/> if every block was allocated; <see langword="false"/> if too few were available (nothing changed).</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public bool TryAllocate(AgentId agent, int layer, Span<KvBlock> destination) =>
        AllocateCore(agent, scope: null, token: 0, LayerChoice.One(layer), destination.Length, destination, throwOnExhaustion: false);

    /// <summary>
    /// Allocates <paramref name="blocksPerLayer"/> blocks on every layer for <paramref name="agent"/> in one atomic
    /// step: every layer or none. The common admission path.
    /// </summary>
    /// <param name="agent">The owner.</param>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <returns>The handles, layer-major: layer 0's blocks first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Not enough blocks for every layer (or the whole pool holds fewer); nothing changed, and no handle array was built.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvBlock[] AllocateAllLayers(AgentId agent, int blocksPerLayer)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerLayer);
        return AllocateArray(agent, scope: null, token: 0, LayerChoice.Every, blocksPerLayer);
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
        AllocateCore(agent, scope: null, token: 0, LayerChoice.Every, blocksPerLayer, destination, throwOnExhaustion: true);

    /// <summary>Like <see cref="AllocateAllLayers(AgentId, int, Span{KvBlock})"/>, but reports exhaustion by returning <see langword="false"/>.</summary>
    /// <param name="agent">The owner.</param>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <param name="destination">Receives the handles, layer-major; its length must be <c>blocksPerLayer * Spec.Layers</c>.</param>
    /// <returns><see langword="true"/> if every layer got its blocks; <see langword="false"/> if too few were available (nothing changed).</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public bool TryAllocateAllLayers(AgentId agent, int blocksPerLayer, Span<KvBlock> destination) =>
        AllocateCore(agent, scope: null, token: 0, LayerChoice.Every, blocksPerLayer, destination, throwOnExhaustion: false);

    /// <summary>
    /// The overloads that return a new array (the count already checked positive): refuse a request larger than
    /// the whole pool before building an array for it (such a request can never succeed, and its array alone
    /// could exhaust the managed heap), then allocate through the one body.
    /// </summary>
    internal KvBlock[] AllocateArray(AgentId agent, OwnerRecord? scope, int token, LayerChoice layers, int count)
    {
        long requested = layers.IsEveryLayer ? (long)count * Volatile.Read(ref _table).Layers : count;
        if (requested > _counts.Capacity)
        {
            RefuseLargerThanPool(scope, token, layers, requested);
        }

        // The spec cannot have changed meanwhile in a way that matters: a Reconfigure needs an idle pool, and the
        // body checks the destination's length against the current spec under the gate.
        var blocks = new KvBlock[requested];
        AllocateCore(agent, scope, token, layers, count, blocks, throwOnExhaustion: true);
        return blocks;
    }

    /// <summary>
    /// The one allocation body, for agents (<paramref name="scope"/> null) and scopes: <paramref name="blocksPerLayer"/>
    /// blocks on one layer or on every layer (<paramref name="layers"/>), into
    /// <paramref name="destination"/>, all or none. Validates everything under the gate before the first write;
    /// the writes that follow cannot fail.
    /// </summary>
    private bool AllocateCore(AgentId agent, OwnerRecord? scope, int token, LayerChoice layers, int blocksPerLayer, Span<KvBlock> destination, bool throwOnExhaustion)
    {
        int layer = layers.Layer;
        bool everyLayer = layers.IsEveryLayer;
        if (!everyLayer && destination.IsEmpty)
        {
            ThrowHelper.ThrowEmptyDestination(nameof(destination));
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerLayer);
        StackTrace? stack = _scrubber.CaptureAllocationStack();
        int requested, available, capacity;
    Start:
        KvBlock[]? victims = null;
        int victimCount = 0;
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            if (scope is not null)
            {
                ThrowIfScopeEnded(scope, token);
            }

            BlockTable table = _table;
            int first = layer, last = layer;
            if (everyLayer)
            {
                (first, last) = (0, table.Layers - 1);
                long wanted = (long)blocksPerLayer * table.Layers;
                if (destination.Length != wanted)
                {
                    ThrowHelper.ThrowDestinationLength(nameof(destination), wanted, destination.Length, blocksPerLayer, table.Layers);
                }
            }
            else
            {
                ValidateLayer(layer, table);
            }

            requested = destination.Length;
            available = table.FreeCount;
            if (available < requested && table.Chunks is { EvictableBlocks: > 0 } chunks && available + chunks.EvictableBlocks >= requested)
            {
                // The free blocks fall short and unreferenced cached chunks cover the rest: evict them first.
                chunks.ClearGuards();
                if (EvictUnderGate(table, chunks, requested - available, ref victims, out victimCount))
                {
                    goto Scrub;
                }

                available = table.FreeCount;
            }

            if (available >= requested)
            {
                _scrubber.BeforeHandout(table, requested);
                bool isNew = false;
                OwnerRecord record = scope ?? RentAgentRecord(agent, table, out isNew);
                record.Reserve(first, last, blocksPerLayer);
                bool firstForOwner = record.BlockCount == 0;

                // Nothing below can fail.
                if (isNew)
                {
                    _owners.RegisterAgent(record);
                }

                for (int l = first; l <= last; l++)
                {
                    table.PopInto(record, l, destination.Slice((l - first) * blocksPerLayer, blocksPerLayer));
                }

                _scrubber.OnAllocated(destination, stack, record, firstForOwner);
                PublishCounts(table);
                capacity = -1;
            }
            else
            {
                available = table.AvailableCount;
                capacity = table.Capacity;
            }
        }

        return Completed(requested, available, capacity, throwOnExhaustion);

    Scrub:
        // The evicted blocks are cleared outside the gate, then the allocation starts over: another thread may have
        // taken them meanwhile, and the retry sees that.
        ScrubVictims(victims!, victimCount);
        goto Start;
    }

    /// <summary>Finds the agent's record, or rents an unregistered one (so a failure before registration leaves no trace). Caller holds the gate.</summary>
    private OwnerRecord RentAgentRecord(AgentId agent, BlockTable table, out bool isNew)
    {
        if (_owners.TryFindAgent(agent, out OwnerRecord? record))
        {
            isNew = false;
            return record;
        }

        ThrowIfOwnerTableFull(table);
        isNew = true;
        return _owners.RentAgent(agent, table.Layers);
    }

    /// <summary>
    /// Refuses a request for more blocks than the whole pool holds, validating like the allocation itself
    /// (disposed, scope, layer) so the caller sees the same exception the body would throw first.
    /// </summary>
    private void RefuseLargerThanPool(OwnerRecord? scope, int token, LayerChoice layers, long requested)
    {
        int available, capacity;
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            if (scope is not null)
            {
                ThrowIfScopeEnded(scope, token);
            }

            if (!layers.IsEveryLayer)
            {
                ValidateLayer(layers.Layer, _table);
            }

            available = _table.AvailableCount;
            capacity = _table.Capacity;
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
}
