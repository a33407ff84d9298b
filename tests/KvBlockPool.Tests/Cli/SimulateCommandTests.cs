using System.Text.RegularExpressions;
using KvBlockPool.Cli;
using KvBlockPool.Cli.Simulate;

namespace KvBlockPool.Tests.Cli;

[Collection(ProcessWideCollection.Name)] // it checks the process's native bytes before and after
public sealed partial class SimulateCommandTests
{
    [Fact]
    public void Simulate_runs_a_multi_agent_host_for_a_second_and_reports_zero_leaks()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        int exit = CommandLine.Run(["simulate", "--duration", "1", "--capacity-mib", "128", "--seed", "7"], new CliConsole(output, error, isTerminal: false));

        string report = output.ToString();
        Assert.True(exit == ExitCodes.Success, report + error);
        Assert.Equal(string.Empty, error.ToString());
        Assert.DoesNotContain('\r', report); // not a terminal: plain progress lines
        Assert.Contains("Llama-3-8B f16 (32 layers, 8 KV heads x 128, 16 tokens/block, 64 KiB/block)", report, StringComparison.Ordinal);
        Assert.Contains("pool: 2,048 blocks, 128 MiB native", report, StringComparison.Ordinal);
        Assert.Contains("leaked blocks: 0", report, StringComparison.Ordinal);
        Assert.Contains("invariants: all held", report, StringComparison.Ordinal);
        foreach (string operation in new[] { "admit", "append", "release" })
        {
            Match row = Regex.Match(report, $@"^{operation} +(?<count>[\d,]+) +[\d,]+ +\S+ \S+ +\S+ \S+$", RegexOptions.Multiline);
            Assert.True(row.Success, $"no row for {operation}:\n{report}");
            Assert.True(long.Parse(row.Groups["count"].Value.Replace(",", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture) > 0, operation);
        }

        Match agents = AgentsLine().Match(report);
        Assert.True(agents.Success, report);
        long admitted = Number(agents.Groups["admitted"].Value);
        Assert.True(admitted > 0);
        Assert.Equal(admitted, Number(agents.Groups["completed"].Value) + Number(agents.Groups["preempted"].Value)); // every agent was released
    }

    [Fact]
    public void Simulation_releases_every_agent_and_accounts_for_every_operation()
    {
        ModelPresets.TryCreate("tinyllama", out KvCacheSpec? spec, out string title);
        var settings = new SimulationSettings { Preset = "tinyllama", ModelTitle = title, Spec = spec!, CapacityMiB = 16, Agents = 6, Threads = 3, DurationSeconds = 0.5, Seed = 3, Diagnostics = true };
        long nativeBefore = BlockPool.LiveNativeBytes;

        SimulationReport report = Simulation.Run(settings, new CliConsole(TextWriter.Null, TextWriter.Null, isTerminal: true));

        Assert.True(report.InvariantsHeld, string.Join('\n', report.Failures));
        Assert.Equal(0, report.LeakedBlocks);
        Assert.True(report.Totals.Admitted > 0);
        Assert.Equal(report.Totals.Admitted, report.Totals.Completed + report.Totals.Preempted);
        Assert.Equal(report.Totals.Completed + report.Totals.Preempted, report.Totals.Latency(OperationKind.Release).Count);
        Assert.InRange(report.PeakBlocks, 1, report.CapacityBlocks);
        Assert.Equal(report.Totals.RolledBack, report.Totals.Latency(OperationKind.AbortedAdmission).Count);
        Assert.Equal(nativeBefore, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public void A_report_with_a_failure_says_the_invariants_broke()
    {
        ModelPresets.TryCreate("tinyllama", out KvCacheSpec? spec, out string title);
        var report = new SimulationReport
        {
            Settings = new SimulationSettings { Preset = "tinyllama", ModelTitle = title, Spec = spec! },
            CapacityBlocks = 10,
            BytesPerBlock = spec!.BytesPerBlock,
            NativeBytes = 10 * spec.BytesPerBlock,
            BuildTime = TimeSpan.FromMilliseconds(1),
            Elapsed = TimeSpan.FromSeconds(1),
            Totals = new WorkerStats(),
            PeakBlocks = 3,
            LeakedBlocks = 2,
            Failures = ["agent 4 holds 3 blocks; expected 2."],
        };
        var text = new StringWriter();

        report.Write(text);

        Assert.False(report.InvariantsHeld);
        Assert.Contains("leaked blocks: 2", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("INVARIANTS BROKEN (1):", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("agent 4 holds 3 blocks", text.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_every_option_and_exits_zero()
    {
        foreach (string[] args in new[] { new[] { "--help" }, ["simulate", "--help"], ["help", "simulate"], ["-h"] })
        {
            var output = new StringWriter();
            int exit = CommandLine.Run(args, new CliConsole(output, TextWriter.Null, isTerminal: false));
            Assert.Equal(ExitCodes.Success, exit);
            foreach (string option in new[] { "--preset", "--capacity-mib", "--agents", "--threads", "--duration", "--seed", "--diagnostics", "llama3-8b" })
            {
                Assert.Contains(option, output.ToString(), StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [InlineData("unknown option '--bogus'", "--bogus")]
    [InlineData("--duration must be a number, not 'soon'", "--duration", "soon")]
    [InlineData("--duration must be between 0.1 and 3600, not 0", "--duration", "0")]
    [InlineData("--agents must be a whole number, not '2.5'", "--agents", "2.5")]
    [InlineData("--threads 8 is more than --agents 2", "--agents", "2", "--threads", "8")]
    [InlineData("--preset 'gpt-5' is not a known model", "--preset", "gpt-5")]
    [InlineData("--seed needs a value", "--seed")]
    [InlineData("--seed is given twice", "--seed", "1", "--seed", "2")]
    [InlineData("unexpected argument 'now'", "now")]
    [InlineData("too small for a 80-layer model", "--preset", "llama3-70b", "--capacity-mib", "16")]
    public void Bad_options_exit_with_code_2_and_a_message_that_names_them(string message, params string[] options)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        int exit = CommandLine.Run(["simulate", .. options], new CliConsole(output, error, isTerminal: false));

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("operations", output.ToString(), StringComparison.Ordinal); // nothing ran
    }

    [Fact]
    public void An_unknown_command_exits_with_code_2_and_lists_the_commands()
    {
        var error = new StringWriter();

        int exit = CommandLine.Run(["frobnicate"], new CliConsole(TextWriter.Null, error, isTerminal: false));

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains("Unknown command 'frobnicate'. Commands: simulate, inspect.", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Latency_percentiles_are_within_an_eighth_of_the_true_value()
    {
        var histogram = new LatencyHistogram();
        for (long ns = 1; ns <= 100_000; ns++)
        {
            histogram.Record(ns);
        }

        Assert.Equal(100_000, histogram.Count);
        Assert.InRange(histogram.Percentile(0.50), 50_000 * 7 / 8, 50_000 * 9 / 8);
        Assert.InRange(histogram.Percentile(0.99), 99_000 * 7 / 8, 99_000 * 9 / 8);
        Assert.Equal(0, new LatencyHistogram().Percentile(0.5));
        var small = new LatencyHistogram();
        small.Record(3);
        Assert.Equal(3, small.Percentile(0.99));
    }

    private static long Number(string text) => long.Parse(text.Replace(",", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^agents: (?<admitted>[\d,]+) admitted, (?<completed>[\d,]+) completed, (?<preempted>[\d,]+) preempted", RegexOptions.Multiline)]
    private static partial Regex AgentsLine();
}
