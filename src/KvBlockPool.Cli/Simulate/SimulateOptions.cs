using System.CommandLine;
using KvBlockPool.Cli.Commands;
using KvBlockPool.Cli.Simulate.Plotting;
using KvBlockPool.Cli.Simulate.SharedPrefix;
using KvBlockPool.Cli.Simulate.Tier;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// The options of <c>simulate</c>, with their checks, and the settings they make. Each command gets its own set:
/// System.CommandLine validates an option once per command that holds it, so a shared instance reports twice.
/// </summary>
internal sealed class SimulateOptions
{
    private readonly Option<string> _preset = new("--preset")
    {
        Description = $"Model shape: {string.Join(", ", ModelPresets.Names)}.",
        HelpName = "name",
        DefaultValueFactory = _ => ModelPresets.Default,
    };

    private readonly Option<int> _capacityMiB = new Option<int>("--capacity-mib")
    {
        Description = "Native memory for the pool, in MiB, 1 to 65536.",
        HelpName = "MiB",
        DefaultValueFactory = _ => SimulationSettings.DefaultCapacityMiB,
    }.InRange(1, 65536);

    private readonly Option<int> _agents = new Option<int>("--agents")
    {
        Description = "Agents in flight at once, across all threads, 1 to 4096.",
        HelpName = "count",
        DefaultValueFactory = _ => SimulationSettings.DefaultAgents,
    }.InRange(1, 4096);

    // No default value factory: the default depends on --agents (4, or fewer when there are fewer agents).
    private readonly Option<int?> _threads = new Option<int?>("--threads")
    {
        Description = $"Worker threads, 1 to 256, at most --agents [default: {SimulationSettings.DefaultThreads}, or --agents if fewer].",
        HelpName = "count",
    }.InRange(1, 256);

    private readonly Option<double> _duration = new Option<double>("--duration")
    {
        Description = "How long to run, in seconds, 0.1 to 3600.",
        HelpName = "seconds",
        DefaultValueFactory = _ => SimulationSettings.DefaultDurationSeconds,
    }.InRange(0.1, 3600);

    private readonly Option<int> _seed = new("--seed")
    {
        Description = "Random seed for the workload.",
        HelpName = "number",
        DefaultValueFactory = _ => SimulationSettings.DefaultSeed,
    };

    private readonly Option<string> _workload = new("--workload")
    {
        Description = $"The traffic: {WorkloadNames.Independent} (every prompt its own, no prefix cache) or {WorkloadNames.SharedPrefix} (conversations on shared system prompts that come back for more turns, through the prefix cache).",
        HelpName = "name",
        DefaultValueFactory = _ => WorkloadNames.Independent,
    };

    private readonly Option<int> _systemPrompts = new Option<int>("--system-prompts")
    {
        Description = "Shared-prefix workload: distinct system prompts that new conversations draw from, 0 to 65536; 0 gives every conversation its own.",
        HelpName = "count",
        DefaultValueFactory = _ => SharedPrefixSettings.DefaultSystemPrompts,
    }.InRange(0, 65536);

    // No default value factory: the default depends on the pool (half an agent's budget in whole blocks, at most 512).
    private readonly Option<int?> _systemPromptTokens = new Option<int?>("--system-prompt-tokens")
    {
        Description = $"Shared-prefix workload: a system prompt's length in tokens, 1 to 65536 [default: half of what one agent may hold, in whole blocks, at most {ConversationShape.MaxDefaultSystemPromptTokens}].",
        HelpName = "tokens",
    }.InRange(1, 65536);

    private readonly Option<double> _returnProbability = new Option<double>("--return-probability")
    {
        Description = "Shared-prefix workload: the chance that a conversation comes back for another turn once its answer is complete, 0 to 1.",
        HelpName = "p",
        DefaultValueFactory = _ => SharedPrefixSettings.DefaultReturnProbability,
    }.InRange(0.0, 1.0);

