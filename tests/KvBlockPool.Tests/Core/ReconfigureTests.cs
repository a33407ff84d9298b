namespace KvBlockPool.Tests.Core;

public sealed class ReconfigureTests
{
    private static readonly AgentId Agent = new(21);

    [Fact]
    public void Reconfigure_switches_the_spec_keeps_the_block_count_and_starts_fresh()
    {
        using BlockPool pool = TestPools.Create(capacity: 6, layers: 2);
        KvBlock old = pool.Allocate(Agent, 1);
        pool.GetBlockSpan(old).Fill(3);
        pool.FreeAgent(Agent);
        KvCacheSpec wider = TestPools.Spec(layers: 4, kvHeads: 4);
        pool.Reconfigure(wider);

        Assert.Equal(wider, pool.Spec);
        Assert.Equal((6, 6, 0, 0), (pool.Capacity, pool.AvailableBlocks, pool.AllocatedBlocks, pool.HighWaterMark));
        Assert.Equal(6 * 512, pool.NativeBytes);
        KvBlock fresh = pool.Allocate(Agent, 3);
        Assert.Equal((0, 1u), (fresh.Id, fresh.Generation));
        Assert.Equal(512, pool.GetBlockSpan(fresh).Length);
        Assert.Equal(-1, pool.GetBlockSpan(fresh).IndexOfAnyExcept((byte)0));
        Assert.Throws<ForeignBlockHandleException>(() => pool.GetBlockSpan(old));
        Assert.Equal(512, pool.GetStatistics().BytesPerBlock);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Reconfigure_with_a_byte_budget_recomputes_the_capacity()
    {
        using BlockPool pool = TestPools.Create(capacityBytes: 4096);
        Assert.Equal(16, pool.Capacity);
        pool.Reconfigure(TestPools.Spec(layers: 1, kvHeads: 4)); // 512-byte blocks
        Assert.Equal(8, pool.Capacity);
        Assert.Equal(4096, pool.NativeBytes);
    }

    [Fact]
    public void Reconfigure_while_agents_hold_blocks_names_them_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 32);
        for (int agent = 1; agent <= 12; agent++)
        {
            pool.Allocate(new AgentId(agent), 0, agent == 1 ? 2 : 1);
        }

        var error = PoolAssert.ThrowsAndChangesNothing<BlockPoolInUseException>(
            pool, () => pool.Reconfigure(TestPools.Spec(3)), "cannot be reconfigured while blocks are allocated: 13 block(s) held by agent 1 (2)", "and 2 more agents", "Free every agent", "Nothing changed");
        Assert.Equal(12, error.OutstandingByAgent.Count);
        Assert.Equal(2, error.OutstandingByAgent[new AgentId(1)]);
    }

    [Fact]
    public void Reconfigure_to_a_spec_the_options_cannot_hold_throws_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacityBytes: 1024);
        PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => pool.Reconfigure(KvCacheSpec.Llama3_8B()), "CapacityBytes 1024 does not hold even one block");
        Assert.Equal("spec", PoolAssert.ThrowsAndChangesNothing<ArgumentNullException>(pool, () => pool.Reconfigure(null!)).ParamName);
    }

    [Fact]
    public void A_failed_native_allocation_keeps_the_old_configuration_working()
    {
        var allocator = new FailingAllocator(throwOutOfMemory: false, 3);
        using BlockPool pool = TestPools.Create(capacity: 4, blocksPerSlab: 2, allocator: allocator); // calls 1 and 2
        KvBlock block = pool.Allocate(Agent, 0);
        pool.Free(Agent, block);
        PoolAssert.ThrowsAndChangesNothing<NativeAllocationException>(pool, () => pool.Reconfigure(TestPools.Spec(3)), "Could not allocate native slab 1 of 2");
        Assert.Equal(2, allocator.Live);
        Assert.Equal(TestPools.Spec(2), pool.Spec);
        KvBlock again = pool.Allocate(Agent, 1);
        pool.GetBlockSpan(again).Fill(1);
        PoolAssert.Invariants(pool);
        pool.FreeAgent(Agent);
        pool.Reconfigure(TestPools.Spec(3)); // calls 4 and 5 succeed; the old slabs are freed
        Assert.Equal(2, allocator.Live);
    }

    [Fact]
    public void Reconfigure_to_fewer_or_more_layers_repacks_the_owner_words()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 1);
        for (int agent = 0; agent < 40; agent++)
        {
            pool.Allocate(new AgentId(agent), 0);
        }

        for (int agent = 0; agent < 40; agent++)
        {
            pool.FreeAgent(new AgentId(agent));
        }

        pool.Reconfigure(new KvCacheSpec(KvCacheSpec.MaxLayers, 1, 1, 1, KvElementType.Int8));
        for (int agent = 0; agent < 40; agent++)
        {
            KvBlock block = pool.Allocate(new AgentId(agent), KvCacheSpec.MaxLayers - 1 - agent);
            Assert.Equal(2, pool.GetBlockSpan(block).Length);
        }

        PoolAssert.Invariants(pool);
        Assert.Equal(40, pool.AgentCount);
    }
}
