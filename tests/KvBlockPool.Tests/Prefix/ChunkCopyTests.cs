using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Tests.Core;
using KvBlockPool.Tests.Persistence;

namespace KvBlockPool.Tests.Prefix;

/// <summary><see cref="KvPrefixCache.TryCopyChunk"/>: a cached chunk's bytes, every layer, read out by key.</summary>
public sealed class ChunkCopyTests
{
    private static readonly AgentId Alice = new(1);

    [Fact]
    public void A_cached_chunk_is_copied_layer_by_layer_as_its_blocks_hold_it()
    {
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 3, prefixCache: new KvPrefixCacheOptions());
        using var manager = new AgentCacheManager(pool);
        int[] prompt = [.. Enumerable.Range(100, 9)]; // 2 full chunks of 4 tokens and 1 token
        manager.Admit(Alice, prompt);
        var random = new Random(5);
        AgentBlocks view = pool.GetAgentBlocks(Alice);
        for (int layer = 0; layer < 3; layer++)
        {
            foreach (KvBlock own in view.GetBlocks(layer))
            {
                random.NextBytes(pool.GetBlockSpan(own));
            }
        }

        byte[][] expected = PersistenceKit.Snapshot(pool, Alice);
        manager.PublishComputed(Alice, prompt.Length);
        var keys = new KvChunkKey[2];
        pool.PrefixCache!.ComputeKeys(prompt, default, keys);
        int block = pool.Spec.BytesPerBlock;
        Assert.Equal(3L * block, pool.PrefixCache.ChunkBytes);

        for (int chunk = 0; chunk < 2; chunk++)
        {
            var bytes = new byte[pool.PrefixCache.ChunkBytes + 7]; // longer is fine; the tail is left alone
            Assert.True(pool.PrefixCache.TryCopyChunk(keys[chunk], bytes));
            for (int layer = 0; layer < 3; layer++)
            {
                Assert.True(bytes.AsSpan(layer * block, block).SequenceEqual(expected[layer].AsSpan(chunk * block, block)), $"chunk {chunk}, layer {layer}");
            }

            Assert.All(bytes[^7..], b => Assert.Equal(0, b));
        }

        // Held only for the copy: afterwards the released chunks are evictable as before.
        manager.Release(Alice);
        Assert.Equal(2, pool.PrefixCache.GetStatistics().EvictableChunks);
        Assert.True(pool.PrefixCache.TryCopyChunk(keys[1], new byte[pool.PrefixCache.ChunkBytes]));
        Assert.Equal(2, pool.PrefixCache.GetStatistics().EvictableChunks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void An_unknown_key_copies_nothing_and_a_short_destination_is_refused_before_anything()
    {
        using BlockPool pool = TestPools.Create(capacity: 16, prefixCache: new KvPrefixCacheOptions());
        using var manager = new AgentCacheManager(pool);
        int[] prompt = [1, 2, 3, 4, 5];
        manager.Admit(Alice, prompt);
        manager.PublishComputed(Alice, prompt.Length);
        var keys = new KvChunkKey[1];
        pool.PrefixCache!.ComputeKeys(prompt, default, keys);
        var bytes = new byte[pool.PrefixCache.ChunkBytes];
        bytes.AsSpan().Fill(0x5A);

        Assert.False(pool.PrefixCache.TryCopyChunk(new KvChunkKey(1, 2), bytes));
        Assert.All(bytes, b => Assert.Equal(0x5A, b));
        ArgumentException shortError = PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => pool.PrefixCache.TryCopyChunk(keys[0], bytes.AsSpan(1)), "Nothing was copied");
        Assert.Equal("destination", shortError.ParamName);
        Assert.All(bytes, b => Assert.Equal(0x5A, b));

        manager.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.PrefixCache.TryCopyChunk(keys[0], bytes));
    }
}
