using KvBlockPool.Prefix;
using KvBlockPool.Tests.Shared;

namespace KvBlockPool.Tests.Prefix;

/// <summary>Chunk keys: chained, deterministic under one secret, and different wherever sharing would be wrong.</summary>
public sealed class ChunkKeyTests
{
    private static readonly byte[] Secret = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

    [Theory]
    [InlineData(KvChunkHashAlgorithm.XxHash128)]
    [InlineData(KvChunkHashAlgorithm.HmacSha256)]
    public void Keys_chain_each_chunk_on_its_parent_and_ignore_a_partial_last_chunk(KvChunkHashAlgorithm algorithm)
    {
        using BlockPool pool = Create(algorithm);
        KvPrefixCache cache = pool.PrefixCache!;
        int[] tokens = Enumerable.Range(100, 10).ToArray(); // 4 tokens per chunk: 2 full chunks
        var keys = new KvChunkKey[3];
        Assert.Equal(2, cache.ComputeKeys(tokens, KvPrefixContext.None, keys));
        Assert.True(keys[2].IsDefault);
        Assert.NotEqual(keys[0], keys[1]);

        // Chaining: the second key computed from the first equals the second computed from the root.
        var second = new KvChunkKey[1];
        Assert.Equal(1, cache.ComputeKeys(keys[0], tokens.AsSpan(4, 4), second));
        Assert.Equal(keys[1], second[0]);

        // The same tokens after another first chunk give another key: a key names the whole prefix.
        int[] other = [.. tokens];
        other[0]++;
        var otherKeys = new KvChunkKey[2];
        cache.ComputeKeys(other, KvPrefixContext.None, otherKeys);
        Assert.NotEqual(keys[0], otherKeys[0]);
        Assert.NotEqual(keys[1], otherKeys[1]);
    }

    [Fact]
    public void The_same_secret_gives_the_same_keys_in_every_pool_and_another_secret_or_spec_or_context_does_not()
    {
        int[] tokens = Enumerable.Range(7, 8).ToArray();
        KvChunkKey First(BlockPool pool, KvPrefixContext context = default)
        {
            var keys = new KvChunkKey[2];
            pool.PrefixCache!.ComputeKeys(tokens, context, keys);
            return keys[0];
        }

        using BlockPool a = Create(KvChunkHashAlgorithm.XxHash128);
        using BlockPool b = Create(KvChunkHashAlgorithm.XxHash128);
        using BlockPool otherSecret = TestPools.Create(prefixCache: new KvPrefixCacheOptions { KeySecret = [.. Secret.Reverse()] });
        using BlockPool randomSecret = TestPools.Create(prefixCache: new KvPrefixCacheOptions());
        using BlockPool otherSpec = TestPools.Create(spec: TestPools.Spec(layers: 3), prefixCache: new KvPrefixCacheOptions { KeySecret = Secret });
        using BlockPool hmac = Create(KvChunkHashAlgorithm.HmacSha256);
        KvChunkKey key = First(a);
        Assert.Equal(key, First(b));
        Assert.NotEqual(key, First(otherSecret));
        Assert.NotEqual(key, First(randomSecret));
        Assert.NotEqual(key, First(otherSpec));
        Assert.NotEqual(key, First(hmac));
        Assert.NotEqual(key, First(a, new KvPrefixContext("tenant-a")));
        Assert.NotEqual(First(a, new KvPrefixContext("tenant-a")), First(a, new KvPrefixContext("tenant-b")));
        Assert.NotEqual(First(a, new KvPrefixContext("ab", "c")), First(a, new KvPrefixContext("a", "bc")));
        Assert.NotEqual(First(a, new KvPrefixContext(null, "lora-1")), First(a, new KvPrefixContext("lora-1")));
        Assert.Equal(key, First(a, new KvPrefixContext(string.Empty, string.Empty))); // empty is none
    }

    [Fact]
    public void A_key_round_trips_through_its_bytes_and_its_text()
    {
        var key = new KvChunkKey(0x0123456789abcdef, 0xfedcba9876543210);
        Span<byte> bytes = stackalloc byte[16];
        key.WriteTo(bytes);
        Assert.Equal(key, KvChunkKey.Read(bytes));
        Assert.Equal("0123456789abcdeffedcba9876543210", key.ToString());
        Assert.True(key == new KvChunkKey(key.High, key.Low));
        Assert.True(key != default);
        Assert.False(key.Equals((object)"x"));
        Assert.Throws<ArgumentException>(() => KvChunkKey.Read(new byte[15]));
        var shortBuffer = new byte[15];
        Assert.Throws<ArgumentException>(() => key.WriteTo(shortBuffer));
        Assert.All(shortBuffer, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Bad_options_and_arguments_are_refused_with_the_setting_named()
    {
        ArgumentException shortSecret = Assert.Throws<ArgumentException>(() => TestPools.Create(prefixCache: new KvPrefixCacheOptions { KeySecret = new byte[15] }));
        Assert.Contains("KeySecret is 15 bytes", shortSecret.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => TestPools.Create(prefixCache: new KvPrefixCacheOptions { KeySecret = new byte[1025] }));
        ArgumentException algorithm = Assert.Throws<ArgumentException>(() => TestPools.Create(prefixCache: new KvPrefixCacheOptions { HashAlgorithm = (KvChunkHashAlgorithm)9 }));
        Assert.Contains("HashAlgorithm", algorithm.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new KvPrefixContext(new string('s', KvPrefixContext.MaxLength + 1)));
        Assert.Equal("salt, adapter", new KvPrefixContext("s", "a").ToString());
        Assert.DoesNotContain("secret-salt", new KvPrefixContext("secret-salt").ToString(), StringComparison.Ordinal);

        using BlockPool pool = Create(KvChunkHashAlgorithm.XxHash128);
        var keys = new KvChunkKey[1];
        Assert.Throws<ArgumentException>(() => pool.PrefixCache!.ComputeKeys(new int[8], KvPrefixContext.None, keys));
        Assert.True(keys[0].IsDefault);
    }

    [Fact]
    public void The_secret_is_copied_so_changing_the_array_later_changes_nothing()
    {
        byte[] secret = [.. Secret];
        using BlockPool pool = TestPools.Create(prefixCache: new KvPrefixCacheOptions { KeySecret = secret });
        KvChunkKey before = pool.PrefixCache!.GetRootKey(default);
        secret[0] ^= 0xff;
        Assert.Equal(before, pool.PrefixCache.GetRootKey(default));
    }

    private static BlockPool Create(KvChunkHashAlgorithm algorithm) =>
        TestPools.Create(prefixCache: new KvPrefixCacheOptions { KeySecret = Secret, HashAlgorithm = algorithm });
}
