namespace KvBlockPool;

/// <summary>The block was already freed, or the same handle appears twice in one request.</summary>
public sealed class DoubleFreeException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    internal DoubleFreeException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.DoubleFree, message)
    {
    }
}
