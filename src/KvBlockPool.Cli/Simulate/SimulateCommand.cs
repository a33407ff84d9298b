using KvBlockPool.Cli.Commands;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// <c>simulate</c>, the default command: a multi-agent inference host played against a real pool for a few seconds,
/// then a report. Exit code 0 when every invariant held and nothing leaked, 1 otherwise, 2 for a bad command line.
/// </summary>
internal sealed class SimulateCommand : ICliCommand
{
    private static readonly HashSet<string> ValueOptions = ["--preset", "--capacity-mib", "--agents", "--threads", "--duration", "--seed"];
    private static readonly HashSet<string> Flags = ["--diagnostics", "--help", "-h"];

    public string Name => "simulate";

    public string Summary => "Run a simulated multi-agent inference host against a pool and report (the default).";

    public void WriteHelp(TextWriter writer)
    {
        writer.WriteLine("Usage: KvBlockPool.Cli simulate [options]");
        writer.WriteLine();
        writer.WriteLine("Plays an inference host against a real pool: worker threads admit agents with prompts, decode");
        writer.WriteLine("them token by token (some speculatively, truncating rejected drafts), abandon some prefills");
        writer.WriteLine("part-way (their allocation scope rolls back), wait when the pool is exhausted, and release");
        writer.WriteLine("everything at the end. Prints ops, throughput, p50/p99 latency per operation, peak occupancy,");
        writer.WriteLine("exhaustion waits, rollbacks and leaked blocks. Exits 1 if an invariant broke, 2 on bad options.");
        writer.WriteLine();
        writer.WriteLine("Options:");
        writer.WriteLine($"  --preset NAME       model shape: {string.Join(", ", ModelPresets.Names)} (default {ModelPresets.Default})");
        writer.WriteLine($"  --capacity-mib N    native memory for the pool, in MiB, 1 to 65536 (default {SimulationSettings.DefaultCapacityMiB})");
        writer.WriteLine($"  --agents N          agents in flight at once, across all threads, 1 to 4096 (default {SimulationSettings.DefaultAgents})");
        writer.WriteLine($"  --threads N         worker threads, 1 to 256, at most --agents (default {SimulationSettings.DefaultThreads})");
        writer.WriteLine($"  --duration SECONDS  how long to run, 0.1 to 3600 (default {SimulationSettings.DefaultDurationSeconds})");
        writer.WriteLine($"  --seed N            random seed for the workload (default {SimulationSettings.DefaultSeed})");
        writer.WriteLine("  --diagnostics       diagnostics mode: poison and guard bytes checked, allocation stacks kept");
        writer.WriteLine("  -h, --help          this help");
    }

    public int Run(IReadOnlyList<string> args, CliConsole console)
    {
        var options = new OptionReader(args, ValueOptions, Flags);
        if (options.Has("--help") || options.Has("-h"))
        {
            WriteHelp(console.Out);
            return ExitCodes.Success;
        }

        SimulationSettings settings = Parse(options);
        SimulationReport report = Simulation.Run(settings, console);
        report.Write(console.Out);
        return report.InvariantsHeld ? ExitCodes.Success : ExitCodes.InvariantBroken;
    }

    internal static SimulationSettings Parse(OptionReader options)
    {
        string preset = options.String("--preset") ?? ModelPresets.Default;
        if (!ModelPresets.TryCreate(preset, out KvCacheSpec? spec, out string title))
        {
            throw new UsageException($"--preset '{preset}' is not a known model. Use one of: {string.Join(", ", ModelPresets.Names)}.");
        }

        int agents = options.Int("--agents", SimulationSettings.DefaultAgents, 1, 4096);
        int threads = options.Int("--threads", Math.Min(SimulationSettings.DefaultThreads, agents), 1, 256);
        if (threads > agents)
        {
            throw new UsageException($"--threads {threads} is more than --agents {agents}: every thread needs at least one agent slot.");
        }

        return new SimulationSettings
        {
            Preset = preset,
            ModelTitle = title,
            Spec = spec,
            CapacityMiB = options.Int("--capacity-mib", SimulationSettings.DefaultCapacityMiB, 1, 65536),
            Agents = agents,
            Threads = threads,
            DurationSeconds = options.Double("--duration", SimulationSettings.DefaultDurationSeconds, 0.1, 3600),
            Seed = options.Int("--seed", SimulationSettings.DefaultSeed, int.MinValue, int.MaxValue),
            Diagnostics = options.Has("--diagnostics"),
        };
    }
}
