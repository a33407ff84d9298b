using System.Globalization;
using System.Numerics;

namespace KvBlockPool.Core;

/// <summary>Where every block of one configuration lives: capacity, stride, slabs, guard bytes. Computed once and validated.</summary>
internal readonly record struct BlockLayout(
    int Capacity,
    int BlocksPerSlab,
    int SlabCount,
    long Stride,
    int BytesPerBlock,
    int GuardBytes,
    int Alignment)
{
    /// <summary>Guard bytes kept after every block in diagnostics mode; one cache line.</summary>
    public const int DiagnosticsGuardBytes = 64;

    /// <summary>The size of a full slab; the last one may be smaller (see <see cref="SlabBytesAt"/>).</summary>
    public long SlabBytes => Stride * BlocksPerSlab;

    /// <summary>Exactly the blocks of the pool: the last slab holds only the blocks left over.</summary>
    public long TotalBytes => Stride * Capacity;

    /// <summary>
    /// The size of slab <paramref name="slab"/>. The last slab is cut to the blocks it holds, so a pool never takes
    /// native memory for blocks it does not have (a byte budget stays a budget even when the stride, which grows by
    /// the guard in diagnostics mode, does not divide the slab size).
    /// </summary>
    public long SlabBytesAt(int slab) =>
        slab < SlabCount - 1 ? SlabBytes : Stride * (Capacity - ((long)BlocksPerSlab * (SlabCount - 1)));

    /// <summary>Validates the options for <paramref name="spec"/> and computes the layout; checks that the machine can still give it.</summary>
    /// <param name="options">The pool's options.</param>
    /// <param name="spec">The spec to lay out.</param>
    /// <param name="diagnostics">Whether guard bytes follow every block.</param>
    /// <param name="replacing">The configuration a <c>Reconfigure</c> is about to free, whose memory counts as available.</param>
    public static BlockLayout Resolve(BlockPoolOptions options, KvCacheSpec spec, bool diagnostics, NativeSlabs? replacing = null)
    {
        int alignment = options.Alignment;
        if (alignment != 0 && (alignment < MinAlignment || alignment > 1024 * 1024 || !BitOperations.IsPow2(alignment)))
        {
            throw Invalid(nameof(options.Alignment), $"Alignment {options.Alignment} is not a power of two between 16 and 1048576 bytes. Use 0 to let the pool choose (a cache line), or Environment.SystemPageSize for page-aligned blocks.");
        }

        int guard = diagnostics ? DiagnosticsGuardBytes : 0;
        if (alignment == 0)
        {
            alignment = DefaultAlignment(spec.BytesPerBlock + (long)guard);
        }

        long stride = RoundUp(spec.BytesPerBlock + (long)guard, alignment);

        int capacity;
        if (options.CapacityBlocks is int blocks)
        {
            if (options.CapacityBytes is not null)
            {
                throw Invalid(nameof(options.CapacityBlocks), "Both CapacityBlocks and CapacityBytes are set. Set exactly one.");
            }

            if (blocks < 1)
            {
                throw Invalid(nameof(options.CapacityBlocks), $"CapacityBlocks is {blocks}. It must be at least 1.");
            }

            capacity = blocks;
        }
        else if (options.CapacityBytes is long bytes)
        {
            long fit = bytes / stride;
            if (fit < 1)
            {
                throw Invalid(nameof(options.CapacityBytes), $"CapacityBytes {bytes} does not hold even one block of {stride} bytes ({spec}). Raise the budget or use a smaller spec.");
            }

            capacity = (int)Math.Min(fit, MaxCapacity);
        }
        else
        {
            throw Invalid(nameof(options.CapacityBlocks), "No capacity was given. Set CapacityBlocks (a block count) or CapacityBytes (a native-memory budget).");
        }

        if (capacity > MaxCapacity)
        {
            throw Invalid(nameof(options.CapacityBlocks), $"CapacityBlocks {capacity} exceeds the maximum of {MaxCapacity}.");
        }

        int perSlab = options.BlocksPerSlab;
        if (perSlab < 0)
        {
            throw Invalid(nameof(options.BlocksPerSlab), $"BlocksPerSlab is {perSlab}. Use 0 to let the pool choose, or a positive count.");
        }

        if (perSlab == 0)
        {
            // A power of two, so a block's address needs a shift, not a division (NativeSlabs.BlockAddress).
            long fit = Math.Max(1, BlockPoolOptions.DefaultSlabBytes / stride);
            perSlab = (int)Math.Min(1L << BitOperations.Log2((ulong)fit), capacity);
        }

        perSlab = Math.Min(perSlab, capacity);
        int slabCount = (int)(((long)capacity + perSlab - 1) / perSlab);
        var layout = new BlockLayout(capacity, perSlab, slabCount, stride, spec.BytesPerBlock, guard, alignment);

        if (!options.AllowOvercommit)
        {
            MemoryHeadroom headroom = options.AvailableMemoryOverride is long given
                ? new MemoryHeadroom(given, $"{given} bytes given in place of the machine's figures")
                : MemoryHeadroom.Measure(replacing);
            if (layout.TotalBytes > headroom.Bytes)
            {
                throw Invalid(
                    options.CapacityBytes is null ? nameof(options.CapacityBlocks) : nameof(options.CapacityBytes),
                    $"The pool would take {layout.TotalBytes} bytes of native memory ({capacity} blocks of {stride} bytes), more than the {headroom.Bytes} bytes available ({headroom.Explanation}). Lower the capacity, free memory, or set BlockPoolOptions.AllowOvercommit to skip this check.");
            }
        }

        return layout;
    }

    /// <summary>The smallest alignment: every element type's, and what SIMD loads want at least.</summary>
    internal const int MinAlignment = 16;

    /// <summary>The largest alignment the pool chooses by itself: one cache line, so no two blocks share one.</summary>
    internal const int CacheLine = 64;

    /// <summary>
    /// The alignment of <see cref="BlockPoolOptions.Alignment"/> 0: a cache line, or a smaller power of two (down to
    /// <see cref="MinAlignment"/>) when rounding a block of <paramref name="blockBytes"/> up to a cache line would
    /// waste 1% or more of the memory; the least wasteful of the three when every one does. Page alignment (the
    /// old default) wasted 75% of a pool of 1 KiB blocks; blocks are read by kernels a cache line at a time, and
    /// nothing in the pool needs more than the elements' own alignment.
    /// </summary>
    internal static int DefaultAlignment(long blockBytes)
    {
        for (int alignment = CacheLine; alignment > MinAlignment; alignment /= 2)
        {
            if ((RoundUp(blockBytes, alignment) - blockBytes) * 100 < blockBytes)
            {
                return alignment;
            }
        }

        return MinAlignment; // rounds up the least
    }

    /// <summary>The largest capacity: block ids and counts are <see cref="int"/>, and the free stack is one array.</summary>
    internal const int MaxCapacity = 1 << 30;

    private static long RoundUp(long value, int alignment) => (value + alignment - 1) & ~((long)alignment - 1);

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2208", Justification = "The invalid value is a property of the options argument, which the message names.")]
    private static ArgumentException Invalid(string property, string message) =>
        new(string.Create(CultureInfo.InvariantCulture, $"BlockPoolOptions.{property}: {message}"), "options");
}
