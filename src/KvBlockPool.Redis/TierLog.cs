using Microsoft.Extensions.Logging;

namespace KvBlockPool.Redis;

/// <summary>
/// The tier's log messages. Connection changes are logged once each, at Warning and Information; a failed call is
/// logged at Debug (a store that is down fails every call, and the metrics count them), except a refusal by the
/// server, which is a configuration problem (memory, permissions) and logged at Warning. No message carries the password.
/// </summary>
internal static partial class TierLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "KV tier '{Tier}' connected to {EndPoints}.")]
    public static partial void Connected(ILogger logger, string tier, string endPoints);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "KV tier '{Tier}' lost its connection to {EndPoint} ({FailureType}); its calls are misses until it reconnects.")]
    public static partial void ConnectionLost(ILogger logger, string tier, string endPoint, string failureType, Exception? exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "KV tier '{Tier}' reconnected to {EndPoint}.")]
    public static partial void ConnectionRestored(ILogger logger, string tier, string endPoint);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "KV tier '{Tier}' {Operation} of {Key}: a miss ({Reason}).")]
    public static partial void CallFailed(ILogger logger, string tier, string operation, string key, string reason, Exception? exception);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "KV tier '{Tier}' refused a {Operation} of {Key}: {Error}")]
    public static partial void CallRejected(ILogger logger, string tier, string operation, string key, string error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "KV tier '{Tier}' could not connect: {Error}")]
    public static partial void ConnectFailed(ILogger logger, string tier, string error);
}
