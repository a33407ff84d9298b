using System.Collections.Concurrent;
using System.IO.Hashing;
using KvBlockPool.Persistence;

namespace KvBlockPool.Tier;

/// <summary>
/// A spec's fingerprint as the tier stores it: the 24 bytes the saved-cache header gives it (bytes 16-39, see
/// docs/format.md) and their XXH3-64. The bytes come from <see cref="KvCacheFormat.EncodeHeader"/> itself, so the two
/// formats can never disagree on what identifies a spec.
/// </summary>
internal sealed class TierSpecFingerprint
{
    /// <summary>Where the fingerprint starts in a saved cache's header.</summary>
    public const int HeaderOffset = 16;

    /// <summary>Bytes of the fingerprint.</summary>
    public const int Length = 24;

    // A host has one spec, or a handful: computing each once keeps the header encoding (16 KiB at 4096 layers) off every key.
    private static readonly ConcurrentDictionary<KvCacheSpec, TierSpecFingerprint> Cache = new();

    private const int MaxCached = 64;

    private readonly byte[] _bytes;

    private TierSpecFingerprint(KvCacheSpec spec)
    {
        byte[] header = KvCacheFormat.EncodeHeader(spec, default, 0, [], []);
        _bytes = header.AsSpan(HeaderOffset, Length).ToArray();
        Hash = XxHash3.HashToUInt64(_bytes);
    }

    /// <summary>XXH3-64 (seed 0) of <see cref="Bytes"/>: the fingerprint in a tier key.</summary>
    public ulong Hash { get; }

    /// <summary>The 24 bytes, as a value header carries them.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    public static TierSpecFingerprint Of(KvCacheSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Cache.TryGetValue(spec, out TierSpecFingerprint? known))
        {
            return known;
        }

        // Bounded, so a caller cycling through specs cannot grow it without end; past the bound each call computes.
        var computed = new TierSpecFingerprint(spec);
        return Cache.Count < MaxCached ? Cache.GetOrAdd(spec, computed) : computed;
    }
}
