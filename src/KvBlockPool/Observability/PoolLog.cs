using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvBlockPool.Observability;

/// <summary>One pool's logger and name, so every message names the pool it is about.</summary>
internal sealed class PoolLog(ILogger logger, string poolName)
{
    /// <summary>A log that writes nothing, for pools built without a logger factory.</summary>
    public static PoolLog Silent(string poolName) => new(NullLogger.Instance, poolName);

    public void BlockCorrupted(string details) => Log.BlockCorrupted(logger, poolName, details);

    public void DisposedWithLeaks(BlockLeakReport report) => Log.PoolDisposedWithLeaks(logger, poolName, report.TotalBlocks, report.ToString());
}