    // No default value factory: the default depends on the workload (embedded for shared-prefix, none otherwise).
    private readonly Option<string?> _tier = new("--tier")
    {
        Description = $"Shared-prefix workload: the shared tier chunks are offloaded to and restored from: {TierChoice.Embedded} (a Garnet server in this process, on the loopback address), {TierChoice.None}, or host:port of a Garnet, Redis or Valkey server [default: {TierChoice.Embedded}]. The key secret hosts share is read from {TierEnvironment.KeySecret} (hex; random when unset), a password from {TierEnvironment.Password}.",
        HelpName = "where",
    };

    private readonly Option<bool> _tierTls = new("--tier-tls")
    {
        Description = "With --tier host:port: reach the server over TLS; its certificate must be trusted by the machine or by --tier-ca.",
    };

    private readonly Option<string?> _tierCa = new("--tier-ca")
    {
        Description = "With --tier-tls: a file with the certificate (PEM or DER) of the private authority that issued the server's certificate, trusted for this run's connections only.",
        HelpName = "FILE",
    };

    private readonly Option<int> _hosts = new Option<int>("--hosts")
    {
        Description = "Shared-prefix workload with a tier: hosts sharing it, 1 or 2. The second runs after the first, in a process of its own, with the same workload, and restores from the tier what the first computed; the report shows each host's local, tier and computed tokens.",
        HelpName = "count",
        DefaultValueFactory = _ => 1,
    }.InRange(1, 2);

    private readonly Option<bool> _diagnostics = new("--diagnostics")
    {
        Description = "Diagnostics mode: poison and guard bytes checked, allocation stacks kept.",
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Write the report as JSON to standard output (no live view, no table); see docs/cli.md for the fields.",
    };

    private readonly Option<string?> _plot = new("--plot")
    {
        Description = "Also draw occupancy, agents and throughput over time and the latency percentiles per operation into FILE: a .png or an .svg.",
        HelpName = "FILE",
    };

    public SimulateOptions()
    {
        _preset.CompletionSources.Add([.. ModelPresets.Names]);
        _preset.Validators.Add(result =>
        {
            if (OptionChecks.TryGetValue(result, out string? name) && name is not null && !ModelPresets.TryCreate(name, out _, out _))
            {
                result.AddError($"--preset '{name}' is not a known model. Use one of: {string.Join(", ", ModelPresets.Names)}.");
            }
        });
        _workload.CompletionSources.Add([.. WorkloadNames.All]);
        _workload.Validators.Add(result =>
        {
            if (OptionChecks.TryGetValue(result, out string? name) && name is not null && !WorkloadNames.All.Contains(name, StringComparer.Ordinal))
            {
                result.AddError($"--workload '{name}' is not a known workload. Use one of: {string.Join(", ", WorkloadNames.All)}.");
            }
        });
        _tier.CompletionSources.Add([TierChoice.Embedded, TierChoice.None]);
        _tier.Validators.Add(result =>
        {
            if (OptionChecks.TryGetValue(result, out string? text) && text is not null && !TierChoice.TryParse(text, out _))
            {
                result.AddError($"--tier '{text}' is not {TierChoice.Embedded}, {TierChoice.None} or host:port (a port 1 to 65535), for example 127.0.0.1:6379.");
            }
        });
        _plot.Validators.Add(result =>
        {
            if (OptionChecks.TryGetValue(result, out string? path) && path is not null && PlotFile.Check(path) is { } problem)
            {
                result.AddError($"--plot {problem}");
            }
        });
    }

    /// <summary>Adds every option, and the check across them, to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _preset, _capacityMiB, _agents, _threads, _duration, _seed, _workload, _systemPrompts, _systemPromptTokens, _returnProbability, _tier, _tierTls, _tierCa, _hosts, _diagnostics, _json, _plot })
        {
            command.Add(option);
        }

