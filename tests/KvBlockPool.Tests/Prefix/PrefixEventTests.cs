using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Tests.Shared;

namespace KvBlockPool.Tests.Prefix;

/// <summary>The prefix cache's events: numbered, complete, never blocking the pool, gaps reported, snapshots to resynchronise.</summary>
public sealed class PrefixEventTests
{
    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);

    [Fact]
    public void Stored_removed_and_cleared_events_arrive_numbered_in_the_order_of_the_changes()
    {
        using BlockPool pool = PrefixCacheTests.Create(capacity: 8);
        using var manager = new AgentCacheManager(pool);
        using KvPrefixSubscription events = pool.PrefixCache!.Subscribe();
        int[] prompt = PrefixCacheTests.Tokens(9, seed: 1);
        var context = new KvPrefixContext("tenant");
        manager.Admit(Alice, prompt, context);
        manager.PublishComputed(Alice, 9);
        var keys = new KvChunkKey[2];
        pool.PrefixCache.ComputeKeys(prompt, context, keys);
        KvChunkKey root = pool.PrefixCache.GetRootKey(context);

        KvPrefixEvent[] stored = [Read(events), Read(events)];
        Assert.Equal((KvPrefixEventKind.Stored, 1L, keys[0], root, root, 4), (stored[0].Kind, stored[0].Sequence, stored[0].Key, stored[0].ParentKey, stored[0].ContextKey, stored[0].TokenCount));
        Assert.Equal((KvPrefixEventKind.Stored, 2L, keys[1], keys[0], root), (stored[1].Kind, stored[1].Sequence, stored[1].Key, stored[1].ParentKey, stored[1].ContextKey));
        Assert.False(events.TryRead(out _));

        manager.Release(Alice);
        pool.AllocateAllLayers(Bob, 3); // 6 blocks: 4 free and the tail chunk evicted
        KvPrefixEvent removed = Read(events);
        Assert.Equal((KvPrefixEventKind.Removed, 3L, keys[1]), (removed.Kind, removed.Sequence, removed.Key));
        pool.FreeAgent(Bob);
        Assert.Equal(1, pool.PrefixCache.Reset());
        KvPrefixEvent reset = Read(events);
        Assert.Equal((KvPrefixEventKind.Removed, 4L, keys[0]), (reset.Kind, reset.Sequence, reset.Key));
        pool.Reconfigure(TestPools.Spec(layers: 4));
        Assert.Equal(KvPrefixEventKind.AllCleared, Read(events).Kind);
        Assert.Contains("Removed", removed.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_subscriber_that_falls_behind_gets_a_gap_with_the_count_lost_where_they_were_lost()
    {
        using BlockPool pool = PrefixCacheTests.Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        using KvPrefixSubscription events = pool.PrefixCache!.Subscribe(capacity: 2);
        manager.Admit(Alice, PrefixCacheTests.Tokens(21, seed: 2)); // 5 chunks
        Assert.Equal(5, manager.PublishComputed(Alice, 21));       // events 1 and 2 fit; 3 to 5 are dropped
        Assert.Equal(1L, Read(events).Sequence);
        Assert.Equal(2L, Read(events).Sequence);
        KvPrefixEvent gap = Read(events);
        Assert.Equal((KvPrefixEventKind.Gap, 3L, 3L), (gap.Kind, gap.Sequence, gap.Lost));
        Assert.False(events.TryRead(out _));

        // A loss between two events that fit is reported between them.
        manager.Admit(Bob, PrefixCacheTests.Tokens(13, seed: 3));
        manager.PublishComputed(Bob, 4);  // event 6 fits
        manager.PublishComputed(Bob, 8);  // event 7 fits
        manager.PublishComputed(Bob, 12); // event 8 is dropped
        Assert.Equal(6L, Read(events).Sequence);
        manager.Release(Alice); // nothing evicted: no event
        pool.PrefixCache.Reset(); // events 9.. (5 removals): 9 fits after 7 is read
        Assert.Equal(7L, Read(events).Sequence);
        KvPrefixEvent between = Read(events);
        Assert.Equal((KvPrefixEventKind.Gap, 8L, 1L), (between.Kind, between.Sequence, between.Lost));
        Assert.Equal(9L, Read(events).Sequence);
        Assert.Contains("lost", between.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_snapshot_lists_every_cached_chunk_and_the_last_event_it_includes()
    {
        using BlockPool pool = PrefixCacheTests.Create(capacity: 32);
        using var manager = new AgentCacheManager(pool);
        Assert.Equal(0L, pool.PrefixCache!.GetSnapshot().Sequence);
        manager.Admit(Alice, PrefixCacheTests.Tokens(9, seed: 4));
        manager.PublishComputed(Alice, 9);
        KvPrefixSnapshot snapshot = pool.PrefixCache.GetSnapshot();
        Assert.Equal(2L, snapshot.Sequence);
        Assert.Equal(2, snapshot.Chunks.Count);
        var keys = new KvChunkKey[2];
        pool.PrefixCache.ComputeKeys(PrefixCacheTests.Tokens(9, seed: 4), KvPrefixContext.None, keys);
        Assert.Equal(keys.OrderBy(k => k.ToString()), snapshot.Chunks.Select(c => c.Key).OrderBy(k => k.ToString()));
        Assert.All(snapshot.Chunks, c => Assert.Equal(KvPrefixEventKind.Stored, c.Kind));
    }

    [Fact]
    public async Task Disposing_the_pool_clears_and_ends_every_subscription_after_its_buffered_events()
    {
        BlockPool pool = PrefixCacheTests.Create(capacity: 16);
        KvPrefixSubscription events = pool.PrefixCache!.Subscribe();
        using (var manager = new AgentCacheManager(pool))
        {
            manager.Admit(Alice, PrefixCacheTests.Tokens(5, seed: 5));
            manager.PublishComputed(Alice, 5);
        }

        pool.Dispose();
        var seen = new List<KvPrefixEventKind>();
        await foreach (KvPrefixEvent e in events.ReadAllAsync())
        {
            seen.Add(e.Kind);
        }

        Assert.Equal([KvPrefixEventKind.Stored, KvPrefixEventKind.AllCleared], seen);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await events.ReadAsync());
        Assert.Throws<ObjectDisposedException>(() => pool.PrefixCache.Subscribe());
        events.Dispose();
    }

    [Fact]
    public async Task A_reader_waiting_for_an_event_gets_it_when_it_happens()
    {
        using BlockPool pool = PrefixCacheTests.Create(capacity: 16);
        using var manager = new AgentCacheManager(pool);
        using KvPrefixSubscription events = pool.PrefixCache!.Subscribe();
        ValueTask<KvPrefixEvent> next = events.ReadAsync();
        Assert.False(next.IsCompleted);
        manager.Admit(Alice, PrefixCacheTests.Tokens(5, seed: 6));
        manager.PublishComputed(Alice, 5);
        Assert.Equal(KvPrefixEventKind.Stored, (await next.AsTask().WaitAsync(TimeSpan.FromSeconds(30))).Kind);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await events.ReadAsync(cancelled.Token));
    }

    [Fact]
    public void An_unsubscribed_reader_gets_no_more_events_and_bad_capacities_are_refused()
    {
        using BlockPool pool = PrefixCacheTests.Create(capacity: 16);
        using var manager = new AgentCacheManager(pool);
        KvPrefixSubscription events = pool.PrefixCache!.Subscribe(capacity: 1);
        Assert.Equal(1, events.Capacity);
        events.Dispose();
        events.Dispose();
        manager.Admit(Alice, PrefixCacheTests.Tokens(5, seed: 7));
        manager.PublishComputed(Alice, 5);
        Assert.False(events.TryRead(out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.PrefixCache.Subscribe(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.PrefixCache.Subscribe(int.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.PrefixCache.Subscribe(-1));
    }

    private static KvPrefixEvent Read(KvPrefixSubscription events)
    {
        Assert.True(events.TryRead(out KvPrefixEvent e), "an event was expected");
        return e;
    }
}
