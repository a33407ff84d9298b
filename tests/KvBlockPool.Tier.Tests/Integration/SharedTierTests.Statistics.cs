using KvBlockPool.Lifecycle;
using KvBlockPool.Redis;

namespace KvBlockPool.Tier.Tests.Integration;

/// <content>The pool's public view of its tier: <see cref="BlockPool.GetTierStatistics"/> and <see cref="BlockPool.FlushTierAsync"/>.</content>
public sealed partial class SharedTierTests
{
    [Fact]
    public async Task The_pool_counts_what_its_tier_wrote_found_and_restored_and_a_flush_waits_for_the_offload()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("statistics"));
        using BlockPool first = Create(store, Secret);
        using BlockPool second = Create(store, Secret);
        using var firstManager = new AgentCacheManager(first);
        using var secondManager = new AgentCacheManager(second);
        Assert.Equal(default(KvTierStatistics), first.GetTierStatistics());

        await firstManager.AdmitAsync(new AgentId(1), Prompt);
        firstManager.PublishComputed(new AgentId(1), Prompt.Length);
        await first.FlushTierAsync();
        Assert.Equal(new KvTierStatistics(Offloaded: 3, AlreadyStored: 0, NotOffloaded: 0, Restored: 0, Rejected: 0), first.GetTierStatistics());

        // The second host restores the three chunks; republished as its own, they are found in the tier, not rewritten.
        KvPrefixAdmission warm = await secondManager.AdmitAsync(new AgentId(2), Prompt);
        Assert.Equal(12, warm.TierTokens);
        await second.FlushTierAsync();
        Assert.Equal(new KvTierStatistics(Offloaded: 0, AlreadyStored: 3, NotOffloaded: 0, Restored: 3, Rejected: 0), second.GetTierStatistics());

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        firstManager.Release(new AgentId(1));
        await first.FlushTierAsync(cancelled.Token); // nothing is left to wait for: done at once, even when cancelled
        secondManager.Release(new AgentId(2));
    }

    [Fact]
    public async Task A_flush_after_an_overflowing_offload_returns_only_when_the_offload_has_let_go_of_every_chunk()
    {
        // A one-event queue overflows at once, and a small pool evicts as it goes: the gaps lose stores and removals
        // alike, so a flush that counted chunks rather than events would return while a chunk is still being copied.
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("overflow"));
        using var pool = new BlockPool(new BlockPoolOptions
        {
            Spec = Spec,
            CapacityBlocks = 30,
            PrefixCache = new() { KeySecret = Secret, Tier = new KvTierOptions { Store = store, OffloadQueueCapacity = 1 } },
        });
        using var manager = new AgentCacheManager(pool);
        for (int round = 0; round < 40; round++)
        {
            var agent = new AgentId(round + 1);
            int[] prompt = [.. Enumerable.Range(1000 * (round + 1), 14)];
            manager.Admit(agent, prompt);
            manager.PublishComputed(agent, prompt.Length);
            manager.Release(agent);
        }

        await pool.FlushTierAsync();

        Prefix.KvPrefixCacheStatistics cache = pool.PrefixCache!.GetStatistics();
        Assert.Equal(cache.CachedChunks, cache.EvictableChunks); // no chunk is held by the offload any more
        KvTierStatistics tier = pool.GetTierStatistics()!.Value;
        Assert.True(tier.Offloaded + tier.AlreadyStored + tier.NotOffloaded >= cache.StoredChunks, $"{tier} for {cache.StoredChunks} chunks");
        Assert.True(tier.NotOffloaded > 0, tier.ToString()); // the queue did overflow
        Assert.Equal(0, pool.GetStatistics().Allocated);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public async Task A_pool_without_a_tier_has_no_tier_statistics_and_nothing_to_flush_and_a_disposed_pool_refuses_both()
    {
        var pool = new BlockPool(new BlockPoolOptions { Spec = Spec, CapacityBlocks = 8, PrefixCache = new() });
        Assert.Null(pool.GetTierStatistics());
        Assert.True(pool.FlushTierAsync().IsCompletedSuccessfully);

        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.GetTierStatistics());
        Assert.Throws<ObjectDisposedException>(() => { _ = pool.FlushTierAsync(); }); // at the call, not in the task
    }
}
