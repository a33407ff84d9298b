namespace KvBlockPool;

/// <summary>An operation that needs an idle pool (such as <see cref="BlockPool.Reconfigure"/>) was refused because blocks are still allocated. Nothing changed.</summary>
public sealed class BlockPoolInUseException : KvBlockPoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong, naming the holders.</param>
    /// <param name="outstandingByAgent">Blocks each agent still holds.</param>
    internal BlockPoolInUseException(string message, IReadOnlyDictionary<AgentId, int> outstandingByAgent)
        : base(message)
    {
        OutstandingByAgent = outstandingByAgent;
    }

    /// <summary>Blocks each agent still held when the operation was refused.</summary>
    public IReadOnlyDictionary<AgentId, int> OutstandingByAgent { get; }
}
