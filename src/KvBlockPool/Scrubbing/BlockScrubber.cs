using System.Diagnostics;
using System.Runtime.CompilerServices;
using KvBlockPool.Core;
using KvBlockPool.Observability;

namespace KvBlockPool.Scrubbing;

/// <summary>
/// What the pool does to block memory around a block's lifetime: how slabs start, what a freed block's bytes
/// go through (outside the gate) before the block is free again, and what is checked or recorded when blocks
/// are handed out and freed. Chosen once when the pool is built (<see cref="Create"/>), so the pool's paths call
/// it without branching on the clear mode or diagnostics (only the diagnostic scrubber watches blocks; see
/// <see cref="WatchesBlocks"/>).
/// </summary>
/// <remarks>Every member except <see cref="Scrub"/> and <see cref="CaptureAllocationStack"/> runs under the pool's gate.</remarks>
internal abstract class BlockScrubber
{
    /// <summary>The scrubber for a pool's settings, sized for <paramref name="capacity"/> blocks.</summary>
    public static BlockScrubber Create(BlockClearMode clearMode, bool diagnostics, int capacity, PoolLog log) =>
        diagnostics ? new DiagnosticScrubber(clearMode == BlockClearMode.ZeroOnFree, capacity, log)
        : clearMode == BlockClearMode.ZeroOnFree ? ZeroingScrubber.Instance
        : KeepingScrubber.Instance;

    /// <summary>Whether a freed block's bytes need work outside the gate before the block can be free again.</summary>
    public abstract bool ScrubsOnFree { get; }

    /// <summary>The byte every block's data is filled with when its slabs are allocated, if any.</summary>
    public abstract byte? SlabFill { get; }

    /// <summary>
    /// Whether this scrubber watches blocks as they are handed out and freed (diagnostics). The hooks below are
    /// non-virtual and test this flag first, so a pool that watches nothing pays one predictable branch per hook,
    /// not a virtual call per block: measured, a no-op virtual call per freed block cost an all-layer admission of
    /// 256 blocks about a fifth of its time.
    /// </summary>
    protected bool WatchesBlocks { get; init; }

    /// <summary>Whether leak reports can name where blocks were allocated.</summary>
    public bool RecordsAllocationStacks => WatchesBlocks;

    /// <summary>A scrubber of the same kind for a new configuration of <paramref name="capacity"/> blocks (built before the switch, so a failure changes nothing).</summary>
    public virtual BlockScrubber ForCapacity(int capacity) => this;

    /// <summary>Called before the gate is taken by an allocation; the stack to record for its blocks, or null (not watching, or this call not sampled).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public StackTrace? CaptureAllocationStack() => WatchesBlocks ? CaptureStack() : null;

    /// <summary>Checks (and prepares) the <paramref name="count"/> blocks the next allocation will take from the top of the free stack; throws to refuse it, with nothing changed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeforeHandout(BlockTable table, int count)
    {
        if (WatchesBlocks)
        {
            CheckBeforeHandout(table, count);
        }
    }

    /// <summary>
    /// Records blocks just handed out to <paramref name="owner"/>, with the stack captured before the gate (if this
    /// call was sampled); <paramref name="firstForOwner"/> says the owner held nothing before.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnAllocated(ReadOnlySpan<KvBlock> blocks, StackTrace? stack, OwnerRecord owner, bool firstForOwner)
    {
        if (WatchesBlocks)
        {
            RecordAllocated(blocks, stack, owner, firstForOwner);
        }
    }

    /// <summary>Records a block just freed by <paramref name="owner"/> on <paramref name="layer"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnFreed(int id, AgentId owner, int layer)
    {
        if (WatchesBlocks)
        {
            RecordFreed(id, owner, layer);
        }
    }

    /// <summary>The stack of an allocation, for a scrubber that <see cref="WatchesBlocks"/>.</summary>
    protected virtual StackTrace? CaptureStack() => null;

    /// <summary>The check of <see cref="BeforeHandout"/>, for a scrubber that <see cref="WatchesBlocks"/>.</summary>
    protected virtual void CheckBeforeHandout(BlockTable table, int count)
    {
    }

    /// <summary>The record of <see cref="OnAllocated"/>, for a scrubber that <see cref="WatchesBlocks"/>.</summary>
    protected virtual void RecordAllocated(ReadOnlySpan<KvBlock> blocks, StackTrace? stack, OwnerRecord owner, bool firstForOwner)
    {
    }

    /// <summary>The record of <see cref="OnFreed"/>, for a scrubber that <see cref="WatchesBlocks"/>.</summary>
    protected virtual void RecordFreed(int id, AgentId owner, int layer)
    {
    }

    /// <summary>Where a block still allocated was allocated, or null if not recorded.</summary>
    public virtual StackTrace? AllocatedAt(int id) => null;

    /// <summary>Outside the gate: makes a freed block's bytes ready for the next owner; returns corruption found in them, if any.</summary>
    public abstract BlockCorruptionException? Scrub(NativeSlabs slabs, int id, AgentId owner, int layer);
}
