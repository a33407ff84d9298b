namespace KvBlockPool.Prefix;

/// <summary>
/// Bugs the systematic tests plant on purpose (through an internal test hook) to prove their scenarios can catch
/// them. <see cref="None"/> in every pool a host builds.
/// </summary>
internal enum PrefixMutant
{
    /// <summary>The real code.</summary>
    None = 0,

    /// <summary>Eviction takes a chunk agents still reference.</summary>
    EvictReferenced = 1,

    /// <summary>A release drops its chunk references after leaving the gate.</summary>
    DereferenceOutsideGate = 2,

    /// <summary>Eviction leaves the chunk's key in the index.</summary>
    KeyLeftInIndex = 3,

    /// <summary>A truncation inside a shared chunk gives the agent a fresh block without copying the chunk's bytes.</summary>
    CopyOnWriteWithoutCopy = 4,

    /// <summary>A copy of a cached chunk's bytes reads them without holding the chunk, so it may be evicted and reused meanwhile.</summary>
    CopyChunkWithoutHold = 5,
}
