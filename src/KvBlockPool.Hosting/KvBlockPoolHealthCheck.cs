using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace KvBlockPool.Hosting;

/// <summary>
/// Reports a pool's occupancy from its lock-free statistics (never its lock): healthy, degraded from a share of blocks
/// allocated, failed when exhausted or disposed. See <see cref="KvBlockPoolHealthChecksBuilderExtensions.AddKvBlockPoolHealthCheck"/>.
/// </summary>
internal sealed class KvBlockPoolHealthCheck(BlockPool pool, double degradedOccupancy) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(Check(context.Registration.FailureStatus));
    }

    private HealthCheckResult Check(HealthStatus failureStatus)
    {
        BlockPoolStatistics statistics;
        try
        {
            statistics = pool.GetStatistics();
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

        if (statistics.Available == 0)
        {
            return new HealthCheckResult(
                failureStatus,
                Invariant($"Block pool '{pool.Name}' is exhausted: all {statistics.Capacity} blocks are allocated ({statistics.Agents} agent(s)); admissions and appends that need a block are refused until blocks are released."),
                data: data);
        }

        if (occupancy >= degradedOccupancy)
        {
            return HealthCheckResult.Degraded(
                Invariant($"Block pool '{pool.Name}' is {Percent(occupancy)} full ({statistics.Allocated}/{statistics.Capacity} blocks, {statistics.Agents} agent(s)), at or above the {Percent(degradedOccupancy)} threshold."),
                data: data);
        }

        return HealthCheckResult.Healthy(
            Invariant($"Block pool '{pool.Name}': {statistics.Allocated}/{statistics.Capacity} blocks allocated ({Percent(occupancy)}), {statistics.Agents} agent(s)."),
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
