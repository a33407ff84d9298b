namespace KvBlockPool;

/// <summary>
/// The pool could not allocate its native slabs. Whatever part had been allocated was freed before this was
/// thrown: no pool exists (on construction), or the old configuration is still in force (on reconfigure).
/// </summary>
public sealed class NativeAllocationException : KvBlockPoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was asked and what failed.</param>
    /// <param name="requestedBytes">Total native bytes the pool asked for.</param>
    /// <param name="innerException">The allocator's failure, if any.</param>
    internal NativeAllocationException(string message, long requestedBytes, Exception? innerException)
        : base(message, innerException!)
    {
        RequestedBytes = requestedBytes;
    }

    /// <summary>Total native bytes the pool asked for.</summary>
    public long RequestedBytes { get; }
}
