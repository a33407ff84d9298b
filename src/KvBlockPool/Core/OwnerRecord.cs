using System.Diagnostics;

namespace KvBlockPool.Core;

/// <summary>
/// The bookkeeping of one block owner: an agent, or an open allocation scope that has not committed yet.
/// Records are recycled (their block lists keep their arrays) so that steady-state admission and release
/// allocate nothing on the managed heap. <see cref="Token"/> changes on every recycle so that a stale
/// <see cref="AllocationScope"/> can never act on a record that now belongs to someone else.
/// </summary>
internal sealed class OwnerRecord
{
    public OwnerRecord(int layers)
    {
        Layers = new BlockList[layers];
        for (int i = 0; i < layers; i++)
        {
            Layers[i] = new BlockList();
        }

        LayerMarks = new int[layers];
    }

    public AgentId Agent { get; set; }

    /// <summary>This record's index in the pool's owner table; what <c>_owner[block]</c> holds. -1 when not registered.</summary>
    public int Slot { get; set; } = -1;

    public bool IsScope { get; set; }

    private int _token;

    /// <summary>Changes on every recycle; written under the pool's gate, read without it only by <see cref="HasMovedOnFrom"/>.</summary>
    public int Token => _token;

    public int BlockCount { get; set; }

    /// <summary>How many of the listed blocks belong to cached chunks (shared, referenced once per chunk); the rest are the owner's own.</summary>
    public int SharedBlocks { get; set; }

    /// <summary>The agent's eviction priority: its chunks, once unreferenced, are evicted before those of higher priorities.</summary>
    public int Priority { get; set; }

    /// <summary>
    /// Diagnostics mode only: the most recent allocation stack captured for this owner, which its blocks allocated
    /// by calls that were not sampled are reported with (see <c>DiagnosticScrubber</c>).
    /// </summary>
    public System.Diagnostics.StackTrace? LastAllocationStack { get; set; }

    /// <summary>Block ids per layer, in logical order.</summary>
    public BlockList[] Layers { get; }

    /// <summary>Per layer, the last free operation that compacted this layer's list (so each list is compacted once per free).</summary>
    private int[] LayerMarks { get; }

    public int LayerCount => Layers.Length;

    /// <summary>
    /// Whether the record was recycled since <paramref name="token"/> was its token, read without the gate: tokens
    /// only move on, so <see langword="true"/> is final (whoever held that token has ended), while
    /// <see langword="false"/> must be confirmed under the gate.
    /// </summary>
    public bool HasMovedOnFrom(int token) => Volatile.Read(ref _token) != token;

    /// <summary>The ids this owner holds on <paramref name="layer"/>, in logical order.</summary>
    public ReadOnlySpan<int> BlocksOn(int layer) => Layers[layer].AsSpan();

    /// <summary>
    /// Makes room for <paramref name="perLayer"/> more ids on each layer from <paramref name="first"/> to
    /// <paramref name="last"/>: the only step of an allocation that can allocate managed memory, so it runs before
    /// anything changes.
    /// </summary>
    public void Reserve(int first, int last, int perLayer)
    {
        for (int layer = first; layer <= last; layer++)
        {
            Layers[layer].EnsureRoomFor(perLayer);
        }
    }

    /// <summary>Makes room for every id <paramref name="scope"/> holds, layer by layer (before a commit changes anything).</summary>
    public void ReserveFor(OwnerRecord scope)
    {
        for (int layer = 0; layer < Layers.Length; layer++)
        {
            Layers[layer].EnsureRoomFor(scope.Layers[layer].Count);
        }
    }

