namespace KvBlockPool;

/// <summary>What the pool does with a block's bytes when the block is freed.</summary>
public enum BlockClearMode
{
    /// <summary>
    /// Zero every freed block before it can be handed out again (the default). A newly constructed pool's
    /// blocks are zeroed too, so every block a caller receives reads as zeros. One agent's cache can never
    /// be read by the next owner of the block.
    /// </summary>
    ZeroOnFree = 0,

    /// <summary>
    /// Leave freed bytes as they are: a block's initial contents are unspecified. For hosts that always
    /// overwrite a block before reading it and do not need isolation between agents.
    /// </summary>
    None = 1,
}
