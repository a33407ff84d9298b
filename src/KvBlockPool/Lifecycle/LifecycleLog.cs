using Microsoft.Extensions.Logging;

namespace KvBlockPool.Lifecycle;

/// <summary>The lifecycle layer's log messages. Logged outside every lock.</summary>
internal static partial class LifecycleLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Release of {Agent}, which the cache manager does not know (never admitted, already released, or admitted elsewhere). The pool held {Blocks} block(s) for that id; they were reclaimed.")]
    public static partial void UnknownAgentReleased(ILogger logger, AgentId agent, int blocks);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Release of {Agent} freed {Freed} block(s) where the cache manager accounted for {Expected}: blocks were allocated or freed for this id outside the manager.")]
    public static partial void ReleaseCountMismatch(ILogger logger, AgentId agent, int freed, int expected);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Agent cache manager disposed with {Agents} agent(s) still admitted, holding {Blocks} block(s); they were released. {Report}")]
    public static partial void DisposedWithLiveAgents(ILogger logger, int agents, int blocks, string report);
}
