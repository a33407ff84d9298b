using System.Runtime.InteropServices;

namespace KvBlockPool.Core;

/// <summary>Where a slab's memory came from: how it is freed and whether it starts as zeros.</summary>
internal enum NativeMemoryOrigin : byte
{
    /// <summary>The process heap (<see cref="NativeMemory.AlignedAlloc"/>): contents undefined, resident once cleared.</summary>
    Heap,

    /// <summary>A fresh anonymous mapping: reads as zeros, and each page takes physical memory on its first write.</summary>
    FreshMapping,
}

/// <summary>The seam between the pool and the process allocator; tests substitute one that fails on demand.</summary>
internal interface INativeAllocator
{
    /// <summary>
    /// Allocates <paramref name="bytes"/> aligned to <paramref name="alignment"/>; returns null (or throws
    /// <see cref="OutOfMemoryException"/>) on failure. <paramref name="origin"/> says whether the memory is known to
    /// read as zeros (then the pool skips its construction-time clear) and is passed back to <see cref="AlignedFree"/>.
    /// </summary>
    unsafe void* AlignedAlloc(nuint bytes, nuint alignment, out NativeMemoryOrigin origin);

    /// <summary>Frees what <see cref="AlignedAlloc"/> returned for the same <paramref name="bytes"/> and <paramref name="origin"/>.</summary>
    unsafe void AlignedFree(void* pointer, nuint bytes, NativeMemoryOrigin origin);
}

/// <summary>
/// The allocator of every pool: an anonymous mapping per slab where the OS offers one (<see cref="AnonymousMapping"/>),
/// otherwise (or if mapping fails) <see cref="NativeMemory.AlignedAlloc"/>.
/// </summary>
internal sealed class SystemNativeAllocator : INativeAllocator
{
    public static readonly SystemNativeAllocator Instance = new();

    private SystemNativeAllocator()
    {
    }

    public unsafe void* AlignedAlloc(nuint bytes, nuint alignment, out NativeMemoryOrigin origin)
    {
        void* mapped = AnonymousMapping.TryMap(bytes, alignment);
        if (mapped is not null)
        {
            origin = NativeMemoryOrigin.FreshMapping;
            return mapped;
        }

        origin = NativeMemoryOrigin.Heap;
        return NativeMemory.AlignedAlloc(bytes, alignment);
    }

    public unsafe void AlignedFree(void* pointer, nuint bytes, NativeMemoryOrigin origin)
    {
        if (origin == NativeMemoryOrigin.FreshMapping)
        {
            AnonymousMapping.Unmap(pointer, bytes);
        }
        else
        {
            NativeMemory.AlignedFree(pointer);
        }
    }
}
