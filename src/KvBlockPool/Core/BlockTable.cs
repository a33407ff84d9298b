using System.Numerics;
using System.Runtime.CompilerServices;
using KvBlockPool.Prefix;

namespace KvBlockPool.Core;

/// <summary>
/// Everything that describes one configuration of the pool's blocks: the spec, the slabs, the pool stamp, and the
/// per-block state kept as struct-of-arrays (generation, owner word, free stack). <c>Reconfigure</c> builds a new
/// table and swaps one reference, so no state of an old configuration can survive into a new one.
/// </summary>
/// <remarks>
/// Takes no lock of its own: every member except the immutable ones is used under the pool's gate.
/// </remarks>
internal sealed class BlockTable : IDisposable
{
    /// <summary>Owner word of a block on the free stack.</summary>
    public const int NoOwner = -1;

    /// <summary>Owner word of a block detached by a free and being scrubbed outside the gate.</summary>
    public const int Releasing = -2;

    /// <summary>Owner word of a block inside one free's validation (transient).</summary>
    public const int Marked = -3;

    private static int s_lastStamp;

    private readonly uint[] _generation;   // even: free; odd: allocated. A handle is live iff its generation equals this.
    private readonly int[] _owner;         // (slot << _layerBits) | layer, or NoOwner / Releasing / Marked
    private readonly int[] _freeStack;
    private readonly int _layerBits;
    private int _freeCount;

    /// <summary>Builds the state of a configuration whose slabs exist; takes ownership of <paramref name="slabs"/>.</summary>
    /// <param name="spec">The configuration's spec.</param>
    /// <param name="slabs">Its slabs.</param>
    /// <param name="prefixCache">Whether the prefix cache is on: the table then keeps a chunk table and reserves the last owner slot for it.</param>
    public BlockTable(KvCacheSpec spec, NativeSlabs slabs, bool prefixCache = false)
    {
        int capacity = slabs.Layout.Capacity;
        var generation = new uint[capacity];
        var owner = new int[capacity];
        var freeStack = new int[capacity];
        Array.Fill(owner, NoOwner);

        // Lowest ids on top, so a fresh pool hands out 0, 1, 2, ... (easy to read in tests and dumps).
        for (int i = 0; i < capacity; i++)
        {
            freeStack[i] = capacity - 1 - i;
        }

        Spec = spec;
        Slabs = slabs;
        Addressing = new KvBlockAddressing(slabs.SlabBases, slabs.Layout.BlocksPerSlab, slabs.Layout.Stride, spec.BytesPerHalf, capacity, NativeSlabs.AddressShift(slabs.Layout));
        Stamp = NextStamp();
        _generation = generation;
        _owner = owner;
        _freeStack = freeStack;
        _freeCount = capacity;
        (_layerBits, OwnerSlotLimit) = OwnerWordShape(spec.Layers);
        CacheSlot = -1;
        if (prefixCache)
        {
            // The cache owns its chunks' blocks under the last slot an owner word can name; no record gets it.
            CacheSlot = --OwnerSlotLimit;
            Chunks = new ChunkTable(capacity, spec.Layers);
        }
    }

    /// <summary>The prefix cache's chunks, or null when the cache is off.</summary>
    public ChunkTable? Chunks { get; }

    /// <summary>The owner slot of cached chunks' blocks; -1 when the cache is off.</summary>
    public int CacheSlot { get; }

    /// <summary>Blocks an allocation can have: free, or held by unreferenced (evictable) chunks.</summary>
    public int AvailableCount => _freeCount + (Chunks?.EvictableBlocks ?? 0);

    /// <summary>Whether block <paramref name="id"/> belongs to a cached chunk (read-only, shared by reference).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCached(int id) => _owner[id] >= 0 && SlotOf(_owner[id]) == CacheSlot;

    /// <summary>Hands an agent's block to the cache (it becomes part of a chunk); its generation stays, so the agent's handle still reads it.</summary>
    public void Share(int id, int layer) => _owner[id] = OwnerWord(CacheSlot, layer);

