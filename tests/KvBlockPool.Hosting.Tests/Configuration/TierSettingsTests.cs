using System.Text;
using KvBlockPool.Hosting.Configuration;
using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Prefix;
using KvBlockPool.Tier;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Hosting.Tests.Configuration;

/// <summary>
/// The <c>Tier</c> section: every setting bound, every bad value refused at start naming its key before anything
/// connects or allocates, the password never shown. (Connecting to a real server is tested with one, in the tier
/// tests' <c>HostedTierTests</c>.) Alone (not parallel) so <see cref="BlockPool.LiveNativeBytes"/> is ours to read.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class TierSettingsTests
{
    private const string Password = "tier-Pa55word-never-shown";

    // Port 1 on loopback: nothing listens there, so a test that connected by mistake would fail, not pass.
    private const string Nowhere = "127.0.0.1:1";

    public static TheoryData<string, string> BadSections => new()
    {
        { "Tier:RestoreTimeout=250", "KvBlockPool:Tier:RestoreTimeout: '250' is not a duration. Write a number with a unit: ms, s, min or h (for example \"250ms\" or \"5s\"), or hh:mm:ss(.fff) such as \"00:00:05\"." },
        { "Tier:RestoreTimeout=2min", "KvBlockPool:Tier:RestoreTimeout: 00:02:00. Give more than 0 and at most 1 minute, such as \"250ms\" (the default)." },
        { "Tier:RestoreTimeout=0s", "KvBlockPool:Tier:RestoreTimeout: 00:00:00. Give more than 0" },
        { "Tier:ConnectTimeout=2min", "KvBlockPool:Tier:ConnectTimeout: 00:02:00. A host's start waits this long for the tier: give at most 1 minute (5s by default)." },
        { "Tier:ConnectTimeout=soon", "KvBlockPool:Tier:ConnectTimeout: 'soon' is not a duration." },
        { "Tier:ConnectTimeout=0.5ms", "KvBlockPool:Tier:ConnectTimeout is 00:00:00.0005000; give 1 ms to 2147483647 ms." },
        { "Tier:TimeToLive=-1h", "KvBlockPool:Tier:TimeToLive is -01:00:00; give 1 ms or more, or null to leave eviction to the store." },
        { "Tier:MaxReadsInFlight=0", "KvBlockPool:Tier:MaxReadsInFlight: 0. Give 1 to 64 (4 by default)." },
        { "Tier:MaxReadsInFlight=many", "KvBlockPool:Tier:MaxReadsInFlight: 'many' is not a whole number" },
        { "Tier:OffloadQueueCapacity=2147483647", "KvBlockPool:Tier:OffloadQueueCapacity: 2147483647. Give 1 to 1048576 (1024 by default)." },
        { "Tier:EndPoints=", "KvBlockPool:Tier:EndPoints is empty; give at least one store as host:port (127.0.0.1:6379)." },
        { "Tier:EndPoints=cache:six", "KvBlockPool:Tier:EndPoints[0] is not host:port (a host name, an IPv4 address or a bracketed IPv6 address, a colon, a port 1 to 65535; nothing else, such as a connection string's options). The value is not shown: it may hold a password." },
        { "Tier:EndPoints=cache:6380,password=hunter2-not-shown", "KvBlockPool:Tier:EndPoints[1] is not host:port" },
        { "Tier:EndPoints=redis://:hunter2-not-shown@cache:6379", "KvBlockPool:Tier:EndPoints[0] is not host:port" },
        { "Tier:EndPoints=cache", "KvBlockPool:Tier:EndPoints[0] is not host:port" },
        { "Tier:EndPoints=cache:0", "KvBlockPool:Tier:EndPoints[0] is not host:port" },
        { "Tier:EndPoints=cache:6379, CACHE:6379", "KvBlockPool:Tier:EndPoints[1] repeats an earlier endpoint; give each server once." },
        { "Tier:KeyPrefix=kv{tag}:", "KvBlockPool:Tier:KeyPrefix must be at most 256 printable ASCII characters without spaces, '{' or '}'" },
        { "Tier:TlsCaCertificatePath=ca.pem", "KvBlockPool:Tier:TlsCaCertificatePath is set but UseTls is not; a CA certificate only matters on a TLS connection." },
        { "Tier:UseTls=yes", "KvBlockPool:Tier:UseTls: 'yes' is not a boolean. Write true or false." },
        { "Tier:Enabled=maybe", "KvBlockPool:Tier:Enabled: 'maybe' is not a boolean. Write true or false." },
        { "Tier:Database=3", "KvBlockPool:Tier:Database: not a setting of the tier. Use: Enabled, EndPoints, User, Password, UseTls, TlsHost, TlsCaCertificatePath, KeyPrefix, ConnectTimeout, OperationTimeout, TimeToLive, RestoreTimeout, MaxReadsInFlight, OffloadQueueCapacity." },
        { "Tier:User:Name=x", "KvBlockPool:Tier:User: expected a single value, found a section." },
        { "Tier:EndPoints:0:Host=x", "KvBlockPool:Tier:EndPoints:0: expected host:port, found a section." },
        { "Tier=redis:6379", "KvBlockPool:Tier: expected a section with the keys Enabled, EndPoints, User, Password, UseTls, TlsHost, TlsCaCertificatePath, KeyPrefix, ConnectTimeout, OperationTimeout, TimeToLive, RestoreTimeout, MaxReadsInFlight, OffloadQueueCapacity, found a single value. Write \"Tier\": { \"EndPoints\": \"host:6379\" }." },
    };

    [Fact]
    public void Every_setting_of_the_section_is_bound()
    {
        string authority = Path.Combine(Directory.CreateTempSubdirectory("kvblockpool-ca-").FullName, "ca.pem");
        using (var key = System.Security.Cryptography.ECDsa.Create())
        {
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test authority", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(authority, certificate.ExportCertificatePem());
        }

        using ServiceProvider services = Services(Section(
            ("Tier:EndPoints", " redis-a:6379, redis-b:6380 "),
            ("Tier:User", "kv"),
            ("Tier:Password", Password),
            ("Tier:UseTls", "true"),
            ("Tier:TlsHost", "cache.internal"),
            ("Tier:TlsCaCertificatePath", authority),
            ("Tier:KeyPrefix", "prod:"),
            ("Tier:ConnectTimeout", "1.5s"),
            ("Tier:OperationTimeout", "00:00:00.200"),
            ("Tier:TimeToLive", "2h"),
            ("Tier:RestoreTimeout", "100ms"),
            ("Tier:MaxReadsInFlight", "8"),
            ("Tier:OffloadQueueCapacity", "64")));

        KvTierHostingOptions tier = services.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.Tier!;

        Assert.Equal(["redis-a:6379", "redis-b:6380"], tier.EndPoints);
        Assert.Equal(("kv", Password, true, "cache.internal", authority, "prod:"), (tier.User, tier.Password, tier.UseTls, tier.TlsHost, tier.TlsCaCertificatePath, tier.KeyPrefix));
        Assert.Equal((TimeSpan.FromSeconds(1.5), TimeSpan.FromMilliseconds(200), TimeSpan.FromHours(2)), (tier.ConnectTimeout, tier.OperationTimeout, tier.TimeToLive));
        Assert.Equal((TimeSpan.FromMilliseconds(100), 8, 64), (tier.RestoreTimeout, tier.MaxReadsInFlight, tier.OffloadQueueCapacity));
        Assert.Equal("tier at redis-a:6379,redis-b:6380 as user 'kv' (password set), TLS on, prefix 'prod:', restore within 100 ms", tier.ToString());
        Directory.Delete(Path.GetDirectoryName(authority)!, recursive: true);
    }

    [Fact]
    public void An_array_of_endpoints_binds_from_json_and_an_omitted_or_empty_setting_keeps_the_library_default()
    {
        IConfiguration json = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(
                """{ "KvBlockPool": { "Preset": "TinyLlama_1_1B", "CapacityBlocks": 220, "PrefixCache": { }, "Tier": { "EndPoints": [ "a:1", "b:2" ], "KeyPrefix": "" } } }""")))
            .Build();
        var services = new ServiceCollection();
        services.AddKvBlockPool(json.GetSection(TestHosts.Section));
        using ServiceProvider provider = services.BuildServiceProvider();

        KvTierHostingOptions tier = provider.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.Tier!;

        var libraryTier = new KvTierOptions();
        var libraryStore = new Redis.RedisKvChunkStoreOptions();
        Assert.Equal(["a:1", "b:2"], tier.EndPoints);
        Assert.Equal((libraryTier.RestoreTimeout, libraryTier.MaxReadsInFlight, libraryTier.OffloadQueueCapacity), (tier.RestoreTimeout, tier.MaxReadsInFlight, tier.OffloadQueueCapacity));
        Assert.Equal((libraryStore.ConnectTimeout, libraryStore.OperationTimeout, libraryStore.KeyPrefix, libraryStore.TimeToLive), (tier.ConnectTimeout, tier.OperationTimeout, tier.KeyPrefix, tier.TimeToLive));
        Assert.Equal((false, null, null), (tier.UseTls, tier.User, tier.Password));
    }

    [Fact]
    public void Enabled_false_turns_the_tier_off_and_no_section_means_no_tier()
    {
        using (ServiceProvider off = Services(Section(("Tier:Enabled", "false"), ("Tier:EndPoints", Nowhere))))
        {
            Assert.Null(off.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.Tier);
            Assert.Null(off.GetRequiredService<BlockPool>().GetTierStatistics());
        }

        using ServiceProvider absent = Services(Section());
        Assert.Null(absent.GetRequiredService<BlockPool>().GetTierStatistics());
    }

    [Theory]
    [MemberData(nameof(BadSections))]
    public async Task A_bad_value_fails_the_start_naming_the_key_before_anything_connects_or_allocates(string setting, string expected)
    {
        string[] pair = setting.Split('=', 2);
        Dictionary<string, string?> settings = Section(("Tier:EndPoints", Nowhere), ("Tier:Password", Password));
        if (pair[0].StartsWith("Tier:EndPoints", StringComparison.Ordinal))
        {
            settings.Remove($"{TestHosts.Section}:Tier:EndPoints");
        }

        settings[$"{TestHosts.Section}:{pair[0]}"] = pair[1];
        using IHost host = TestHosts.Build(settings);
        long before = BlockPool.LiveNativeBytes;

        OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        // One failure per problem; an endpoint that could not be read also leaves the list empty, which is said too.
        Assert.Contains(failure.Failures, message => message.StartsWith(expected, StringComparison.Ordinal));
        Assert.DoesNotContain(Password, failure.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", failure.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(host.Logs(), r => r.Message.Contains(Password, StringComparison.Ordinal) || r.Message.Contains("hunter2", StringComparison.Ordinal));
        Assert.Equal(before, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public async Task A_tier_needs_the_prefix_cache()
    {
        Dictionary<string, string?> settings = TestHosts.Small("no-cache");
        settings["KvBlockPool:Tier:EndPoints"] = Nowhere;
        using IHost host = TestHosts.Build(settings);

        OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(
            "KvBlockPool:Tier: a tier holds the prefix cache's chunks, and the prefix cache is off. Turn it on with a PrefixCache section (with the KeySecret the hosts sharing the tier share).",
            Assert.Single(failure.Failures));
    }

    [Fact]
    public void Settings_made_in_code_are_checked_by_their_property_and_a_tier_given_two_ways_is_refused()
    {
        var services = new ServiceCollection();
        services.AddKvBlockPool(options =>
        {
            options.Preset = "TinyLlama_1_1B";
            options.CapacityBlocks = 22;
            options.PrefixCache = new KvPrefixCacheOptions { Tier = new KvTierOptions() };
            options.Tier = new KvTierHostingOptions { Password = Password, MaxReadsInFlight = 65, RestoreTimeout = TimeSpan.Zero };
        });
        using ServiceProvider provider = services.BuildServiceProvider();
        long before = BlockPool.LiveNativeBytes;

        OptionsValidationException failure = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<BlockPool>());

        Assert.Equal(
            [
                "KvBlockPoolHostingOptions.Tier: the tier is given two ways (Tier and PrefixCache.Tier). Give one: Tier to let the host connect, or PrefixCache.Tier with a store you connected.",
                "KvBlockPoolHostingOptions.Tier.RestoreTimeout: 00:00:00. Give more than 0 and at most 1 minute, such as \"250ms\" (the default).",
                "KvBlockPoolHostingOptions.Tier.MaxReadsInFlight: 65. Give 1 to 64 (4 by default).",
                "KvBlockPoolHostingOptions.Tier.EndPoints is empty; give at least one store as host:port (127.0.0.1:6379).",
            ],
            failure.Failures);
        Assert.DoesNotContain(Password, failure.ToString(), StringComparison.Ordinal);
        Assert.Equal(before, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public async Task An_unreachable_store_fails_the_start_and_no_pool_is_built()
    {
        using IHost host = TestHosts.Build(Section(("Tier:EndPoints", Nowhere), ("Tier:ConnectTimeout", "500ms")));
        long before = BlockPool.LiveNativeBytes;

        Redis.KvTierConnectionException error = await Assert.ThrowsAsync<Redis.KvTierConnectionException>(() => host.StartAsync());

        Assert.False(error.IsAuthenticationFailure);
        Assert.DoesNotContain(host.Logs(), r => r.Id.Id == 100);
        Assert.Equal(before, BlockPool.LiveNativeBytes);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("1.5 s", 1_500)]
    [InlineData("2MIN", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("00:00:05", 5_000)]
    [InlineData("00:00:00.125", 125)]
    [InlineData("-3s", -3_000)]
    public void A_duration_reads_with_a_unit_or_as_a_time_span(string text, double milliseconds)
    {
        Assert.True(Duration.TryParse(text, out TimeSpan duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("250")]
    [InlineData("5 seconds")]
    [InlineData("ms")]
    [InlineData("1e400s")]
    [InlineData("99999999999h")]
    [InlineData("1:2:3:4:5")]
    [InlineData("0:30")]
    [InlineData("1:2")]
    [InlineData("1.02:00:00")]
    [InlineData("00:00:60")]
    [InlineData("  ")]
    [InlineData(null)]
    public void A_duration_without_a_unit_or_out_of_range_is_refused(string? text)
    {
        Assert.False(Duration.TryParse(text, out _));
    }

    private static Dictionary<string, string?> Section(params (string Key, string Value)[] settings) =>
        TestHosts.Small("tier", [("PrefixCache:Enabled", "true"), .. settings]);

    private static ServiceProvider Services(Dictionary<string, string?> settings) => TestHosts.Services(settings);
}
