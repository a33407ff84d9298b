using System.Globalization;
using System.Runtime.CompilerServices;

namespace KvBlockPool.Core;

/// <summary>
/// The native memory of one configuration: <see cref="BlockLayout.SlabCount"/> aligned slabs, every one
/// allocated up front. Either the whole set exists or construction throws having freed what it took.
/// </summary>
/// <remarks>
/// Slabs that come from a fresh mapping (<see cref="NativeMemoryOrigin.FreshMapping"/>) already read as zeros, so
/// a zero fill is skipped for them: their pages stay untouched (and take no physical memory) until a block is
/// first written or <see cref="Prefault"/> makes them resident. Heap slabs are filled as asked.
/// </remarks>
internal sealed unsafe class NativeSlabs : IDisposable
{
    private static long s_liveBytes;
    private static long s_untouchedBytes;

    private readonly INativeAllocator _allocator;
    private readonly nint[] _slabs;
    private readonly NativeMemoryOrigin[] _origins;
    private readonly int _blocksPerSlab;
    private readonly int _slabShift; // -1: divide by _blocksPerSlab
    private readonly int _indexMask;
    private readonly nint _stride;
    private long _untouchedBytes;
    private int _freed;

    private NativeSlabs(BlockLayout layout, INativeAllocator allocator, nint[] slabs, NativeMemoryOrigin[] origins)
    {
        Layout = layout;
        _allocator = allocator;
        _slabs = slabs;
        _origins = origins;
        _blocksPerSlab = layout.BlocksPerSlab;
        (_slabShift, _indexMask) = AddressShift(layout);
        _stride = (nint)layout.Stride;
    }

    ~NativeSlabs()
    {
        // A pool that was never disposed must not leak its slabs for the life of the process.
        Release();
    }

    /// <summary>Native bytes held by every live pool in the process.</summary>
    public static long LiveBytes => Interlocked.Read(ref s_liveBytes);

    /// <summary>
    /// Bytes of every live pool's mapped slabs that construction left untouched and no warm-up has made resident
    /// since: promised to this process, not yet taken from the machine (so the machine's free-memory figure does
    /// not show them yet).
    /// </summary>
    public static long UntouchedBytesInProcess => Interlocked.Read(ref s_untouchedBytes);

    public BlockLayout Layout { get; }

    public long TotalBytes => Layout.TotalBytes;

    /// <summary>This configuration's share of <see cref="UntouchedBytesInProcess"/>.</summary>
    public long UntouchedBytes => Interlocked.Read(ref _untouchedBytes);

    /// <summary>Slabs that came from a fresh mapping (the rest are heap slabs).</summary>
    public int MappedSlabCount => _origins.Count(o => o == NativeMemoryOrigin.FreshMapping);

    public int SlabCount => _slabs.Length;

    /// <summary>Whether the slabs have been given back to the system.</summary>
    public bool IsFreed => Volatile.Read(ref _freed) != 0;

    /// <summary>The first byte of every slab; the array itself, for <see cref="KvBlockAddressing"/> (which exposes it read-only).</summary>
    public nint[] SlabBases => _slabs;

