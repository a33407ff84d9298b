namespace KvBlockPool;

/// <summary>The handle was not issued by this pool's current configuration (another pool, <c>default</c>, or from before a reconfigure).</summary>
public sealed class ForeignBlockHandleException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    internal ForeignBlockHandleException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.ForeignPool, message)
    {
    }
}
