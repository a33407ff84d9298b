namespace KvBlockPool;

/// <summary>What diagnostics mode found wrong with a block's memory.</summary>
public enum BlockCorruptionKind
{
    /// <summary>A freed block's poison pattern was overwritten: something wrote to it after it was freed.</summary>
    WriteAfterFree = 0,

    /// <summary>The guard bytes after a block were overwritten: something wrote past the block's end.</summary>
    Overrun = 1,
}
