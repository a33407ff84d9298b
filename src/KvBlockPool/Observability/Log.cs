using Microsoft.Extensions.Logging;

namespace KvBlockPool.Observability;

/// <summary>The pool's log messages. Logged outside the gate, never on the hot path.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Block pool '{Pool}' disposed with {Blocks} block(s) still allocated. {Report}")]
    public static partial void PoolDisposedWithLeaks(ILogger logger, string pool, int blocks, string report);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Block pool '{Pool}' found corrupted memory: {Details}")]
    public static partial void BlockCorrupted(ILogger logger, string pool, string details);
}
