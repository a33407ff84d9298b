using System.Runtime.CompilerServices;

namespace KvBlockPool.Core;

/// <summary>The ordered block ids one owner holds on one layer: the layer's block table, in logical order.</summary>
internal struct BlockList
{
    private const int InitialCapacity = 8;

    public int[] Items;
    public int Count;

    public BlockList()
    {
        Items = [];
        Count = 0;
    }

    public readonly ReadOnlySpan<int> AsSpan() => new(Items, 0, Count);

    /// <summary>Grows the backing array so that <paramref name="extra"/> more ids fit; the only step of an allocation that can allocate managed memory.</summary>
    public void EnsureRoomFor(int extra)
    {
        int needed = Count + extra;
        if (needed > Items.Length)
        {
            Grow(needed);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddUnchecked(int id) => Items[Count++] = id;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int needed)
    {
        int size = Math.Max(Math.Max(InitialCapacity, Items.Length * 2), needed);
        Array.Resize(ref Items, size);
    }
}
