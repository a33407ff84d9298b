namespace KvBlockPool.Tier;

/// <summary>
/// The outcome of one call to an <see cref="IKvChunkStore"/>. Only <see cref="Ok"/> is a success; every other value
/// is a miss (for a read) or a chunk not stored (for a write) that the caller handles by computing or skipping, never
/// an exception.
/// </summary>
public enum KvChunkStoreStatus
{
    /// <summary>Done: the value was read (and written to the caller's buffer), stored, found to exist, or deleted.</summary>
    Ok = 0,

    /// <summary>The store holds no value under the key (never written, expired or evicted).</summary>
    NotFound = 1,

    /// <summary>The store did not answer within the store's operation timeout.</summary>
    TimedOut = 2,

    /// <summary>The caller's cancellation token (its deadline) fired first; the caller's buffer was not touched.</summary>
    Canceled = 3,

    /// <summary>No connection to the store: down, unreachable, or lost during the call. The store reconnects by itself.</summary>
    Unavailable = 4,

    /// <summary>The store answered with an error: out of memory, no permission for the key, a read-only replica.</summary>
    Rejected = 5,

    /// <summary>The value is larger than the store accepts to read or write (its configured limit).</summary>
    TooLarge = 6,

    /// <summary>Any other failure; the store's log says what it was.</summary>
    Failed = 7,
}
