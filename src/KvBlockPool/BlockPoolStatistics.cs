namespace KvBlockPool;

/// <summary>A pool's counters at one instant; see <see cref="BlockPool.GetStatistics"/>.</summary>
public readonly struct BlockPoolStatistics : IEquatable<BlockPoolStatistics>
{
    internal BlockPoolStatistics(int capacity, int available, int highWaterMark, int agents, int bytesPerBlock)
    {
        Capacity = capacity;
        Available = available;
        HighWaterMark = highWaterMark;
        Agents = agents;
        BytesPerBlock = bytesPerBlock;
    }

    /// <summary>Hard capacity in blocks.</summary>
    public int Capacity { get; }

    /// <summary>Blocks ready to hand out.</summary>
    public int Available { get; }

    /// <summary>Blocks not available (<see cref="Capacity"/> minus <see cref="Available"/>).</summary>
    public int Allocated => Capacity - Available;

    /// <summary>The most blocks allocated at once.</summary>
    public int HighWaterMark { get; }

    /// <summary>Agents holding at least one block.</summary>
    public int Agents { get; }

    /// <summary>Data bytes per block.</summary>
    public int BytesPerBlock { get; }

    /// <summary>Data bytes in allocated blocks.</summary>
    public long AllocatedBytes => (long)Allocated * BytesPerBlock;

    /// <summary>Data bytes in available blocks.</summary>
    public long AvailableBytes => (long)Available * BytesPerBlock;

    /// <inheritdoc/>
    public bool Equals(BlockPoolStatistics other) =>
        Capacity == other.Capacity && Available == other.Available && HighWaterMark == other.HighWaterMark
        && Agents == other.Agents && BytesPerBlock == other.BytesPerBlock;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BlockPoolStatistics other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Capacity, Available, HighWaterMark, Agents, BytesPerBlock);

    /// <summary>Compares two snapshots.</summary>
    /// <param name="left">A snapshot.</param>
    /// <param name="right">A snapshot.</param>
    /// <returns><see langword="true"/> when equal.</returns>
    public static bool operator ==(BlockPoolStatistics left, BlockPoolStatistics right) => left.Equals(right);

    /// <summary>Compares two snapshots.</summary>
    /// <param name="left">A snapshot.</param>
    /// <param name="right">A snapshot.</param>
    /// <returns><see langword="true"/> when different.</returns>
    public static bool operator !=(BlockPoolStatistics left, BlockPoolStatistics right) => !left.Equals(right);

    /// <summary>A one-line summary.</summary>
    /// <returns>For example <c>12/64 allocated (peak 20), 3 agents</c>.</returns>
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Allocated}/{Capacity} allocated (peak {HighWaterMark}), {Agents} agents");
}
