namespace KvBlockPool;

/// <summary>
/// A <see cref="KvBlock"/> handle was refused. The derived type (and <see cref="Reason"/>) says why. The pool
/// and every block named in the request are unchanged.
/// </summary>
public class InvalidBlockHandleException : KvBlockPoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="reason">Why it was refused.</param>
    /// <param name="message">What went wrong and what to do.</param>
    public InvalidBlockHandleException(KvBlock block, InvalidBlockHandleReason reason, string message)
        : base(message)
    {
        Block = block;
        Reason = reason;
    }

    /// <summary>The refused handle.</summary>
    public KvBlock Block { get; }

    /// <summary>Why the handle was refused.</summary>
    public InvalidBlockHandleReason Reason { get; }
}

/// <summary>The handle was not issued by this pool's current configuration (another pool, <c>default</c>, or from before a reconfigure).</summary>
public sealed class ForeignBlockHandleException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    public ForeignBlockHandleException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.ForeignPool, message)
    {
    }
}

/// <summary>The handle is older than its block's current generation: the block was freed and handed out again.</summary>
public sealed class StaleBlockHandleException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    public StaleBlockHandleException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.Stale, message)
    {
    }
}

/// <summary>The block was already freed, or the same handle appears twice in one request.</summary>
public sealed class DoubleFreeException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    public DoubleFreeException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.DoubleFree, message)
    {
    }
}

/// <summary>The block is allocated, but not to the agent and layer the request named.</summary>
public sealed class BlockOwnershipException : InvalidBlockHandleException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="block">The refused handle.</param>
    /// <param name="message">What went wrong.</param>
    public BlockOwnershipException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.NotOwned, message)
    {
    }
}
