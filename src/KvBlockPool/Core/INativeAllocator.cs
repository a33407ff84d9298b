using System.Runtime.InteropServices;

namespace KvBlockPool.Core;

/// <summary>The seam between the pool and the process allocator; tests substitute one that fails on demand.</summary>
internal interface INativeAllocator
{
    unsafe void* AlignedAlloc(nuint bytes, nuint alignment);

    unsafe void AlignedFree(void* pointer);
}

internal sealed class SystemNativeAllocator : INativeAllocator
{
    public static readonly SystemNativeAllocator Instance = new();

    private SystemNativeAllocator()
    {
    }

    public unsafe void* AlignedAlloc(nuint bytes, nuint alignment) => NativeMemory.AlignedAlloc(bytes, alignment);

    public unsafe void AlignedFree(void* pointer) => NativeMemory.AlignedFree(pointer);
}
