using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>ONNX Runtime tensors over native memory the host owns: no copy, no managed array, no pinning.</summary>
internal static unsafe class OrtTensors
{
    /// <summary>A tensor of <paramref name="shape"/> over <paramref name="buffer"/>'s first elements (ONNX Runtime copies the shape).</summary>
    public static OrtValue Over<T>(NativeBuffer<T> buffer, long[] shape)
        where T : unmanaged
    {
        long elements = 1;
        foreach (long dim in shape)
        {
            elements *= dim;
        }

        if (elements > buffer.Length)
        {
            throw new ArgumentException($"A tensor of {elements} elements does not fit a buffer of {buffer.Length}.", nameof(shape));
        }

        TensorElementType type = typeof(T) == typeof(float) ? TensorElementType.Float
            : typeof(T) == typeof(int) ? TensorElementType.Int32
            : throw new NotSupportedException(typeof(T).Name);
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, shape, (nint)buffer.Pointer, buffer.BytesOf((int)elements));
    }

    /// <summary>Writes a run's token ids and their positions (from <paramref name="past"/> on) into the model's input buffers.</summary>
    public static void WriteTokens(ReadOnlySpan<int> tokens, int past, NativeBuffer<int> ids, NativeBuffer<int> positions)
    {
        Span<int> idSpan = ids.Span;
        Span<int> positionSpan = positions.Span;
        for (int i = 0; i < tokens.Length; i++)
        {
            idSpan[i] = tokens[i];
            positionSpan[i] = past + i;
        }
    }
}