    /// <summary>
    /// Moves every id of <paramref name="scope"/> to the end of this record's lists and gives each block this
    /// record's owner word in <paramref name="table"/>. Room was reserved (<see cref="ReserveFor"/>): nothing fails.
    /// </summary>
    public void TakeOver(OwnerRecord scope, BlockTable table)
    {
        for (int layer = 0; layer < Layers.Length; layer++)
        {
            ref BlockList target = ref Layers[layer];
            int word = table.OwnerWord(Slot, layer);
            foreach (int id in scope.Layers[layer].AsSpan())
            {
                table.Reassign(id, word);
                target.AddUnchecked(id);
            }
        }

        BlockCount += scope.BlockCount;
    }

    /// <summary>
    /// Removes the blocks of <paramref name="blocks"/>, whose owner words <paramref name="table"/> has marked, from
    /// their lists, keeping the order of the rest: one compaction pass per touched layer (flagged with the free's
    /// <paramref name="epoch"/>), and the flags are cleared again before returning, so no flag outlives its free and
    /// a later free can never mistake one left over from long ago for its own when the epoch counter wraps around.
    /// </summary>
    public void RemoveMarked(ReadOnlySpan<KvBlock> blocks, int epoch, BlockTable table)
    {
        foreach (KvBlock block in blocks)
        {
            if (LayerMarks[block.Layer] != epoch)
            {
                LayerMarks[block.Layer] = epoch;
                Compact(ref Layers[block.Layer], table);
            }
        }

        foreach (KvBlock block in blocks)
        {
            LayerMarks[block.Layer] = 0;
        }

        BlockCount -= blocks.Length;
    }

    /// <summary>Removes one id, keeping the order of the rest. Searches from the end: the newest blocks are the ones freed most often.</summary>
    /// <remarks>A plain loop: for the usual one or few steps, the calls of <c>Array.LastIndexOf</c> and <c>Array.Copy</c> cost more than the work.</remarks>
    public void RemoveOne(int layer, int id)
    {
        ref BlockList list = ref Layers[layer];
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
        BlockCount--;
    }

    /// <summary>Drops every cached block from the lists (their references were released), keeping the order of the rest.</summary>
    public void RemoveShared(BlockTable table)
    {
        // A chunk sits at the same index on every layer, and hits come first: usually the shared entries are the
        // first ones of every list, and each list just moves down.
        ReadOnlySpan<int> first = BlocksOn(0);
        int lead = 0;
        while (lead < first.Length && table.IsCached(first[lead]))
        {
            lead++;
        }

        if (lead * Layers.Length == SharedBlocks)
        {
            for (int layer = 0; layer < Layers.Length; layer++)
            {
                ref BlockList list = ref Layers[layer];
                Array.Copy(list.Items, lead, list.Items, 0, list.Count - lead);
                list.Count -= lead;
            }

            BlockCount -= SharedBlocks;
            SharedBlocks = 0;
            return;
        }

        for (int layer = 0; layer < Layers.Length; layer++)
        {
            ref BlockList list = ref Layers[layer];
            int write = 0;
            int[] items = list.Items;
            for (int read = 0; read < list.Count; read++)
            {
                int id = items[read];
                if (!table.IsCached(id))
                {
                    items[write++] = id;
                }
            }

            list.Count = write;
        }

        BlockCount -= SharedBlocks;
        SharedBlocks = 0;
    }

    private static void Compact(ref BlockList list, BlockTable table)
    {
        int write = 0;
        int[] items = list.Items;
        for (int read = 0; read < list.Count; read++)
        {
            int id = items[read];
            if (!table.IsMarked(id))
            {
                items[write++] = id;
            }
        }

        list.Count = write;
    }

    /// <summary>Clears the record for reuse, keeping its arrays; advances <see cref="Token"/>.</summary>
    public void Reset()
    {
        for (int i = 0; i < Layers.Length; i++)
        {
            Layers[i].Count = 0;
        }

        Array.Clear(LayerMarks);
        BlockCount = 0;
        SharedBlocks = 0;
        Priority = 0;
        LastAllocationStack = null;
        IsScope = false;
        Slot = -1;
        Agent = default;
        Volatile.Write(ref _token, _token + 1);
    }
}
