namespace KvBlockPool;

/// <content>Counters that readers get without taking the gate.</content>
public sealed partial class BlockPool
{
    /// <summary>The pool's hard capacity in blocks. Read without the gate.</summary>
    public int Capacity => (int)(Volatile.Read(ref _counts) >> 32);

    /// <summary>Blocks on the free stack, ready to hand out. Read without the gate.</summary>
    public int AvailableBlocks => (int)(uint)Volatile.Read(ref _counts);

    /// <summary>Blocks not available: held by agents or open scopes, or being cleared by a <c>Free</c> in progress. Read without the gate.</summary>
    public int AllocatedBlocks
    {
        get
        {
            long counts = Volatile.Read(ref _counts);
            return (int)(counts >> 32) - (int)(uint)counts;
        }
    }

    /// <summary>The most blocks ever allocated at once in the current configuration. Read without the gate.</summary>
    public int HighWaterMark => Volatile.Read(ref _highWater);

    /// <summary>Agents holding at least one block. Read without the gate.</summary>
    public int AgentCount => Volatile.Read(ref _agentCount);

    /// <summary>
    /// The counters at one instant, read without the gate: <see cref="BlockPoolStatistics.Available"/> and
    /// <see cref="BlockPoolStatistics.Allocated"/> come from one atomic read, so they always add up to
    /// <see cref="BlockPoolStatistics.Capacity"/>, and the high-water mark is at least the allocated count.
    /// </summary>
    /// <returns>The statistics.</returns>
    public BlockPoolStatistics GetStatistics()
    {
        long counts = Volatile.Read(ref _counts);
        int highWater = Volatile.Read(ref _highWater);
        int capacity = (int)(counts >> 32);
        int available = (int)(uint)counts;
        return new BlockPoolStatistics(capacity, available, Math.Max(highWater, capacity - available), Volatile.Read(ref _agentCount), Spec.BytesPerBlock);
    }
}
