namespace KvBlockPool;

/// <summary>The handle is older than its block's current generation: the block was freed and handed out again.</summary>
public sealed class StaleBlockHandleException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    internal StaleBlockHandleException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.Stale, message)
    {
    }
}
