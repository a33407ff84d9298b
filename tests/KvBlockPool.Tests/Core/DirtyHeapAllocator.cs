using System.Runtime.InteropServices;
using KvBlockPool.Core;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Heap memory filled with <see cref="Dirt"/> before the pool sees it, as a reused heap block can be, reported as
/// <see cref="NativeMemoryOrigin.Heap"/> or (to show what the pool trusts) falsely as a fresh mapping.
/// </summary>
internal sealed unsafe class DirtyHeapAllocator(NativeMemoryOrigin reportedOrigin) : INativeAllocator
{
    public const byte Dirt = 0xA5;

    public void* AlignedAlloc(nuint bytes, nuint alignment, out NativeMemoryOrigin origin)
    {
        void* pointer = NativeMemory.AlignedAlloc(bytes, alignment);
        new Span<byte>(pointer, checked((int)bytes)).Fill(Dirt);
        origin = reportedOrigin;
        return pointer;
    }

    public void AlignedFree(void* pointer, nuint bytes, NativeMemoryOrigin origin) => NativeMemory.AlignedFree(pointer);
}
