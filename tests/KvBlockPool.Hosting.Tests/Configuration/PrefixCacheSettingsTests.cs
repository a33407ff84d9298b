using System.Text;
using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Hosting.Tests.Configuration;

/// <summary>
/// The <c>PrefixCache</c> section turns the pool's prefix cache on with its settings; a bad value fails the start
/// naming its key, and the key secret never appears in a message or a log line. Alone (not parallel) so
/// <see cref="BlockPool.LiveNativeBytes"/> is ours to read.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class PrefixCacheSettingsTests
{
    // 32 bytes that read as text in neither base64 nor hex, so a leak of either form is found by a substring search.
    private static readonly byte[] Secret = [.. Enumerable.Range(0, 32).Select(i => (byte)(0xA5 ^ (i * 37)))];
    private static readonly string SecretBase64 = Convert.ToBase64String(Secret);

    public static TheoryData<string, string[]> BadSections => new()
    {
        { "PrefixCache:MaxPinnedShare=0", ["KvBlockPool:PrefixCache:MaxPinnedShare: 0. Give a share of the pool above 0 and at most 1 (0.5 by default)."] },
        { "PrefixCache:MaxPinnedShare=1.5", ["KvBlockPool:PrefixCache:MaxPinnedShare: 1.5. Give a share"] },
        { "PrefixCache:MaxPinnedShare=NaN", ["KvBlockPool:PrefixCache:MaxPinnedShare: NaN. Give a share"] },
        { "PrefixCache:MaxPinnedShare=half", ["KvBlockPool:PrefixCache:MaxPinnedShare: 'half' is not a number. Write a share of the pool above 0 and at most 1, such as 0.25."] },
        { "PrefixCache:HashAlgorithm=Md5", ["KvBlockPool:PrefixCache:HashAlgorithm: 'Md5' is not a chunk hash algorithm. Use one of: XxHash128, HmacSha256."] },
        { "PrefixCache:Enabled=on", ["KvBlockPool:PrefixCache:Enabled: 'on' is not a boolean. Write true or false."] },
        { "PrefixCache:Size=3", ["KvBlockPool:PrefixCache:Size: not a setting of the prefix cache. Use: Enabled, KeySecret, HashAlgorithm, MaxPinnedShare."] },
        { "PrefixCache:KeySecret:Value=x", ["KvBlockPool:PrefixCache:KeySecret: expected a single value, found a section."] },
        { "PrefixCache=true", ["KvBlockPool:PrefixCache: expected a section with the keys Enabled, KeySecret, HashAlgorithm, MaxPinnedShare, found a single value. Write \"PrefixCache\": { } to turn the cache on with its defaults."] },
        { "PrefixCache:KeySecret=c2hvcnQ=", ["KvBlockPool:PrefixCache:KeySecret: decodes to 5 bytes (not shown). Give 16 to 1024 random bytes (32 is a good size), or leave it out for a random secret per pool."] },
        { "PrefixCache:KeySecret=not base64 at all!", ["KvBlockPool:PrefixCache:KeySecret: the value (18 characters, not shown) is not base64. Write 16 to 1024 random bytes in base64"] },
    };

    [Fact]
    public void Every_setting_of_the_section_reaches_the_pool()
    {
        using ServiceProvider services = Services(Small(
            ("PrefixCache:KeySecret", SecretBase64), ("PrefixCache:HashAlgorithm", "hmacsha256"), ("PrefixCache:MaxPinnedShare", "0.25")));

        KvPrefixCacheOptions bound = services.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.PrefixCache!;
        Assert.Equal(Secret, bound.KeySecret);
        Assert.Equal(KvChunkHashAlgorithm.HmacSha256, bound.HashAlgorithm);
        Assert.Equal(0.25, bound.MaxPinnedShare);

        // The secret and the algorithm reached the pool: it computes the keys a pool built by hand with them computes.
        BlockPool pool = services.GetRequiredService<BlockPool>();
        using var same = new BlockPool(new BlockPoolOptions
        {
            Spec = pool.Spec,
            CapacityBlocks = 22,
            PrefixCache = new KvPrefixCacheOptions { KeySecret = Secret, HashAlgorithm = KvChunkHashAlgorithm.HmacSha256 },
        });
        using var otherSecret = new BlockPool(new BlockPoolOptions
        {
            Spec = pool.Spec,
            CapacityBlocks = 22,
            PrefixCache = new KvPrefixCacheOptions { KeySecret = [.. Secret.Reverse()], HashAlgorithm = KvChunkHashAlgorithm.HmacSha256 },
        });
        Assert.Equal(Keys(same), Keys(pool));
        Assert.NotEqual(Keys(otherSecret), Keys(pool));

        // The pin cap is the bound share: a quarter of 220 blocks is 55, and one 22-layer chunk is 22 of them.
        AgentCacheManager manager = services.GetRequiredService<AgentCacheManager>();
        int[] prompt = [.. Enumerable.Range(1, 16 * 4)];
        var agent = new AgentId(1);
        manager.Admit(agent, prompt);
        manager.PublishComputed(agent, prompt.Length);
        Assert.Equal(2, pool.PrefixCache!.Pin(prompt.AsSpan(0, 32)));
        Assert.Throws<InvalidOperationException>(() => pool.PrefixCache.Pin(prompt.AsSpan(0, 48)));
        manager.Release(agent);
    }

    [Fact]
    public void An_empty_section_turns_the_cache_on_with_its_defaults_and_enabled_false_turns_it_off()
    {
        IConfiguration json = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""{ "KvBlockPool": { "Preset": "TinyLlama_1_1B", "CapacityBlocks": 220, "PrefixCache": { } } }""")))
            .Build();
        var services = new ServiceCollection();
        services.AddKvBlockPool(json.GetSection(TestHosts.Section));
        using (ServiceProvider provider = services.BuildServiceProvider())
        {
            KvPrefixCacheOptions defaults = provider.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.PrefixCache!;
            Assert.Null(defaults.KeySecret);
            Assert.Equal(KvChunkHashAlgorithm.XxHash128, defaults.HashAlgorithm);
            Assert.Equal(0.5, defaults.MaxPinnedShare);
            Assert.NotNull(provider.GetRequiredService<BlockPool>().PrefixCache);
        }

        using (ServiceProvider off = Services(Small(("PrefixCache:Enabled", "false"), ("PrefixCache:MaxPinnedShare", "0.1"))))
        {
            Assert.Null(off.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.PrefixCache);
            Assert.Null(off.GetRequiredService<BlockPool>().PrefixCache);
        }

        using ServiceProvider absent = Services(Small());
        Assert.Null(absent.GetRequiredService<BlockPool>().PrefixCache);
    }

    [Fact]
    public void Settings_made_in_code_are_checked_and_named_by_their_property()
    {
        var services = new ServiceCollection();
        services.AddKvBlockPool(options =>
        {
            options.Preset = "TinyLlama_1_1B";
            options.CapacityBlocks = 22;
            options.PrefixCache = new KvPrefixCacheOptions { KeySecret = Secret[..8], HashAlgorithm = (KvChunkHashAlgorithm)9, MaxPinnedShare = -1 };
        });
        using ServiceProvider provider = services.BuildServiceProvider();
        long before = BlockPool.LiveNativeBytes;

        OptionsValidationException failure = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<BlockPool>());

        Assert.Equal(
            [
                "KvBlockPoolHostingOptions.PrefixCache.HashAlgorithm: 9 is not defined. Use one of: XxHash128, HmacSha256.",
                "KvBlockPoolHostingOptions.PrefixCache.MaxPinnedShare: -1. Give a share of the pool above 0 and at most 1 (0.5 by default).",
                "KvBlockPoolHostingOptions.PrefixCache.KeySecret: is 8 bytes (not shown). Give 16 to 1024 random bytes (32 is a good size), or leave it out for a random secret per pool.",
            ],
            failure.Failures);
        Assert.Equal(before, BlockPool.LiveNativeBytes);
    }

    [Theory]
    [MemberData(nameof(BadSections))]
    public async Task A_bad_value_fails_the_start_naming_the_key_and_takes_no_memory(string setting, string[] expected)
    {
        string[] pair = setting.Split('=', 2);
        using IHost host = TestHosts.Build(Small(($"{pair[0]}", pair[1])));
        long before = BlockPool.LiveNativeBytes;

        OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        string message = Assert.Single(failure.Failures);
        foreach (string part in expected)
        {
            Assert.Contains(part, message, StringComparison.Ordinal);
        }

        if (pair[0].EndsWith("KeySecret", StringComparison.Ordinal))
        {
            Assert.DoesNotContain(pair[1], message, StringComparison.Ordinal);
        }

        Assert.Equal(before, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public async Task The_key_secret_is_never_logged_nor_shown()
    {
        // A secret one byte too long: the start fails, and neither the failure nor any log line shows it.
        string tooLong = Convert.ToBase64String([.. Enumerable.Repeat(Secret, 33).SelectMany(b => b)]);
        using (IHost refused = TestHosts.Build(Small(("PrefixCache:KeySecret", tooLong))))
        {
            OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => refused.StartAsync());
            Assert.Contains("decodes to 1056 bytes (not shown)", failure.Message, StringComparison.Ordinal);
            AssertNoSecret(failure.Message + failure, refused.Logs(), tooLong[..24]);
        }

        // A working host's whole life, at debug level: start, an admission that hits, release, the leak report at disposal.
        IHost host = TestHosts.Build(Small(("PrefixCache:KeySecret", SecretBase64)));
        await host.StartAsync();
        AgentCacheManager manager = host.Services.GetRequiredService<AgentCacheManager>();
        int[] prompt = [.. Enumerable.Range(7, 40)];
        manager.Admit(new AgentId(1), prompt);
        manager.PublishComputed(new AgentId(1), prompt.Length);
        Assert.Equal(32, manager.Admit(new AgentId(2), prompt).CachedTokens);
        manager.Release(new AgentId(1));
        await host.StopAsync();
        FakeLogCollector collector = host.Services.GetFakeLogCollector();
        string options = host.Services.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.ToString()!;
        host.Dispose();
        IReadOnlyList<FakeLogRecord> logs = collector.GetSnapshot();
        Assert.Contains(logs, r => r.Message.Contains("disposed with 1 agent(s) still admitted", StringComparison.Ordinal));
        AssertNoSecret(options, logs, SecretBase64);
    }

    private static void AssertNoSecret(string text, IEnumerable<FakeLogRecord> logs, string base64)
    {
        string hex = Convert.ToHexString(Secret);
        foreach (string shown in logs.Select(r => $"{r.Message} {r.Exception} {string.Join(' ', r.StructuredState ?? [])}").Append(text))
        {
            Assert.DoesNotContain(base64, shown, StringComparison.Ordinal);
            Assert.DoesNotContain(hex, shown, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(hex[..16], shown, StringComparison.OrdinalIgnoreCase);
        }
    }

    private static KvChunkKey[] Keys(BlockPool pool)
    {
        var keys = new KvChunkKey[2];
        pool.PrefixCache!.ComputeKeys([.. Enumerable.Range(0, 32)], new KvPrefixContext("tenant"), keys);
        return keys;
    }

    private static Dictionary<string, string?> Small(params (string Key, string Value)[] settings) => TestHosts.Small("prefix", settings);

    private static ServiceProvider Services(Dictionary<string, string?> settings) => TestHosts.Services(settings);
}
