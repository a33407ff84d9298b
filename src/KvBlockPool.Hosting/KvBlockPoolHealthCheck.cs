using System.Globalization;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace KvBlockPool.Hosting;

/// <summary>
/// Reports a pool's occupancy: healthy, degraded from a share of blocks in use, failed when exhausted or disposed. See
/// <see cref="KvBlockPoolHealthChecksBuilderExtensions.AddKvBlockPoolHealthCheck"/>.
/// </summary>
/// <remarks>
/// The pool's counters are read without its lock. With a prefix cache, the blocks of cached chunks no agent holds count
/// as available in them (an admission evicts such chunks when it needs their blocks), so a cache that keeps the pool
/// full is healthy; the check reports how many there are, which takes the pool's lock for three counters, as the
/// cache's metrics do. With a shared tier, a store the client has lost degrades the check: admissions then compute
/// what they would have restored.
/// </remarks>
internal sealed class KvBlockPoolHealthCheck(BlockPool pool, double degradedOccupancy, TierConnection? tier) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(Check(context.Registration.FailureStatus));
    }

    private HealthCheckResult Check(HealthStatus failureStatus)
    {
        BlockPoolStatistics statistics;
        KvPrefixCacheStatistics? cache;
        KvTierStatistics? offload;
        try
        {
            statistics = pool.GetStatistics();
            cache = pool.PrefixCache?.GetStatistics();
            offload = pool.GetTierStatistics();
        }
        catch (ObjectDisposedException)
        {
            return Disposed(failureStatus);
        }

        double occupancy = (double)statistics.Allocated / statistics.Capacity;
        var data = new Dictionary<string, object>
        {
            ["pool"] = pool.Name,
            ["capacity"] = statistics.Capacity,
            ["allocated"] = statistics.Allocated,
            ["available"] = statistics.Available,
            ["occupancy"] = occupancy,
            ["agents"] = statistics.Agents,
            ["highWaterMark"] = statistics.HighWaterMark,
            ["overhead"] = statistics.Overhead,
            ["nativeBytes"] = pool.NativeBytes,
        };
        string cached = string.Empty;
        if (cache is { } figures)
        {
            data["cachedBlocks"] = figures.CachedBlocks;
            data["evictableBlocks"] = figures.EvictableBlocks;
            cached = Invariant($"; {figures.EvictableBlocks} of the available blocks hold cached chunks, evicted when needed");
        }

        RedisKvChunkStore? store = tier?.Store;
        if (offload is { } tierFigures)
        {
            data["tierOffloaded"] = tierFigures.Offloaded;
            data["tierNotOffloaded"] = tierFigures.NotOffloaded;
            data["tierRestored"] = tierFigures.Restored;
            data["tierRejected"] = tierFigures.Rejected;
            if (store is not null)
            {
                data["tierConnected"] = store.IsConnected;
            }
        }

        if (statistics.Available == 0)
        {
            return new HealthCheckResult(
                failureStatus,
                Invariant($"Block pool '{pool.Name}' is exhausted: all {statistics.Capacity} blocks are in use ({statistics.Agents} agent(s)); admissions and appends that need a block are refused until blocks are released."),
                data: data);
        }

        if (occupancy >= degradedOccupancy)
        {
            return HealthCheckResult.Degraded(
                Invariant($"Block pool '{pool.Name}' is {Percent(occupancy)} full ({statistics.Allocated}/{statistics.Capacity} blocks in use, {statistics.Agents} agent(s)), at or above the {Percent(degradedOccupancy)} threshold{cached}."),
                data: data);
        }

        if (store is { IsConnected: false })
        {
            return HealthCheckResult.Degraded(
                Invariant($"Block pool '{pool.Name}' lost its shared tier ({store.Name}): admissions compute the prefixes they would restore and chunks are not offloaded until the client reconnects, which it does by itself."),
                data: data);
        }

        return HealthCheckResult.Healthy(
            Invariant($"Block pool '{pool.Name}': {statistics.Allocated}/{statistics.Capacity} blocks in use ({Percent(occupancy)}), {statistics.Agents} agent(s){cached}."),
            data);
    }

    private HealthCheckResult Disposed(HealthStatus failureStatus)
    {
        int leaked = pool.LeakReport?.TotalBlocks ?? 0;
        var data = new Dictionary<string, object> { ["pool"] = pool.Name, ["disposed"] = true, ["leakedBlocks"] = leaked };
        return new HealthCheckResult(
            failureStatus,
            Invariant($"Block pool '{pool.Name}' is disposed{(leaked > 0 ? $" with {leaked} blocks still allocated" : string.Empty)}."),
            data: data);
    }

    private static string Percent(double share) => (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
