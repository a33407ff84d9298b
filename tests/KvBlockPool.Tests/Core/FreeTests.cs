namespace KvBlockPool.Tests.Core;

/// <summary>Run under every clear mode, with diagnostics off and on (<see cref="PoolVariantTests"/>).</summary>
public abstract class FreeTests(BlockClearMode clearMode, bool diagnostics) : PoolVariantTests(clearMode, diagnostics)
{
    public sealed class Zeroed() : FreeTests(BlockClearMode.ZeroOnFree, diagnostics: false);

    public sealed class Uncleared() : FreeTests(BlockClearMode.None, diagnostics: false);

    public sealed class ZeroedWithDiagnostics() : FreeTests(BlockClearMode.ZeroOnFree, diagnostics: true);

    public sealed class UnclearedWithDiagnostics() : FreeTests(BlockClearMode.None, diagnostics: true);

    private static readonly AgentId Agent = new(1);
    private static readonly AgentId Other = new(2);

    [Fact]
    public void Free_removes_the_blocks_keeps_the_order_of_the_rest_and_makes_them_available()
    {
        using BlockPool pool = CreatePool(capacity: 8);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 5);
        KvBlock other = pool.Allocate(Agent, 1);
        pool.Free(Agent, [blocks[3], blocks[1], other]);
        Assert.Equal([0, 2, 4], pool.GetAgentBlocks(Agent).GetBlockIds(0).ToArray());
        Assert.Equal(0, pool.GetBlockCount(Agent, 1));
        Assert.Equal((3, 5), (pool.AllocatedBlocks, pool.AvailableBlocks));
        PoolAssert.Invariants(pool);

