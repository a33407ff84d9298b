using System.Globalization;
using KvBlockPool.Prefix;

namespace KvBlockPool.Tier;

/// <summary>
/// Connects a pool's prefix cache to a shared tier (see <see cref="KvPrefixCacheOptions.Tier"/> and
/// <c>docs/tier.md</c>): every chunk the pool publishes is written to <see cref="Store"/> in the background
/// (write-through), and an admission through <c>AgentCacheManager.AdmitAsync</c> restores the prompt's next chunks from
/// the store when the pool does not hold them.
/// </summary>
/// <remarks>
/// Write-through is the only mode: a chunk reaches the tier as soon as it is computed, so another host can reuse it
/// while the first still holds it, and nothing has to be copied out in the short window of an eviction (a write-back
/// tier would have to hold an evicted chunk's blocks until its copy is sent, delaying the allocation that evicted it).
/// The pool never waits on the store under its lock, and never disposes the store: the host owns it.
/// </remarks>
public sealed class KvTierOptions
{
    /// <summary>The most reads a restore may have in flight at once.</summary>
    public const int MaxReadsInFlightLimit = 64;

    /// <summary>The store the tier lives in, for example <c>KvBlockPool.Redis.RedisKvChunkStore</c>. Required.</summary>
    public IKvChunkStore? Store { get; set; }

    /// <summary>
    /// How long an admission may wait for the tier, all reads together; what has not arrived by then is computed.
    /// More than 0, at most 1 minute; 250 ms by default.
    /// </summary>
    public TimeSpan RestoreTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Reads a restore keeps in flight at once (pipelined on the store's connection): 1 to <see cref="MaxReadsInFlightLimit"/>; 4 by default.</summary>
    public int MaxReadsInFlight { get; set; } = 4;

    /// <summary>
    /// Published chunks waiting to be written to the tier: 1 to <see cref="KvPrefixCache.MaxSubscriptionCapacity"/>;
    /// 1,024 by default. When the store falls this far behind, further chunks are not offloaded (and counted), rather
    /// than held in memory.
    /// </summary>
    public int OffloadQueueCapacity { get; set; } = 1024;

    /// <summary>Checks the options before the pool takes anything; the message names the setting.</summary>
    internal static void Validate(KvTierOptions options)
    {
        if (options.Store is null)
        {
            throw new ArgumentException("KvTierOptions.Store is null. Give the tier a store, for example a RedisKvChunkStore.", nameof(options));
        }

        if (!(options.RestoreTimeout > TimeSpan.Zero && options.RestoreTimeout <= TimeSpan.FromMinutes(1)))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"KvTierOptions.RestoreTimeout is {options.RestoreTimeout}; give more than 0 and at most 1 minute (250 ms by default)."), nameof(options));
        }

        if (options.MaxReadsInFlight is < 1 or > MaxReadsInFlightLimit)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"KvTierOptions.MaxReadsInFlight is {options.MaxReadsInFlight}; give 1 to {MaxReadsInFlightLimit} (4 by default)."), nameof(options));
        }

        if (options.OffloadQueueCapacity is < 1 or > KvPrefixCache.MaxSubscriptionCapacity)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"KvTierOptions.OffloadQueueCapacity is {options.OffloadQueueCapacity}; give 1 to {KvPrefixCache.MaxSubscriptionCapacity} (1024 by default)."), nameof(options));
        }
    }
}
