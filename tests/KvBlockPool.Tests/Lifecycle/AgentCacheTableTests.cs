using KvBlockPool.Lifecycle;
using KvBlockPool.Tests.Core;

namespace KvBlockPool.Tests.Lifecycle;

/// <summary>What a host reads from the lifecycle layer to run a model: token slots, block tables, leases.</summary>
public sealed class AgentCacheTableTests
{
    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);

    [Fact]
    public void An_agent_admitted_with_no_tokens_holds_nothing_until_its_first_token()
    {
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 0);
        Assert.True(manager.IsAdmitted(Alice));
        Assert.Equal((0, 0), (manager.GetInfo(Alice).Tokens, manager.GetInfo(Alice).TotalBlocks));
        Assert.Equal(0, pool.GetStatistics().Allocated);
        using (KvCacheLease empty = manager.Lease(Alice))
        {
            Assert.Equal(0, empty.GetBlockCount(3));
        }

        Assert.Equal(new KvTokenSlot(0, 0, 0), manager.AppendToken(Alice));
        Assert.Equal(4, pool.GetStatistics().Allocated);
        Assert.Equal(new KvTokenSlot(1, 0, 1), manager.AppendToken(Alice));
        Assert.True(manager.TryAdmit(Bob, 0));
        Assert.Equal(4, manager.Release(Alice));
        Assert.Equal(0, manager.Release(Bob));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Append_token_gives_each_new_tokens_block_and_slot()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 2); // 4 tokens per block
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 6);
        for (int token = 6; token < 13; token++)
        {
            KvTokenSlot slot = manager.AppendToken(Alice);
            Assert.Equal(new KvTokenSlot(token, token / 4, token % 4), slot);
            Assert.Equal(slot, manager.GetTokenSlot(Alice, token));
        }

        Assert.Equal(new KvTokenSlot(5, 1, 1), manager.GetTokenSlot(Alice, 5));
        Assert.Equal(4, manager.GetInfo(Alice).BlocksPerLayer);
    }

    [Fact]
    public void Block_tables_match_the_pools_books_and_the_new_blocks_come_last()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 3);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 5);
        manager.Admit(Bob, 3);
        Assert.Equal(1, manager.Append(Alice, 4)); // 9 tokens: 3 blocks per layer
        var all = new int[9];
        Assert.Equal(3, manager.CopyBlockIds(Alice, all));
        for (int layer = 0; layer < 3; layer++)
        {
            var fromPool = new int[3];
            pool.CopyBlockIds(Alice, layer, fromPool);
            var ids = new int[5];
            Assert.Equal(3, manager.CopyBlockIds(Alice, layer, ids));
            Assert.Equal(fromPool, ids[..3]);
            Assert.Equal(fromPool, all[(layer * 3)..((layer + 1) * 3)]);
            var blocks = new KvBlock[3];
            Assert.Equal(3, manager.CopyBlocks(Alice, layer, blocks));
            Assert.Equal(fromPool, blocks.Select(b => b.Id).ToArray());
            Assert.All(blocks, b => Assert.Equal(layer, b.Layer));
            pool.GetKeySpan<Half>(blocks[2]).Fill(Half.One); // the appended block is live
        }

        manager.Truncate(Alice, 4);
        Assert.Equal(1, manager.CopyBlockIds(Alice, all));
        Assert.Equal(1, manager.CopyBlockIds(Alice, 2, all));
    }

    [Fact]
    public void Reading_block_tables_allocates_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 40);
        var ids = new int[64];
        var blocks = new KvBlock[16];
        manager.CopyBlockIds(Alice, ids);
        manager.Append(Alice);
        long start = GC.GetAllocatedBytesForCurrentThread();
        int sum = 0;
        for (int i = 0; i < 100; i++)
        {
            sum += manager.CopyBlockIds(Alice, ids) + manager.CopyBlockIds(Alice, i % 4, ids) + manager.CopyBlocks(Alice, 1, blocks);
            sum += manager.GetTokenSlot(Alice, i % 41).Offset;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - start);
        Assert.True(sum > 0);
    }

    [Fact]
    public void A_leased_agent_is_neither_truncated_nor_released_and_the_books_stay_as_they_were()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 2);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 10); // 3 blocks per layer
        KvCacheLease lease = manager.Lease(Alice);
        AssertRejected<AgentPinnedException>(pool, manager, () => manager.Truncate(Alice, 2), "lease");
        AssertRejected<AgentPinnedException>(pool, manager, () => manager.Release(Alice), "lease");
        Assert.Equal(0, manager.Truncate(Alice, 9)); // no block freed: allowed
        manager.Append(Alice, 4);                     // growth is allowed under a lease
        Assert.Equal(3, lease.GetBlockCount(0));      // the lease keeps what it saw
        lease.Dispose();
        Assert.Equal(3, manager.Truncate(Alice, 2)); // 13 tokens in 4 blocks down to 1 block
        Assert.Equal(2, manager.Release(Alice));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Disposing_the_manager_under_an_open_lease_forgets_the_agent_and_leaves_its_blocks_to_the_pools_leak_report()
    {
        var pool = TestPools.Create(capacity: 32, layers: 2);
        var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 5);
        manager.Admit(Bob, 5);
        KvCacheLease lease = manager.Lease(Alice);
        manager.Dispose();
        Assert.Equal(new Dictionary<AgentId, int> { [Alice] = 4, [Bob] = 4 }, manager.LiveAgentsAtDispose);
        Assert.Equal(4, pool.GetBlockCount(Alice)); // the lease still reads them
        Assert.Equal(0, pool.GetBlockCount(Bob));
        lease.Dispose();
        pool.Dispose();
        Assert.Equal(4, pool.LeakReport!.BlocksByAgent[Alice]);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Bad_arguments_and_unknown_agents_are_refused_and_change_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 2);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 5); // 2 blocks per layer
        var unknown = new AgentId(77);
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.CopyBlockIds(unknown, 0, new int[4]));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.CopyBlockIds(unknown, new int[4]));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.CopyBlocks(unknown, 0, new KvBlock[4]));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.GetTokenSlot(unknown, 0));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.AppendToken(unknown));
        AssertRejected<KeyNotFoundException>(pool, manager, () => manager.Lease(unknown));
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.CopyBlockIds(Alice, 2, new int[4]), "between 0 and 1");
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.CopyBlocks(Alice, -1, new KvBlock[4]));
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.GetTokenSlot(Alice, 5), "0 to 4");
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.GetTokenSlot(Alice, -1));
        AssertRejected<ArgumentOutOfRangeException>(pool, manager, () => manager.Admit(Bob, -1));

        // A short destination is refused before anything is written.
        int[] ids = [-7, -7, -7];
        AssertRejected<ArgumentException>(pool, manager, () => manager.CopyBlockIds(Alice, ids), "holds 3 entries; 4 are needed");
        AssertRejected<ArgumentException>(pool, manager, () => manager.CopyBlockIds(Alice, 0, ids.AsSpan(0, 1)));
        Assert.Equal([-7, -7, -7], ids);
        KvBlock[] blocks = new KvBlock[1];
        AssertRejected<ArgumentException>(pool, manager, () => manager.CopyBlocks(Alice, 0, blocks));
        Assert.True(blocks[0].IsDefault);

        manager.Dispose();
        Assert.Throws<ObjectDisposedException>(() => manager.CopyBlockIds(Alice, ids));
        Assert.Throws<ObjectDisposedException>(() => manager.Lease(Alice));
        Assert.Throws<ObjectDisposedException>(() => manager.AppendToken(Alice));
    }

    private static void AssertRejected<TException>(BlockPool pool, AgentCacheManager manager, Action call, params string[] messageContains)
        where TException : Exception
    {
        string before = $"{manager.DescribeState()}|{PoolAssert.Snapshot(pool)}";
        TException error = Assert.Throws<TException>(call);
        foreach (string part in messageContains)
        {
            Assert.Contains(part, error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, $"{manager.DescribeState()}|{PoolAssert.Snapshot(pool)}");
        PoolAssert.Invariants(pool);
    }
}
