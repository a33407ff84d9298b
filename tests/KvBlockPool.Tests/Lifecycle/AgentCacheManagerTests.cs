using KvBlockPool.Lifecycle;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Lifecycle;

public sealed class AgentCacheManagerTests
{
    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);
    private static readonly AgentId Stranger = new(99);

    [Fact]
    public void Admit_allocates_the_prompt_on_every_layer_and_reports_the_fill_of_the_last_block()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);

        manager.Admit(Alice, promptTokens: 10);

        AgentCacheInfo info = manager.GetInfo(Alice);
        Assert.Equal(10, info.Tokens);
        Assert.Equal(3, info.BlocksPerLayer);
        Assert.Equal(12, info.TotalBlocks);
        Assert.Equal(2, info.LastBlockTokens);
        Assert.Equal(2, info.FreeSlotsInLastBlock);
        for (int layer = 0; layer < 4; layer++)
        {
            Assert.Equal(3, pool.GetBlockCount(Alice, layer));
        }

        Assert.Equal(1, manager.AgentCount);
        Assert.Equal(10, manager.TotalTokens);
        Assert.Equal(12, manager.TotalBlocks);
        Assert.Equal(12, pool.AllocatedBlocks);
        Assert.True(manager.IsAdmitted(Alice));
        Assert.Equal("agent 1: 10 tokens, 3 block(s) x 4 layers, last block 2/4", info.ToString());
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void Append_allocates_a_block_per_layer_only_when_the_last_block_is_full_and_never_moves_existing_blocks()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 4); // exactly one full block per layer
        int[] before = BlockIds(pool, Alice, layer: 2);

        Assert.Equal(1, manager.Append(Alice));       // 5 tokens: a second block on every layer
        Assert.Equal(0, manager.Append(Alice, 3));    // 8 tokens: fits
        Assert.True(manager.TryAppend(Alice, 1));     // 9 tokens: a third block

        AgentCacheInfo info = manager.GetInfo(Alice);
        Assert.Equal(9, info.Tokens);
        Assert.Equal(3, info.BlocksPerLayer);
        Assert.Equal(1, info.LastBlockTokens);
        int[] after = BlockIds(pool, Alice, layer: 2);
        Assert.Equal(3, after.Length);
        Assert.Equal(before, after[..1]); // grown in place: the prompt's block is still first, not a copy
        Assert.Equal(12, pool.AllocatedBlocks);
        Assert.Equal(9, manager.TotalTokens);
        Assert.Equal(12, manager.TotalBlocks);
    }

    [Fact]
    public void Append_of_many_tokens_allocates_every_needed_block_at_once()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 1);

        Assert.Equal(3, manager.Append(Alice, 12)); // 13 tokens: 4 blocks per layer

        Assert.Equal(16, pool.GetBlockCount(Alice));
        Assert.Equal(16, manager.TotalBlocks);
    }

    [Fact]
    public void Truncate_frees_the_tail_blocks_on_every_layer_and_keeps_the_head()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 20); // 5 blocks per layer
        int[] head = BlockIds(pool, Alice, layer: 3)[..2];

        Assert.Equal(3, manager.Truncate(Alice, 6));

        Assert.Equal(head, BlockIds(pool, Alice, layer: 3));
        for (int layer = 0; layer < 4; layer++)
        {
            Assert.Equal(2, pool.GetBlockCount(Alice, layer));
        }

        AgentCacheInfo info = manager.GetInfo(Alice);
        Assert.Equal(6, info.Tokens);
        Assert.Equal(2, info.LastBlockTokens);
        Assert.Equal(8, pool.AllocatedBlocks);
        Assert.Equal(6, manager.TotalTokens);
        Assert.Equal(8, manager.TotalBlocks);

        Assert.Equal(0, manager.Truncate(Alice, 5)); // same block count: only the length changes
        Assert.Equal(5, manager.GetInfo(Alice).Tokens);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void Truncate_to_zero_frees_every_block_but_keeps_the_agent_admitted()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 7);

        Assert.Equal(2, manager.Truncate(Alice, 0));

        Assert.False(pool.ContainsAgent(Alice));
        Assert.Equal(0, pool.AllocatedBlocks);
        AgentCacheInfo info = manager.GetInfo(Alice);
        Assert.Equal(0, info.Tokens);
        Assert.Equal(0, info.BlocksPerLayer);
        Assert.Equal(0, info.LastBlockTokens);
        Assert.Equal(1, manager.Append(Alice));
        Assert.Equal(4, pool.GetBlockCount(Alice));
    }

    [Fact]
    public void Release_frees_every_block_and_forgets_the_agent()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 9);
        manager.Admit(Bob, promptTokens: 2);

        Assert.Equal(12, manager.Release(Alice));

        Assert.False(manager.IsAdmitted(Alice));
        Assert.False(pool.ContainsAgent(Alice));
        Assert.Equal(4, pool.AllocatedBlocks);
        Assert.Equal(1, manager.AgentCount);
        Assert.Equal(2, manager.TotalTokens);
        Assert.Equal(4, manager.TotalBlocks);
        Assert.Throws<KeyNotFoundException>(() => manager.Append(Alice));
        Assert.Throws<KeyNotFoundException>(() => manager.GetInfo(Alice));

        manager.Admit(Alice, promptTokens: 1); // an id can be admitted again once released
        Assert.Equal(1, manager.GetInfo(Alice).Tokens);
    }

    [Fact]
    public void Release_of_an_unknown_agent_is_logged_as_an_error_and_reclaims_what_the_pool_holds_for_it()
    {
        var logs = new CapturingLoggerFactory();
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool, logs);
        pool.AllocateAllLayers(Stranger, blocksPerLayer: 2); // allocated behind the manager's back

        Assert.Equal(8, manager.Release(Stranger));

        Assert.Equal(0, pool.AllocatedBlocks);
        LogEntry entry = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Equal(101, entry.EventId.Id);
        Assert.Contains("agent 99", entry.Message, StringComparison.Ordinal);
        Assert.Contains("held 8 block(s)", entry.Message, StringComparison.Ordinal);

        Assert.Equal(0, manager.Release(Stranger)); // nothing left, but still never skipped silently
        Assert.Equal(2, logs.Entries.Count(e => e.Level == LogLevel.Error));
        Assert.Contains("held 0 block(s)", logs.Entries[^1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Release_that_finds_blocks_allocated_outside_the_manager_frees_them_and_warns()
    {
        var logs = new CapturingLoggerFactory();
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool, logs);
        manager.Admit(Alice, promptTokens: 4);
        pool.Allocate(Alice, layer: 0); // not the manager's

        Assert.Equal(5, manager.Release(Alice));

        Assert.Equal(0, pool.AllocatedBlocks);
        LogEntry entry = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("freed 5 block(s) where the cache manager accounted for 4", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dispose_reports_and_releases_every_live_agent_with_its_block_count()
    {
        var logs = new CapturingLoggerFactory();
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        var manager = new AgentCacheManager(pool, logs);
        manager.Admit(Alice, promptTokens: 9);
        manager.Admit(Bob, promptTokens: 1);
        manager.Admit(new AgentId(3), promptTokens: 1);
        manager.Release(new AgentId(3));

        manager.Dispose();

        Assert.True(manager.IsDisposed);
        IReadOnlyDictionary<AgentId, int> live = Assert.IsAssignableFrom<IReadOnlyDictionary<AgentId, int>>(manager.LiveAgentsAtDispose);
        Assert.Equal(2, live.Count);
        Assert.Equal(12, live[Alice]);
        Assert.Equal(4, live[Bob]);
        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.Equal(0, manager.AgentCount);
        Assert.Equal(0, manager.TotalBlocks);
        LogEntry entry = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("2 agent(s) still admitted, holding 16 block(s)", entry.Message, StringComparison.Ordinal);
        Assert.Contains("agent 1: 12 block(s)", entry.Message, StringComparison.Ordinal);
        Assert.Contains("agent 2: 4 block(s)", entry.Message, StringComparison.Ordinal);

        manager.Dispose(); // idempotent
        Assert.Single(logs.Entries);
        Assert.Throws<ObjectDisposedException>(() => manager.Admit(Alice, 1));
        Assert.Throws<ObjectDisposedException>(() => manager.Append(Alice));
        Assert.Throws<ObjectDisposedException>(() => manager.Release(Alice));
    }

    [Fact]
    public void Dispose_with_every_agent_released_reports_nothing()
    {
        var logs = new CapturingLoggerFactory();
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        var manager = new AgentCacheManager(pool, logs);
        manager.Admit(Alice, promptTokens: 3);
        manager.Release(Alice);

        manager.Dispose();

        Assert.Null(manager.LiveAgentsAtDispose);
        Assert.Empty(logs.Entries);
    }

    [Fact]
    public void A_manager_refuses_a_null_or_disposed_pool()
    {
        Assert.Throws<ArgumentNullException>(() => new AgentCacheManager(null!));
        BlockPool pool = TestPools.Create(capacity: 8, layers: 4);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => new AgentCacheManager(pool));
    }

    [Fact]
    public void Rejected_calls_throw_specific_exceptions_and_change_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 24, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 10); // 12 blocks
        manager.Admit(Bob, promptTokens: 8);    // 8 blocks; 4 left
        pool.Allocate(Stranger, layer: 0);      // 3 left, held outside the manager

        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.Admit(new AgentId(5), -3));
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.TryAdmit(new AgentId(5), 200)); // more than the capacity
        AssertRejected<ArgumentException>(pool, manager, () => manager.Admit(Alice, 1));
        AssertRejected<ArgumentException>(pool, manager, () => manager.TryAdmit(Stranger, 1));
        AssertRejected<BlockPoolExhaustedException>(pool, manager, () => manager.Admit(new AgentId(5), 5));
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.Append(Alice, 0));
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.Append(Alice, int.MaxValue));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.Append(new AgentId(5)));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.TryAppend(new AgentId(5)));
        AssertRejected<BlockPoolExhaustedException>(pool, manager, () => manager.Append(Alice, 3)); // 13 tokens: 4 blocks, 3 left
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.Truncate(Alice, -1));
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.Truncate(Alice, 11));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.Truncate(new AgentId(5), 0));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.GetInfo(new AgentId(5)));

        string before = Snapshot(pool, manager);
        Assert.False(manager.TryAdmit(new AgentId(5), 5));
        Assert.False(manager.TryAppend(Alice, 3));
        Assert.Equal(before, Snapshot(pool, manager));
        Assert.False(manager.TryGetInfo(new AgentId(5), out _));
    }

    [Fact]
    public void Different_agents_can_be_driven_from_many_threads_at_once()
    {
        using BlockPool pool = TestPools.Create(capacity: 4 * 4 * 5 * 8, layers: 4);
        using var manager = new AgentCacheManager(pool);
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            var random = new Random(worker);
            for (int round = 0; round < 200; round++)
            {
                var agent = new AgentId((worker * 1000) + round);
                manager.Admit(agent, random.Next(1, 9));
                for (int step = 0; step < 8; step++)
                {
                    manager.Append(agent);
                }

                int kept = random.Next(0, 9);
                manager.Truncate(agent, kept);
                Assert.Equal(4 * ((kept + 3) / 4), manager.Release(agent)); // 4 layers of 4-token blocks
            }
        });

        Assert.Equal(0, manager.AgentCount);
        Assert.Equal(0, manager.TotalBlocks);
        Assert.Equal(0, manager.TotalTokens);
        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.Null(pool.FindInvariantViolation());
    }

    private static int[] BlockIds(BlockPool pool, AgentId agent, int layer)
    {
        var ids = new int[pool.GetBlockCount(agent, layer)];
        pool.CopyBlockIds(agent, layer, ids);
        return ids;
    }

    private static string Snapshot(BlockPool pool, AgentCacheManager manager)
    {
        string agents = string.Join(';', new[] { Alice, Bob, Stranger, new AgentId(5) }.Select(a => manager.TryGetInfo(a, out AgentCacheInfo info) ? info.ToString() : a + ": -"));
        return $"{manager.AgentCount}/{manager.TotalTokens}/{manager.TotalBlocks}/{agents}/{pool.DescribeState()}";
    }

    private static void AssertRejected<TException>(BlockPool pool, AgentCacheManager manager, Action call)
        where TException : Exception
    {
        string before = Snapshot(pool, manager);
        TException error = Assert.Throws<TException>(call);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.Equal(before, Snapshot(pool, manager));
        Assert.Null(pool.FindInvariantViolation());
    }
}
