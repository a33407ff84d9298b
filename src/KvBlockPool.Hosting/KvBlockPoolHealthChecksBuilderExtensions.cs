using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace KvBlockPool.Hosting;

/// <summary>Adds the pool's health check to a host's health checks.</summary>
public static class KvBlockPoolHealthChecksBuilderExtensions
{
    /// <summary>The health check's name when none is given.</summary>
    public const string DefaultName = "kvblockpool";

    /// <summary>
    /// Adds a health check of the <see cref="BlockPool"/> registered by <c>AddKvBlockPool</c>: <see cref="HealthStatus.Healthy"/>
    /// below <paramref name="degradedOccupancy"/>, <see cref="HealthStatus.Degraded"/> at or above it (or when the
    /// shared tier's connection is lost), and <paramref name="failureStatus"/> when no block is available (admissions
    /// and appends that need a block are refused) or the pool is disposed. Blocks of cached chunks no agent uses are
    /// available: an admission evicts them when it needs them. Its data: pool, capacity, allocated, available,
    /// occupancy (of blocks in use), agents, highWaterMark, overhead and nativeBytes; with a prefix cache cachedBlocks
    /// and evictableBlocks; with a tier tierOffloaded, tierNotOffloaded, tierRestored, tierRejected and tierConnected;
    /// a disposed pool reports disposed and leakedBlocks instead.
    /// </summary>
    /// <param name="builder">The host's health checks.</param>
    /// <param name="name">The check's name; <see cref="DefaultName"/> by default.</param>
    /// <param name="degradedOccupancy">The share of blocks in use (above 0, at most 1) from which the pool reports Degraded; 0.9 by default.</param>
    /// <param name="failureStatus">The status of an exhausted or disposed pool; <see cref="HealthStatus.Unhealthy"/> when null.</param>
    /// <param name="tags">Tags to filter checks by, for example to serve them on a readiness endpoint.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="degradedOccupancy"/> is not above 0 and at most 1.</exception>
    public static IHealthChecksBuilder AddKvBlockPoolHealthCheck(
        this IHealthChecksBuilder builder,
        string name = DefaultName,
        double degradedOccupancy = 0.9,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(name);
        if (!(degradedOccupancy > 0 && degradedOccupancy <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(degradedOccupancy), degradedOccupancy, "The occupancy from which the pool reports Degraded is a share of its blocks: above 0 and at most 1 (0.9 for 90%).");
        }

        return builder.Add(new HealthCheckRegistration(
            name,
            services => new KvBlockPoolHealthCheck(services.GetRequiredService<BlockPool>(), degradedOccupancy, services.GetService<TierConnection>()),
            failureStatus,
            tags));
    }
}
