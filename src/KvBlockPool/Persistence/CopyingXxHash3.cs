using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace KvBlockPool.Persistence;

/// <summary>
/// XXH3-64 (seed 0, default secret: the checksum of the format, equal to <see cref="XxHash3"/>) computed while the
/// hashed bytes are copied to their destination, in one pass: each 64-byte stripe is loaded once, stored to the
/// destination and folded into the accumulators. A restore copies every byte it hashes, so fusing the two saves a
/// second pass over the data; measured on a 512 MiB restore it is what brings the restore to the plain-read floor.
/// </summary>
/// <remarks>
/// <para>
/// The algorithm follows the XXH3 specification (Cyan4973/xxHash, doc/xxhash_spec.md, "large inputs"): eight
/// accumulators, 64-byte stripes, a scramble after every 16 stripes, and the input's last 64 bytes folded with the
/// secret at offset 121 at the end. Streaming keeps the last 1-64 bytes seen unprocessed (they may be the final
/// stripe) and a copy of the last stripe processed (the final stripe may overlap it). Inputs of at most 240 bytes
/// use other formulas; they are buffered and hashed by <see cref="XxHash3.HashToUInt64(ReadOnlySpan{byte}, long)"/>.
/// </para>
/// <para>
/// The fused loop needs AVX2 (<see cref="IsAccelerated"/>). Without it, the class hashes with
/// <see cref="XxHash3"/> and copies separately: same result, two passes. Destinations aligned to 32 bytes get
/// non-temporal stores (restored blocks are not read again soon, so they should not evict the cache); a store
/// fence at the end of each call orders them before anything the caller publishes afterwards.
/// </para>
/// </remarks>
[SkipLocalsInit]
internal sealed unsafe class CopyingXxHash3
{
    private const int StripeBytes = 64;
    private const int StripesPerBlock = 16;
    private const int ShortInputMaxBytes = 240;
    private const int SecretConsumeRate = 8;
    private const int ScrambleSecretOffset = 128;
    private const int LastStripeSecretOffset = 121;
    private const int MergeSecretOffset = 11;

    private const uint Prime32_1 = 0x9E3779B1U;
    private const ulong Prime32_2 = 0x85EBCA77UL;
    private const ulong Prime32_3 = 0xC2B2AE3DUL;
    private const ulong Prime64_1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime64_2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime64_3 = 0x165667B19E3779F9UL;
    private const ulong Prime64_4 = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime64_5 = 0x27D4EB2F165667C5UL;
    private const ulong PrimeMx1 = 0x165667919E3779F9UL;

    /// <summary>Swaps the two 64-bit lanes of each 128-bit half: lane i's data is added to accumulator i ^ 1.</summary>
    private const byte SwapLanes = 0b01_00_11_10;

    private readonly bool _fused;
    private readonly XxHash3? _fallback;

    // Inputs of up to 240 bytes hash by other formulas, so nothing is processed until the input is longer.
    private readonly byte[] _short = new byte[ShortInputMaxBytes];
    private readonly byte[] _pending = new byte[StripeBytes];
    private readonly byte[] _previous = new byte[StripeBytes];
    private Vector256<ulong> _accLow;
    private Vector256<ulong> _accHigh;
    private long _length;
    private int _pendingLength;
    private int _stripe;

    /// <summary>Creates a hasher that fuses the copy when the CPU allows it.</summary>
    public CopyingXxHash3()
        : this(allowFused: true)
    {
    }

    /// <summary>Creates a hasher; <paramref name="allowFused"/> = <see langword="false"/> forces the two-pass fallback (tests).</summary>
    internal CopyingXxHash3(bool allowFused)
    {
        _fused = allowFused && IsAccelerated;
        _fallback = _fused ? null : new XxHash3();
        Reset();
    }

    /// <summary>Whether this CPU runs the fused one-pass loop (AVX2).</summary>
    public static bool IsAccelerated => Avx2.IsSupported;

    /// <summary>The XXH3 default secret, from the specification.</summary>
    private static ReadOnlySpan<byte> Secret =>
    [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
        0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
        0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
        0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
        0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
        0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
        0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
        0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
        0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
        0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
        0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
        0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];

