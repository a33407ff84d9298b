using System.Runtime.InteropServices;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>A fixed block of native memory for ONNX Runtime tensors to live in: aligned, zeroed, never moved by the GC.</summary>
/// <typeparam name="T">The element type.</typeparam>
internal sealed unsafe class NativeBuffer<T> : IDisposable
    where T : unmanaged
{
    private T* _data;

    public NativeBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        // At least one element: an empty tensor still needs a valid address.
        nuint bytes = (nuint)Math.Max(length, 1) * (nuint)sizeof(T);
        _data = (T*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_data, bytes);
    }

    public int Length { get; }

    public T* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_data is null, this);
            return _data;
        }
    }

    public Span<T> Span => new(Pointer, Length);

    /// <summary>The first <paramref name="length"/> elements' bytes, for a tensor over them.</summary>
    public long BytesOf(int length) => (long)length * sizeof(T);

    public void Dispose()
    {
        if (_data is not null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }
}
