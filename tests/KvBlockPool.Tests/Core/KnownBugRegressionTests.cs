namespace KvBlockPool.Tests.Core;

/// <summary>Each test here failed before the fix it names.</summary>
public sealed class KnownBugRegressionTests
{
    private static readonly AgentId Agent = new(1);

    [Fact]
    public void Free_of_a_handle_naming_another_layer_throws_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 3);
        KvBlock[] blocks = pool.Allocate(Agent, layer: 0, count: 2);
        pool.Allocate(Agent, layer: 1);
        KvBlock wrong = TestPools.Forge(blocks[1], layer: 1);

        BlockOwnershipException error = PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(
            pool, () => pool.Free(Agent, wrong), "names layer 1", "allocated for layer 0", "Nothing was freed");
        Assert.Equal(InvalidBlockHandleReason.NotOwned, error.Reason);
        Assert.Equal(wrong, error.Block);

        // In a batch, after a valid handle: the valid one is not freed either.
        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.Free(Agent, [blocks[0], wrong]), "names layer 1");
        pool.Free(Agent, blocks[1]);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public unsafe void Data_access_through_a_handle_naming_another_layer_throws_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 3);
        KvBlock block = pool.Allocate(Agent, layer: 2);
        KvBlock wrong = TestPools.Forge(block, layer: 0);

        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.GetBlockSpan(wrong), "names layer 0", "allocated for layer 2", "cannot be accessed");
        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.GetKeySpan(wrong), "names layer 0");
        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.GetValueSpan(wrong), "names layer 0");
        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => _ = (nint)pool.GetPointer(wrong), "names layer 0");
        Assert.Equal(pool.Spec.BytesPerBlock, pool.GetBlockSpan(block).Length);
    }

    [Fact]
    public void Data_access_through_a_forged_handle_to_a_free_block_throws()
    {
        using BlockPool pool = TestPools.Create(capacity: 4);
        KvBlock block = pool.Allocate(Agent, layer: 0);
        KvBlock free = TestPools.Forge(block, id: 3, generation: 0); // block 3 is free, at generation 0

        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.GetBlockSpan(free), "the block is free");
        PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.Free(Agent, free), "held by no one");
    }

    [Fact]
    public void A_spec_with_the_most_layers_packs_every_layer_and_owner_correctly()
    {
        var spec = new KvCacheSpec(KvCacheSpec.MaxLayers, kvHeads: 1, headDim: 1, tokensPerBlock: 1, KvElementType.Int8);
        using BlockPool pool = TestPools.Create(capacity: 64, spec: spec, alignment: 16);
        var blocks = new List<(AgentId Agent, KvBlock Block)>();
        for (int agent = 0; agent < 8; agent++)
        {
            foreach (int layer in new[] { 0, 1, 2047, KvCacheSpec.MaxLayers - 1 })
            {
                blocks.Add((new AgentId(agent), pool.Allocate(new AgentId(agent), layer)));
            }
        }

        PoolAssert.Invariants(pool);
        foreach ((AgentId agent, KvBlock block) in blocks)
        {
            Assert.Equal(2, pool.GetBlockSpan(block).Length);
            KvBlock otherLayer = TestPools.Forge(block, layer: block.Layer == 0 ? KvCacheSpec.MaxLayers - 1 : 0);
            PoolAssert.ThrowsAndChangesNothing<BlockOwnershipException>(pool, () => pool.Free(agent, otherLayer), "allocated for layer");
        }

        foreach ((AgentId agent, KvBlock block) in blocks)
        {
            pool.Free(agent, block);
        }

        Assert.Equal(0, pool.AllocatedBlocks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_new_owner_beyond_the_owner_table_throws_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        pool.OwnerSlotLimit = 2;
        pool.Allocate(new AgentId(1), 0);
        AllocationScope scope = pool.BeginScope(new AgentId(2));
        scope.Allocate(1);

        PoolAssert.ThrowsAndChangesNothing<KvBlockPoolException>(pool, () => pool.Allocate(new AgentId(3), 0), "already has 2 owners", "Nothing changed");
        PoolAssert.ThrowsAndChangesNothing<KvBlockPoolException>(pool, () => pool.AllocateAllLayers(new AgentId(3), 1), "already has 2 owners");
        PoolAssert.ThrowsAndChangesNothing<KvBlockPoolException>(pool, () => pool.BeginScope(new AgentId(3)), "already has 2 owners");
        PoolAssert.ThrowsAndChangesNothing<KvBlockPoolException>(pool, scope.Commit, "already has 2 owners");

        pool.Allocate(new AgentId(1), 1); // an existing agent needs no new slot
        Assert.Equal(2, pool.FreeAgent(new AgentId(1)));
        scope.Commit(); // a slot is free again
        Assert.Equal(1, pool.GetBlockCount(new AgentId(2)));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Free_stays_correct_when_the_free_epoch_wraps_around()
    {
        using BlockPool pool = TestPools.Create(capacity: 16);
        KvBlock[] blocks = pool.Allocate(Agent, layer: 0, count: 6);
        pool.Allocate(Agent, layer: 1);

        pool.Free(Agent, blocks[0]); // the first free: epoch 1 touches the agent's layer 0
        PoolAssert.Invariants(pool);

        // 2^32 - 2 frees later (0 is skipped) the epoch is 1 again.
        pool.FreeEpoch = -1;
        pool.Free(Agent, blocks[1]);
        PoolAssert.Invariants(pool);
        Assert.Equal([blocks[2].Id, blocks[3].Id, blocks[4].Id, blocks[5].Id], pool.GetAgentBlocks(Agent).GetBlockIds(0).ToArray());

        // And straight across the int wraparound, with frees on both layers.
        pool.FreeEpoch = int.MaxValue - 2;
        for (int i = 2; i < 6; i++)
        {
            pool.Free(Agent, blocks[i]);
            KvBlock again = pool.Allocate(Agent, layer: 0);
            PoolAssert.Invariants(pool);
            pool.Free(Agent, again);
            PoolAssert.Invariants(pool);
        }

        Assert.Equal(0, pool.GetBlockCount(Agent, 0));
        Assert.Equal(1, pool.GetBlockCount(Agent, 1));
    }

    [Fact]
    public void Statistics_never_report_a_high_water_mark_below_the_allocated_count()
    {
        // What a reader can see when frees and a Reconfigure happen between its read of the counts (12 of 64
        // allocated) and its read of the mark (reset to 0).
        long counts = (64L << 32) | 52u;
        BlockPoolStatistics stats = BlockPool.ComposeStatistics(counts, highWater: 0, agents: 1, bytesPerBlock: 256);
        Assert.Equal(12, stats.Allocated);
        Assert.Equal(12, stats.HighWaterMark);
        Assert.Equal(20, BlockPool.ComposeStatistics(counts, highWater: 20, agents: 1, bytesPerBlock: 256).HighWaterMark);
    }

    [Fact]
    public void Statistics_read_during_reconfigures_keep_the_high_water_mark_at_or_above_allocated()
    {
        using BlockPool pool = TestPools.Create(capacity: 64);
        using var stop = new CancellationTokenSource();
        int violations = 0, reads = 0;
        var reader = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                BlockPoolStatistics stats = pool.GetStatistics();
                reads++;
                if (stats.HighWaterMark < stats.Allocated || stats.Available + stats.Allocated != stats.Capacity)
                {
                    Interlocked.Increment(ref violations);
                }
            }
        });
        reader.Start();

        for (int round = 0; round < 300; round++)
        {
            pool.AllocateAllLayers(Agent, blocksPerLayer: 1 + (round % 8));
            pool.FreeAgent(Agent);
            pool.Reconfigure(TestPools.Spec(layers: 1 + (round % 3)));
        }

        stop.Cancel();
        reader.Join();
        Assert.Equal(0, violations);
        Assert.True(reads > 0);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Blocks_for_a_token_count_near_the_long_limit_do_not_overflow()
    {
        KvCacheSpec spec = TestPools.Spec();
        Assert.Equal(0, spec.BlocksForTokens(0));
        Assert.Equal(1, spec.BlocksForTokens(1));
        Assert.Equal(1, spec.BlocksForTokens(4));
        Assert.Equal(2, spec.BlocksForTokens(5));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => spec.BlocksForTokens(long.MaxValue));
        Assert.Contains("more than int.MaxValue blocks", error.Message, StringComparison.Ordinal);
        Assert.Equal(int.MaxValue, new KvCacheSpec(1, 1, 1, 1, KvElementType.Int8).BlocksForTokens(int.MaxValue));
    }

    [Fact]
    public void A_request_larger_than_the_pool_is_refused_before_its_handle_array_is_allocated()
    {
        using BlockPool pool = TestPools.Create(capacity: 16);
        pool.Allocate(Agent, 0, 3);
        long before = GC.GetAllocatedBytesForCurrentThread();

        // Each of these would need a handle array of gigabytes.
        var error = PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => pool.Allocate(Agent, 0, int.MaxValue), "Cannot allocate 2147483647", "only 13 of 16");
        Assert.Equal((int.MaxValue, 13, 16), (error.Requested, error.Available, error.Capacity));
        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => pool.AllocateAllLayers(Agent, int.MaxValue), "Cannot allocate 2147483647");
        using AllocationScope scope = pool.BeginScope(Agent);
        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => scope.Allocate(1, int.MaxValue), "only 13 of 16");

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000, "a refused request allocated a large handle array");

        // Validation order is kept: a bad layer or an ended scope is reported as such.
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Allocate(Agent, 7, int.MaxValue), "Layer must be between 0 and 1");
        scope.Dispose();
        PoolAssert.ThrowsAndChangesNothing<ObjectDisposedException>(pool, () => scope.Allocate(0, int.MaxValue), "already been committed or disposed");
    }

    [Fact]
    public void A_scope_reports_no_blocks_once_its_pool_is_disposed()
    {
        BlockPool pool = TestPools.Create(capacity: 8);
        AllocationScope scope = pool.BeginScope(Agent);
        scope.Allocate(0, 2);
        Assert.Equal(2, scope.BlockCount);
        pool.Dispose();
        Assert.False(scope.IsOpen);
        Assert.Equal(0, scope.BlockCount);
        scope.Dispose(); // no-op
    }
}
