namespace KvBlockPool.Persistence;

/// <summary>Receives a layer's payload bytes in order, as they arrive from the pipe.</summary>
internal interface IPayloadSink
{
    void Write(ReadOnlySpan<byte> data);
}