    public KvCacheSpec Spec { get; }

    public NativeSlabs Slabs { get; }

    /// <summary>The public description of <see cref="Slabs"/> a kernel computes block addresses with.</summary>
    public KvBlockAddressing Addressing { get; }

    /// <summary>The stamp every handle of this configuration carries; never 0 (the stamp of <c>default(KvBlock)</c>).</summary>
    public int Stamp { get; }

    public int Capacity => _freeStack.Length;

    public int Layers => Spec.Layers;

    /// <summary>Blocks on the free stack.</summary>
    public int FreeCount => _freeCount;

    /// <summary>Blocks not on the free stack: held by owners, or in transit inside a free.</summary>
    public int Allocated => _freeStack.Length - _freeCount;

    /// <summary>
    /// How many owners (agents and open scopes) an owner word can name: the slot sits above the layer bits of a
    /// non-negative int. Settable only through the pool's test hook, to reach the limit cheaply.
    /// </summary>
    public int OwnerSlotLimit { get; set; }

    /// <summary>Whether <paramref name="block"/> was issued by this configuration (stamp, id and layer in range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsIssuedHere(KvBlock block) =>
        block.PoolStamp == Stamp && (uint)block.Id < (uint)_generation.Length && (uint)block.Layer < (uint)Spec.Layers;

    /// <summary>The block's generation; <paramref name="id"/> must be in range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint GenerationOf(int id) => _generation[id];

    /// <summary>The block's owner word; <paramref name="id"/> must be in range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int OwnerOf(int id) => _owner[id];

    /// <summary>The owner slot of the block with id <paramref name="id"/>, or -1 when the id is out of range or the block has no owner.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int OwnerSlotOf(int id) => (uint)id < (uint)_owner.Length ? SlotOf(_owner[id]) : -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int OwnerWord(int slot, int layer) => (slot << _layerBits) | layer;

    /// <summary>The slot of an owner word; negative for the sentinels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SlotOf(int word) => word >> _layerBits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LayerOf(int word) => word & ((1 << _layerBits) - 1);

    /// <summary>A live handle to an allocated block (for snapshots of an owner's lists).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public KvBlock HandleOf(int id, int layer) => new(id, layer, _generation[id], Stamp);

    /// <summary>The id <paramref name="depth"/> places below the top of the free stack (1 is the top): the blocks the next allocation takes.</summary>
    public int PeekFree(int depth) => _freeStack[_freeCount - depth];

    /// <summary>
    /// Pops <c>destination.Length</c> blocks onto <paramref name="record"/>'s list for <paramref name="layer"/>.
    /// The caller holds the gate, has checked availability and has made room in the list: nothing here can fail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PopInto(OwnerRecord record, int layer, Span<KvBlock> destination)
    {
        ref BlockList list = ref record.Layers[layer];
        int[] freeStack = _freeStack;
        uint[] generation = _generation;
        int[] owner = _owner;
        int free = _freeCount;
        int word = OwnerWord(record.Slot, layer);
        int stamp = Stamp;
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
    }

    /// <summary>Gives an allocated block a new owner word (a scope's block moving to its agent on commit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Reassign(int id, int word) => _owner[id] = word;

    /// <summary>Marks a block as part of the free being validated; <see cref="Unmark"/> undoes it.</summary>
    public void Mark(int id) => _owner[id] = Marked;

    public void Unmark(int id, int word) => _owner[id] = word;

    public bool IsMarked(int id) => _owner[id] == Marked;

    /// <summary>
    /// Retires a detached block: its generation moves on (every handle to it is stale from here), and it goes
    /// straight back on the free stack when <paramref name="scrubLater"/> is false, or waits as
    /// <see cref="Releasing"/> for its scrub outside the gate.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Retire(int id, bool scrubLater)
    {
        _generation[id]++;
        if (scrubLater)
        {
            _owner[id] = Releasing;
        }
        else
        {
            PushFree(id);
        }
    }

