using KvBlockPool.Core;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// The real allocator (a fresh mapping per slab where the OS offers one), except that chosen calls fail (by
/// returning null, or by throwing <see cref="OutOfMemoryException"/>); counts what is live.
/// </summary>
internal sealed unsafe class FailingAllocator : INativeAllocator
{
    private readonly HashSet<int> _failingCalls;
    private readonly bool _throw;
    private int _calls;

    public FailingAllocator(bool throwOutOfMemory, params int[] failingCalls)
    {
        _throw = throwOutOfMemory;
        _failingCalls = [.. failingCalls];
    }

    public int Calls => _calls;

    public int Live { get; private set; }

    public void* AlignedAlloc(nuint bytes, nuint alignment, out NativeMemoryOrigin origin)
    {
        int call = ++_calls;
        if (_failingCalls.Contains(call))
        {
            origin = NativeMemoryOrigin.Heap;
            return _throw ? throw new OutOfMemoryException("injected") : null;
        }

        Live++;
        return SystemNativeAllocator.Instance.AlignedAlloc(bytes, alignment, out origin);
    }

    public void AlignedFree(void* pointer, nuint bytes, NativeMemoryOrigin origin)
    {
        Live--;
        SystemNativeAllocator.Instance.AlignedFree(pointer, bytes, origin);
    }
}
