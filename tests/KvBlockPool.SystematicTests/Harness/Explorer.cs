using System.Diagnostics;
using Microsoft.Coyote;
using Microsoft.Coyote.Logging;
using Microsoft.Coyote.SystematicTesting;

namespace KvBlockPool.SystematicTests.Harness;

/// <summary>Runs one scenario under Coyote's <see cref="TestingEngine"/> with the suite's fixed settings.</summary>
internal static class Explorer
{
    /// <summary>Where runs leave their summaries (<c>summary.txt</c>) and failed runs their traces, beside the test assembly.</summary>
    public static string ResultsDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "coyote-results");

    /// <summary>
    /// Explores <paramref name="scenario"/> for <paramref name="iterations"/> schedules from <paramref name="seed"/>,
    /// or replays <paramref name="replayTrace"/> when one is given. Coyote stops at the first bug.
    /// </summary>
    public static Exploration Run(string name, Func<Task> scenario, uint iterations, uint seed, string? replayTrace = null, uint deadlockTimeoutMs = CoyoteSettings.DefaultDeadlockTimeoutMs)
    {
        Configuration configuration = Configuration.Create()
            .WithTestingIterations(iterations)
            .WithRandomGeneratorSeed(seed)
            .WithDeadlockTimeout(deadlockTimeoutMs)
            // A scheduling point before every field access of rewritten code: without it a race between a check
            // and an act inside one method (no lock or task boundary between them) can never be produced.
            .WithMemoryAccessRaceCheckingEnabled(true)
            // Anything Coyote cannot control is a fault of the harness or the pool, never something to work around.
            .WithPartiallyControlledConcurrencyAllowed(false)
            .WithTelemetryEnabled(false)
            .WithVerbosityEnabled(VerbosityLevel.None)
            .WithConsoleLoggingEnabled(false);
        if (replayTrace is not null)
        {
            configuration = configuration.WithReproducibleTrace(replayTrace);
        }

        var watch = Stopwatch.StartNew();
        using TestingEngine engine = TestingEngine.Create(configuration, scenario);
        engine.Run();
        watch.Stop();

        TestReport report = engine.TestReport;
        string? bug = report.BugReports.FirstOrDefault();
        string? trace = null;
        string? traceFile = null;
        if (report.NumOfFoundBugs > 0)
        {
            trace = engine.ReproducibleTrace;
            traceFile = SaveTrace(name, trace);
        }

        var exploration = new Exploration(
            name,
            seed,
            report.NumOfExploredFairPaths + report.NumOfExploredUnfairPaths,
            watch.Elapsed,
            report.NumOfFoundBugs,
            bug,
            trace,
            traceFile,
            report.UncontrolledInvocations.ToArray(),
            replayTrace is not null);
        Directory.CreateDirectory(ResultsDirectory);
        // The bug's first line too: a deep run's log must say what was found, not only that something was.
        string found = bug is null ? string.Empty : $": {bug.Split('\n', 2)[0].Trim()}";
        File.AppendAllText(Path.Combine(ResultsDirectory, "summary.txt"), $"{DateTime.UtcNow:u} {exploration.Summary}{found}{Environment.NewLine}");
        return exploration;
    }

    private static string? SaveTrace(string name, string? trace)
    {
        if (string.IsNullOrEmpty(trace))
        {
            return null;
        }

        Directory.CreateDirectory(ResultsDirectory);
        string path = Path.Combine(ResultsDirectory, name + ".trace");
        File.WriteAllText(path, trace);
        return path;
    }
}
