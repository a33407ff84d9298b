namespace KvBlockPool.Tests.Core;

public sealed class ScopeTests
{
    private static readonly AgentId Agent = new(3);

    [Fact]
    public void A_scope_is_invisible_until_commit_publishes_every_layer_at_once()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 3);
        KvBlock existing = pool.Allocate(Agent, 0);
        AllocationScope scope = pool.BeginScope(Agent);
        Assert.Equal(Agent, scope.Agent);
        Assert.True(scope.IsOpen);
        KvBlock a = scope.Allocate(0);
        KvBlock[] b = scope.Allocate(2, 2);
        Span<KvBlock> c = stackalloc KvBlock[1];
        scope.Allocate(1, c);
        Assert.True(scope.TryAllocate(1, c));
        Assert.Equal(5, scope.BlockCount);
        Assert.Equal(1, pool.GetBlockCount(Agent));
        Assert.Equal((6, 1), (pool.AllocatedBlocks, pool.AgentCount));
        PoolAssert.Invariants(pool);

        scope.Commit();
        Assert.False(scope.IsOpen);
        Assert.Equal(0, scope.BlockCount);
        AgentBlocks view = pool.GetAgentBlocks(Agent);
        Assert.Equal([existing, a], view.GetBlocks(0));
        Assert.Equal(b, view.GetBlocks(2));
        Assert.Equal(2, view.GetBlockCount(1));
        pool.Free(Agent, a); // committed blocks belong to the agent
        PoolAssert.Invariants(pool);
        scope.Dispose(); // no-op after commit
        Assert.Equal(5, pool.GetBlockCount(Agent));
    }

    [Fact]
    public void A_scope_for_a_new_agent_creates_it_on_commit()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        using (AllocationScope scope = pool.BeginScope(Agent))
        {
            scope.Allocate(1, 2);
            Assert.False(pool.ContainsAgent(Agent));
            scope.Commit();
        }

        Assert.Equal(2, pool.GetBlockCount(Agent, 1));
        Assert.Equal(1, pool.AgentCount);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Committing_an_empty_scope_changes_nothing_but_ends_it()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        string before = PoolAssert.Snapshot(pool);
        AllocationScope scope = pool.BeginScope(Agent);
        scope.Commit();
        Assert.False(scope.IsOpen);
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        Assert.False(pool.ContainsAgent(Agent));
    }

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree)]
    [InlineData(BlockClearMode.None)]
    public void Disposing_without_commit_returns_every_block_and_leaves_the_agent_as_it_was(BlockClearMode mode)
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 3, clearMode: mode);
        pool.AllocateAllLayers(Agent, 1);
        string before = PoolAssert.Snapshot(pool).Split('|')[0];
        string agentBefore = string.Join(",", pool.GetAgentBlocks(Agent).GetBlocks(1));
        using (AllocationScope scope = pool.BeginScope(Agent))
        {
            for (int layer = 0; layer < 3; layer++)
            {
                pool.GetBlockSpan(scope.Allocate(layer)).Fill(9);
            }

            Assert.Equal(6, pool.AllocatedBlocks);
        }

        Assert.Equal(3, pool.AllocatedBlocks);
        Assert.Equal(agentBefore, string.Join(",", pool.GetAgentBlocks(Agent).GetBlocks(1)));
        Assert.Equal(3, pool.GetBlockCount(Agent));
        Assert.NotEqual(before, PoolAssert.Snapshot(pool).Split('|')[0]); // generations moved on
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void An_exception_inside_a_using_scope_rolls_back_every_layer()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 2);
        Assert.Throws<BlockPoolExhaustedException>(() =>
        {
            using AllocationScope scope = pool.BeginScope(Agent);
            scope.Allocate(0, 4);
            scope.Allocate(1, 5); // only 4 left
            scope.Commit();
        });

        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.False(pool.ContainsAgent(Agent));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Exhaustion_inside_a_scope_throws_changes_nothing_and_keeps_the_scope()
    {
        using BlockPool pool = TestPools.Create(capacity: 4);
        using AllocationScope scope = pool.BeginScope(Agent);
        scope.Allocate(0, 3);
        var error = PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => scope.Allocate(1, 2), "only 1 of 4");
        Assert.Equal(2, error.Requested);
        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => scope.Allocate(1, new KvBlock[2]), "only 1 of 4");
        string before = PoolAssert.Snapshot(pool);
        Assert.False(scope.TryAllocate(1, new KvBlock[2]));
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        Assert.True(scope.IsOpen);
        Assert.Equal(3, scope.BlockCount);
    }

    [Fact]
    public void Bad_arguments_to_a_scope_throw_and_change_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 4);
        using AllocationScope scope = pool.BeginScope(Agent);
        scope.Allocate(0);
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => scope.Allocate(2), "Layer must be between 0 and 1");
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => scope.Allocate(-1, 1), "Layer must be between 0 and 1");
        Assert.Equal("count", PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => scope.Allocate(0, 0)).ParamName);
        PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => scope.Allocate(0, Span<KvBlock>.Empty), "The destination is empty");
        PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => scope.TryAllocate(0, []), "The destination is empty");
    }

    [Fact]
    public void An_ended_scope_and_every_copy_of_it_refuse_to_act()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        AllocationScope scope = pool.BeginScope(Agent);
        AllocationScope copy = scope;
        scope.Allocate(0);
        scope.Dispose();

        // The record is recycled for a new scope; the old copies must not reach it.
        using AllocationScope next = pool.BeginScope(new AgentId(4));
        next.Allocate(1);
        Assert.NotEqual(copy, next);
        Assert.False(copy.IsOpen);
        Assert.Equal(0, copy.BlockCount);
        foreach (Action call in new Action[] { () => copy.Allocate(0), () => copy.Allocate(0, 2), () => copy.Allocate(0, new KvBlock[1]), () => copy.TryAllocate(0, new KvBlock[1]), copy.Commit })
        {
            PoolAssert.ThrowsAndChangesNothing<ObjectDisposedException>(pool, call, "already been committed or disposed");
        }

        string before = PoolAssert.Snapshot(pool);
        copy.Dispose();
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        Assert.Equal(1, next.BlockCount);
    }

    [Fact]
    public void A_default_scope_says_how_to_open_one()
    {
        AllocationScope none = default;
        Assert.False(none.IsOpen);
        Assert.Equal(0, none.BlockCount);
        none.Dispose();
        var error = Assert.Throws<InvalidOperationException>(() => none.Allocate(0));
        Assert.Contains("BlockPool.BeginScope", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(none.Commit);
    }

    [Fact]
    public void Scope_handles_compare_by_identity()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        using AllocationScope a = pool.BeginScope(Agent);
        using AllocationScope b = pool.BeginScope(Agent);
        AllocationScope copy = a;
        Assert.True(a == copy);
        Assert.True(a != b);
        Assert.True(a.Equals((object)copy));
        Assert.False(a.Equals("scope"));
        Assert.Equal(a.GetHashCode(), copy.GetHashCode());
    }

    [Fact]
    public void A_scope_blocks_reconfigure_and_appears_in_the_leak_report()
    {
        BlockPool pool = TestPools.Create(capacity: 8);
        AllocationScope scope = pool.BeginScope(Agent);
        PoolAssert.ThrowsAndChangesNothing<BlockPoolInUseException>(pool, () => pool.Reconfigure(TestPools.Spec(1)), "0 block(s)", "1 allocation scope(s) open");
        scope.Allocate(0, 2);
        pool.Dispose();
        Assert.Equal((2, 1, 2), (pool.LeakReport!.UncommittedScopeBlocks, pool.LeakReport.OpenScopes, pool.LeakReport.TotalBlocks));
        Assert.Contains("1 open allocation scope(s): 2 block(s)", pool.LeakReport.ToString(), StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => scope.Allocate(0));
        Assert.Throws<ObjectDisposedException>(scope.Commit);
        scope.Dispose();
    }
}
