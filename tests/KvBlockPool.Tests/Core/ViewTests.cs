namespace KvBlockPool.Tests.Core;

public sealed class ViewTests
{
    private static readonly AgentId Agent = new(5);

    [Fact]
    public void A_view_is_a_snapshot_of_every_layer_in_order()
    {
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 3);
        KvBlock[] all = pool.AllocateAllLayers(Agent, 2);
        KvBlock extra = pool.Allocate(Agent, 1);
        AgentBlocks view = pool.GetAgentBlocks(Agent);
        Assert.Equal(Agent, view.Agent);
        Assert.Equal((3, 7, false), (view.LayerCount, view.TotalBlocks, view.IsEmpty));
        Assert.Equal([2, 3, 6], view.GetBlockIds(1).ToArray());
        Assert.Equal(extra, view.GetBlock(1, 2));
        Assert.Equal([all[2], all[3], extra], view.GetBlocks(1));

        pool.FreeAgent(Agent);
        Assert.Equal(7, view.TotalBlocks); // the snapshot does not follow
        Assert.Throws<DoubleFreeException>(() => pool.Free(Agent, view.GetBlock(0, 0)));
    }

    [Fact]
    public void A_view_of_an_unknown_agent_is_empty()
    {
        using BlockPool pool = TestPools.Create(layers: 3);
        AgentBlocks view = pool.GetAgentBlocks(Agent);
        Assert.True(view.IsEmpty);
        Assert.Equal((3, 0), (view.LayerCount, view.TotalBlocks));
        Assert.Equal(0, view.GetBlockIds(2).Length);
        Assert.Empty(view.GetBlocks(0));
    }

    [Fact]
    public void A_view_rejects_out_of_range_layers_and_indices()
    {
        using BlockPool pool = TestPools.Create();
        pool.Allocate(Agent, 0, 2);
        AgentBlocks view = pool.GetAgentBlocks(Agent);
        Assert.Contains("Layer must be between 0 and 1", Assert.Throws<ArgumentOutOfRangeException>(() => view.GetBlockIds(2)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => view.GetBlockCount(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => view.GetBlocks(5));
        Assert.Equal("index", Assert.Throws<ArgumentOutOfRangeException>(() => view.GetBlock(0, 2)).ParamName);
        Assert.Equal("index", Assert.Throws<ArgumentOutOfRangeException>(() => view.GetBlock(0, -1)).ParamName);
        Assert.Equal(0, view.GetBlockCount(1));
    }

    [Fact]
    public void CopyBlockIds_writes_the_layer_table_without_allocating()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        pool.Allocate(Agent, 1, 3);
        Span<int> table = stackalloc int[4];
        table.Fill(-1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = pool.CopyBlockIds(Agent, 1, table);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(3, written);
        Assert.Equal([0, 1, 2, -1], table.ToArray());
        Assert.Equal(0, pool.CopyBlockIds(Agent, 0, table));
        Assert.Equal(0, pool.CopyBlockIds(new AgentId(99), 0, table));
    }

    [Fact]
    public void CopyBlockIds_rejects_a_short_table_or_bad_layer_and_writes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        pool.Allocate(Agent, 0, 3);
        int[] table = [7, 7];
        var error = PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => pool.CopyBlockIds(Agent, 0, table), "The destination holds 2 entries; 3 are needed. Nothing was written.");
        Assert.Equal("destination", error.ParamName);
        Assert.Equal([7, 7], table);
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.CopyBlockIds(Agent, 2, table), "Layer must be between 0 and 1");
    }

    [Fact]
    public void Counts_per_agent_and_per_layer()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        pool.Allocate(Agent, 0, 2);
        pool.Allocate(Agent, 1);
        pool.Allocate(new AgentId(6), 1, 3);
        Assert.Equal(3, pool.GetBlockCount(Agent));
        Assert.Equal(2, pool.GetBlockCount(Agent, 0));
        Assert.Equal(0, pool.GetBlockCount(new AgentId(99)));
        Assert.Equal(0, pool.GetBlockCount(new AgentId(99), 1));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.GetBlockCount(Agent, 2), "Layer must be between 0 and 1");
        IReadOnlyDictionary<AgentId, int> counts = pool.GetBlockCountsByAgent();
        Assert.Equal(2, counts.Count);
        Assert.Equal((3, 3), (counts[Agent], counts[new AgentId(6)]));
        Assert.True(pool.ContainsAgent(Agent));
        Assert.False(pool.ContainsAgent(new AgentId(99)));
    }
}
