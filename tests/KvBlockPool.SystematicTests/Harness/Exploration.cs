namespace KvBlockPool.SystematicTests.Harness;

/// <summary>The outcome of exploring one scenario: what Coyote ran, and the first bug it found (if any) with the means to replay it.</summary>
internal sealed record Exploration(
    string Scenario,
    uint Seed,
    long Iterations,
    TimeSpan Elapsed,
    int BugsFound,
    string? BugReport,
    string? ReproducibleTrace,
    string? TraceFile,
    IReadOnlyCollection<string> UncontrolledInvocations,
    bool Replayed)
{
    public bool FoundBug => BugsFound > 0;

    /// <summary>One line for the test output and for the timing table in docs/concurrency-testing.md.</summary>
    public string Summary =>
        $"{Scenario}: {(Replayed ? "replayed 1 trace" : $"{Iterations} iterations")}, seed {Seed}, {Elapsed.TotalSeconds:F1} s, {BugsFound} bug(s) found";

    /// <summary>Everything needed to understand and reproduce a failure.</summary>
    public string Describe()
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(Summary);
        if (BugReport is not null)
        {
            text.AppendLine("Bug report:").AppendLine(BugReport);
        }

        if (UncontrolledInvocations.Count > 0)
        {
            text.AppendLine("Uncontrolled invocations (the harness or the pool uses something Coyote cannot schedule):");
            foreach (string invocation in UncontrolledInvocations)
            {
                text.Append("  ").AppendLine(invocation);
            }
        }

        if (TraceFile is not null)
        {
            text.AppendLine($"Reproducible trace written to: {TraceFile}");
            text.AppendLine($"Replay it with {CoyoteSettings.ReplayVariable}=<that file> and --filter on this test (docs/concurrency-testing.md).");
        }

        if (ReproducibleTrace is not null)
        {
            text.AppendLine("Reproducible trace:").AppendLine(ReproducibleTrace);
        }

        return text.ToString();
    }
}
