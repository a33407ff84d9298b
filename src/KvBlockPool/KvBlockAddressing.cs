using System.Globalization;
using System.Runtime.CompilerServices;

namespace KvBlockPool;

/// <summary>
/// How a kernel turns a block id into an address: the pool's memory is <see cref="SlabBases"/>.Length slabs, each
/// holding <see cref="BlocksPerSlab"/> blocks <see cref="Stride"/> bytes apart, so block <c>id</c> starts at
/// <c>SlabBases[id / BlocksPerSlab] + (id % BlocksPerSlab) * Stride</c>: its K half there, its V half
/// <see cref="BytesPerHalf"/> bytes later.
/// </summary>
/// <remarks>
/// <para>
/// One instance per configuration of a pool, from <see cref="KvCacheLease.Addressing"/>. The addresses are valid
/// while a lease that covers the block is open (and only for the blocks it covers): the lease keeps those blocks
/// from being freed and the slabs from being returned to the system, even if the pool is disposed meanwhile.
/// Nothing checks a kernel that reads past that: it is the contract, as with any pointer.
/// </para>
/// <para>Give a native kernel <see cref="SlabBases"/> and the three numbers once, and per step only the lease's block ids.</para>
/// </remarks>
public sealed class KvBlockAddressing
{
    private readonly nint[] _slabBases;
    private readonly int _slabShift;
    private readonly int _indexMask;

    internal KvBlockAddressing(nint[] slabBases, int blocksPerSlab, long stride, int bytesPerHalf, int capacity, (int Shift, int Mask) split)
    {
        _slabBases = slabBases;
        (_slabShift, _indexMask) = split;
        BlocksPerSlab = blocksPerSlab;
        Stride = stride;
        BytesPerHalf = bytesPerHalf;
        Capacity = capacity;
    }

    /// <summary>The first byte of every slab, in slab order.</summary>
    public ReadOnlySpan<nint> SlabBases => _slabBases;

    /// <summary>Blocks per slab (the last slab may hold fewer).</summary>
    public int BlocksPerSlab { get; }

    /// <summary>Bytes from one block's first byte to the next block's in the same slab (the block, padding and, in diagnostics mode, guard bytes).</summary>
    public long Stride { get; }

    /// <summary>Bytes of one half (K or V) of a block; the V half starts this many bytes after the K half.</summary>
    public int BytesPerHalf { get; }

    /// <summary>Blocks in the pool; ids run from 0 to <c>Capacity - 1</c>.</summary>
    public int Capacity { get; }

    /// <summary>The first byte of block <paramref name="blockId"/> (its K half).</summary>
    /// <param name="blockId">A block id, 0 to <see cref="Capacity"/> - 1 (from <see cref="KvCacheLease.GetBlockIds"/>).</param>
    /// <returns>The address, aligned to the pool's alignment.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blockId"/> is not a block of this pool.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public nint GetBlockAddress(int blockId)
    {
        if ((uint)blockId >= (uint)Capacity)
        {
            ThrowIdOutOfRange(blockId);
        }

        if (_slabShift >= 0)
        {
            return _slabBases[blockId >> _slabShift] + (nint)((blockId & _indexMask) * Stride);
        }

        (int slab, int index) = Math.DivRem(blockId, BlocksPerSlab);
        return _slabBases[slab] + (nint)(index * Stride);
    }

    private void ThrowIdOutOfRange(int blockId) => throw new ArgumentOutOfRangeException(
        nameof(blockId),
        blockId,
        string.Create(CultureInfo.InvariantCulture, $"Block id {blockId} is not a block of this pool (0 to {Capacity - 1})."));
}