    /// <summary>The secret's address: data of the image, which never moves.</summary>
    private static byte* SecretAddress => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(Secret));

    /// <summary>Starts a new input.</summary>
    public void Reset()
    {
        _fallback?.Reset();
        _accLow = Vector256.Create(Prime32_3, Prime64_1, Prime64_2, Prime64_3);
        _accHigh = Vector256.Create(Prime64_4, Prime32_2, Prime64_5, Prime32_1);
        _length = 0;
        _pendingLength = 0;
        _stripe = 0;
    }

    /// <summary>Copies <paramref name="length"/> bytes from <paramref name="source"/> to <paramref name="destination"/> and appends them to the input.</summary>
    /// <remarks>The ranges must not overlap. Every byte is in place when the call returns (stores fenced).</remarks>
    public void CopyAndAppend(byte* source, byte* destination, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!_fused)
        {
            _fallback!.Append(new ReadOnlySpan<byte>(source, length));
            Buffer.MemoryCopy(source, destination, length, length);
            return;
        }

        if (_length + length <= ShortInputMaxBytes)
        {
            new ReadOnlySpan<byte>(source, length).CopyTo(_short.AsSpan((int)_length));
            Buffer.MemoryCopy(source, destination, length, length);
            _length += length;
            return;
        }

        if (_length is > 0 and <= ShortInputMaxBytes)
        {
            // The input just became long: the bytes held back are hashed first (they were copied when they came).
            fixed (byte* buffered = _short)
            {
                Feed(buffered, null, (int)_length);
            }
        }

        _length += length;
        Feed(source, destination, length);
        Sse.StoreFence();
    }

    /// <summary>The XXH3-64 of everything appended since the last <see cref="Reset"/>; the input can go on.</summary>
    public ulong GetCurrentHashAsUInt64()
    {
        if (!_fused)
        {
            return _fallback!.GetCurrentHashAsUInt64();
        }

        if (_length <= ShortInputMaxBytes)
        {
            return XxHash3.HashToUInt64(_short.AsSpan(0, (int)_length));
        }

        // The input's last 64 bytes: the tail of the last stripe processed, then the bytes held back.
        byte* last = stackalloc byte[StripeBytes];
        int fromPrevious = StripeBytes - _pendingLength;
        _previous.AsSpan(_pendingLength).CopyTo(new Span<byte>(last, fromPrevious));
        _pending.AsSpan(0, _pendingLength).CopyTo(new Span<byte>(last + fromPrevious, _pendingLength));
        Vector256<ulong> accLow = _accLow;
        Vector256<ulong> accHigh = _accHigh;
        byte* secret = SecretAddress;
        Accumulate(ref accLow, ref accHigh, Avx.LoadVector256((ulong*)last), Avx.LoadVector256((ulong*)(last + 32)), secret + LastStripeSecretOffset);
        return Merge(accLow, accHigh, secret + MergeSecretOffset, (ulong)_length * Prime64_1);
    }

    /// <summary>
    /// Processes every whole stripe of the input except the last 1-64 bytes, which are held back in
    /// <see cref="_pending"/>; copies all <paramref name="length"/> bytes unless <paramref name="destination"/> is null.
    /// </summary>
    private void Feed(byte* source, byte* destination, int length)
    {
        fixed (byte* pending = _pending)
        fixed (byte* previous = _previous)
        {
            if (_pendingLength + length <= StripeBytes)
            {
                Hold(source, destination, length, pending + _pendingLength);
                _pendingLength += length;
                return;
            }

            if (_pendingLength > 0)
            {
                // Complete the held-back stripe; more input follows it, so it is not the last.
                int fill = StripeBytes - _pendingLength;
                Hold(source, destination, fill, pending + _pendingLength);
                source += fill;
                destination = destination == null ? null : destination + fill;
                length -= fill;
                Stripes<NoStore>(pending, null, 1);
                Buffer.MemoryCopy(pending, previous, StripeBytes, StripeBytes);
            }

            int stripes = (length - 1) / StripeBytes; // at least one byte stays behind
            if (destination == null)
            {
                Stripes<NoStore>(source, null, stripes);
            }
            else if (((nuint)destination & 31) == 0)
            {
                Stripes<NonTemporalStore>(source, destination, stripes);
            }
            else
            {
                Stripes<PlainStore>(source, destination, stripes);
            }

            int done = stripes * StripeBytes;
            if (stripes > 0)
            {
                Buffer.MemoryCopy(source + done - StripeBytes, previous, StripeBytes, StripeBytes);
            }

            _pendingLength = length - done;
            Hold(source + done, destination == null ? null : destination + done, _pendingLength, pending);
        }
    }

    private static void Hold(byte* source, byte* destination, int length, byte* pending)
    {
        Buffer.MemoryCopy(source, pending, length, length);
        if (destination != null)
        {
            Buffer.MemoryCopy(source, destination, length, length);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code is slow before tier 1, and a restore is over before tiering would catch up
    private void Stripes<TStore>(byte* source, byte* destination, int count)
        where TStore : struct, IStripeStore
    {
        Vector256<ulong> accLow = _accLow;
        Vector256<ulong> accHigh = _accHigh;

        // acc[i ^ 1] += data[i] is linear, so the data is summed as it comes and swapped into the accumulators once
        // per block (before the scramble) instead of once per stripe: one shuffle fewer per 32 bytes.
        Vector256<ulong> sumLow = Vector256<ulong>.Zero;
        Vector256<ulong> sumHigh = Vector256<ulong>.Zero;
        byte* secret = SecretAddress;
        int stripe = _stripe;
        for (int i = 0; i < count; i++)
        {
            Vector256<ulong> low = Avx.LoadVector256((ulong*)source);
            Vector256<ulong> high = Avx.LoadVector256((ulong*)(source + 32));
            default(TStore).Store(destination, low, high); // a struct per mode: the JIT compiles each loop with its store inlined
            byte* key = secret + (stripe * SecretConsumeRate);
            Vector256<ulong> keyedLow = low ^ Avx.LoadVector256((ulong*)key);
            Vector256<ulong> keyedHigh = high ^ Avx.LoadVector256((ulong*)(key + 32));
            accLow += Avx2.Multiply(keyedLow.AsUInt32(), Avx2.ShiftRightLogical(keyedLow, 32).AsUInt32());
            accHigh += Avx2.Multiply(keyedHigh.AsUInt32(), Avx2.ShiftRightLogical(keyedHigh, 32).AsUInt32());
            sumLow += low;
            sumHigh += high;
            source += StripeBytes;
            destination += StripeBytes;
            if (++stripe == StripesPerBlock)
            {
                // Stripes are processed only when more input follows, so a full block is never the last one.
                accLow = Scramble(accLow + Swap(sumLow), secret + ScrambleSecretOffset);
                accHigh = Scramble(accHigh + Swap(sumHigh), secret + ScrambleSecretOffset + 32);
                sumLow = Vector256<ulong>.Zero;
                sumHigh = Vector256<ulong>.Zero;
                stripe = 0;
            }
        }

        _accLow = accLow + Swap(sumLow);
        _accHigh = accHigh + Swap(sumHigh);
        _stripe = stripe;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Swap(Vector256<ulong> data) => Avx2.Shuffle(data.AsUInt32(), SwapLanes).AsUInt64();

    /// <summary>acc[i ^ 1] += data[i]; acc[i] += low32(data[i] ^ key[i]) * high32(data[i] ^ key[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(ref Vector256<ulong> accLow, ref Vector256<ulong> accHigh, Vector256<ulong> low, Vector256<ulong> high, byte* key)
    {
        Vector256<ulong> keyedLow = low ^ Avx.LoadVector256((ulong*)key);
        Vector256<ulong> keyedHigh = high ^ Avx.LoadVector256((ulong*)(key + 32));
        accLow += Avx2.Multiply(keyedLow.AsUInt32(), Avx2.ShiftRightLogical(keyedLow, 32).AsUInt32()) + Swap(low);
        accHigh += Avx2.Multiply(keyedHigh.AsUInt32(), Avx2.ShiftRightLogical(keyedHigh, 32).AsUInt32()) + Swap(high);
    }

    /// <summary>acc = (acc ^ (acc &gt;&gt; 47) ^ key) * PRIME32_1, the 64-by-32-bit product built from two 32-bit ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Scramble(Vector256<ulong> acc, byte* key)
    {
        acc ^= Avx2.ShiftRightLogical(acc, 47);
        acc ^= Avx.LoadVector256((ulong*)key);
        Vector256<uint> prime = Vector256.Create(Prime32_1);
        Vector256<ulong> lowProduct = Avx2.Multiply(acc.AsUInt32(), prime);
        Vector256<ulong> highProduct = Avx2.Multiply(Avx2.ShiftRightLogical(acc, 32).AsUInt32(), prime);
        return lowProduct + Avx2.ShiftLeftLogical(highProduct, 32);
    }

    private static ulong Merge(Vector256<ulong> accLow, Vector256<ulong> accHigh, byte* key, ulong result)
    {
        ulong* acc = stackalloc ulong[8];
        Avx.Store(acc, accLow);
        Avx.Store(acc + 4, accHigh);
        for (int i = 0; i < 4; i++)
        {
            ulong left = acc[2 * i] ^ Unsafe.ReadUnaligned<ulong>(key + (16 * i));
            ulong right = acc[(2 * i) + 1] ^ Unsafe.ReadUnaligned<ulong>(key + (16 * i) + 8);
            ulong upper = Math.BigMul(left, right, out ulong lower);
            result += lower ^ upper;
        }

        result ^= result >> 37;
        result *= PrimeMx1;
        return result ^ (result >> 32);
    }

    /// <summary>Where a processed stripe goes: nowhere (hash only), a plain store, or a non-temporal one.</summary>
    private interface IStripeStore
    {
        void Store(byte* destination, Vector256<ulong> low, Vector256<ulong> high);
    }

    private readonly struct NoStore : IStripeStore
    {
        public void Store(byte* destination, Vector256<ulong> low, Vector256<ulong> high)
        {
        }
    }

    private readonly struct PlainStore : IStripeStore
    {
        public void Store(byte* destination, Vector256<ulong> low, Vector256<ulong> high)
        {
            Avx.Store((ulong*)destination, low);
            Avx.Store((ulong*)(destination + 32), high);
        }
    }

    /// <summary>Needs a 32-byte-aligned destination.</summary>
    private readonly struct NonTemporalStore : IStripeStore
    {
        public void Store(byte* destination, Vector256<ulong> low, Vector256<ulong> high)
        {
            Avx.StoreAlignedNonTemporal((ulong*)destination, low);
            Avx.StoreAlignedNonTemporal((ulong*)(destination + 32), high);
        }
    }
}
