using System.Runtime.CompilerServices;

namespace KvBlockPool.Core;

/// <summary>
/// The counters readers get without the gate. Written under the gate (after every change they describe), read
/// with volatile reads: capacity and available share one 64-bit word, so one read is consistent.
/// </summary>
internal sealed class PublishedCounts
{
    private long _counts;     // capacity << 32 | available
    private int _highWater;
    private int _agents;
    private long _nativeBytes;

    public int Capacity => (int)(Volatile.Read(ref _counts) >> 32);

    public int Available => (int)(uint)Volatile.Read(ref _counts);

    public int Allocated
    {
        get
        {
            long counts = Volatile.Read(ref _counts);
            return (int)(counts >> 32) - (int)(uint)counts;
        }
    }

    public int HighWater => Volatile.Read(ref _highWater);

    public int Agents => Volatile.Read(ref _agents);

    public long NativeBytes
    {
        get => Interlocked.Read(ref _nativeBytes);
        set => Interlocked.Exchange(ref _nativeBytes, value);
    }

    /// <summary>Publishes capacity and available count. Call under the gate after every change to the free stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Publish(int capacity, int available)
    {
        int allocated = capacity - available;
        if (allocated > _highWater)
        {
            // Written before the counts so that a reader who sees the counts also sees a high-water mark at least as high.
            Volatile.Write(ref _highWater, allocated);
        }

        Volatile.Write(ref _counts, ((long)capacity << 32) | (uint)available);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishAgents(int agents) => Volatile.Write(ref _agents, agents);

    /// <summary>
    /// Resets the mark for a new configuration. Call while nothing is allocated and before the new counts are
    /// published, so a reader of the new counts never sees a mark below them.
    /// </summary>
    public void ResetHighWater() => Volatile.Write(ref _highWater, 0);

    /// <summary>The counters at one instant (see <see cref="Compose"/>).</summary>
    public BlockPoolStatistics Read(int bytesPerBlock, long stride) =>
        Compose(Volatile.Read(ref _counts), Volatile.Read(ref _highWater), Volatile.Read(ref _agents), bytesPerBlock, stride);

    /// <summary>Builds the statistics from values read without the gate; separate so tests can feed it any interleaving's reads.</summary>
    public static BlockPoolStatistics Compose(long counts, int highWater, int agents, int bytesPerBlock, long stride)
    {
        int capacity = (int)(counts >> 32);
        int available = (int)(uint)counts;
        int allocated = capacity - available;

        // A free and a Reconfigure between the two reads reset the mark below what the counts show; never report that.
        return new BlockPoolStatistics(capacity, available, Math.Max(highWater, allocated), agents, bytesPerBlock, stride);
    }

    /// <summary>Checks the published values against the truth under the gate.</summary>
    public string? FindViolation(int capacity, int available)
    {
        long counts = Volatile.Read(ref _counts);
        if ((int)(counts >> 32) != capacity || (int)(uint)counts != available)
        {
            return "the published counts differ from the free stack";
        }

        return _highWater < capacity - available
            ? $"high-water mark {_highWater} is below the allocated count {capacity - available}"
            : null;
    }
}
