namespace KvBlockPool.Tier;

/// <summary>
/// Why a tier value was refused, in the order the reader checks (docs/tier-format.md). Any value but
/// <see cref="None"/> is a miss: nothing of the value reaches a block.
/// </summary>
internal enum TierValueError
{
    /// <summary>Every check passed.</summary>
    None = 0,

    /// <summary>The value has no bytes.</summary>
    Empty,

    /// <summary>The value does not start with the magic <c>KVCHUNK\0</c>: not a tier value.</summary>
    BadMagic,

    /// <summary>The value ends before its header or its payload does.</summary>
    Truncated,

    /// <summary>Written in a format version this reader does not know.</summary>
    UnsupportedVersion,

    /// <summary>The header's length field is impossible, or its checksummed fields contradict each other or the spec.</summary>
    InvalidHeader,

    /// <summary>The header's bytes do not hash to its stored checksum: corrupt.</summary>
    HeaderChecksumMismatch,

    /// <summary>A well-formed value of another spec (another model, element type, layout or block size).</summary>
    SpecMismatch,

    /// <summary>A well-formed value of another chunk: stored under the wrong key.</summary>
    ChunkKeyMismatch,

    /// <summary>Bytes follow the last layer.</summary>
    TrailingData,

    /// <summary>A layer's bytes do not hash to the checksum the header gives for it: corrupt.</summary>
    LayerChecksumMismatch,
}
