namespace KvBlockPool.Persistence;

/// <summary>
/// Receives a layer's payload bytes in order, as they arrive from the pipe, and hashes them itself: a sink that
/// copies the bytes somewhere hashes them in the same pass (<see cref="CopyingXxHash3"/>).
/// </summary>
internal interface IPayloadSink
{
    /// <summary>Starts a layer: the hash starts over.</summary>
    void BeginLayer();

    void Write(ReadOnlySpan<byte> data);

    /// <summary>The XXH3-64 of the bytes written since <see cref="BeginLayer"/>.</summary>
    ulong LayerHash { get; }
}
