using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;

namespace KvBlockPool.Tier.Tests.Integration;

/// <content><see cref="AgentCacheManager.PrefetchAsync"/>: a prompt's chunks restored ahead of its admission.</content>
public sealed partial class SharedTierTests
{
    [Fact]
    public async Task A_prefetched_prompt_is_admitted_from_the_pool_with_its_restored_bytes_and_no_tier_read()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("prefetch"));
        using BlockPool first = Create(store, Secret);
        using var firstManager = new AgentCacheManager(first);
        await firstManager.AdmitAsync(new AgentId(1), Prompt);
        byte[][] computed = Compute(first, firstManager, new AgentId(1), seed: 5);
        firstManager.PublishComputed(new AgentId(1), Prompt.Length);
        await first.FlushTierAsync();

        using BlockPool second = Create(store, Secret);
        using var secondManager = new AgentCacheManager(second);
        Assert.Equal(12, await secondManager.PrefetchAsync(new AgentId(7), Prompt));

        // Nothing is held for the agent meanwhile: its chunks are cached, unreferenced; then a plain admission hits them.
        Assert.Equal(0, second.GetStatistics().Allocated);
        Assert.Equal(3, second.PrefixCache!.GetStatistics().EvictableChunks);
        Assert.Equal(3, second.GetTierStatistics()!.Value.Restored);
        KvPrefixAdmission admission = secondManager.Admit(new AgentId(7), Prompt);
        Assert.Equal((12, 0), (admission.LocalTokens, admission.TierTokens));
        using (KvCacheLease lease = secondManager.Lease(new AgentId(7)))
        {
            for (int layer = 0; layer < Spec.Layers; layer++)
            {
                byte[] bytes = [.. lease.GetKeys<byte>(layer, 1), .. lease.GetValues<byte>(layer, 1)];
                Assert.True(bytes.AsSpan().SequenceEqual(computed[layer].AsSpan(Spec.BytesPerBlock, Spec.BytesPerBlock)), $"layer {layer}");
            }
        }

        // Prefetching what the pool holds reads nothing more from the tier.
        secondManager.Release(new AgentId(7));
        Assert.Equal(12, await secondManager.PrefetchAsync(new AgentId(8), Prompt));
        Assert.Equal(3, second.GetTierStatistics()!.Value.Restored);
        Assert.Null(second.FindInvariantViolation());
    }

    [Fact]
    public async Task A_refused_prefetch_changes_nothing()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("prefetch-refused"));
        using BlockPool pool = Create(store, Secret);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(new AgentId(1), Prompt);
        BlockPoolStatistics before = pool.GetStatistics();
        KvPrefixCacheStatistics cacheBefore = pool.PrefixCache!.GetStatistics();

        await Assert.ThrowsAsync<ArgumentException>(() => manager.PrefetchAsync(new AgentId(1), Prompt)); // admitted
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => manager.PrefetchAsync(new AgentId(2), new int[(pool.Capacity * Spec.TokensPerBlock) + 1]));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => manager.PrefetchAsync(new AgentId(2), Prompt, cancellationToken: cancelled.Token));

        Assert.Equal(before, pool.GetStatistics());
        Assert.Equal(cacheBefore, pool.PrefixCache.GetStatistics());
        Assert.Equal(1, manager.AgentCount);
    }

    [Fact]
    public async Task Without_a_tier_a_prefetch_reads_nothing_and_says_what_the_pool_holds()
    {
        using var pool = new BlockPool(new BlockPoolOptions { Spec = Spec, CapacityBlocks = 60, PrefixCache = new() { KeySecret = Secret } });
        using var manager = new AgentCacheManager(pool);
        Assert.Equal(0, await manager.PrefetchAsync(new AgentId(1), Prompt));
        manager.Admit(new AgentId(1), Prompt);
        manager.PublishComputed(new AgentId(1), Prompt.Length);
        manager.Release(new AgentId(1));

        Assert.Equal(12, await manager.PrefetchAsync(new AgentId(2), Prompt));
        Assert.Equal(0, pool.GetStatistics().Allocated);
        using var plain = new BlockPool(new BlockPoolOptions { Spec = Spec, CapacityBlocks = 4 });
        using var plainManager = new AgentCacheManager(plain);
        await Assert.ThrowsAsync<InvalidOperationException>(() => plainManager.PrefetchAsync(new AgentId(1), Prompt)); // no prefix cache
    }
}