    /// <summary>Puts a retired, scrubbed block on the free stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushFree(int id)
    {
        _owner[id] = NoOwner;
        _freeStack[_freeCount++] = id;
    }

    /// <summary>
    /// Checks this table's own invariants and records where each free block is in <paramref name="seen"/> (1 = free
    /// stack). Returns null when they hold.
    /// </summary>
    public string? FindFreeStackViolation(byte[] seen)
    {
        for (int i = 0; i < _freeCount; i++)
        {
            int id = _freeStack[i];
            if (seen[id] != 0)
            {
                return $"block {id} is on the free stack twice";
            }

            seen[id] = 1;
            if (_owner[id] != NoOwner || (_generation[id] & 1) != 0)
            {
                return $"free block {id} has owner {_owner[id]} and generation {_generation[id]}";
            }
        }

        return null;
    }

    /// <summary>Checks that a block listed by the owner in <paramref name="slot"/> for <paramref name="layer"/> agrees with its state.</summary>
    public bool IsHeldBy(int id, int slot, int layer) => _owner[id] == OwnerWord(slot, layer) && (_generation[id] & 1) == 1;

    /// <summary>Checks that a cached chunk's block is the cache's for <paramref name="layer"/> and allocated; records it in <paramref name="seen"/> (3 = cached).</summary>
    public string? CheckCached(int id, int layer, byte[] seen)
    {
        if (seen[id] is not 0 and not 3)
        {
            return $"cached block {id} is also free or held by an agent";
        }

        seen[id] = 3;
        return IsHeldBy(id, CacheSlot, layer) ? null : $"cached block {id} has owner {_owner[id]} and generation {_generation[id]}";
    }

    /// <summary>Blocks that are on no list and not free: they must be in transit inside a free. Null when every such block is <see cref="Releasing"/>.</summary>
    public string? CountInTransit(byte[] seen, out int inTransit)
    {
        inTransit = 0;
        for (int id = 0; id < _owner.Length; id++)
        {
            if (seen[id] == 0)
            {
                if (_owner[id] != Releasing)
                {
                    return $"block {id} is nowhere (owner {_owner[id]})";
                }

                inTransit++;
            }
        }

        return null;
    }

    /// <summary>A canonical text of the per-block state, for "nothing changed" assertions.</summary>
    public void Describe(System.Text.StringBuilder text)
    {
        text.Append("stamp=").Append(Stamp).Append(";spec=").Append(Spec).Append(";free=").Append(_freeCount).Append(';');
        text.Append("stack=").AppendJoin(',', _freeStack.AsSpan(0, _freeCount).ToArray()).Append(';');
        text.Append("gen=").AppendJoin(',', _generation).Append(";owner=").AppendJoin(',', _owner).Append(';');
    }

    /// <summary>Frees the slabs.</summary>
    public void Dispose() => Slabs.Dispose();

    private static int NextStamp()
    {
        int stamp;
        do
        {
            stamp = Interlocked.Increment(ref s_lastStamp);
        }
        while (stamp == 0); // 0 is the stamp of default(KvBlock)
        return stamp;
    }

    /// <summary>
    /// How an owner word splits for <paramref name="layers"/> layers: the layer in the fewest low bits that hold
    /// every layer, the owner slot above them, the sign bit left for the sentinels. Packing the layer into the
    /// owner word keeps the per-block bookkeeping at 16 bytes (see docs/design.md) while letting free and data
    /// access reject a handle that names the wrong layer.
    /// </summary>
    private static (int LayerBits, int SlotLimit) OwnerWordShape(int layers)
    {
        int bits = layers == 1 ? 0 : BitOperations.Log2((uint)(layers - 1)) + 1;
        return (bits, bits == 0 ? int.MaxValue : 1 << (31 - bits));
    }
}
