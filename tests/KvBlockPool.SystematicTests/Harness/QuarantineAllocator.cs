using System.Runtime.InteropServices;

namespace KvBlockPool.SystematicTests.Harness;

/// <summary>
/// A native allocator that never gives memory back while a scenario runs: a freed slab is filled with
/// <see cref="FreedPattern"/> and kept, so a later write into it (the pool clearing a block of a slab that
/// Dispose or Reconfigure already freed) is found by <see cref="CheckFreedSlabsUntouched"/> instead of
/// corrupting the heap somewhere else. Double frees and frees of unknown pointers fail at once.
/// </summary>
internal sealed unsafe class QuarantineAllocator : KvBlockPool.Core.INativeAllocator, IDisposable
{
    public const byte FreedPattern = 0xDB;

    private readonly object _gate = new();
    private readonly List<Slab> _slabs = [];
    private bool _released;

    /// <summary>Slabs allocated and not yet freed by the pool.</summary>
    public int LiveSlabs
    {
        get
        {
            lock (_gate)
            {
                return _slabs.Count(s => !s.Freed);
            }
        }
    }

    public void* AlignedAlloc(nuint bytes, nuint alignment, out KvBlockPool.Core.NativeMemoryOrigin origin)
    {
        origin = KvBlockPool.Core.NativeMemoryOrigin.Heap; // the pool clears it, as it does where mapping is not offered
        void* pointer = NativeMemory.AlignedAlloc(bytes, alignment);
        lock (_gate)
        {
            _slabs.Add(new Slab((nint)pointer, bytes));
        }

        return pointer;
    }

    public void AlignedFree(void* pointer, nuint bytes, KvBlockPool.Core.NativeMemoryOrigin origin)
    {
        lock (_gate)
        {
            if (_released)
            {
                return; // a pool's finalizer after the iteration ended: the memory is already gone
            }

            int index = _slabs.FindIndex(s => s.Pointer == (nint)pointer);
            Check.That(index >= 0, $"The pool freed 0x{(nint)pointer:x}, which it never allocated.");
            Slab slab = _slabs[index];
            Check.That(!slab.Freed, $"The pool freed slab 0x{slab.Pointer:x} twice.");
            new Span<byte>(pointer, checked((int)slab.Bytes)).Fill(FreedPattern);
            _slabs[index] = slab with { Freed = true };
        }
    }

    /// <summary>Fails the scenario if any freed slab was written after the pool freed it.</summary>
    public void CheckFreedSlabsUntouched()
    {
        lock (_gate)
        {
            foreach (Slab slab in _slabs.Where(s => s.Freed))
            {
                var bytes = new ReadOnlySpan<byte>((void*)slab.Pointer, checked((int)slab.Bytes));
                int written = bytes.IndexOfAnyExcept(FreedPattern);
                Check.That(written < 0, $"Slab 0x{slab.Pointer:x} was written at offset {written} after the pool freed it (use of a freed slab).");
            }
        }
    }

    /// <summary>Really frees every slab, at the end of an iteration.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (Slab slab in _slabs)
            {
                NativeMemory.AlignedFree((void*)slab.Pointer);
            }

            _slabs.Clear();
            _released = true;
        }
    }

    private readonly record struct Slab(nint Pointer, nuint Bytes, bool Freed = false);
}
