namespace KvBlockPool;

/// <summary>
/// Diagnostics mode found a block's memory corrupted. For <see cref="BlockCorruptionKind.WriteAfterFree"/>,
/// found when the block was about to be handed out, the allocation was refused and nothing changed (the block
/// was re-poisoned so the report is made once). For <see cref="BlockCorruptionKind.Overrun"/>, found when the
/// block was freed, the free did take effect (the guard was restored) and this reports the overrun.
/// </summary>
public sealed class BlockCorruptionException : KvBlockPoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">What was corrupted.</param>
    /// <param name="blockId">The block whose memory was corrupted.</param>
    /// <param name="owner">The block's owner, or last owner for a write after free.</param>
    /// <param name="layer">The owner's layer for the block.</param>
    /// <param name="byteOffset">Offset of the first corrupted byte from the block's start.</param>
    /// <param name="message">The full report.</param>
    internal BlockCorruptionException(BlockCorruptionKind kind, int blockId, AgentId owner, int layer, int byteOffset, string message)
        : base(message)
    {
        Kind = kind;
        BlockId = blockId;
        Owner = owner;
        Layer = layer;
        ByteOffset = byteOffset;
    }

    /// <summary>What was corrupted.</summary>
    public BlockCorruptionKind Kind { get; }

    /// <summary>The block whose memory was corrupted.</summary>
    public int BlockId { get; }

    /// <summary>The block's owner when it was corrupted (its last owner, for a write after free).</summary>
    public AgentId Owner { get; }

    /// <summary>The layer the block was allocated for.</summary>
    public int Layer { get; }

    /// <summary>Offset of the first corrupted byte from the block's start (past <see cref="KvCacheSpec.BytesPerBlock"/> for an overrun).</summary>
    public int ByteOffset { get; }
}
