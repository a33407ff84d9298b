namespace KvBlockPool;

/// <summary>Why a <see cref="KvBlock"/> handle was refused.</summary>
public enum InvalidBlockHandleReason
{
    /// <summary>The handle was not issued by this pool's current configuration: another pool, <c>default</c>, or from before a reconfigure.</summary>
    ForeignPool = 0,

    /// <summary>The block was freed after this handle was issued and has been handed out again since.</summary>
    Stale = 1,

    /// <summary>The block was already freed (and not reused), or the same handle appears twice in one request.</summary>
    DoubleFree = 2,

    /// <summary>The block is held, but by another agent, another layer, or an uncommitted allocation scope.</summary>
    NotOwned = 3,

    /// <summary>The block belongs to a cached prefix chunk, shared read-only (<see cref="SharedBlockException"/>).</summary>
    Shared = 4,
}
