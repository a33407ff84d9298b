namespace KvBlockPool;

/// <summary>The block is allocated, but not to the agent and layer the request named.</summary>
public sealed class BlockOwnershipException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    internal BlockOwnershipException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.NotOwned, message)
    {
    }
}
