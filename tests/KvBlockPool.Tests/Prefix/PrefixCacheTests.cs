using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Tests.Core;
using KvBlockPool.Tests.Shared;

namespace KvBlockPool.Tests.Prefix;

/// <summary>The prefix cache through the lifecycle layer: sharing, publishing, eviction, refusals.</summary>
public sealed class PrefixCacheTests
{
    // The test spec: 2 layers, 4 tokens per block.
    private const int Chunk = 4;
    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);
    private static readonly AgentId Carol = new(3);

    [Fact]
    public void A_second_agent_with_the_same_prompt_shares_the_published_chunks_and_reads_the_same_bytes()
    {
        using BlockPool pool = Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(10, seed: 1); // 2 full chunks and 2 tokens
        KvPrefixAdmission cold = manager.Admit(Alice, prompt);
        Assert.Equal((10, 0, 10, 0), (cold.PromptTokens, cold.CachedTokens, cold.ComputedTokens, cold.CachedBlocksPerLayer));
        Fill(pool, manager, Alice, 0xA1);
        Assert.Equal(2, manager.PublishComputed(Alice, 10));
        Assert.Equal(0, manager.PublishComputed(Alice, 10)); // already published

        KvPrefixAdmission warm = manager.Admit(Bob, prompt);
        Assert.Equal((8, 2, 2), (warm.CachedTokens, warm.ComputedTokens, warm.CachedBlocksPerLayer));
        for (int layer = 0; layer < 2; layer++)
        {
            var alice = new int[3];
            var bob = new int[3];
            manager.CopyBlockIds(Alice, layer, alice);
            manager.CopyBlockIds(Bob, layer, bob);
            Assert.Equal(alice[..2], bob[..2]); // the chunks are shared
            Assert.NotEqual(alice[2], bob[2]);  // the partial last block is each agent's own
        }

        using (KvCacheLease lease = manager.Lease(Bob))
        {
            Assert.All(lease.GetKeys<byte>(1, 1).ToArray(), b => Assert.Equal(0xA1, b));
        }

        // 6 blocks for Alice, 2 more for Bob (his own last block on each layer); the shared 4 are counted once.
        Assert.Equal(6 + 2, pool.GetStatistics().Allocated);
        KvPrefixCacheStatistics stats = pool.PrefixCache!.GetStatistics();
        Assert.Equal((2, 0, 4, 2L, 20L, 8L, 2L), (stats.CachedChunks, stats.EvictableChunks, stats.CachedBlocks, stats.Lookups, stats.QueriedTokens, stats.HitTokens, stats.StoredChunks));
        Assert.Equal(0.4, stats.HitRate, 3);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void The_whole_prompt_is_never_a_hit_so_the_model_always_computes_the_last_token()
    {
        using BlockPool pool = Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(8, seed: 2); // exactly 2 chunks
        manager.Admit(Alice, prompt);
        manager.PublishComputed(Alice, 8);
        KvPrefixAdmission again = manager.Admit(Bob, prompt);
        Assert.Equal((4, 4), (again.CachedTokens, again.ComputedTokens));
        KvPrefixAdmission one = manager.Admit(Carol, prompt.AsSpan(0, 1));
        Assert.Equal(0, one.CachedTokens);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Appending_a_token_publishes_the_chunks_every_earlier_token_filled()
    {
        using BlockPool pool = Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, Tokens(3, seed: 3));
        Assert.Equal(0, pool.PrefixCache!.GetStatistics().CachedChunks);
        manager.AppendToken(Alice, 3003); // token 3: the first chunk is full but its last token not computed yet
        Assert.Equal(0, pool.PrefixCache.GetStatistics().CachedChunks);
        manager.AppendToken(Alice, 3004); // token 3 was computed: chunk 0 is published
        Assert.Equal(1, pool.PrefixCache.GetStatistics().CachedChunks);

        // Bob's prompt is Alice's first 6 tokens: the published chunk is his hit.
        int[] bob = [.. Tokens(3, seed: 3), 3003, 3004, 77];
        Assert.Equal(4, manager.Admit(Bob, bob).CachedTokens);

        // Tokens appended without ids end the publishing of an agent: its later chunks cannot be keyed.
        manager.AppendToken(Alice);
        for (int i = 0; i < 8; i++)
        {
            manager.AppendToken(Alice, 5000 + i);
        }

        Assert.Equal(1, pool.PrefixCache.GetStatistics().StoredChunks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_released_agents_chunks_stay_cached_until_memory_is_needed_and_then_go_least_recently_used_first()
    {
        using BlockPool pool = Create(capacity: 16); // 8 chunks of 2 layers
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(9, seed: 10)); // 2 chunks + 1 own block: 6 blocks
        Publish(manager, Bob, Tokens(9, seed: 11));
        manager.Release(Alice); // Alice's chunks become evictable first: they are the oldest
        manager.Release(Bob);
        KvPrefixCacheStatistics stats = pool.PrefixCache!.GetStatistics();
        Assert.Equal((4, 4, 8), (stats.CachedChunks, stats.EvictableChunks, stats.EvictableBlocks));
        Assert.Equal(16, pool.GetStatistics().Available); // evictable blocks count as available
        Assert.Equal(0, pool.GetStatistics().Allocated);

        // 12 blocks for Carol: 8 free and 4 evicted — Alice's two chunks, tail first.
        manager.Admit(Carol, Tokens(24, seed: 12));
        stats = pool.PrefixCache.GetStatistics();
        Assert.Equal((2, 2L), (stats.CachedChunks, stats.EvictedChunks));
        Assert.Equal(0, pool.PrefixCache.CountCachedChunks(Keys(pool, Tokens(9, seed: 10))));
        Assert.Equal(2, pool.PrefixCache.CountCachedChunks(Keys(pool, Tokens(9, seed: 11))));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_chains_tail_is_evicted_before_its_head()
    {
        using BlockPool pool = Create(capacity: 8); // 4 chunks
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(13, seed: 20)); // 3 chunks + 1 own block = 8 blocks
        manager.Release(Alice);
        manager.Admit(Bob, Tokens(5, seed: 21)); // 4 blocks: 2 free + 1 chunk evicted (the tail)
        Assert.Equal(2, pool.PrefixCache!.CountCachedChunks(Keys(pool, Tokens(13, seed: 20))));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_lower_priority_agents_chunks_are_evicted_before_a_higher_ones_whatever_their_age()
    {
        using BlockPool pool = Create(capacity: 12);
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(5, seed: 30), priority: 50); // 1 chunk + 1 own block
        Publish(manager, Bob, Tokens(5, seed: 31), priority: 0);
        manager.Release(Alice); // older, but important
        manager.Release(Bob);
        manager.Admit(Carol, Tokens(21, seed: 32)); // 6 blocks per layer? no: 21 tokens = 6 blocks x 2 layers = 12: both go
        manager.Release(Carol);
        Publish(manager, Alice, Tokens(5, seed: 30), priority: 50);
        Publish(manager, Bob, Tokens(5, seed: 31), priority: 0);
        manager.Release(Alice);
        manager.Release(Bob);
        Assert.Equal(8, pool.GetStatistics().Available - pool.PrefixCache!.GetStatistics().EvictableBlocks + 0); // 8 free, 4 evictable
        manager.Admit(Carol, Tokens(17, seed: 33)); // 10 blocks: 8 free + 1 chunk evicted
        Assert.Equal(1, pool.PrefixCache.CountCachedChunks(Keys(pool, Tokens(5, seed: 30))));
        Assert.Equal(0, pool.PrefixCache.CountCachedChunks(Keys(pool, Tokens(5, seed: 31))));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void An_admission_that_free_and_evictable_blocks_cannot_cover_is_refused_and_evicts_nothing()
    {
        using BlockPool pool = Create(capacity: 12);
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(9, seed: 40)); // 6 blocks, 4 of them in chunks
        manager.Release(Alice);
        manager.Admit(Bob, Tokens(5, seed: 41)); // 4 of the 6 free blocks
        string before = PoolAssert.Snapshot(pool);
        BlockPoolExhaustedException error = Assert.Throws<BlockPoolExhaustedException>(() => manager.Admit(Carol, Tokens(17, seed: 42)));
        Assert.Equal(10, error.Requested);
        Assert.Equal(8, error.Available); // 4 free + 4 evictable
        Assert.False(manager.TryAdmit(Carol, Tokens(17, seed: 42), out KvPrefixAdmission none));
        Assert.Equal(default, none);
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        Assert.False(manager.IsAdmitted(Carol));
        Assert.Equal(2, pool.PrefixCache!.GetStatistics().CachedChunks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_hit_is_not_evicted_to_make_room_for_the_admission_that_hits_it()
    {
        using BlockPool pool = Create(capacity: 8);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(13, seed: 50);
        Publish(manager, Alice, prompt); // 3 chunks + 1 own block: the whole pool
        manager.Release(Alice);
        Assert.Equal(12, manager.Admit(Bob, [.. prompt.AsSpan(0, 12), 1]).CachedTokens); // 3 hits; 2 blocks needed: the 2 free
        Assert.Equal(3, pool.PrefixCache!.GetStatistics().CachedChunks);
        manager.Release(Bob);

        // 2 hits, 4 blocks needed: 2 free and chunk 2 evicted, although chunks 0 and 1 are older (Bob released them last, tail first).
        Assert.Equal(8, manager.Admit(Carol, [.. prompt.AsSpan(0, 8), .. Tokens(5, seed: 51)]).CachedTokens);
        Assert.Equal(2, pool.PrefixCache.CountCachedChunks(Keys(pool, prompt)));
        Assert.Equal(2, pool.PrefixCache.GetStatistics().CachedChunks);

        // 2 hits and 2 blocks needed, none free: only the hits themselves could be evicted, so the admission is refused.
        manager.Release(Carol);
        pool.AllocateAllLayers(new AgentId(4), 2);
        string before = PoolAssert.Snapshot(pool);
        BlockPoolExhaustedException error = Assert.Throws<BlockPoolExhaustedException>(() => manager.Admit(Bob, [.. prompt.AsSpan(0, 8), 1]));
        Assert.Equal((2, 4), (error.Requested, error.Available));
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Shared_blocks_cannot_be_written_or_freed_by_one_agent_and_the_refusal_changes_nothing()
    {
        using BlockPool pool = Create(capacity: 16);
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(9, seed: 60));
        var blocks = new KvBlock[3];
        manager.CopyBlocks(Alice, 0, blocks);
        PoolAssert.ThrowsAndChangesNothing<SharedBlockException>(pool, () => pool.GetKeySpan(blocks[0]), "read-only");
        PoolAssert.ThrowsAndChangesNothing<SharedBlockException>(pool, () => pool.GetValueSpan<Half>(blocks[1]), "read-only");
        PoolAssert.ThrowsAndChangesNothing<SharedBlockException>(pool, () => pool.Free(Alice, blocks[0]), "Nothing was freed");
        PoolAssert.ThrowsAndChangesNothing<SharedBlockException>(pool, () => pool.Free(Alice, blocks.AsSpan(1, 2)), "Nothing was freed");
        Assert.Equal(InvalidBlockHandleReason.Shared, Assert.Throws<SharedBlockException>(() => pool.GetBlockSpan(blocks[0])).Reason);
        pool.GetKeySpan(blocks[2]).Fill(1); // the agent's own last block is writable
        using KvCacheLease lease = manager.Lease(Alice);
        Assert.Equal(64, lease.GetKeys<Half>(0, 0).Length); // and the shared ones are read through the lease
    }

    [Fact]
    public void Truncating_drops_whole_shared_chunks_and_copies_the_one_it_ends_inside()
    {
        using BlockPool pool = Create(capacity: 16);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(9, seed: 70);
        manager.Admit(Alice, prompt);
        Fill(pool, manager, Alice, 0xA7);
        manager.PublishComputed(Alice, prompt.Length);
        manager.Admit(Bob, prompt); // shares 2 chunks
        var alice = new KvBlock[3];
        manager.CopyBlocks(Alice, 1, alice);

        // Ending inside chunk 1: Bob's own last block goes, and he gets his own copy of chunk 1 (one block per layer).
        Assert.Equal(1, manager.Truncate(Bob, 6));
        var bob = new KvBlock[2];
        manager.CopyBlocks(Bob, 1, bob);
        Assert.Equal(alice[0], bob[0]);
        Assert.NotEqual(alice[1], bob[1]);
        Assert.All(pool.GetKeySpan(bob[1]).ToArray(), b => Assert.Equal(0xA7, b)); // his own now: writable, with the chunk's bytes
        Assert.Equal((6, 2), (manager.GetInfo(Bob).Tokens, manager.GetInfo(Bob).BlocksPerLayer));
        Assert.Equal(6 + 2, pool.GetStatistics().Allocated); // Alice's 6 (chunk 0 among them, shared with Bob) and Bob's copy
        Assert.Equal(2, pool.PrefixCache!.GetStatistics().CachedChunks);
        manager.Release(Alice);
        Assert.Equal(1, pool.PrefixCache.GetStatistics().EvictableChunks); // chunk 1: Bob no longer references it
        PoolAssert.Invariants(pool);

        // Decoding on, Bob publishes his copy under the key of his own tokens once it is full again.
        manager.AppendToken(Bob, 7);
        manager.AppendToken(Bob, 8);
        manager.AppendToken(Bob, 9);
        Assert.Equal(3, pool.PrefixCache.GetStatistics().CachedChunks);

        Assert.Equal(2, manager.Truncate(Bob, 4)); // his own block and his reference to his chunk go
        Assert.Equal(1, manager.Truncate(Bob, 0));
        Assert.Equal(3, pool.PrefixCache.GetStatistics().EvictableChunks);
        manager.AppendToken(Bob, 1);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Ending_inside_a_shared_chunk_with_no_block_for_the_copy_is_refused_and_changes_nothing()
    {
        using BlockPool pool = Create(capacity: 8);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(8, seed: 71);
        Publish(manager, Alice, prompt); // 2 chunks, every block of Alice's cached
        manager.Admit(Bob, 8); // the other 4 blocks
        string before = PoolAssert.Snapshot(pool);

        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => manager.Truncate(Alice, 7), "2");
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        Assert.Equal(8, manager.GetInfo(Alice).Tokens);

        // With room, the same call copies in place: no block leaves Alice, her last block becomes her own.
        manager.Release(Bob);
        Assert.Equal(0, manager.Truncate(Alice, 7));
        var blocks = new KvBlock[2];
        manager.CopyBlocks(Alice, 0, blocks);
        pool.GetKeySpan(blocks[1]).Fill(1);
        Assert.Throws<SharedBlockException>(() => pool.GetKeySpan(blocks[0]));
        Assert.Equal(1, pool.PrefixCache!.GetStatistics().EvictableChunks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Try_appending_a_token_in_a_full_pool_returns_false_and_changes_nothing_not_even_a_publish()
    {
        using BlockPool pool = Create(capacity: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, Tokens(8, seed: 72)); // 2 blocks per layer: the whole pool, nothing published yet
        string before = PoolAssert.Snapshot(pool);

        Assert.False(manager.TryAppendToken(Alice, 5, out KvTokenSlot refused));

        Assert.Equal(default, refused);
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        Assert.Equal(8, manager.GetInfo(Alice).Tokens);
        Assert.Equal(0, pool.PrefixCache!.GetStatistics().StoredChunks);
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.TryAppendToken(Alice, -1, out _));

        manager.Truncate(Alice, 7);
        Assert.True(manager.TryAppendToken(Alice, 5, out KvTokenSlot slot)); // room in the last block: appended, and chunk 0 published
        Assert.Equal((1, 3), (slot.BlockIndex, slot.Offset));
        Assert.Equal(1, pool.PrefixCache.GetStatistics().StoredChunks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Different_contexts_never_share_chunks()
    {
        using BlockPool pool = Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(9, seed: 80);
        Publish(manager, Alice, prompt, context: new KvPrefixContext("tenant-a"));
        Assert.Equal(0, manager.Admit(Bob, prompt, new KvPrefixContext("tenant-b")).CachedTokens);
        Assert.Equal(0, manager.Admit(Carol, prompt).CachedTokens);
        Assert.Equal(8, manager.Admit(new AgentId(4), prompt, new KvPrefixContext("tenant-a")).CachedTokens);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Two_agents_computing_the_same_chunk_keep_both_copies_and_the_second_stays_its_agents_own()
    {
        using BlockPool pool = Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(9, seed: 90);
        manager.Admit(Alice, prompt);
        manager.Admit(Bob, prompt); // both cold: nothing was published yet
        Assert.Equal(2, manager.PublishComputed(Alice, 9));
        Assert.Equal(0, manager.PublishComputed(Bob, 9));
        KvPrefixCacheStatistics stats = pool.PrefixCache!.GetStatistics();
        Assert.Equal((2L, 2L), (stats.StoredChunks, stats.DuplicateChunks));
        var bob = new KvBlock[3];
        manager.CopyBlocks(Bob, 0, bob);
        pool.GetKeySpan(bob[0]).Fill(3); // Bob's copy is still his, writable
        Assert.Equal(6, manager.Release(Bob));
        Assert.Equal(0, pool.PrefixCache.GetStatistics().EvictableChunks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Reset_evicts_every_unreferenced_chunk_and_keeps_the_referenced_ones()
    {
        using BlockPool pool = Create(capacity: 32, clearMode: BlockClearMode.ZeroOnFree);
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(9, seed: 100));
        Publish(manager, Bob, Tokens(9, seed: 101));
        manager.Release(Alice);
        Assert.Equal(2, pool.PrefixCache!.Reset());
        Assert.Equal((2, 0), (pool.PrefixCache.GetStatistics().CachedChunks, pool.PrefixCache.GetStatistics().EvictableChunks));
        Assert.Equal(0, pool.PrefixCache.Reset());
        Assert.Equal(32 - 6, pool.GetStatistics().Available);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Cached_chunks_are_not_leaks_but_an_agent_holding_shared_blocks_at_dispose_is_reported_with_them()
    {
        BlockPool pool = Create(capacity: 32);
        var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(9, seed: 180));
        manager.Release(Alice);
        pool.PrefixCache!.Pin(Tokens(9, seed: 180));
        manager.Dispose();
        pool.Dispose();
        Assert.Null(pool.LeakReport);

        BlockPool leaky = Create(capacity: 32);
        var leakyManager = new AgentCacheManager(leaky);
        Publish(leakyManager, Alice, Tokens(9, seed: 181));
        leakyManager.Admit(Bob, Tokens(9, seed: 181)); // 2 shared + 1 own block per layer
        leaky.Dispose();
        Assert.NotNull(leaky.LeakReport);
        Assert.Equal(6, leaky.LeakReport.BlocksByAgent[Bob]);
        leakyManager.Dispose();
    }

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree, false)]
    [InlineData(BlockClearMode.None, false)]
    [InlineData(BlockClearMode.ZeroOnFree, true)]
    public void An_evicted_chunks_key_is_gone_and_its_bytes_are_cleared_by_the_clear_mode(BlockClearMode mode, bool diagnostics)
    {
        using BlockPool pool = Create(capacity: 4, clearMode: mode, diagnostics: diagnostics); // 2 chunks
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(5, seed: 110);
        manager.Admit(Alice, prompt);
        Fill(pool, manager, Alice, 0x5A);
        manager.PublishComputed(Alice, 5);
        manager.Release(Alice);
        manager.Admit(Bob, Tokens(8, seed: 111)); // evicts Alice's chunk
        Assert.Equal(0, pool.PrefixCache!.CountCachedChunks(Keys(pool, prompt)));
        using KvCacheLease lease = manager.Lease(Bob);
        bool zeroed = true;
        for (int layer = 0; layer < 2; layer++)
        {
            for (int index = 0; index < 2; index++)
            {
                zeroed &= lease.GetKeys<byte>(layer, index).IndexOfAnyExcept((byte)0) < 0;
            }
        }

        Assert.Equal(mode == BlockClearMode.ZeroOnFree, zeroed);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_pool_holding_only_unreferenced_chunks_can_be_reconfigured_and_the_cache_starts_empty()
    {
        using BlockPool pool = Create(capacity: 16);
        using (var manager = new AgentCacheManager(pool))
        {
            Publish(manager, Alice, Tokens(9, seed: 120));
            manager.Release(Alice);
        }

        pool.Reconfigure(TestPools.Spec(layers: 4));
        Assert.Equal(0, pool.PrefixCache!.GetStatistics().CachedChunks);
        Assert.Equal(16, pool.GetStatistics().Available);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Raw_allocation_evicts_unreferenced_chunks_when_free_blocks_run_short()
    {
        using BlockPool pool = Create(capacity: 8);
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(9, seed: 130)); // 6 blocks
        manager.Release(Alice);
        KvBlock[] blocks = pool.AllocateAllLayers(Bob, 3); // 6 blocks: 4 free + 1 chunk evicted
        Assert.Equal(6, blocks.Length);
        Assert.Equal(1, pool.PrefixCache!.GetStatistics().CachedChunks);
        Assert.Throws<BlockPoolExhaustedException>(() => pool.Allocate(Bob, 0, 3));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_pinned_prefix_is_never_evicted_until_unpinned_and_pins_are_capped()
    {
        using BlockPool pool = Create(capacity: 8); // 4 chunks; pins may hold 4 blocks (half)
        using var manager = new AgentCacheManager(pool);
        int[] system = Tokens(9, seed: 160);
        Publish(manager, Alice, system);
        Assert.Equal(2, pool.PrefixCache!.Pin(system));
        Assert.Equal(0, pool.PrefixCache.Pin(system)); // pinned already
        manager.Release(Alice);
        Assert.Equal((2, 0, 4), (pool.PrefixCache.GetStatistics().PinnedChunks, pool.PrefixCache.GetStatistics().EvictableChunks, pool.GetStatistics().Available));
        Assert.Throws<BlockPoolExhaustedException>(() => pool.AllocateAllLayers(Bob, 3)); // only the 4 free blocks can be had

        // A hit on a pinned chunk references it; releasing leaves it pinned, not evictable.
        Assert.Equal(8, manager.Admit(Carol, system).CachedTokens);
        manager.Release(Carol);
        Assert.Equal(0, pool.PrefixCache.GetStatistics().EvictableChunks);

        // Pinning beyond the share is refused and pins nothing.
        int[] other = Tokens(5, seed: 161);
        Publish(manager, Bob, other);
        string before = PoolAssert.Snapshot(pool);
        InvalidOperationException capped = Assert.Throws<InvalidOperationException>(() => pool.PrefixCache.Pin(other));
        Assert.Contains("MaxPinnedShare", capped.Message, StringComparison.Ordinal);
        Assert.Equal(before, PoolAssert.Snapshot(pool));

        Assert.Equal(2, pool.PrefixCache.Unpin(system));
        Assert.Equal(2, pool.PrefixCache.GetStatistics().EvictableChunks);
        Assert.Equal(1, pool.PrefixCache.Pin(other));
        Assert.Equal(1, pool.PrefixCache.UnpinAll());
        Assert.Equal(0, pool.PrefixCache.UnpinAll());
        Assert.Throws<ArgumentException>(() => TestPools.Create(prefixCache: new KvPrefixCacheOptions { MaxPinnedShare = 0 }));
        Assert.Throws<ArgumentException>(() => TestPools.Create(prefixCache: new KvPrefixCacheOptions { MaxPinnedShare = double.NaN }));
        Assert.Throws<ArgumentException>(() => TestPools.Create(prefixCache: new KvPrefixCacheOptions { MaxPinnedShare = 1.5 }));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public async Task Saving_an_agent_whose_prefix_is_shared_saves_its_bytes_and_the_restore_holds_them_as_its_own()
    {
        using BlockPool pool = Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(9, seed: 170);
        manager.Admit(Alice, prompt);
        Fill(pool, manager, Alice, 0x7E);
        manager.PublishComputed(Alice, 9);
        manager.Admit(Bob, prompt); // shares 2 chunks, owns its last block
        var bobBlocks = new KvBlock[3];
        manager.CopyBlocks(Bob, 1, bobBlocks);
        pool.GetBlockSpan(bobBlocks[2]).Fill(0x42);

        using var saved = new MemoryStream();
        await KvBlockPool.Persistence.KvCacheWriter.SaveAsync(pool, Bob, saved, tokenCount: 9);
        saved.Position = 0;
        var restored = new AgentId(9);
        await KvBlockPool.Persistence.KvCacheReader.RestoreAsync(pool, saved, restored);
        using KvCacheLease lease = pool.Lease(restored);
        for (int layer = 0; layer < 2; layer++)
        {
            Assert.Equal(3, lease.GetBlockCount(layer));
            Assert.All(lease.GetKeys<byte>(layer, 0).ToArray(), b => Assert.Equal(0x7E, b));
            Assert.All(lease.GetValues<byte>(layer, 1).ToArray(), b => Assert.Equal(0x7E, b));
        }

        Assert.All(lease.GetKeys<byte>(1, 2).ToArray(), b => Assert.Equal(0x42, b));
        pool.GetBlockSpan(pool.GetAgentBlocks(restored).GetBlock(0, 0)).Fill(1); // the restored blocks are the agent's own, writable
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Without_a_prefix_cache_the_token_admission_is_refused_clearly()
    {
        using BlockPool pool = TestPools.Create(capacity: 16);
        using var manager = new AgentCacheManager(pool);
        Assert.Null(pool.PrefixCache);
        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => manager.Admit(Alice, Tokens(5, seed: 1)));
        Assert.Contains("BlockPoolOptions.PrefixCache", error.Message, StringComparison.Ordinal);
        Assert.False(manager.IsAdmitted(Alice));
        Assert.Equal(0, manager.PublishComputed(AdmitPlain(manager), 0));
    }

    [Fact]
    public void Hostile_arguments_are_refused_before_anything_changes()
    {
        using BlockPool pool = Create(capacity: 16);
        using var manager = new AgentCacheManager(pool);
        Publish(manager, Alice, Tokens(9, seed: 140));
        string before = PoolAssert.Snapshot(pool);
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.Admit(Bob, new int[1_000_000]));
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.PublishComputed(Alice, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.PublishComputed(Alice, int.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.PublishComputed(Alice, 10));
        Assert.Throws<ArgumentException>(() => manager.Admit(Alice, Tokens(5, seed: 1)));
        Assert.Throws<KeyNotFoundException>(() => manager.PublishComputed(Bob, 0));
        Assert.Throws<KeyNotFoundException>(() => manager.AppendToken(Bob, 1));
        pool.Allocate(Carol, 0);
        string withCarol = PoolAssert.Snapshot(pool);
        Assert.Throws<ArgumentException>(() => manager.Admit(Carol, Tokens(5, seed: 1))); // holds blocks outside the manager
        Assert.Equal(withCarol, PoolAssert.Snapshot(pool));
        pool.FreeAgent(Carol);
        Assert.Equal(before.Split('|')[0].Split("hwm=")[0], PoolAssert.Snapshot(pool).Split('|')[0].Split("hwm=")[0]);
        Assert.False(manager.IsAdmitted(Bob));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_lease_pins_shared_blocks_as_it_pins_the_agents_own()
    {
        using BlockPool pool = Create(capacity: 8);
        using var manager = new AgentCacheManager(pool);
        int[] prompt = Tokens(9, seed: 150);
        Publish(manager, Alice, prompt);
        manager.Admit(Bob, prompt);
        manager.Release(Alice);
        using KvCacheLease lease = manager.Lease(Bob);
        Assert.Throws<AgentPinnedException>(() => manager.Release(Bob));
        Assert.Throws<BlockPoolExhaustedException>(() => pool.AllocateAllLayers(Carol, 2)); // the shared chunks are referenced: not evictable
        Assert.Equal(0, pool.PrefixCache!.GetStatistics().EvictableChunks);
        PoolAssert.Invariants(pool);
    }

    internal static int[] Tokens(int count, int seed) => Enumerable.Range(0, count).Select(i => (seed * 1000) + i).ToArray();

    internal static BlockPool Create(int capacity, BlockClearMode clearMode = BlockClearMode.ZeroOnFree, bool diagnostics = false) =>
        TestPools.Create(capacity: capacity, clearMode: clearMode, diagnostics: diagnostics, prefixCache: new KvPrefixCacheOptions());

    private static AgentId AdmitPlain(AgentCacheManager manager)
    {
        manager.Admit(Bob, 3);
        return Bob;
    }

    private static KvChunkKey[] Keys(BlockPool pool, int[] tokens)
    {
        var keys = new KvChunkKey[tokens.Length / Chunk];
        pool.PrefixCache!.ComputeKeys(tokens, KvPrefixContext.None, keys);
        return keys;
    }

    /// <summary>Admits the agent with its prompt and publishes every full chunk, as after its prefill.</summary>
    private static void Publish(AgentCacheManager manager, AgentId agent, int[] prompt, int priority = 0, KvPrefixContext context = default)
    {
        manager.Admit(agent, prompt, context, priority);
        manager.PublishComputed(agent, prompt.Length);
    }

    /// <summary>Writes <paramref name="value"/> into every block of the agent that is its own (as a prefill would).</summary>
    private static void Fill(BlockPool pool, AgentCacheManager manager, AgentId agent, byte value)
    {
        for (int layer = 0; layer < pool.Spec.Layers; layer++)
        {
            var blocks = new KvBlock[manager.GetInfo(agent).BlocksPerLayer];
            manager.CopyBlocks(agent, layer, blocks);
            foreach (KvBlock block in blocks)
            {
                pool.GetBlockSpan(block).Fill(value);
            }
        }
    }
}
