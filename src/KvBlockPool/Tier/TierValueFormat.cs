namespace KvBlockPool.Tier;

/// <summary>The byte layout of a tier value's header (docs/tier-format.md is the reference). All integers are little-endian.</summary>
internal static class TierValueFormat
{
    /// <summary>"KVCHUNK" and a zero byte.</summary>
    public static ReadOnlySpan<byte> Magic => "KVCHUNK\0"u8;

    public const int VersionOffset = 8;
    public const int ReservedOffset = 10;
    public const int HeaderLengthOffset = 12;
    public const int FingerprintOffset = 16;
    public const int ChunkKeyOffset = FingerprintOffset + TierSpecFingerprint.Length; // 40
    public const int TokenCountOffset = ChunkKeyOffset + 16; // 56
    public const int LayerCountOffset = TokenCountOffset + sizeof(uint); // 60

    /// <summary>Bytes before the per-layer lengths; also the least a reader needs to find the header's length.</summary>
    public const int FixedBytes = LayerCountOffset + sizeof(uint); // 64

    public const int ChecksumBytes = sizeof(ulong);

    /// <summary>Per layer: a u32 byte length and a u64 XXH3-64.</summary>
    public const int BytesPerLayerEntry = sizeof(uint) + ChecksumBytes;

    public static int HeaderLengthFor(int layers) => FixedBytes + (layers * BytesPerLayerEntry) + ChecksumBytes;

    public static int LayerLengthOffset(int layer) => FixedBytes + (layer * sizeof(uint));

    public static int LayerChecksumOffset(int layers, int layer) => FixedBytes + (layers * sizeof(uint)) + (layer * ChecksumBytes);
}
