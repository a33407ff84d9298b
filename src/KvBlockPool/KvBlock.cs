using System.Globalization;

namespace KvBlockPool;

/// <summary>
/// A handle to one KV block handed out by a <see cref="BlockPool"/>: the block id, its layer, the
/// generation it was handed out at, and a stamp of the pool (and configuration) that issued it.
/// </summary>
/// <remarks>
/// A handle is a capability, not the memory: every use is checked against the block's current
/// generation, so a handle kept after its block was freed (or after the pool was reconfigured or
/// disposed) is rejected with a clear exception and can never reach memory that was handed to someone
/// else. <c>default(KvBlock)</c> is never valid.
/// </remarks>
public readonly struct KvBlock : IEquatable<KvBlock>
{
    internal KvBlock(int id, int layer, uint generation, int poolStamp)
    {
        Id = id;
        Layer = layer;
        Generation = generation;
        PoolStamp = poolStamp;
    }

    /// <summary>The block id: its index in the pool, and the entry a paged-attention block table holds.</summary>
    public int Id { get; }

    /// <summary>The layer this block was allocated for.</summary>
    public int Layer { get; }

    /// <summary>The block's generation when this handle was issued; the pool rejects the handle once it changes.</summary>
    public uint Generation { get; }

    /// <summary><see langword="true"/> for <c>default(KvBlock)</c>, which no pool issues.</summary>
    public bool IsDefault => PoolStamp == 0;

    /// <summary>Identifies the pool and configuration that issued the handle; never 0 for an issued handle.</summary>
    internal int PoolStamp { get; }

    /// <inheritdoc/>
    public bool Equals(KvBlock other) =>
        Id == other.Id && Layer == other.Layer && Generation == other.Generation && PoolStamp == other.PoolStamp;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is KvBlock other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Id, Layer, Generation, PoolStamp);

    /// <summary>Describes the handle for messages.</summary>
    /// <returns>For example <c>block 12 (layer 3, generation 5)</c>.</returns>
    public override string ToString() => IsDefault
        ? "default(KvBlock)"
        : string.Create(CultureInfo.InvariantCulture, $"block {Id} (layer {Layer}, generation {Generation})");

    /// <summary>Compares two handles.</summary>
    /// <param name="left">A handle.</param>
    /// <param name="right">A handle.</param>
    /// <returns><see langword="true"/> when they are the same handle.</returns>
    public static bool operator ==(KvBlock left, KvBlock right) => left.Equals(right);

    /// <summary>Compares two handles.</summary>
    /// <param name="left">A handle.</param>
    /// <param name="right">A handle.</param>
    /// <returns><see langword="true"/> when they differ.</returns>
    public static bool operator !=(KvBlock left, KvBlock right) => !left.Equals(right);
}