        // Freed blocks are reused last-freed first.
        Assert.Equal([other.Id, blocks[1].Id, blocks[3].Id], pool.Allocate(Other, 0, 3).Select(b => b.Id));
    }

    [Fact]
    public void A_freed_blocks_bytes_are_zeroed_poisoned_or_left_as_the_clear_mode_and_diagnostics_say()
    {
        using BlockPool pool = CreatePool(capacity: 1);
        KvBlock block = pool.Allocate(Agent, 0);
        pool.GetBlockSpan(block).Fill(0xAB);
        pool.Free(Agent, block);
        KvBlock again = pool.Allocate(Other, 0);
        Assert.Equal(block.Id, again.Id);
        Assert.Equal(-1, pool.GetBlockSpan(again).IndexOfAnyExcept(BytesAfterFree(written: 0xAB)));
    }

    [Fact]
    public void Freeing_every_block_forgets_the_agent()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        KvBlock[] blocks = pool.AllocateAllLayers(Agent, 2);
        pool.Free(Agent, blocks);
        Assert.False(pool.ContainsAgent(Agent));
        Assert.Equal(0, pool.AgentCount);
        Assert.True(pool.GetAgentBlocks(Agent).IsEmpty);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Freeing_more_handles_than_fit_on_the_stack_works()
    {
        using BlockPool pool = CreatePool(capacity: 100);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 90);
        pool.Free(Agent, blocks.AsSpan(0, 80));
        Assert.Equal(10, pool.GetBlockCount(Agent));
        var error = PoolAssert.ThrowsAndChangesNothing<DoubleFreeException>(pool, () => pool.Free(Agent, blocks.AsSpan(10, 80)), "already freed");
        Assert.Equal(blocks[10], error.Block);
        pool.Free(Agent, blocks.AsSpan(80));
        Assert.Equal(0, pool.AllocatedBlocks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Freeing_nothing_is_allowed_and_changes_nothing()
    {
        using BlockPool pool = CreatePool();
        pool.Allocate(Agent, 0);
        string before = PoolAssert.Snapshot(pool);
        pool.Free(Agent, ReadOnlySpan<KvBlock>.Empty);
        pool.Free(new AgentId(99), ReadOnlySpan<KvBlock>.Empty);
        Assert.Equal(before, PoolAssert.Snapshot(pool));
    }

    [Fact]
    public void A_double_free_throws_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 3);
        pool.Free(Agent, blocks[0]);
        var error = PoolAssert.ThrowsAndChangesNothing<DoubleFreeException>(pool, () => pool.Free(Agent, [blocks[1], blocks[0]]), "was already freed (double free)", "Nothing was freed");
        Assert.Equal(InvalidBlockHandleReason.DoubleFree, error.Reason);
        Assert.Equal(blocks[0], error.Block);
    }

    [Fact]
    public void A_handle_twice_in_one_request_throws_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 3);
        var error = PoolAssert.ThrowsAndChangesNothing<DoubleFreeException>(pool, () => pool.Free(Agent, [blocks[0], blocks[2], blocks[0]]), "appears more than once in this request");
        Assert.Equal(InvalidBlockHandleReason.DoubleFree, error.Reason);
    }

    [Fact]
    public void A_stale_handle_throws_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 1);
        KvBlock old = pool.Allocate(Agent, 0);
        pool.Free(Agent, old);
        KvBlock current = pool.Allocate(Agent, 0);
        var error = PoolAssert.ThrowsAndChangesNothing<StaleBlockHandleException>(pool, () => pool.Free(Agent, old), "is stale", $"its generation is now {current.Generation}", "Nothing was freed");
        Assert.Equal(InvalidBlockHandleReason.Stale, error.Reason);

        // A handle from the future (forged) is stale too.
        PoolAssert.ThrowsAndChangesNothing<StaleBlockHandleException>(pool, () => pool.Free(Agent, TestPools.Forge(current, generation: current.Generation + 2)), "is stale");
    }

    [Fact]
    public void A_foreign_handle_throws_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        using BlockPool otherPool = CreatePool(capacity: 4);
        KvBlock mine = pool.Allocate(Agent, 0);
        KvBlock foreign = otherPool.Allocate(Agent, 0);
        Assert.Equal(mine.Id, foreign.Id);
        var error = PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.Free(Agent, [mine, foreign]), "was not issued by pool 'default'", "Nothing was freed");
        Assert.Equal(InvalidBlockHandleReason.ForeignPool, error.Reason);
        var none = PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.Free(Agent, default(KvBlock)), "default(KvBlock), which no pool issues");
        Assert.True(none.Block.IsDefault);
        PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.Free(Agent, TestPools.Forge(mine, id: 4)), "was not issued");
        PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.Free(Agent, TestPools.Forge(mine, id: -1)), "was not issued");
        PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.Free(Agent, TestPools.Forge(mine, layer: 2)), "was not issued");
        Assert.Equal(1, otherPool.AllocatedBlocks);
    }

    [Fact]
    public void A_handle_from_before_a_reconfigure_is_foreign()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        KvBlock old = pool.Allocate(Agent, 0);
        pool.Free(Agent, old);
        pool.Reconfigure(TestPools.Spec(layers: 2));
        pool.Allocate(Agent, 0);
        PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.Free(Agent, old), "from before a Reconfigure");
    }

    [Fact]
    public void A_block_of_another_agent_throws_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        KvBlock mine = pool.Allocate(Agent, 0);
        KvBlock theirs = pool.Allocate(Other, 0);
        var error = PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.Free(Agent, [mine, theirs]), "is held by agent 2, not by agent 1", "Nothing was freed");
        Assert.Equal(InvalidBlockHandleReason.NotOwned, error.Reason);
        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.Free(new AgentId(3), mine), "not by agent 3");
    }

    [Fact]
    public void A_block_of_an_open_scope_cannot_be_freed_through_the_pool()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        pool.Allocate(Agent, 0);
        using AllocationScope scope = pool.BeginScope(Agent);
        KvBlock pending = scope.Allocate(1);
        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.Free(Agent, pending), "held by an uncommitted allocation scope for agent 1");
    }

    [Fact]
    public void FreeAgent_frees_every_layer_and_returns_the_count()
    {
        using BlockPool pool = CreatePool(capacity: 8, layers: 3);
        pool.AllocateAllLayers(Agent, 2);
        pool.Allocate(Other, 1);
        Assert.Equal(6, pool.FreeAgent(Agent));
        Assert.False(pool.ContainsAgent(Agent));
        Assert.Equal((1, 7, 1), (pool.AllocatedBlocks, pool.AvailableBlocks, pool.AgentCount));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void FreeAgent_of_an_unknown_agent_returns_zero_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        pool.Allocate(Agent, 0);
        string before = PoolAssert.Snapshot(pool);
        Assert.Equal(0, pool.FreeAgent(Other));
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        Assert.Equal(1, pool.FreeAgent(Agent));
        Assert.Equal(0, pool.FreeAgent(Agent));
    }

    [Fact]
    public void FreeAgent_clears_every_block_it_frees_as_the_clear_mode_and_diagnostics_say()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        foreach (KvBlock block in pool.AllocateAllLayers(Agent, 2))
        {
            pool.GetBlockSpan(block).Fill(0x5A);
        }

        pool.FreeAgent(Agent);
        Assert.All(pool.Allocate(Other, 0, 4), b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept(BytesAfterFree(written: 0x5A))));
    }
}
