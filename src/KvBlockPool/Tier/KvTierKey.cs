using System.Buffers.Binary;
using System.Globalization;
using KvBlockPool.Prefix;

namespace KvBlockPool.Tier;

/// <summary>
/// Names one chunk in a shared KV tier: the tier format version, the spec's fingerprint, the salt id and the chunk's
/// 128-bit key. Its text form (<see cref="ToString"/>, 71 ASCII characters) is
/// <c>v1:&lt;spec fingerprint&gt;:&lt;salt id&gt;:{&lt;chunk key&gt;}</c>, in lowercase hex; a store puts its own
/// prefix before it. The braces are a cluster hash tag: a Redis or Garnet cluster places a key by the chunk key
/// alone, so every part of one chunk (if a store ever splits a value) lands on one slot. docs/tier-format.md is the
/// reference.
/// </summary>
/// <remarks>
/// The chunk key alone already decides which chunk this is (it chains the deployment's key secret, the spec, the
/// salt and the adapter); the fingerprint and the salt id are in the key so that an operator can see, scan, expire
/// or restrict by ACL one model's or one tenant's chunks without the secret, and so that a host of another spec
/// never even asks for a value it would refuse.
/// </remarks>
public readonly struct KvTierKey : IEquatable<KvTierKey>
{
    /// <summary>The format version this library writes and reads, in keys (<c>v1:</c>) and values alike.</summary>
    public const int FormatVersion = 1;

    /// <summary>Characters (and UTF-8 bytes) of the text form.</summary>
    public const int FormattedLength = 71;

    /// <summary>Creates a key.</summary>
    /// <param name="specFingerprint">The spec's fingerprint, from <see cref="GetSpecFingerprint"/>.</param>
    /// <param name="saltId">The salt id, from <see cref="GetSaltId"/>.</param>
    /// <param name="chunk">The chunk's key, as the prefix cache computes it.</param>
    /// <exception cref="ArgumentException"><paramref name="chunk"/> is <c>default</c>, which no chunk has.</exception>
    public KvTierKey(ulong specFingerprint, ulong saltId, KvChunkKey chunk)
    {
        if (chunk.IsDefault)
        {
            throw new ArgumentException("The chunk key is default(KvChunkKey), which names no chunk: take the key from KvPrefixCache.ComputeKeys.", nameof(chunk));
        }

        SpecFingerprint = specFingerprint;
        SaltId = saltId;
        Chunk = chunk;
    }

    /// <summary>The spec's fingerprint: XXH3-64 of the 24 fingerprint bytes of the saved-cache format.</summary>
    public ulong SpecFingerprint { get; }

    /// <summary>The salt id: names the tenant salt and adapter the chunk belongs to, without revealing them.</summary>
    public ulong SaltId { get; }

    /// <summary>The chunk's 128-bit key.</summary>
    public KvChunkKey Chunk { get; }

    /// <summary>
    /// The fingerprint of <paramref name="spec"/>: XXH3-64 (seed 0) of bytes 16-39 of a saved cache's header
    /// (docs/format.md): layers, KV heads, head dim, tokens per block, element type, layout and block size. Equal
    /// specs have equal fingerprints on every host and every version of this format.
    /// </summary>
    /// <param name="spec">The pool's spec.</param>
    /// <returns>The fingerprint.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/> is null.</exception>
    public static ulong GetSpecFingerprint(KvCacheSpec spec) => TierSpecFingerprint.Of(spec).Hash;

    /// <summary>
    /// The salt id of the chains that start at <paramref name="rootKey"/>: its high 64 bits. The root
    /// (<see cref="KvPrefixCache.GetRootKey"/>) is a keyed hash of the deployment secret, the spec, the salt and the
    /// adapter, so the id is stable across hosts that share the secret and tells an outsider nothing about the salt.
    /// </summary>
    /// <param name="rootKey">The root key of the agent's context.</param>
    /// <returns>The salt id.</returns>
    public static ulong GetSaltId(KvChunkKey rootKey) => rootKey.High;

    /// <summary>Writes the text form as ASCII (UTF-8): <see cref="FormattedLength"/> bytes.</summary>
    /// <param name="destination">At least <see cref="FormattedLength"/> bytes.</param>
    /// <returns><see cref="FormattedLength"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short; nothing was written.</exception>
    public int Format(Span<byte> destination)
    {
        if (destination.Length < FormattedLength)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A tier key is {FormattedLength} bytes; the destination has {destination.Length}."), nameof(destination));
        }

        // v1:<16 hex>:<16 hex>:{<32 hex>}
        "v1:"u8.CopyTo(destination);
        WriteHex(destination[3..], SpecFingerprint);
        destination[19] = (byte)':';
        WriteHex(destination[20..], SaltId);
        destination[36] = (byte)':';
        destination[37] = (byte)'{';
        WriteHex(destination[38..], Chunk.High);
        WriteHex(destination[54..], Chunk.Low);
        destination[70] = (byte)'}';
        return FormattedLength;
    }

    /// <summary>The text form, for example <c>v1:1f0e…:9a41…:{0f3a…}</c>.</summary>
    /// <returns>71 characters.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"v1:{SpecFingerprint:x16}:{SaltId:x16}:{{{Chunk}}}");

    /// <inheritdoc/>
    public bool Equals(KvTierKey other) => SpecFingerprint == other.SpecFingerprint && SaltId == other.SaltId && Chunk == other.Chunk;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is KvTierKey other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => Chunk.GetHashCode(); // the chunk key is already a hash of everything else

    /// <summary>Compares two keys.</summary>
    /// <param name="left">A key.</param>
    /// <param name="right">A key.</param>
    /// <returns><see langword="true"/> when they are equal.</returns>
    public static bool operator ==(KvTierKey left, KvTierKey right) => left.Equals(right);

    /// <summary>Compares two keys.</summary>
    /// <param name="left">A key.</param>
    /// <param name="right">A key.</param>
    /// <returns><see langword="true"/> when they differ.</returns>
    public static bool operator !=(KvTierKey left, KvTierKey right) => !left.Equals(right);

    private static void WriteHex(Span<byte> destination, ulong value)
    {
        Span<byte> raw = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64BigEndian(raw, value);
        for (int i = 0; i < raw.Length; i++)
        {
            destination[2 * i] = HexDigit(raw[i] >> 4);
            destination[(2 * i) + 1] = HexDigit(raw[i] & 0xF);
        }
    }

    private static byte HexDigit(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
}
