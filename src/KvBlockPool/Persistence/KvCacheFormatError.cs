namespace KvBlockPool.Persistence;

/// <summary>Why a saved KV cache was rejected; see <c>docs/format.md</c> for the checks in the order they run.</summary>
public enum KvCacheFormatError
{
    /// <summary>The data ends before the header, a layer's payload or a checksum is complete.</summary>
    Truncated = 0,

    /// <summary>The first eight bytes are not the format's magic: this is not a saved KV cache.</summary>
    BadMagic = 1,

    /// <summary>The major format version is one this library cannot read.</summary>
    UnsupportedVersion = 2,

    /// <summary>The header's XxHash3 checksum does not match its bytes: the header is corrupt.</summary>
    HeaderChecksumMismatch = 3,

    /// <summary>A header field is malformed (an undefined element type, non-zero reserved bytes, a spec that cannot exist, a wrong header length).</summary>
    InvalidHeader = 4,

    /// <summary>A count in the header is implausible (more blocks than a pool can hold, more tokens than the blocks hold, no blocks at all).</summary>
    CountOutOfRange = 5,

    /// <summary>The cache was saved with a different <see cref="KvCacheSpec"/> than the pool it is restored into.</summary>
    SpecMismatch = 6,

    /// <summary>A layer's XxHash3 checksum does not match its payload: the block data is corrupt.</summary>
    LayerChecksumMismatch = 7,

    /// <summary>Bytes follow the last layer's checksum; a saved cache is exactly as long as its header says.</summary>
    TrailingData = 8,
}
