using System.Text.Json;
using System.Text.RegularExpressions;
using KvBlockPool.Cli.Simulate.Tier;
using KvBlockPool.Garnet;
using KvBlockPool.Testing;

namespace KvBlockPool.Cli.Tests;

/// <summary>
/// <c>simulate</c>'s shared tier: an embedded Garnet by default for the shared-prefix workload, none on request, and
/// a second host in a process of its own that restores from the tier what the first host computed.
/// </summary>
public sealed class SharedTierTests
{
    // TinyLlama in 64 MiB (as in SharedPrefixWorkloadTests); one thread keeps the run light on a two-core machine.
    private static readonly string[] SmallRun = ["simulate", "--workload", "shared-prefix", "--duration", "1", "--preset", "tinyllama", "--capacity-mib", "64", "--threads", "1", "--agents", "4", "--json"];

    [Fact]
    public void A_shared_prefix_run_offloads_every_chunk_it_publishes_to_an_embedded_garnet_by_default()
    {
        JsonElement root = CliRun.RunJson(SmallRun);

        JsonElement tier = root.GetProperty("tier");
        Assert.StartsWith("embedded Garnet", tier.GetProperty("where").GetString(), StringComparison.Ordinal);
        long published = tier.GetProperty("publishedChunks").GetInt64();
        Assert.True(published > 0, tier.ToString());
        Assert.Equal(root.GetProperty("prefixCache").GetProperty("storedChunks").GetInt64(), published);
        long accounted = tier.GetProperty("offloadedChunks").GetInt64() + tier.GetProperty("alreadyStoredChunks").GetInt64() + tier.GetProperty("notOffloadedChunks").GetInt64();
        Assert.True(accounted >= published, tier.ToString());
        Assert.True(tier.GetProperty("offloadedChunks").GetInt64() > 0, tier.ToString());
        Assert.Equal(0, tier.GetProperty("rejectedValues").GetInt64());

        // A chunk this pool evicted is restored from the tier when a prompt needs it again; the tokens add up.
        Assert.Equal(tier.GetProperty("restoredChunks").GetInt64() * root.GetProperty("model").GetProperty("tokensPerBlock").GetInt32(), tier.GetProperty("tierTokens").GetInt64());
        Assert.Equal(
            root.GetProperty("tokens").GetProperty("prompt").GetInt64(),
            tier.GetProperty("localTokens").GetInt64() + tier.GetProperty("tierTokens").GetInt64() + tier.GetProperty("computedTokens").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("secondHost").ValueKind);
    }

    [Fact]
    public void Tier_none_runs_the_prefix_cache_alone_and_the_independent_workload_never_has_a_tier()
    {
        Assert.Equal(JsonValueKind.Null, CliRun.RunJson([.. SmallRun, "--tier", "none"]).GetProperty("tier").ValueKind);
        Assert.Equal(JsonValueKind.Null, CliRun.RunJson(["simulate", "--duration", "0.5", "--preset", "tinyllama", "--capacity-mib", "64", "--json"]).GetProperty("tier").ValueKind);
    }

    [Fact]
    public void A_second_host_in_its_own_process_restores_from_the_tier_what_the_first_computed_and_finds_the_first_host_s_bytes()
    {
        JsonElement root = CliRun.RunJson([.. SmallRun, "--hosts", "2"]);

        JsonElement second = root.GetProperty("secondHost");
        Assert.True(second.GetProperty("exitCode").GetInt32() == 0, second.ToString());
        Assert.NotEqual(Environment.ProcessId, second.GetProperty("processId").GetInt32());
        JsonElement report = second.GetProperty("report");
        Assert.True(report.GetProperty("invariantsHeld").GetBoolean(), report.GetProperty("failures").ToString());

        // The second host's first turns start on the system prompts the first host computed: those chunks came from
        // the tier, and every restored chunk held, on every layer, the stamp the first host's prefill wrote (a wrong
        // byte would be a failure in the second host's report, and a non-zero exit).
        JsonElement tier = report.GetProperty("tier");
        Assert.StartsWith("external server 127.0.0.1:", tier.GetProperty("where").GetString(), StringComparison.Ordinal);
        Assert.True(tier.GetProperty("tierTokens").GetInt64() > 0, tier.ToString());
        Assert.True(tier.GetProperty("restoredChunks").GetInt64() > 0, tier.ToString());
        Assert.Equal(tier.GetProperty("restoredChunks").GetInt64() * root.GetProperty("model").GetProperty("tokensPerBlock").GetInt32(), tier.GetProperty("tierTokens").GetInt64());
        Assert.Equal(0, tier.GetProperty("rejectedValues").GetInt64());
        Assert.Equal(root.GetProperty("run").GetProperty("seed").GetInt32(), report.GetProperty("run").GetProperty("seed").GetInt32());
    }

