namespace KvBlockPool.SystematicTests.Harness;

/// <summary>The real pool as an <see cref="IBlockSource"/>.</summary>
internal sealed class PoolBlockSource(BlockPool pool) : IBlockSource
{
    public int Capacity => pool.Capacity;

    public int AvailableBlocks => pool.AvailableBlocks;

    public KvBlock[] Allocate(AgentId agent, int layer, int count) => pool.Allocate(agent, layer, count);

    public void Free(AgentId agent, ReadOnlySpan<KvBlock> blocks) => pool.Free(agent, blocks);

    public int GetBlockCount(AgentId agent, int layer) => pool.GetBlockCount(agent, layer);

    public string? FindInvariantViolation() => pool.FindInvariantViolation();
}
