namespace KvBlockPool.Tests.HotPaths;

/// <summary>
/// The fast paths the benchmarks drove into the core: the one-block free, the owner record found through a
/// handle's slot or the last agent used instead of the agent table, and a scope's one-call all-layer allocation.
/// Each must refuse exactly what the general paths refuse and leave the pool exactly as it was.
/// </summary>
public sealed class HotPathTests
{
    /// <summary>3 layers of 128-byte blocks (one KV head).</summary>
    private static readonly KvCacheSpec Spec = TestPools.Spec(layers: 3, kvHeads: 1);
    private static readonly AgentId A = new(1);
    private static readonly AgentId B = new(2);
    private static readonly AgentId C = new(3);

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree)]
    [InlineData(BlockClearMode.None)]
    public void Freeing_one_block_keeps_the_order_of_the_others(BlockClearMode clearMode)
    {
        using BlockPool pool = TestPools.Create(spec: Spec, clearMode: clearMode);
        KvBlock[] blocks = pool.Allocate(A, 0, 4);

        pool.Free(A, blocks[1]);

        Assert.Equal([blocks[0].Id, blocks[2].Id, blocks[3].Id], pool.GetAgentBlocks(A).GetBlockIds(0).ToArray());
        Assert.Equal(13, pool.AvailableBlocks);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void Freeing_an_agents_last_block_one_at_a_time_forgets_the_agent()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        KvBlock first = pool.Allocate(A, 0);
        KvBlock second = pool.Allocate(A, 2);

        pool.Free(A, second);
        Assert.True(pool.ContainsAgent(A));
        pool.Free(A, first);

        Assert.False(pool.ContainsAgent(A));
        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void A_one_block_free_refuses_every_bad_handle_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        using BlockPool other = TestPools.Create(spec: Spec);
        KvBlock mine = pool.Allocate(A, 0);
        KvBlock theirs = pool.Allocate(B, 1);
        KvBlock freed = pool.Allocate(A, 1);
        pool.Free(A, freed);
        KvBlock reused = pool.Allocate(C, 1);
        Assert.Equal(freed.Id, reused.Id);
        KvBlock foreign = other.Allocate(A, 0);
        using AllocationScope scope = pool.BeginScope(A);
        KvBlock inScope = scope.Allocate(2);
        string before = pool.DescribeState();

        Assert.Throws<ForeignBlockHandleException>(() => pool.Free(A, default(KvBlock)));
        Assert.Throws<ForeignBlockHandleException>(() => pool.Free(A, foreign));
        Assert.Throws<StaleBlockHandleException>(() => pool.Free(A, freed));
        Assert.Throws<BlockOwnershipException>(() => pool.Free(A, theirs));
        Assert.Throws<BlockOwnershipException>(() => pool.Free(B, mine));
        Assert.Throws<BlockOwnershipException>(() => pool.Free(A, inScope));
        Assert.Throws<BlockOwnershipException>(() => pool.Free(new AgentId(99), mine));

        Assert.Equal(before, pool.DescribeState());
        Assert.Null(pool.FindInvariantViolation());
        pool.Free(A, mine);
        Assert.Throws<DoubleFreeException>(() => pool.Free(A, mine));
    }

    [Fact]
    public void A_batch_free_whose_first_handle_is_not_the_agents_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        KvBlock[] mine = pool.Allocate(A, 0, 2);
        KvBlock theirs = pool.Allocate(B, 0);
        string before = pool.DescribeState();

        Assert.Throws<BlockOwnershipException>(() => pool.Free(A, [theirs, mine[0]]));
        Assert.Throws<ForeignBlockHandleException>(() => pool.Free(A, [mine[0], default]));
        Assert.Throws<DoubleFreeException>(() => pool.Free(A, [mine[1], mine[1]]));

        Assert.Equal(before, pool.DescribeState());
        pool.Free(A, [mine[1], mine[0]]);
        Assert.False(pool.ContainsAgent(A));
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void A_recycled_record_is_never_mistaken_for_the_agent_that_used_it_before()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        KvBlock a = pool.Allocate(A, 0);
        pool.Free(A, a);                 // A is forgotten; its record goes back to the spares
        pool.Allocate(C, 0);             // C may get that record
        pool.Allocate(A, 1);             // A must get its own record again

        Assert.Equal(1, pool.GetBlockCount(A));
        Assert.Equal(1, pool.GetBlockCount(C));
        Assert.Equal(1, pool.GetBlockCount(A, 1));
        Assert.Equal(0, pool.GetBlockCount(C, 1));
        Assert.Equal(1, pool.FreeAgent(A));
        Assert.Equal(0, pool.FreeAgent(A));
        Assert.Equal(1, pool.GetBlockCount(C));
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void A_scope_for_an_agent_is_not_taken_for_the_agent()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        using AllocationScope scope = pool.BeginScope(A);
        scope.Allocate(0);
        pool.Allocate(A, 1);

        Assert.Equal(1, pool.GetBlockCount(A));
        Assert.Equal(1, pool.FreeAgent(A));
        Assert.Equal(1, scope.BlockCount);
        scope.Commit();
        Assert.Equal(1, pool.GetBlockCount(A, 0));
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void A_scope_allocates_every_layer_in_one_call_and_commits_them_together()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        using (AllocationScope scope = pool.BeginScope(A))
        {
            KvBlock[] blocks = scope.AllocateAllLayers(blocksPerLayer: 2);

            Assert.Equal(6, blocks.Length);
            Assert.Equal([0, 0, 1, 1, 2, 2], blocks.Select(b => b.Layer).ToArray());
            Assert.False(pool.ContainsAgent(A));
            scope.Commit();
        }

        Assert.Equal(6, pool.GetBlockCount(A));
        for (int layer = 0; layer < Spec.Layers; layer++)
        {
            Assert.Equal(2, pool.GetBlockCount(A, layer));
        }

        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void Disposing_a_scope_returns_what_its_all_layer_call_allocated()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        using (AllocationScope scope = pool.BeginScope(A))
        {
            Span<KvBlock> blocks = stackalloc KvBlock[3];
            scope.AllocateAllLayers(1, blocks);
            Assert.Equal(3, scope.BlockCount);
        }

        Assert.Equal(16, pool.AvailableBlocks);
        Assert.False(pool.ContainsAgent(A));
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void A_scope_all_layer_call_that_cannot_be_met_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, spec: Spec);
        using AllocationScope scope = pool.BeginScope(A);
        scope.Allocate(0);
        string before = pool.DescribeState();

        Assert.False(scope.TryAllocateAllLayers(3, new KvBlock[9]));
        BlockPoolExhaustedException exhausted = Assert.Throws<BlockPoolExhaustedException>(() => scope.AllocateAllLayers(3));
        Assert.Equal(9, exhausted.Requested);
        Assert.Throws<ArgumentException>(() => scope.AllocateAllLayers(1, new KvBlock[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => scope.AllocateAllLayers(0));

        Assert.Equal(before, pool.DescribeState());
        Assert.Equal(1, scope.BlockCount);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void An_ended_scope_refuses_the_all_layer_call()
    {
        using BlockPool pool = TestPools.Create(spec: Spec);
        AllocationScope scope = pool.BeginScope(A);
        scope.Commit();

        Assert.Throws<ObjectDisposedException>(() => scope.AllocateAllLayers(1));
        Assert.Throws<InvalidOperationException>(() => default(AllocationScope).AllocateAllLayers(1));
        Assert.Equal(16, pool.AvailableBlocks);
    }
}
