using KvBlockPool.Lifecycle;
namespace KvBlockPool.Tests.Lifecycle;

public sealed class AgentCacheManagerEdgeTests
{
    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);

    [Fact]
    public void Admitting_an_admitted_agent_says_it_is_admitted_even_when_it_holds_no_blocks()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 5);
        manager.Admit(Bob, promptTokens: 5);
        manager.Truncate(Bob, 0);

        ArgumentException holding = Assert.Throws<ArgumentException>(() => manager.Admit(Alice, 1));
        ArgumentException empty = Assert.Throws<ArgumentException>(() => manager.TryAdmit(Bob, 1));

        Assert.StartsWith("agent 1 is already admitted.", holding.Message, StringComparison.Ordinal);
        Assert.StartsWith("agent 2 is already admitted.", empty.Message, StringComparison.Ordinal);
        Assert.Equal("agent", empty.ParamName);
        Assert.Equal(0, manager.GetInfo(Bob).Tokens);
    }

    [Fact]
    public void Admitting_an_id_the_pool_holds_outside_the_manager_is_refused_with_the_count()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 4);
        using var manager = new AgentCacheManager(pool);
        pool.Allocate(Alice, layer: 2, count: 3);

        ArgumentException error = Assert.Throws<ArgumentException>(() => manager.Admit(Alice, 1));

        Assert.Contains("The pool already holds 3 block(s) for agent 1, allocated outside this cache manager", error.Message, StringComparison.Ordinal);
        Assert.False(manager.IsAdmitted(Alice));
        Assert.Equal(3, pool.AllocatedBlocks);
    }

    [Fact]
    public void After_a_reconfigure_an_empty_agent_cannot_grow_but_can_be_released_and_new_agents_get_the_new_shape()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 4);
        manager.Release(Alice);                    // a record of the old shape goes back to the object pool
        manager.Admit(Bob, promptTokens: 4);
        manager.Truncate(Bob, 0);                  // admitted, holding nothing: the pool may be reconfigured
        pool.Reconfigure(TestPools.Spec(layers: 2));

        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => manager.Append(Bob));
        Assert.Contains("reconfigured to 2 layers after agent 2 was admitted with 4", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, manager.Release(Bob));

        manager.Admit(Alice, promptTokens: 5);     // a fresh record with 2 layers
        AgentCacheInfo info = manager.GetInfo(Alice);
        Assert.Equal(2, info.Layers);
        Assert.Equal(4, info.TotalBlocks);
        Assert.Equal(4, pool.AllocatedBlocks);
        Assert.Equal(1, manager.Append(Alice, 4)); // 9 tokens: a third block on both layers
        Assert.Equal(6, manager.Release(Alice));
    }

    [Fact]
    public void Disposing_the_manager_after_the_pool_still_reports_the_live_agents()
    {
        BlockPool pool = TestPools.Create(capacity: 32, layers: 4);
        var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 6);
        pool.Dispose();

        manager.Dispose();

        Assert.Equal(8, Assert.Single(manager.LiveAgentsAtDispose!).Value);
        Assert.Equal(0, manager.AgentCount);
    }

    [Fact]
    public void Agent_cache_info_compares_by_value_and_describes_the_last_block()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 6);
        AgentCacheInfo first = manager.GetInfo(Alice);
        AgentCacheInfo same = manager.GetInfo(Alice);
        manager.Append(Alice);
        AgentCacheInfo grown = manager.GetInfo(Alice);

        Assert.True(first == same);
        Assert.False(first != same);
        Assert.True(first.Equals((object)same));
        Assert.Equal(first.GetHashCode(), same.GetHashCode());
        Assert.True(first != grown);
        Assert.False(first.Equals("agent 1"));
        Assert.Equal((2, 2), (first.LastBlockTokens, first.FreeSlotsInLastBlock));
        Assert.Equal((3, 1), (grown.LastBlockTokens, grown.FreeSlotsInLastBlock));
        Assert.Equal(4, first.TokensPerBlock);
        Assert.Equal(0, default(AgentCacheInfo).FreeSlotsInLastBlock);
    }
}
