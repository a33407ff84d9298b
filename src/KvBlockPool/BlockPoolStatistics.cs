namespace KvBlockPool;

/// <summary>A pool's counters at one instant; see <see cref="BlockPool.GetStatistics"/>.</summary>
public readonly struct BlockPoolStatistics : IEquatable<BlockPoolStatistics>
{
    internal BlockPoolStatistics(int capacity, int available, int highWaterMark, int agents, int bytesPerBlock, long stride)
    {
        Stride = stride;
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

    /// <summary>
    /// Native bytes each block occupies: its data, the padding up to the pool's alignment and, in diagnostics mode,
    /// its guard bytes. The pool's native memory is <see cref="Capacity"/> times this.
    /// </summary>
    public long Stride { get; }

    /// <summary>
    /// The share of native memory that holds no data: <c>Stride / BytesPerBlock - 1</c> (0.0 when blocks sit back to
    /// back; the default alignment keeps it under 0.01 unless a block is smaller than 1.6 KiB and not a multiple of 16 bytes).
    /// </summary>
    public double Overhead => BytesPerBlock == 0 ? 0 : ((double)Stride / BytesPerBlock) - 1;

    /// <summary>Data bytes in allocated blocks.</summary>
    public long AllocatedBytes => (long)Allocated * BytesPerBlock;

    /// <summary>Data bytes in available blocks.</summary>
    public long AvailableBytes => (long)Available * BytesPerBlock;

    /// <inheritdoc/>
    public bool Equals(BlockPoolStatistics other) =>
        Capacity == other.Capacity && Available == other.Available && HighWaterMark == other.HighWaterMark
        && Agents == other.Agents && BytesPerBlock == other.BytesPerBlock && Stride == other.Stride;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BlockPoolStatistics other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Capacity, Available, HighWaterMark, Agents, BytesPerBlock, Stride);

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
