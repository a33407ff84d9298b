using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvBlockPool.Core;

/// <summary>
/// The native memory of one configuration: <see cref="BlockLayout.SlabCount"/> aligned slabs, every one
/// allocated up front. Either the whole set exists or construction throws having freed what it took.
/// </summary>
internal sealed unsafe class NativeSlabs : IDisposable
{
    private static long s_liveBytes;

    private readonly INativeAllocator _allocator;
    private readonly nint[] _slabs;
    private readonly int _blocksPerSlab;
    private readonly nint _stride;
    private int _freed;

    private NativeSlabs(BlockLayout layout, INativeAllocator allocator, nint[] slabs)
    {
        Layout = layout;
        _allocator = allocator;
        _slabs = slabs;
        _blocksPerSlab = layout.BlocksPerSlab;
        _stride = (nint)layout.Stride;
    }

    ~NativeSlabs()
    {
        // A pool that was never disposed must not leak its slabs for the life of the process.
        Release();
    }

    /// <summary>Native bytes held by every live pool in the process.</summary>
    public static long LiveBytes => Interlocked.Read(ref s_liveBytes);

    public BlockLayout Layout { get; }

    public long TotalBytes => Layout.TotalBytes;

    /// <summary>Allocates every slab; fills each block's data with <paramref name="fill"/> (if any) and its guard with <paramref name="guardFill"/>.</summary>
    public static NativeSlabs Allocate(BlockLayout layout, INativeAllocator allocator, byte? fill, byte guardFill)
    {
        var slabs = new nint[layout.SlabCount];
        int taken = 0;
        try
        {
            for (; taken < slabs.Length; taken++)
            {
                void* slab;
                try
                {
                    slab = allocator.AlignedAlloc((nuint)layout.SlabBytesAt(taken), (nuint)layout.Alignment);
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
                allocator.AlignedFree((void*)slabs[i]);
            }

            throw;
        }

        var result = new NativeSlabs(layout, allocator, slabs);
        Interlocked.Add(ref s_liveBytes, layout.TotalBytes);
        result.Initialize(fill, guardFill);
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* BlockAddress(int id)
    {
        (int slab, int index) = Math.DivRem(id, _blocksPerSlab);
        return (byte*)_slabs[slab] + (index * _stride);
    }

    public Span<byte> Guard(int id) => new(BlockAddress(id) + Layout.BytesPerBlock, Layout.GuardBytes);

    public Span<byte> Data(int id) => new(BlockAddress(id), Layout.BytesPerBlock);

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

        foreach (nint slab in _slabs)
        {
            _allocator.AlignedFree((void*)slab);
        }

        Interlocked.Add(ref s_liveBytes, -Layout.TotalBytes);
    }

    private void Initialize(byte? fill, byte guardFill)
    {
        if (fill is null && Layout.GuardBytes == 0)
        {
            return;
        }

        for (int id = 0; id < Layout.Capacity; id++)
        {
            if (fill is byte value)
            {
                Data(id).Fill(value);
            }

            if (Layout.GuardBytes > 0)
            {
                Guard(id).Fill(guardFill);
            }
        }
    }

    private static NativeAllocationException Failure(BlockLayout layout, int slabIndex, Exception? inner) => new(
        string.Create(
            CultureInfo.InvariantCulture,
            $"Could not allocate native slab {slabIndex + 1} of {layout.SlabCount} ({layout.SlabBytes} bytes each, {layout.TotalBytes} bytes in all, alignment {layout.Alignment}). The {slabIndex} slab(s) already taken were freed. Lower the capacity or free memory elsewhere."),
        layout.TotalBytes,
        inner);
}