        command.Validators.Add(result =>
        {
            if (OptionChecks.TryGetValue(result, _agents, SimulationSettings.DefaultAgents, out int agents)
                && OptionChecks.TryGetValue(result, _threads, null, out int? threads)
                && threads > agents)
            {
                result.AddError($"--threads {threads} is more than --agents {agents}: every thread needs at least one agent slot.");
            }

            // A knob of the shared-prefix workload on another workload would be ignored silently: say so instead.
            if (OptionChecks.TryGetValue(result, _workload, WorkloadNames.Independent, out string workload) && workload == WorkloadNames.Independent)
            {
                foreach (Option knob in new Option[] { _systemPrompts, _systemPromptTokens, _returnProbability, _tier, _tierTls, _tierCa, _hosts })
                {
                    if (result.GetResult(knob) is { Implicit: false })
                    {
                        result.AddError($"{knob.Name} applies only to --workload {WorkloadNames.SharedPrefix}, not {workload}.");
                    }
                }
            }
            else if (OptionChecks.TryGetValue(result, _hosts, 1, out int hosts) && hosts > 1
                && OptionChecks.TryGetValue(result, _tier, null, out string? tier) && tier == TierChoice.None)
            {
                result.AddError($"--hosts {hosts} shares the tier between hosts: it needs one, not --tier {TierChoice.None}.");
            }

            CheckTls(result);
        });
    }

    public bool Json(ParseResult parse) => parse.GetValue(_json);

    /// <summary>TLS is for an external server: the embedded one listens on loopback in plain TCP, and "none" has no server.</summary>
    private void CheckTls(System.CommandLine.Parsing.CommandResult result)
    {
        bool tls = OptionChecks.TryGetValue(result, _tierTls, false, out bool useTls) && useTls;
        OptionChecks.TryGetValue(result, _tierCa, null, out string? authority);
        if (!tls && authority is not null)
        {
            result.AddError("--tier-ca applies to a TLS connection: add --tier-tls.");
        }

        if (tls && !(OptionChecks.TryGetValue(result, _tier, null, out string? tier) && tier is not null && TierChoice.TryParse(tier, out TierChoice? choice) && choice!.EndPoint is not null))
        {
            result.AddError($"--tier-tls applies to an external server: give --tier host:port (the {TierChoice.Embedded} server listens on the loopback address without TLS).");
        }

        if (authority is not null && !File.Exists(authority))
        {
            result.AddError($"--tier-ca '{authority}' is not a file: give the authority's certificate (PEM or DER).");
        }
    }

    public string? Plot(ParseResult parse) => parse.GetValue(_plot);

    public SimulationSettings Bind(ParseResult parse)
    {
        // The validators have accepted every value, so the preset is known and threads <= agents.
        string preset = parse.GetValue(_preset)!;
        ModelPresets.TryCreate(preset, out KvCacheSpec? spec, out string title);
        int agents = parse.GetValue(_agents);
        bool shared = parse.GetValue(_workload) == WorkloadNames.SharedPrefix;
        TierChoice tier = !shared ? TierChoice.Off
            : parse.GetValue(_tier) is { } text && TierChoice.TryParse(text, out TierChoice? chosen) ? chosen! with { UseTls = parse.GetValue(_tierTls), CaCertificatePath = parse.GetValue(_tierCa) }
            : TierChoice.InProcess;
        return new SimulationSettings
        {
            Preset = preset,
            ModelTitle = title,
            Spec = spec!,
            CapacityMiB = parse.GetValue(_capacityMiB),
            Agents = agents,
            Threads = parse.GetValue(_threads) ?? Math.Min(SimulationSettings.DefaultThreads, agents),
            DurationSeconds = parse.GetValue(_duration),
            Seed = parse.GetValue(_seed),
            Diagnostics = parse.GetValue(_diagnostics),
            Tier = tier,
            Hosts = parse.GetValue(_hosts),
            SharedPrefix = !shared ? null : new SharedPrefixSettings
            {
                SystemPrompts = parse.GetValue(_systemPrompts),
                SystemPromptTokens = parse.GetValue(_systemPromptTokens),
                ReturnProbability = parse.GetValue(_returnProbability),
            },
        };
    }
}
