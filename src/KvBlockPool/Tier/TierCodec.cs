using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using KvBlockPool.Prefix;

namespace KvBlockPool.Tier;

/// <summary>
/// Encodes and checks the tier values of one spec (docs/tier-format.md): a header naming the spec, the chunk and a
/// checksum per layer, then one block's bytes per layer. Immutable and safe to share between threads.
/// </summary>
/// <remarks>
/// <b>Nothing reaches a destination before the whole value is checked.</b> <see cref="TryRead"/> verifies the header
/// and hashes every layer in the value's own buffer first; only then does it hand out a <see cref="TierValueReader"/>
/// that copies layers into blocks. A refused value leaves the caller's blocks untouched, so a restore never needs
/// to scrub a half-written block. The cost is a second pass over the value (hash, then copy) instead of the save
/// format's fused copy-and-hash (<c>CopyingXxHash3</c>, which writes a layer before its checksum is known): for a
/// 2 MiB chunk that is a fraction of the network read. The checksum is the save format's, XXH3-64 with seed 0.
/// </remarks>
internal sealed class TierCodec
{
    private readonly TierSpecFingerprint _fingerprint;

    public TierCodec(KvCacheSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        long length = TierValueFormat.HeaderLengthFor(spec.Layers) + ((long)spec.Layers * spec.BytesPerBlock);
        if (length > Array.MaxLength)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"A chunk of this spec ({spec}) is {length} bytes, more than one tier value can hold ({Array.MaxLength}). Use fewer tokens per block."),
                nameof(spec));
        }

        Spec = spec;
        _fingerprint = TierSpecFingerprint.Of(spec);
        HeaderLength = TierValueFormat.HeaderLengthFor(spec.Layers);
        ValueLength = (int)length;
    }

    public KvCacheSpec Spec { get; }

    /// <summary>The fingerprint a <see cref="KvTierKey"/> of this spec carries.</summary>
    public ulong SpecFingerprint => _fingerprint.Hash;

    public int HeaderLength { get; }

    /// <summary>Bytes of every value of this spec: the header and one block per layer.</summary>
    public int ValueLength { get; }

    /// <summary>Starts a value in <paramref name="destination"/> (at least <see cref="ValueLength"/> bytes); the layers follow in order.</summary>
    public TierValueWriter BeginWrite(Span<byte> destination, KvChunkKey key, int tokenCount) => BeginWrite(destination, null, key, tokenCount);

    /// <summary>Starts a value in <paramref name="destination"/>'s next <see cref="ValueLength"/> bytes, advanced by <see cref="TierValueWriter.Complete"/>.</summary>
    public TierValueWriter BeginWrite(IBufferWriter<byte> destination, KvChunkKey key, int tokenCount)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ValidateWrite(key, tokenCount);
        return BeginWrite(destination.GetSpan(ValueLength), destination, key, tokenCount);
    }

    /// <summary>
    /// Checks <paramref name="value"/> completely (every check of docs/tier-format.md, every layer's checksum) as a
    /// value of this spec for <paramref name="key"/>; on success <paramref name="reader"/> copies its layers out.
    /// </summary>
    /// <param name="value">The bytes the store returned.</param>
    /// <param name="key">The chunk the caller asked for.</param>
    /// <param name="reader">The checked value, or default on failure.</param>
    /// <param name="failedLayer">The layer whose checksum failed, or -1.</param>
    /// <returns><see cref="TierValueError.None"/>, or the first check that failed.</returns>
    public TierValueError TryRead(ReadOnlySpan<byte> value, KvChunkKey key, out TierValueReader reader, out int failedLayer)
    {
        reader = default;
        failedLayer = -1;
        TierValueError error = CheckHeader(value, key, out int tokenCount);
        if (error != TierValueError.None)
        {
            return error;
        }

        int layers = Spec.Layers;
        int layerBytes = Spec.BytesPerBlock;
        for (int layer = 0; layer < layers; layer++)
        {
            ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(value[TierValueFormat.LayerChecksumOffset(layers, layer)..]);
            if (XxHash3.HashToUInt64(value.Slice(HeaderLength + (layer * layerBytes), layerBytes)) != stored)
            {
                failedLayer = layer;
                return TierValueError.LayerChecksumMismatch;
            }
        }

        reader = new TierValueReader(value, HeaderLength, layers, layerBytes, tokenCount);
        return TierValueError.None;
    }

    private TierValueError CheckHeader(ReadOnlySpan<byte> value, KvChunkKey key, out int tokenCount)
    {
        tokenCount = 0;
        if (value.IsEmpty)
        {
            return TierValueError.Empty;
        }

        ReadOnlySpan<byte> magic = TierValueFormat.Magic;
        int n = Math.Min(value.Length, magic.Length);
        if (!value[..n].SequenceEqual(magic[..n]))
        {
            return TierValueError.BadMagic; // on whatever bytes there are: a short foreign value is foreign, not truncated
        }

        if (value.Length < TierValueFormat.FixedBytes)
        {
            return TierValueError.Truncated;
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(value[TierValueFormat.VersionOffset..]) != KvTierKey.FormatVersion)
        {
            return TierValueError.UnsupportedVersion;
        }

        // The length is read before the checksum that covers it, so it is only trusted as far as the bounds below.
        uint headerLength = BinaryPrimitives.ReadUInt32LittleEndian(value[TierValueFormat.HeaderLengthOffset..]);
        if (headerLength < TierValueFormat.HeaderLengthFor(1)
            || headerLength > TierValueFormat.HeaderLengthFor(KvCacheSpec.MaxLayers)
            || (headerLength - TierValueFormat.HeaderLengthFor(0)) % TierValueFormat.BytesPerLayerEntry != 0)
        {
            return TierValueError.InvalidHeader;
        }

        if (value.Length < headerLength)
        {
            return TierValueError.Truncated;
        }

        int checksumAt = (int)headerLength - TierValueFormat.ChecksumBytes;
        if (XxHash3.HashToUInt64(value[..checksumAt]) != BinaryPrimitives.ReadUInt64LittleEndian(value[checksumAt..]))
        {
            return TierValueError.HeaderChecksumMismatch;
        }

        // From here on the header is as its writer wrote it: a mismatch is a foreign value or a broken writer, not noise.
        if (!value.Slice(TierValueFormat.FingerprintOffset, TierSpecFingerprint.Length).SequenceEqual(_fingerprint.Bytes))
        {
            return TierValueError.SpecMismatch;
        }

        int layers = Spec.Layers;
        if (BinaryPrimitives.ReadUInt16LittleEndian(value[TierValueFormat.ReservedOffset..]) != 0
            || headerLength != HeaderLength
            || BinaryPrimitives.ReadUInt32LittleEndian(value[TierValueFormat.LayerCountOffset..]) != (uint)layers)
        {
            return TierValueError.InvalidHeader;
        }

        for (int layer = 0; layer < layers; layer++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(value[TierValueFormat.LayerLengthOffset(layer)..]) != (uint)Spec.BytesPerBlock)
            {
                return TierValueError.InvalidHeader; // version 1: a chunk is one block per layer
            }
        }

        uint tokens = BinaryPrimitives.ReadUInt32LittleEndian(value[TierValueFormat.TokenCountOffset..]);
        if (tokens < 1 || tokens > (uint)Spec.TokensPerBlock)
        {
            return TierValueError.InvalidHeader;
        }

        if (KvChunkKey.Read(value[TierValueFormat.ChunkKeyOffset..]) != key)
        {
            return TierValueError.ChunkKeyMismatch;
        }

        if (value.Length < ValueLength)
        {
            return TierValueError.Truncated;
        }

        if (value.Length > ValueLength)
        {
            return TierValueError.TrailingData;
        }

        tokenCount = (int)tokens;
        return TierValueError.None;
    }

    private TierValueWriter BeginWrite(Span<byte> destination, IBufferWriter<byte>? owner, KvChunkKey key, int tokenCount)
    {
        ValidateWrite(key, tokenCount);
        if (destination.Length < ValueLength)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A value of this spec is {ValueLength} bytes; the destination has {destination.Length}."), nameof(destination));
        }

        Span<byte> value = destination[..ValueLength];
        TierValueFormat.Magic.CopyTo(value);
        BinaryPrimitives.WriteUInt16LittleEndian(value[TierValueFormat.VersionOffset..], KvTierKey.FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(value[TierValueFormat.ReservedOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(value[TierValueFormat.HeaderLengthOffset..], (uint)HeaderLength);
        _fingerprint.Bytes.CopyTo(value[TierValueFormat.FingerprintOffset..]);
        key.WriteTo(value[TierValueFormat.ChunkKeyOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(value[TierValueFormat.TokenCountOffset..], (uint)tokenCount);
        BinaryPrimitives.WriteUInt32LittleEndian(value[TierValueFormat.LayerCountOffset..], (uint)Spec.Layers);
        return new TierValueWriter(value, owner, HeaderLength, Spec.Layers, Spec.BytesPerBlock);
    }

    private void ValidateWrite(KvChunkKey key, int tokenCount)
    {
        if (key.IsDefault)
        {
            throw new ArgumentException("The chunk key is default(KvChunkKey), which names no chunk.", nameof(key));
        }

        if (tokenCount < 1 || tokenCount > Spec.TokensPerBlock)
        {
            throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, string.Create(CultureInfo.InvariantCulture, $"A chunk holds 1 to {Spec.TokensPerBlock} tokens."));
        }
    }
}
