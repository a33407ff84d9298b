using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;

namespace KvBlockPool.Persistence;

/// <summary>
/// The byte layout of a saved cache's header (docs/format.md is the reference): encoding, and decoding in the
/// order that lets every check run before anything is allocated.
/// </summary>
internal static class KvCacheFormat
{
    public const ushort MajorVersion = 1;
    public const ushort MinorVersion = 2;

    /// <summary>The first minor version whose header carries the agent's token ids (after the per-layer counts).</summary>
    public const ushort TokenIdsMinorVersion = 2;

    /// <summary>
    /// The most token ids a header may carry (64 MiB of them): bounds what a reader allocates for a header before its
    /// checksum can be verified, far above any context window a model serves.
    /// </summary>
    public const int MaxTokenIds = 1 << 24;

    /// <summary>Bytes of the header before the per-layer block counts.</summary>
    public const int FixedBytes = 56;

    /// <summary>How many extension bytes a header of a newer minor version may carry (skipped, but checksummed).</summary>
    public const int MaxExtensionBytes = 64 * 1024;

    public const int ChecksumBytes = sizeof(ulong);

    /// <summary>"KVCACHE" and a zero byte.</summary>
    public static ReadOnlySpan<byte> Magic => "KVCACHE\0"u8;

    /// <summary>The length of a 1.0 or 1.1 header, which has no extension.</summary>
    public static int HeaderLengthFor(int layers) => FixedBytes + (layers * sizeof(uint)) + ChecksumBytes;

    /// <summary>The length of a 1.2 header carrying <paramref name="tokenIds"/> token ids.</summary>
    public static int HeaderLengthFor(int layers, int tokenIds) => HeaderLengthFor(layers) + sizeof(uint) + (tokenIds * sizeof(int));

    /// <summary>
    /// Encodes a header of the current version. <paramref name="tokenIds"/> is empty (ids unknown) or holds exactly
    /// <paramref name="tokenCount"/> ids, each 0 or more, at most <see cref="MaxTokenIds"/> (the caller checked).
    /// </summary>
    public static byte[] EncodeHeader(KvCacheSpec spec, AgentId agent, long tokenCount, ReadOnlySpan<int> blocksPerLayer, ReadOnlySpan<int> tokenIds)
    {
        int length = HeaderLengthFor(spec.Layers, tokenIds.Length);
        var header = new byte[length];
        Span<byte> span = header;
        Magic.CopyTo(span);
        BinaryPrimitives.WriteUInt16LittleEndian(span[8..], MajorVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(span[10..], MinorVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(span[16..], (uint)spec.Layers);
        BinaryPrimitives.WriteUInt32LittleEndian(span[20..], (uint)spec.KvHeads);
        BinaryPrimitives.WriteUInt32LittleEndian(span[24..], (uint)spec.HeadDim);
        BinaryPrimitives.WriteUInt32LittleEndian(span[28..], (uint)spec.TokensPerBlock);
        span[32] = (byte)spec.ElementType;
        span[33] = (byte)spec.Layout; // 1.1: the layout inside a block half (0, head-major, is what 1.0 files hold)
        BinaryPrimitives.WriteUInt32LittleEndian(span[36..], (uint)spec.BytesPerBlock);
        BinaryPrimitives.WriteInt64LittleEndian(span[40..], agent.Value);
        BinaryPrimitives.WriteInt64LittleEndian(span[48..], tokenCount);
        for (int layer = 0; layer < blocksPerLayer.Length; layer++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span[(FixedBytes + (layer * sizeof(uint)))..], (uint)blocksPerLayer[layer]);
        }

        // 1.2: the token ids, so a restore can key the agent's full chunks again and publish them to a prefix cache.
        Span<byte> ids = span[(FixedBytes + (spec.Layers * sizeof(uint)))..];
        BinaryPrimitives.WriteUInt32LittleEndian(ids, (uint)tokenIds.Length);
        for (int i = 0; i < tokenIds.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(ids[(sizeof(uint) + (i * sizeof(int)))..], tokenIds[i]);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span[(length - ChecksumBytes)..], XxHash3.HashToUInt64(span[..(length - ChecksumBytes)]));
        return header;
    }

    /// <summary>
    /// Checks the magic on the bytes available so far, so that a short file of the wrong kind is reported as
    /// such rather than as truncated.
    /// </summary>
    public static void CheckMagic(ReadOnlySpan<byte> start)
    {
        int n = Math.Min(start.Length, Magic.Length);
        if (!start[..n].SequenceEqual(Magic[..n]))
        {
            throw new KvCacheFormatException(
                KvCacheFormatError.BadMagic,
                0,
                $"This is not a saved KV cache: it starts with {Convert.ToHexString(start[..n])}, not the magic {Convert.ToHexString(Magic)} (\"KVCACHE\").");
        }
    }

    /// <summary>Reads the version and the header length from the fixed part; refuses an unknown major version at once.</summary>
    /// <returns>The header length, checked against the layer count so that no absurd header is read.</returns>
    public static int DecodeHeaderLength(ReadOnlySpan<byte> fixedPart)
    {
        CheckMagic(fixedPart);
        ushort major = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[8..]);
        ushort minor = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[10..]);
        if (major != MajorVersion)
        {
            throw new KvCacheFormatException(
                KvCacheFormatError.UnsupportedVersion,
                8,
                Invariant($"The cache was saved in format version {major}.{minor}; this library reads major version {MajorVersion} only. Restore it with the library version that saved it, or save it again."));
        }

