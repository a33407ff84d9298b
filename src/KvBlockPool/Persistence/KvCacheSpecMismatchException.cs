namespace KvBlockPool.Persistence;

/// <summary>
/// A saved KV cache was made with a different <see cref="KvCacheSpec"/> than the pool asked to restore it: its
/// bytes would be meaningless there. Nothing was allocated; the message names both specs.
/// </summary>
public sealed class KvCacheSpecMismatchException : KvCacheFormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="savedSpec">The spec recorded in the saved cache.</param>
    /// <param name="poolSpec">The spec of the pool it was to be restored into.</param>
    /// <param name="message">What is wrong, naming both specs.</param>
    internal KvCacheSpecMismatchException(KvCacheSpec savedSpec, KvCacheSpec poolSpec, string message)
        : base(KvCacheFormatError.SpecMismatch, 0, message)
    {
        SavedSpec = savedSpec;
        PoolSpec = poolSpec;
    }

    /// <summary>The spec recorded in the saved cache.</summary>
    public KvCacheSpec SavedSpec { get; }

    /// <summary>The spec of the pool the cache was to be restored into.</summary>
    public KvCacheSpec PoolSpec { get; }
}
