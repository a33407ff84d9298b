using KvBlockPool.Redis;

namespace KvBlockPool.Samples.Host;

/// <summary>The simulated traffic, from the "Sample" section of appsettings.json or the command line.</summary>
internal sealed class SampleOptions
{
    public const string Section = "Sample";

    /// <summary>Short command-line switches for the settings a run changes most: <c>--duration 5</c>.</summary>
    public static Dictionary<string, string> Switches { get; } = new(StringComparer.Ordinal)
    {
        ["--duration"] = $"{Section}:{nameof(DurationSeconds)}",
        ["--workers"] = $"{Section}:{nameof(Workers)}",
        ["--agents-per-worker"] = $"{Section}:{nameof(AgentsPerWorker)}",
        ["--seed"] = $"{Section}:{nameof(Seed)}",
        ["--prometheus-port"] = $"{Section}:{nameof(PrometheusPort)}",
        ["--tier"] = $"{Section}:{nameof(Tier)}",
    };

    /// <summary>What <see cref="Tier"/> says for an in-process Garnet server.</summary>
    public const string EmbeddedTier = "embedded";

    /// <summary>What <see cref="Tier"/> says for no tier.</summary>
    public const string NoTier = "none";

    /// <summary>How long the host serves agents before it stops by itself.</summary>
    public double DurationSeconds { get; set; } = 5;

    /// <summary>Decode loops, each a thread that steps a batch of agents one token at a time.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>Agents each worker keeps in flight (its batch).</summary>
    public int AgentsPerWorker { get; set; } = 4;

    /// <summary>Prompt lengths are drawn uniformly from this range (tokens).</summary>
    public int MinPromptTokens { get; set; } = 16;

    /// <summary>The longest prompt (tokens).</summary>
    public int MaxPromptTokens { get; set; } = 256;

    /// <summary>Tokens each agent decodes, drawn uniformly from this range.</summary>
    public int MinDecodeTokens { get; set; } = 16;

    /// <summary>The most tokens an agent decodes.</summary>
    public int MaxDecodeTokens { get; set; } = 128;

    /// <summary>Seed of the traffic; each worker draws from its own generator.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>How often the pool's health check result is logged.</summary>
    public double HealthIntervalSeconds { get; set; } = 1;

    /// <summary>How often the OpenTelemetry console exporter prints the metrics (and once more at shutdown).</summary>
    public int MetricsIntervalMilliseconds { get; set; } = 2000;

    /// <summary>A loopback port to serve Prometheus scrapes on (<c>http://localhost:PORT/metrics</c>); 0 for none.</summary>
    public int PrometheusPort { get; set; }

    /// <summary>
    /// A shared tier for the pool's prefix cache: <c>none</c> (the default), <c>embedded</c> (a Garnet server started in
    /// this process on the loopback address), or an external server's <c>host:port</c>. With a tier, agents share
    /// system prompts through the prefix cache and admissions restore the chunks the pool evicted from the tier.
    /// </summary>
    public string Tier { get; set; } = NoTier;

    /// <summary>The most shared prompts: each has a stamp of its own (128 and up) apart from the agents' (1 to 127).</summary>
    public const int MaxSharedPrompts = 64;

    /// <summary>The longest shared prompt, in tokens (its token ids are prompt × 1,000,000 + position).</summary>
    public const int MaxSharedPromptTokens = 65_536;

    /// <summary>With a tier: how many system prompts the agents share (each agent's prompt starts with one of them).</summary>
    public int SharedPrompts { get; set; } = 4;

    /// <summary>With a tier: the length of each shared system prompt, in tokens.</summary>
    public int SharedPromptTokens { get; set; } = 128;

    /// <summary>Whether agents go through the prefix cache and the tier.</summary>
    public bool UsesTier => !Tier.Equals(NoTier, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the tier is a Garnet server started in this process.</summary>
    public bool UsesEmbeddedTier => Tier.Equals(EmbeddedTier, StringComparison.OrdinalIgnoreCase);

    /// <summary>Every problem with the settings, one message each.</summary>
    public IEnumerable<string> Problems()
    {
        if (!(DurationSeconds > 0))
        {
            yield return $"{Section}:{nameof(DurationSeconds)} (--duration) is {DurationSeconds}; give a positive number of seconds.";
        }

        if (Workers < 1 || AgentsPerWorker < 1)
        {
            yield return $"{Section}:{nameof(Workers)} and {nameof(AgentsPerWorker)} must be at least 1 (they are {Workers} and {AgentsPerWorker}).";
        }

        if (MinPromptTokens < 0 || MaxPromptTokens < MinPromptTokens || MinDecodeTokens < 1 || MaxDecodeTokens < MinDecodeTokens)
        {
            yield return $"{Section}: prompt tokens need 0 <= Min <= Max and decode tokens 1 <= Min <= Max (prompt {MinPromptTokens}..{MaxPromptTokens}, decode {MinDecodeTokens}..{MaxDecodeTokens}).";
        }

        if (!(HealthIntervalSeconds > 0) || MetricsIntervalMilliseconds < 100)
        {
            yield return $"{Section}: {nameof(HealthIntervalSeconds)} must be positive and {nameof(MetricsIntervalMilliseconds)} at least 100.";
        }

        if (UsesTier && !UsesEmbeddedTier && !RedisKvChunkStoreOptions.IsEndPoint(Tier))
        {
            yield return $"{Section}:{nameof(Tier)} (--tier) is '{Tier}'; use {NoTier}, {EmbeddedTier} (a Garnet server in this process), or a server's host:port.";
        }

        if (SharedPrompts is < 1 or > MaxSharedPrompts || SharedPromptTokens is < 1 or > MaxSharedPromptTokens)
        {
            yield return $"{Section}:{nameof(SharedPrompts)} must be 1 to {MaxSharedPrompts} and {nameof(SharedPromptTokens)} 1 to {MaxSharedPromptTokens} (they are {SharedPrompts} and {SharedPromptTokens}).";
        }

        if (PrometheusPort is < 0 or > 65535)
        {
            yield return $"{Section}:{nameof(PrometheusPort)} (--prometheus-port) is {PrometheusPort}; use 0 for none or a port from 1 to 65535.";
        }
    }
}
