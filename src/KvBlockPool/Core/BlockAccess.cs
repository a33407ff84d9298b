namespace KvBlockPool.Core;

/// <summary>
/// A lease on block memory for a copy outside the gate: <see cref="Length"/> bytes at <see cref="Pointer"/>,
/// spanning <see cref="BlockCount"/> blocks that lie contiguous in memory. While the lease is held, the pool's
/// <c>Dispose</c> waits before it frees the slabs; <see cref="Dispose"/> ends it. Nothing else is guaranteed: the
/// holder keeps the blocks themselves from being freed (a pin, or a scope nothing else can name).
/// </summary>
/// <remarks>
/// The persistence layer reads and writes block memory only through these leases, so hashing and I/O stay out of
/// the core. Hold one for one copy, never across I/O that can stall on a peer.
/// </remarks>
internal readonly unsafe struct BlockAccess : IDisposable
{
    private readonly AccessGuard _guard;

    public BlockAccess(AccessGuard guard, byte* pointer, int length, int blockCount)
    {
        _guard = guard;
        Pointer = pointer;
        Length = length;
        BlockCount = blockCount;
    }

    /// <summary>The first byte of the range.</summary>
    public byte* Pointer { get; }

    /// <summary>Bytes in the range.</summary>
    public int Length { get; }

    /// <summary>Blocks the range covers (1 for a range inside one block).</summary>
    public int BlockCount { get; }

    /// <summary>The range as a span.</summary>
    public Span<byte> Span => new(Pointer, Length);

    /// <summary>Ends the lease; <c>Dispose</c> of the pool stops waiting for it.</summary>
    public void Dispose() => _guard.EndAccessOutsideGate();
}