    [Fact]
    public void The_second_host_gets_the_first_host_s_workload_and_the_tier_s_end_point_but_never_the_key_secret()
    {
        var settings = new Simulate.SimulationSettings
        {
            Preset = "tinyllama",
            ModelTitle = "TinyLlama",
            Spec = KvCacheSpec.TinyLlama_1_1B(),
            CapacityMiB = 64,
            Agents = 3,
            Threads = 2,
            DurationSeconds = 0.75,
            Seed = 7,
            Diagnostics = true,
            SharedPrefix = new Simulate.SharedPrefix.SharedPrefixSettings { SystemPrompts = 2, SystemPromptTokens = 32, ReturnProbability = 0.25 },
        };

        string line = string.Join(' ', SecondHostProcess.Arguments(settings, "127.0.0.1:7000", TierChoice.InProcess));

        Assert.Equal("simulate --preset tinyllama --capacity-mib 64 --agents 3 --threads 2 --duration 0.75 --seed 7 --workload shared-prefix --system-prompts 2 --return-probability 0.25 --tier 127.0.0.1:7000 --json --system-prompt-tokens 32 --diagnostics", line);
        Assert.DoesNotContain("secret", line, StringComparison.OrdinalIgnoreCase);

        // An external tier over TLS: the second host connects the same way, trusting the same authority.
        TierChoice tls = TierChoice.External("cache.example:6380") with { UseTls = true, CaCertificatePath = "/etc/kv/ca.pem" };
        Assert.EndsWith("--tier cache.example:6380 --json --tier-tls --tier-ca /etc/kv/ca.pem --system-prompt-tokens 32 --diagnostics", string.Join(' ', SecondHostProcess.Arguments(settings, "cache.example:6380", tls)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("embedded", true, null)]
    [InlineData("none", false, null)]
    [InlineData("127.0.0.1:6379", false, "127.0.0.1:6379")]
    [InlineData("cache.example:65535", false, "cache.example:65535")]
    [InlineData("[::1]:1", false, "[::1]:1")]
    public void Tier_values_are_read_as_embedded_none_or_host_and_port(string text, bool embedded, string? endPoint)
    {
        Assert.True(TierChoice.TryParse(text, out TierChoice? choice));
        Assert.Equal(embedded, choice!.IsEmbedded);
        Assert.Equal(endPoint, choice.EndPoint);
        Assert.Equal(text == "none", choice.IsOff);
    }

    [Theory]
    [InlineData("--tier 'localhost' is not embedded, none or host:port (a port 1 to 65535), for example 127.0.0.1:6379.", "--workload", "shared-prefix", "--tier", "localhost")]
    [InlineData("--tier '127.0.0.1:0' is not embedded, none or host:port", "--workload", "shared-prefix", "--tier", "127.0.0.1:0")]
    [InlineData("--tier '127.0.0.1:70000' is not embedded, none or host:port", "--workload", "shared-prefix", "--tier", "127.0.0.1:70000")]
    [InlineData("--tier ':6379' is not embedded, none or host:port", "--workload", "shared-prefix", "--tier", ":6379")]
    [InlineData("--tier applies only to --workload shared-prefix, not independent.", "--tier", "embedded")]
    [InlineData("--hosts applies only to --workload shared-prefix, not independent.", "--hosts", "2")]
    [InlineData("--hosts 2 shares the tier between hosts: it needs one, not --tier none.", "--workload", "shared-prefix", "--hosts", "2", "--tier", "none")]
    [InlineData("--hosts must be between 1 and 2, not 3.", "--workload", "shared-prefix", "--hosts", "3")]
    [InlineData("--tier-tls applies to an external server: give --tier host:port (the embedded server listens on the loopback address without TLS).", "--workload", "shared-prefix", "--tier-tls")]
    [InlineData("--tier-tls applies only to --workload shared-prefix, not independent.", "--tier-tls")]
    [InlineData("--tier-ca applies to a TLS connection: add --tier-tls.", "--workload", "shared-prefix", "--tier", "127.0.0.1:6379", "--tier-ca", "ca.pem")]
    [InlineData("--tier-ca '/nonexistent/ca.pem' is not a file: give the authority's certificate (PEM or DER).", "--workload", "shared-prefix", "--tier", "127.0.0.1:6379", "--tier-tls", "--tier-ca", "/nonexistent/ca.pem")]
    public void Bad_tier_options_exit_with_code_2_and_a_message_that_names_them(string message, params string[] options)
    {
        (int exit, string output, string error) = CliRun.Run(["simulate", .. options]);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(1, Regex.Count(error, Regex.Escape(message)));
        Assert.DoesNotContain("operations", output, StringComparison.Ordinal); // nothing ran
    }

    [Fact]
    public void An_external_tier_over_tls_from_a_private_authority_is_used_and_one_not_trusted_exits_with_code_2()
    {
        using var certificates = new TestCertificates();
        using EmbeddedGarnetServer server = EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { TlsCertificate = certificates.Server });

        JsonElement tier = CliRun.RunJson([.. SmallRun, "--tier", server.EndPoint, "--tier-tls", "--tier-ca", certificates.AuthorityPath]).GetProperty("tier");

        Assert.Equal($"external server {server.EndPoint} over TLS", tier.GetProperty("where").GetString());
        Assert.True(tier.GetProperty("offloadedChunks").GetInt64() > 0, tier.ToString());

        // Without the authority the machine's trust store decides, and it does not know this one.
        (int exit, string output, string error) = CliRun.Run([.. SmallRun, "--tier", server.EndPoint, "--tier-tls"]);
        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains("could not complete the TLS handshake", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    [Fact]
    public void An_external_tier_nobody_listens_on_exits_with_code_2_before_anything_runs()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        (int exit, string output, string error) = CliRun.Run([.. SmallRun, "--tier", $"127.0.0.1:{port}"]);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains($"--tier 127.0.0.1:{port}: The KV tier", error, StringComparison.Ordinal);
        Assert.Contains("could not be reached", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }
}