    /// <summary>
    /// Allocates every slab; fills each block's data with <paramref name="fill"/> (if any; a zero fill is skipped
    /// for slabs that come zeroed) and its guard with <paramref name="guardFill"/>.
    /// </summary>
    public static NativeSlabs Allocate(BlockLayout layout, INativeAllocator allocator, byte? fill, byte guardFill)
    {
        var slabs = new nint[layout.SlabCount];
        var origins = new NativeMemoryOrigin[layout.SlabCount];
        int taken = 0;
        try
        {
            for (; taken < slabs.Length; taken++)
            {
                void* slab;
                try
                {
                    slab = allocator.AlignedAlloc((nuint)layout.SlabBytesAt(taken), (nuint)layout.Alignment, out origins[taken]);
                }
                catch (OutOfMemoryException ex)
                {
                    throw Failure(layout, taken, ex);
                }

                if (slab is null)
                {
                    throw Failure(layout, taken, null);
                }

                slabs[taken] = (nint)slab;
            }
        }
        catch
        {
            for (int i = 0; i < taken; i++)
            {
                allocator.AlignedFree((void*)slabs[i], (nuint)layout.SlabBytesAt(i), origins[i]);
            }

            throw;
        }

        var result = new NativeSlabs(layout, allocator, slabs, origins);
        Interlocked.Add(ref s_liveBytes, layout.TotalBytes);
        result.Initialize(fill, guardFill);
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* BlockAddress(int id)
    {
        int shift = _slabShift;
        if (shift >= 0)
        {
            return (byte*)_slabs[id >> shift] + ((id & _indexMask) * _stride);
        }

        (int slab, int index) = Math.DivRem(id, _blocksPerSlab);
        return (byte*)_slabs[slab] + (index * _stride);
    }

    /// <summary>
    /// How a block id splits into slab and index without a division, which costs more than the rest of a lease's
    /// span lookup: one slab (every id is an index), or a power-of-two count of blocks per slab (the default).
    /// </summary>
    internal static (int Shift, int Mask) AddressShift(BlockLayout layout) =>
        layout.SlabCount == 1 ? (31, int.MaxValue)
        : System.Numerics.BitOperations.IsPow2(layout.BlocksPerSlab) ? (System.Numerics.BitOperations.Log2((uint)layout.BlocksPerSlab), layout.BlocksPerSlab - 1)
        : (-1, 0);

    public Span<byte> Guard(int id) => new(BlockAddress(id) + Layout.BytesPerBlock, Layout.GuardBytes);

    public Span<byte> Data(int id) => new(BlockAddress(id), Layout.BytesPerBlock);

    /// <summary>
    /// The pieces a warm-up visits: every slab cut into runs of at most <paramref name="chunkBytes"/> (slab index,
    /// offset, length).
    /// </summary>
    public (int Slab, long Offset, long Length)[] Chunks(long chunkBytes)
    {
        var chunks = new List<(int, long, long)>();
        for (int slab = 0; slab < _slabs.Length; slab++)
        {
            long bytes = Layout.SlabBytesAt(slab);
            for (long offset = 0; offset < bytes; offset += chunkBytes)
            {
                chunks.Add((slab, offset, Math.Min(chunkBytes, bytes - offset)));
            }
        }

        return [.. chunks];
    }

    /// <summary>
    /// Makes every page of a run resident without changing a byte of it, so it may run while owners write their
    /// blocks: <c>MADV_POPULATE_WRITE</c> where the kernel offers it, otherwise one atomic no-op write
    /// (<see cref="Interlocked.Or(ref int, int)"/> with 0) per page, which a concurrent write cannot be lost to.
    /// </summary>
    /// <remarks>The caller keeps the slabs alive meanwhile (a data access counted by the pool's guard).</remarks>
    public void Prefault(int slab, long offset, long length, bool touchOnly)
    {
        byte* start = (byte*)_slabs[slab] + offset;
        if (!touchOnly && AnonymousMapping.TryPopulateWrite(start, (nuint)length))
        {
            return;
        }

        long page = Environment.SystemPageSize;
        byte* end = start + length;
        byte* at = (byte*)(((nint)start + 3) & ~(nint)3);
        while (at + sizeof(int) <= end)
        {
            Interlocked.Or(ref *(int*)at, 0);
            at = (byte*)(((nint)at + (nint)page) & ~((nint)page - 1)); // the next page's first byte
        }
    }

    /// <summary>Records that every page is resident now (a warm-up finished): nothing of this configuration is untouched any more.</summary>
    public void MarkResident() => Interlocked.Add(ref s_untouchedBytes, -Interlocked.Exchange(ref _untouchedBytes, 0));

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    private void Release()
    {
        if (Interlocked.Exchange(ref _freed, 1) != 0)
        {
            return;
        }

        for (int i = 0; i < _slabs.Length; i++)
        {
            _allocator.AlignedFree((void*)_slabs[i], (nuint)Layout.SlabBytesAt(i), _origins[i]);
        }

        MarkResident();
        Interlocked.Add(ref s_liveBytes, -Layout.TotalBytes);
    }

    private void Initialize(byte? fill, byte guardFill)
    {
        long untouched = 0;
        for (int slab = 0; slab < _slabs.Length; slab++)
        {
            bool zeroed = _origins[slab] == NativeMemoryOrigin.FreshMapping;
            byte? slabFill = fill == 0 && zeroed ? null : fill;
            if (slabFill is null && Layout.GuardBytes == 0)
            {
                untouched += Layout.SlabBytesAt(slab);
                continue;
            }

            int first = slab * _blocksPerSlab;
            int last = Math.Min(first + _blocksPerSlab, Layout.Capacity);
            for (int id = first; id < last; id++)
            {
                if (slabFill is byte value)
                {
                    Data(id).Fill(value);
                }

                if (Layout.GuardBytes > 0)
                {
                    Guard(id).Fill(guardFill);
                }
            }
        }

        _untouchedBytes = untouched;
        Interlocked.Add(ref s_untouchedBytes, untouched);
    }

    private static NativeAllocationException Failure(BlockLayout layout, int slabIndex, Exception? inner) => new(
        string.Create(
            CultureInfo.InvariantCulture,
            $"Could not allocate native slab {slabIndex + 1} of {layout.SlabCount} ({layout.SlabBytes} bytes each, {layout.TotalBytes} bytes in all, alignment {layout.Alignment}). The {slabIndex} slab(s) already taken were freed. Lower the capacity or free memory elsewhere."),
        layout.TotalBytes,
        inner);
}
