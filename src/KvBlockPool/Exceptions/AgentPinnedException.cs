namespace KvBlockPool;

/// <summary>
/// A free of an agent's blocks was refused because the agent is pinned: a save is reading its blocks, and a
/// freed block could be handed to another agent and overwritten while the save still reads it. Nothing changed.
/// Retry once the save has finished (a save holds its pin only while it runs).
/// </summary>
public sealed class AgentPinnedException : KvBlockPoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="agent">The pinned agent.</param>
    /// <param name="pins">How many pins the agent held when the free was refused.</param>
    /// <param name="message">What was refused and what to do.</param>
    internal AgentPinnedException(AgentId agent, int pins, string message)
        : base(message)
    {
        Agent = agent;
        Pins = pins;
    }

    /// <summary>The pinned agent.</summary>
    public AgentId Agent { get; }

    /// <summary>How many pins (saves in progress) the agent held when the free was refused.</summary>
    public int Pins { get; }
}
