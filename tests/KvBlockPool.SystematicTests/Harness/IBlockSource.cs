namespace KvBlockPool.SystematicTests.Harness;

/// <summary>
/// The allocation surface a scenario drives. The real pool and the deliberately broken mutants both implement
/// it, so the very scenario that passes on the pool is the one shown to catch the mutant.
/// </summary>
internal interface IBlockSource
{
    int Capacity { get; }

    int AvailableBlocks { get; }

    /// <summary>All <paramref name="count"/> blocks, or <see cref="BlockPoolExhaustedException"/> with nothing changed.</summary>
    KvBlock[] Allocate(AgentId agent, int layer, int count);

    void Free(AgentId agent, ReadOnlySpan<KvBlock> blocks);

    int GetBlockCount(AgentId agent, int layer);

    /// <summary>Null when the source's own bookkeeping is consistent.</summary>
    string? FindInvariantViolation();
}
