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
    internal InvalidBlockHandleException(KvBlock block, InvalidBlockHandleReason reason, string message)
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
