using System.IO.Hashing;
using System.Text;
using KvBlockPool.Persistence;
using KvBlockPool.Prefix;

namespace KvBlockPool.Tier.Tests.Codec;

/// <summary>The key layout of docs/tier-format.md, and the spec fingerprint shared with the saved-cache format.</summary>
public sealed class KvTierKeyTests
{
    [Fact]
    public void The_text_form_names_version_fingerprint_salt_and_chunk_with_the_chunk_as_hash_tag()
    {
        var key = new KvTierKey(0x1122334455667788, 0x00000000000000ff, new KvChunkKey(0x0123456789abcdef, 0xfedcba9876543210));
        string expected = "v1:1122334455667788:00000000000000ff:{0123456789abcdeffedcba9876543210}";

        Assert.Equal(expected, key.ToString());
        Assert.Equal(KvTierKey.FormattedLength, expected.Length);
        var bytes = new byte[KvTierKey.FormattedLength + 3];
        Assert.Equal(KvTierKey.FormattedLength, key.Format(bytes));
        Assert.Equal(expected, Encoding.ASCII.GetString(bytes, 0, KvTierKey.FormattedLength));
        Assert.Throws<ArgumentException>(() => key.Format(new byte[KvTierKey.FormattedLength - 1]));
    }

    [Fact]
    public async Task The_spec_fingerprint_hashes_the_same_24_bytes_a_saved_cache_header_carries_at_16()
    {
        KvCacheSpec spec = KvCacheSpec.Qwen25_7B();
        using var pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBytes = 4L * spec.BytesPerBlock * spec.Layers });
        pool.AllocateAllLayers(new AgentId(1), 1);
        using var saved = new MemoryStream();
        await KvCacheWriter.SaveAsync(pool, new AgentId(1), saved, tokenCount: 1);

        byte[] header = saved.ToArray();
        Assert.Equal(XxHash3.HashToUInt64(header.AsSpan(16, 24)), KvTierKey.GetSpecFingerprint(spec));
        Assert.Equal(KvTierKey.GetSpecFingerprint(KvCacheSpec.Qwen25_7B()), KvTierKey.GetSpecFingerprint(spec)); // equal specs, equal fingerprints
        Assert.NotEqual(KvTierKey.GetSpecFingerprint(spec.WithLayout(KvBlockLayout.TokenMajor)), KvTierKey.GetSpecFingerprint(spec));
    }

    [Fact]
    public void The_salt_id_comes_from_the_root_key_so_salts_differ_and_secrets_matter()
    {
        KvCacheSpec spec = KvCacheSpec.TinyLlama_1_1B();
        byte[] secret = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        using BlockPool a = Pool(spec, secret);
        using BlockPool b = Pool(spec, secret);
        using BlockPool other = Pool(spec, secret.Reverse().ToArray());

        ulong tenant = KvTierKey.GetSaltId(a.PrefixCache!.GetRootKey(new KvPrefixContext("tenant-a")));
        Assert.Equal(tenant, KvTierKey.GetSaltId(b.PrefixCache!.GetRootKey(new KvPrefixContext("tenant-a")))); // another host, same secret
        Assert.NotEqual(tenant, KvTierKey.GetSaltId(a.PrefixCache.GetRootKey(new KvPrefixContext("tenant-b"))));
        Assert.NotEqual(tenant, KvTierKey.GetSaltId(other.PrefixCache!.GetRootKey(new KvPrefixContext("tenant-a"))));
    }

    [Fact]
    public void A_default_chunk_key_names_no_chunk_and_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new KvTierKey(1, 2, default));
        Assert.Throws<ArgumentNullException>(() => KvTierKey.GetSpecFingerprint(null!));
    }

    [Fact]
    public void Keys_compare_by_all_three_parts()
    {
        var chunk = new KvChunkKey(1, 2);
        Assert.Equal(new KvTierKey(1, 2, chunk), new KvTierKey(1, 2, chunk));
        Assert.True(new KvTierKey(1, 2, chunk) != new KvTierKey(1, 3, chunk));
        Assert.True(new KvTierKey(1, 2, chunk) != new KvTierKey(0, 2, chunk));
        Assert.False(new KvTierKey(1, 2, chunk).Equals(new KvTierKey(1, 2, new KvChunkKey(1, 3))));
    }

    private static BlockPool Pool(KvCacheSpec spec, byte[] secret) => new(new BlockPoolOptions
    {
        Spec = spec,
        CapacityBytes = 8L * spec.BytesPerBlock * spec.Layers,
        PrefixCache = new KvPrefixCacheOptions { KeySecret = secret },
    });
}
