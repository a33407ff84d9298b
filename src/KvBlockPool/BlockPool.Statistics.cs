namespace KvBlockPool;

/// <content>Counters that readers get without taking the gate.</content>
public sealed partial class BlockPool
{
    /// <summary>The pool's hard capacity in blocks. Read without the gate.</summary>
    public int Capacity => _counts.Capacity;

    /// <summary>Blocks on the free stack, ready to hand out (<see cref="BlockPoolStatistics.Available"/>). Read without the gate.</summary>
    internal int AvailableBlocks => _counts.Available;

    /// <summary>Blocks not available: held by agents or open scopes, or being cleared by a <c>Free</c> in progress. Read without the gate.</summary>
    internal int AllocatedBlocks => _counts.Allocated;

    /// <summary>The most blocks ever allocated at once in the current configuration. Read without the gate.</summary>
    internal int HighWaterMark => _counts.HighWater;

    /// <summary>Agents holding at least one block. Read without the gate.</summary>
    internal int AgentCount => _counts.Agents;

    /// <summary>
    /// The counters at one instant, read without the gate: <see cref="BlockPoolStatistics.Available"/> and
    /// <see cref="BlockPoolStatistics.Allocated"/> come from one atomic read, so they always add up to
    /// <see cref="BlockPoolStatistics.Capacity"/>, and the high-water mark is at least the allocated count.
    /// </summary>
    /// <returns>The statistics.</returns>
    public BlockPoolStatistics GetStatistics() => _counts.Read(Spec.BytesPerBlock);
}
