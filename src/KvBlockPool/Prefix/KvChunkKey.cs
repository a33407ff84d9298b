using System.Buffers.Binary;
using System.Globalization;

namespace KvBlockPool.Prefix;

/// <summary>
/// The 128-bit content key of one chunk of the prefix cache: a hash that chains the parent chunk's key with the
/// chunk's token ids (and, at the root, the deployment secret, the spec and the tenant salt). Two chunks have equal
/// keys when, and only when (up to the hash), the whole token prefix up to and including them is equal under the
/// same secret, spec and salt.
/// </summary>
public readonly struct KvChunkKey : IEquatable<KvChunkKey>
{
    /// <summary>Creates a key from its two 64-bit halves (as read from an event, a log or a store).</summary>
    /// <param name="high">The high 64 bits.</param>
    /// <param name="low">The low 64 bits.</param>
    public KvChunkKey(ulong high, ulong low)
    {
        High = high;
        Low = low;
    }

    /// <summary>The high 64 bits.</summary>
    public ulong High { get; }

    /// <summary>The low 64 bits.</summary>
    public ulong Low { get; }

    /// <summary>Whether this is <c>default(KvChunkKey)</c>, which no hash produces in practice and the cache never stores.</summary>
    public bool IsDefault => High == 0 && Low == 0;

    /// <summary>Reads a key from 16 bytes, big-endian (the order <see cref="WriteTo"/> writes).</summary>
    /// <param name="source">At least 16 bytes.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException"><paramref name="source"/> is shorter than 16 bytes.</exception>
    public static KvChunkKey Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < 16)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A chunk key is 16 bytes; the source has {source.Length}."), nameof(source));
        }

        return new KvChunkKey(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));
    }

    /// <summary>Writes the key as 16 bytes, big-endian (the order of <see cref="ToString"/>).</summary>
    /// <param name="destination">At least 16 bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 16 bytes; nothing was written.</exception>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < 16)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A chunk key is 16 bytes; the destination has {destination.Length}."), nameof(destination));
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    /// <inheritdoc/>
    public bool Equals(KvChunkKey other) => High == other.High && Low == other.Low;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is KvChunkKey other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => (int)Low ^ (int)(Low >> 32); // the key is already a hash: any 32 of its bits will do

    /// <summary>The key as 32 lowercase hex digits.</summary>
    /// <returns>For example <c>0f3a…</c>.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{High:x16}{Low:x16}");

    /// <summary>Compares two keys.</summary>
    /// <param name="left">A key.</param>
    /// <param name="right">A key.</param>
    /// <returns><see langword="true"/> when they are equal.</returns>
    public static bool operator ==(KvChunkKey left, KvChunkKey right) => left.Equals(right);

    /// <summary>Compares two keys.</summary>
    /// <param name="left">A key.</param>
    /// <param name="right">A key.</param>
    /// <returns><see langword="true"/> when they differ.</returns>
    public static bool operator !=(KvChunkKey left, KvChunkKey right) => !left.Equals(right);
}
