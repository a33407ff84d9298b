using System.Globalization;
using System.Text.RegularExpressions;
using KvBlockPool.Cli.Simulate;
using KvBlockPool.Cli.Simulate.Output;
using KvBlockPool.Cli.Simulate.Progress;

namespace KvBlockPool.Cli.Tests;

public sealed partial class SimulateCommandTests
{
    [Fact]
    public void Simulate_runs_a_multi_agent_host_for_a_second_and_reports_zero_leaks()
    {
        (int exit, string report, string error) = CliRun.Run("simulate", "--duration", "1", "--capacity-mib", "128", "--seed", "7");

        Assert.True(exit == ExitCodes.Success, report + error);
        Assert.Equal(string.Empty, error);
        Assert.DoesNotContain('\r', report); // not a terminal: plain progress lines
        Assert.DoesNotContain("\u001b[", report, StringComparison.Ordinal); // and no escape codes
        Assert.Contains("Llama-3-8B f16 (32 layers, 8 KV heads x 128, 16 tokens/block, 64 KiB/block)", report, StringComparison.Ordinal);
        Assert.Contains("pool: 2,048 blocks, 128 MiB native", report, StringComparison.Ordinal);
        Assert.Contains("leaked blocks: 0", report, StringComparison.Ordinal);
        Assert.Contains("invariants: all held", report, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^\| operation +\| +count \| +per s \| +p50 \| +p90 \| +p99 \| +p99\.9 \| +max \|$", report);
        foreach (string operation in new[] { "admit", "append", "release" })
        {
            Match row = Regex.Match(report, $@"^\| {operation} +\| +(?<count>[\d,]+) \| +[\d,]+ \|(?: +[\d.]+ (?:ns|us|ms|s) \|){{5}}$", RegexOptions.Multiline);
            Assert.True(row.Success, $"no row for {operation}:\n{report}");
            Assert.True(Number(row.Groups["count"].Value) > 0, operation);
        }

        Match agents = AgentsLine().Match(report);
        Assert.True(agents.Success, report);
        long admitted = Number(agents.Groups["admitted"].Value);
        Assert.True(admitted > 0);
        Assert.Equal(admitted, Number(agents.Groups["completed"].Value) + Number(agents.Groups["preempted"].Value)); // every agent was released
    }

    [Fact]
    public void Simulation_releases_every_agent_samples_the_pool_and_accounts_for_every_operation()
    {
        SimulationSettings settings = TinySettings(duration: 0.5, diagnostics: true);
        long nativeBefore = BlockPool.LiveNativeBytes;

        SimulationReport report = Simulation.Run(settings, new SilentProgressView());

        Assert.True(report.InvariantsHeld, string.Join('\n', report.Failures));
        Assert.Equal(0, report.LeakedBlocks);
        Assert.True(report.Totals.Admitted > 0);
        Assert.Equal(report.Totals.Admitted, report.Totals.Completed + report.Totals.Preempted);
        Assert.Equal(report.Totals.Completed + report.Totals.Preempted, report.Latency(OperationKind.Release).Count);
        Assert.InRange(report.PeakBlocks, 1, report.CapacityBlocks);
        Assert.Equal(report.Totals.RolledBack, report.Latency(OperationKind.AbortedAdmission).Count);
        Assert.Equal(nativeBefore, BlockPool.LiveNativeBytes);
        Assert.Equal(new SimulationSample(0, 0, 0, 0), report.Samples[0]); // the workers start on an empty pool
        Assert.True(report.Samples.Count >= 3, $"{report.Samples.Count} samples");
        Assert.All(report.Samples.Zip(report.Samples.Skip(1)), pair =>
        {
            Assert.True(pair.Second.Seconds > pair.First.Seconds);
            Assert.True(pair.Second.Operations >= pair.First.Operations);
        });
        Assert.All(report.Samples, s => Assert.InRange(s.AllocatedBlocks, 0, report.PeakBlocks));
    }

    [Fact]
    public void On_a_terminal_the_live_view_draws_time_and_occupancy_bars()
    {
        var screen = new StringWriter();
        var terminal = new CliConsole(screen, TextWriter.Null, isTerminal: true);

        SimulationReport report = Simulation.Run(TinySettings(duration: 0.5), new LiveProgressView(terminal.CreateAnsiConsole()));

        Assert.True(report.InvariantsHeld, string.Join('\n', report.Failures));
        Assert.Contains("occupancy", screen.ToString(), StringComparison.Ordinal);
        Assert.Contains("time", screen.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_report_with_a_failure_says_the_invariants_broke_and_prints_the_failure_as_text()
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
            Failures = ["agent [4] holds 3 blocks; expected 2."], // brackets: Spectre markup if it were not escaped
        };
        var text = new StringWriter();

        new SimulationReportView(new CliConsole(text, TextWriter.Null, isTerminal: false).CreateAnsiConsole()).Write(report, plotPath: null);

        Assert.False(report.InvariantsHeld);
        Assert.Contains("leaked blocks: 2", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("INVARIANTS BROKEN (1):", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("agent [4] holds 3 blocks", text.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_every_option_and_exits_zero()
    {
        foreach (string[] args in new[] { new[] { "--help" }, ["simulate", "--help"], ["help", "simulate"], ["-h"] })
        {
            (int exit, string output, _) = CliRun.Run(args);

            Assert.Equal(ExitCodes.Success, exit);
            foreach (string option in new[] { "--preset", "--capacity-mib", "--agents", "--threads", "--duration", "--seed", "--diagnostics", "--json", "--plot", "llama3-8b" })
            {
                Assert.Contains(option, output, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Help_of_an_unknown_command_exits_2_and_lists_the_commands()
    {
        (int exit, string output, string error) = CliRun.Run("help", "frobnicate");

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains("there is no command 'frobnicate'. Commands: simulate, inspect, help.", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Unrecognized command or argument '--bogus'", "--bogus")]
    [InlineData("Cannot parse argument 'soon' for option '--duration'", "--duration", "soon")]
    [InlineData("--duration must be between 0.1 and 3600, not 0.", "--duration", "0")]
    [InlineData("--capacity-mib must be between 1 and 65536, not 70000.", "--capacity-mib", "70000")]
    [InlineData("Cannot parse argument '2.5' for option '--agents'", "--agents", "2.5")]
    [InlineData("--threads 8 is more than --agents 2", "--agents", "2", "--threads", "8")]
    [InlineData("--threads 20 is more than --agents 16", "--threads", "20")]
    [InlineData("--threads must be between 1 and 256, not 0.", "--threads", "0")]
    [InlineData("--preset 'gpt-5' is not a known model", "--preset", "gpt-5")]
    [InlineData("Required argument missing for option: '--seed'", "--seed")]
    [InlineData("Option '--seed' expects a single argument but 2 were provided", "--seed", "1", "--seed", "2")]
    [InlineData("Unrecognized command or argument 'now'", "now")]
    [InlineData("--plot must name a .png or an .svg file, not 'run.jpg'.", "--plot", "run.jpg")]
    [InlineData("too small for a 80-layer model", "--preset", "llama3-70b", "--capacity-mib", "16")]
    public void Bad_options_exit_with_code_2_and_a_message_that_names_them(string message, params string[] options)
    {
        (int exit, string output, string error) = CliRun.Run(["simulate", .. options]);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(1, Regex.Count(error, Regex.Escape(message))); // once: not once per command that has the option
        Assert.Contains("Run 'kvblockpool simulate --help' for the options.", error, StringComparison.Ordinal);
        Assert.DoesNotContain("\n\n", error.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain("operations", output, StringComparison.Ordinal); // nothing ran
    }

    [Fact]
    public void A_plot_into_a_missing_folder_is_refused_before_anything_runs()
    {
        string path = Path.Combine(Path.GetTempPath(), $"kvblockpool-absent-{Guid.NewGuid():N}", "run.png");

        (int exit, string output, string error) = CliRun.Run("simulate", "--plot", path);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains($"--plot cannot write '{path}': the folder", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_misspelt_option_gets_the_parser_suggestion()
    {
        (int exit, _, string error) = CliRun.Run("simulate", "--duratoin", "1");

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains("Unrecognized command or argument '--duratoin'", error, StringComparison.Ordinal);
        Assert.Contains("--duration", error.Replace("'--duratoin'", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_command_exits_with_code_2_and_lists_the_commands()
    {
        (int exit, _, string error) = CliRun.Run("frobnicate");

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains("Unrecognized command or argument 'frobnicate'", error, StringComparison.Ordinal);
        Assert.Contains("Commands: simulate, inspect, help. Run 'kvblockpool --help' for the options.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void With_no_command_the_root_runs_simulate()
    {
        (int exit, string output, string error) = CliRun.Run("--duration", "0.3", "--preset", "tinyllama", "--capacity-mib", "16");

        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Contains("KvBlockPool simulate: TinyLlama-1.1B f16", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Latency_percentiles_from_the_histogram_are_within_one_percent()
    {
        HdrHistogram.LongHistogram histogram = LatencyRecording.Create();
        for (long ns = 1; ns <= 100_000; ns++)
        {
            LatencyRecording.Record(histogram, ns);
        }

        LatencySummary summary = LatencySummary.Of(histogram);

        Assert.Equal(100_000, summary.Count);
        Assert.InRange(summary.P50, 49_500, 50_500);
        Assert.InRange(summary.P90, 89_100, 90_900);
        Assert.InRange(summary.P99, 98_010, 99_990);
        Assert.InRange(summary.P999, 98_901, 100_899);
        Assert.InRange(summary.Max, 99_000, 101_000);
        Assert.Equal(new LatencySummary(0, 0, 0, 0, 0, 0), LatencySummary.Of(LatencyRecording.Create()));
    }

    [Fact]
    public void Latencies_outside_the_histogram_range_are_clamped_not_thrown()
    {
        HdrHistogram.LongHistogram histogram = LatencyRecording.Create();

        LatencyRecording.Record(histogram, 0);
        LatencyRecording.Record(histogram, long.MaxValue);

        Assert.Equal(2, histogram.TotalCount);
        Assert.InRange(LatencySummary.Of(histogram).Max, LatencyRecording.HighestNanoseconds * 99 / 100, LatencyRecording.HighestNanoseconds * 101 / 100);
    }

    [Fact]
    public void Latencies_print_in_the_unit_that_keeps_them_short()
    {
        Assert.Equal("950 ns", LatencyFormat.Format(950));
        Assert.Equal("1.22 us", LatencyFormat.Format(1_215));
        Assert.Equal("12.3 us", LatencyFormat.Format(12_345));
        Assert.Equal("123 us", LatencyFormat.Format(123_456));
        Assert.Equal("45.7 ms", LatencyFormat.Format(45_678_901));
        Assert.Equal("1.20 s", LatencyFormat.Format(1_200_000_000));
        Assert.All(new long[] { 999, 9_999, 99_999, 999_999, 9_999_999, 999_999_999, 59_999_999_999 }, ns => Assert.InRange(LatencyFormat.Format(ns).Length, 1, 7));
    }

    private static SimulationSettings TinySettings(double duration, bool diagnostics = false)
    {
        ModelPresets.TryCreate("tinyllama", out KvCacheSpec? spec, out string title);
        return new SimulationSettings { Preset = "tinyllama", ModelTitle = title, Spec = spec!, CapacityMiB = 16, Agents = 6, Threads = 3, DurationSeconds = duration, Seed = 3, Diagnostics = diagnostics };
    }

    private static long Number(string text) => long.Parse(text.Replace(",", string.Empty, StringComparison.Ordinal), CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^agents: (?<admitted>[\d,]+) admitted, (?<completed>[\d,]+) completed, (?<preempted>[\d,]+) preempted", RegexOptions.Multiline)]
    private static partial Regex AgentsLine();
}
