namespace KvBlockPool;

/// <content>Counters that readers get without taking the gate.</content>
public sealed partial class BlockPool
{
    /// <summary>The pool's hard capacity in blocks. Read without the gate.</summary>
    public int Capacity => _counts.Capacity;

    /// <summary>
    /// The counters at one instant, read without the gate: <see cref="BlockPoolStatistics.Available"/> and
    /// <see cref="BlockPoolStatistics.Allocated"/> come from one atomic read, so they always add up to
    /// <see cref="BlockPoolStatistics.Capacity"/>, and the high-water mark is at least the allocated count.
    /// </summary>
    /// <returns>The statistics.</returns>
    public BlockPoolStatistics GetStatistics() => _counts.Read(Spec.BytesPerBlock);
}
