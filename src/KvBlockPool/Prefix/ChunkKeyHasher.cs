using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace KvBlockPool.Prefix;

/// <summary>
/// Computes chunk keys: a root per (secret, spec, context), then each chunk's key from its parent's and its token
/// ids. Immutable after construction and safe to share between threads.
/// </summary>
internal sealed class ChunkKeyHasher
{
    /// <summary>Names the key derivation; a change to it must change this string, so old and new keys never meet.</summary>
    private static ReadOnlySpan<byte> Domain => "kvblockpool/prefix-key/1"u8;

    private readonly byte[] _secret;
    private readonly KvChunkHashAlgorithm _algorithm;
    private readonly long _seed;
    private readonly byte[] _specBytes;

    public ChunkKeyHasher(KvPrefixCacheOptions options, KvCacheSpec spec)
        : this(options.HashAlgorithm, options.KeySecret is { } secret ? (byte[])secret.Clone() : RandomNumberGenerator.GetBytes(32), spec)
    {
    }

    private ChunkKeyHasher(KvChunkHashAlgorithm algorithm, byte[] secret, KvCacheSpec spec)
    {
        _algorithm = algorithm;
        _secret = secret;
        _seed = (long)XxHash64.HashToUInt64(_secret);
        _specBytes = EncodeSpec(spec);
        TokensPerChunk = spec.TokensPerBlock;
    }

    /// <summary>The same secret and algorithm for another spec.</summary>
    public ChunkKeyHasher ForSpec(KvCacheSpec spec) => new(_algorithm, _secret, spec);

    public int TokensPerChunk { get; }

    public KvChunkHashAlgorithm Algorithm => _algorithm;

    /// <summary>Checks options before anything is built; the message names the setting.</summary>
    public static void Validate(KvPrefixCacheOptions options)
    {
        if (!Enum.IsDefined(options.HashAlgorithm))
        {
            throw new ArgumentException($"KvPrefixCacheOptions.HashAlgorithm {options.HashAlgorithm} is not defined. Use XxHash128 or HmacSha256.", nameof(options));
        }

        if (!(options.MaxPinnedShare > 0 && options.MaxPinnedShare <= 1))
        {
            throw new ArgumentException($"KvPrefixCacheOptions.MaxPinnedShare is {options.MaxPinnedShare}; give a share of the pool above 0 and at most 1 (0.5 by default).", nameof(options));
        }

        if (options.KeySecret is { } secret && (secret.Length < KvPrefixCacheOptions.MinKeySecretBytes || secret.Length > KvPrefixCacheOptions.MaxKeySecretBytes))
        {
            throw new ArgumentException(
                $"KvPrefixCacheOptions.KeySecret is {secret.Length} bytes; give {KvPrefixCacheOptions.MinKeySecretBytes} to {KvPrefixCacheOptions.MaxKeySecretBytes} random bytes (32 is a good size), or null for a random secret per pool.",
                nameof(options));
        }
    }

    /// <summary>The root every chain of <paramref name="context"/> starts from: the parent of a prompt's first chunk.</summary>
    public KvChunkKey Root(KvPrefixContext context)
    {
        int length = Domain.Length + _specBytes.Length + Measure(context.Salt) + Measure(context.Adapter) + (_algorithm == KvChunkHashAlgorithm.XxHash128 ? _secret.Length : 0);
        Span<byte> input = length <= 512 ? stackalloc byte[length] : new byte[length]; // an admission without a long salt allocates nothing
        Span<byte> writer = input;
        Domain.CopyTo(writer);
        writer = writer[Domain.Length..];
        _specBytes.CopyTo(writer);
        writer = writer[_specBytes.Length..];
        writer = WriteString(writer, context.Salt);
        writer = WriteString(writer, context.Adapter);
        if (_algorithm == KvChunkHashAlgorithm.XxHash128)
        {
            _secret.CopyTo(writer); // HMAC keys itself; XXH128 gets the secret in the root's input as well as in its seed
        }

        return Hash(input);
    }

    /// <summary>
    /// Writes the keys of the full chunks of <paramref name="tokens"/> (its length divided by the chunk size, rounded
    /// down, at most <c>destination.Length</c>) chained from <paramref name="parent"/>; returns how many it wrote.
    /// </summary>
    public int ComputeKeys(KvChunkKey parent, ReadOnlySpan<int> tokens, Span<KvChunkKey> destination)
    {
        int chunk = TokensPerChunk;
        int count = Math.Min(tokens.Length / chunk, destination.Length);
        Span<byte> input = chunk <= 256 ? stackalloc byte[16 + (chunk * sizeof(int))] : new byte[16 + (chunk * sizeof(int))];
        for (int i = 0; i < count; i++)
        {
            parent = Next(parent, tokens.Slice(i * chunk, chunk), input);
            destination[i] = parent;
        }

        return count;
    }

    /// <summary>The key of one chunk after <paramref name="parent"/>.</summary>
    public KvChunkKey Next(KvChunkKey parent, ReadOnlySpan<int> chunkTokens)
    {
        Span<byte> input = chunkTokens.Length <= 256 ? stackalloc byte[16 + (chunkTokens.Length * sizeof(int))] : new byte[16 + (chunkTokens.Length * sizeof(int))];
        return Next(parent, chunkTokens, input);
    }

    private KvChunkKey Next(KvChunkKey parent, ReadOnlySpan<int> chunkTokens, Span<byte> input)
    {
        parent.WriteTo(input);
        Span<byte> tokenBytes = input.Slice(16, chunkTokens.Length * sizeof(int));
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(chunkTokens).CopyTo(tokenBytes);
        }
        else
        {
            for (int i = 0; i < chunkTokens.Length; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(tokenBytes[(i * sizeof(int))..], chunkTokens[i]);
            }
        }

        return Hash(input[..(16 + tokenBytes.Length)]);
    }

    private KvChunkKey Hash(ReadOnlySpan<byte> input)
    {
        if (_algorithm == KvChunkHashAlgorithm.XxHash128)
        {
            UInt128 value = XxHash128.HashToUInt128(input, _seed);
            return new KvChunkKey((ulong)(value >> 64), (ulong)value);
        }

        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_secret, input, mac);
        return KvChunkKey.Read(mac);
    }

    private static byte[] EncodeSpec(KvCacheSpec spec)
    {
        // Everything that changes what a block's bytes mean; the same fields KvCacheSpec.Equals compares.
        var bytes = new byte[6 * sizeof(int)];
        Span<byte> span = bytes;
        BinaryPrimitives.WriteInt32LittleEndian(span, spec.Layers);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], spec.KvHeads);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], spec.HeadDim);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], spec.TokensPerBlock);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], (int)spec.ElementType);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], (int)spec.Layout);
        return bytes;
    }

    private static int Measure(string? value) => sizeof(int) + (value is null ? 0 : Encoding.UTF8.GetByteCount(value));

    private static Span<byte> WriteString(Span<byte> destination, string? value)
    {
        // Length-prefixed (-1 for none), so ("ab", "c") and ("a", "bc") never encode alike.
        if (value is null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination, -1);
            return destination[sizeof(int)..];
        }

        int written = Encoding.UTF8.GetBytes(value, destination[sizeof(int)..]);
        BinaryPrimitives.WriteInt32LittleEndian(destination, written);
        return destination[(sizeof(int) + written)..];
    }
}