        uint layers = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[16..]);
        if (layers < 1 || layers > KvCacheSpec.MaxLayers)
        {
            throw new KvCacheFormatException(
                KvCacheFormatError.CountOutOfRange,
                16,
                Invariant($"The header claims {layers} layers; a spec has 1 to {KvCacheSpec.MaxLayers}."));
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[12..]);
        long least;
        long most;
        if (minor < TokenIdsMinorVersion)
        {
            least = most = HeaderLengthFor((int)layers);
        }
        else
        {
            // The token ids are as many as the header's token count says (or none), and at most MaxTokenIds; a newer
            // minor may append up to MaxExtensionBytes after them. The count is checked against the ids once read.
            long tokens = Math.Clamp(BinaryPrimitives.ReadInt64LittleEndian(fixedPart[48..]), 0, MaxTokenIds);
            least = HeaderLengthFor((int)layers, 0);
            most = least + (tokens * sizeof(int)) + (minor > MinorVersion ? MaxExtensionBytes : 0);
        }

        if (length < least || length > most)
        {
            throw new KvCacheFormatException(
                KvCacheFormatError.InvalidHeader,
                12,
                Invariant($"The header claims to be {length} bytes long; version {major}.{minor} with {layers} layers needs {least}{(most > least ? Invariant($" to {most}") : string.Empty)}."));
        }

        return (int)length;
    }

    /// <summary>Verifies the header checksum, then every field. Nothing has been allocated when this throws.</summary>
    public static KvCacheHeader DecodeHeader(ReadOnlySpan<byte> header)
    {
        int length = header.Length;
        ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(header[(length - ChecksumBytes)..]);
        ulong computed = XxHash3.HashToUInt64(header[..(length - ChecksumBytes)]);
        if (stored != computed)
        {
            throw new KvCacheFormatException(
                KvCacheFormatError.HeaderChecksumMismatch,
                length - ChecksumBytes,
                Invariant($"The header is corrupt: its checksum is 0x{stored:x16} but its bytes hash to 0x{computed:x16}."));
        }

        int major = BinaryPrimitives.ReadUInt16LittleEndian(header[8..]);
        int minor = BinaryPrimitives.ReadUInt16LittleEndian(header[10..]);
        int layers = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        byte element = header[32];
        if (!Enum.IsDefined((KvElementType)element))
        {
            throw Invalid(32, Invariant($"The element type {element} is not defined."));
        }

        byte layout = header[33];
        if (layout is not (byte)KvBlockLayout.HeadMajor and not (byte)KvBlockLayout.TokenMajor)
        {
            throw Invalid(33, Invariant($"The block layout {layout} is not defined."));
        }

        if (header[34] != 0 || header[35] != 0)
        {
            throw Invalid(34, "Reserved header bytes 34 and 35 are not zero.");
        }

        KvCacheSpec spec;
        try
        {
            spec = new KvCacheSpec(
                layers,
                ToInt(header, 20),
                ToInt(header, 24),
                ToInt(header, 28),
                (KvElementType)element,
                (KvBlockLayout)layout);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw Invalid(16, "The header describes a spec that cannot exist: " + ex.Message);
        }

        uint bytesPerBlock = BinaryPrimitives.ReadUInt32LittleEndian(header[36..]);
        if (bytesPerBlock != spec.BytesPerBlock)
        {
            throw Invalid(36, Invariant($"The header says a block is {bytesPerBlock} bytes, but its spec ({spec}) makes it {spec.BytesPerBlock}."));
        }

        var agent = new AgentId(BinaryPrimitives.ReadInt64LittleEndian(header[40..]));
        long tokens = BinaryPrimitives.ReadInt64LittleEndian(header[48..]);
        var counts = new int[layers];
        long total = 0;
        int maxCount = 0;
        for (int layer = 0; layer < layers; layer++)
        {
            int at = FixedBytes + (layer * sizeof(uint));
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(header[at..]);
            total += count;
            if (count > int.MaxValue || total > int.MaxValue)
            {
                throw OutOfRange(at, Invariant($"The header claims {count} blocks on layer {layer} ({total} so far); no pool holds more than {int.MaxValue} blocks."));
            }

            counts[layer] = (int)count;
            maxCount = Math.Max(maxCount, (int)count);
        }

        if (total == 0)
        {
            throw OutOfRange(FixedBytes, "The header claims no blocks on any layer; a saved cache holds at least one.");
        }

        long maxTokens = (long)maxCount * spec.TokensPerBlock;
        if (tokens < 0 || tokens > maxTokens)
        {
            throw OutOfRange(48, Invariant($"The header claims {tokens} tokens; its blocks hold 0 to {maxTokens} ({maxCount} blocks of {spec.TokensPerBlock} tokens on the longest layer)."));
        }

        int[] tokenIds = minor >= TokenIdsMinorVersion ? DecodeTokenIds(header, layers, minor, tokens) : [];
        return new KvCacheHeader(major, minor, length, spec, agent, tokens, counts, tokenIds, stored);
    }

    /// <summary>1.2's token ids: none, or exactly the header's token count of them, each 0 or more, filling the header (1.2) or leaving a newer minor's extension after them.</summary>
    private static int[] DecodeTokenIds(ReadOnlySpan<byte> header, int layers, int minor, long tokens)
    {
        int at = FixedBytes + (layers * sizeof(uint));
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(header[at..]);
        if (count != 0 && count != tokens)
        {
            throw Invalid(at, Invariant($"The header carries {count} token ids for {tokens} tokens; it must carry none or one per token."));
        }

        long end = at + sizeof(uint) + ((long)count * sizeof(int));
        long available = header.Length - ChecksumBytes;
        if (minor == TokenIdsMinorVersion ? end != available : end > available)
        {
            throw Invalid(at, Invariant($"The header's {count} token ids end at byte {end}, but its extension ends at byte {available}."));
        }

        var ids = new int[count];
        for (int i = 0; i < ids.Length; i++)
        {
            int id = BinaryPrimitives.ReadInt32LittleEndian(header[(at + sizeof(uint) + (i * sizeof(int)))..]);
            if (id < 0)
            {
                throw Invalid(at + sizeof(uint) + (i * sizeof(int)), Invariant($"Token id {i} is {id}; token ids are 0 or more."));
            }

            ids[i] = id;
        }

        return ids;
    }

    public static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static int ToInt(ReadOnlySpan<byte> header, int at)
    {
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(header[at..]);
        return value > int.MaxValue ? -1 : (int)value; // -1 is refused by the spec with its own message
    }

    private static KvCacheFormatException Invalid(long offset, string message) =>
        new(KvCacheFormatError.InvalidHeader, offset, "The header is invalid. " + message);

    private static KvCacheFormatException OutOfRange(long offset, string message) =>
        new(KvCacheFormatError.CountOutOfRange, offset, message + " Nothing was allocated.");
}
