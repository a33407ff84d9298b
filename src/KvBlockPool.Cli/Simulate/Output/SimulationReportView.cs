using System.Globalization;
using KvBlockPool.Cli.Simulate.SharedPrefix;
using Spectre.Console;

namespace KvBlockPool.Cli.Simulate.Output;

/// <summary>
/// The report for people: a few lines about the run, a table of operations with their latency percentiles, the
/// agents, tokens, occupancy and the verdict. On a terminal the table has rounded borders and the verdict colour;
/// in a log (no terminal) the same table is drawn in ASCII and nothing else carries escape codes. A shared-prefix run
/// adds a table of what the prefix cache did.
/// </summary>
internal sealed class SimulationReportView(IAnsiConsole console)
{
    public void Write(SimulationReport report, string? plotPath)
    {
        SimulationSettings s = report.Settings;
        KvCacheSpec spec = s.Spec;
        double seconds = report.Seconds;
        Line($"KvBlockPool simulate: {s.ModelTitle} ({spec.Layers} layers, {spec.KvHeads} KV heads x {spec.HeadDim}, {spec.TokensPerBlock} tokens/block, {report.BytesPerBlock / 1024.0:0.#} KiB/block)");
        Line($"pool: {report.CapacityBlocks:N0} blocks, {report.NativeBytes / (1024.0 * 1024):N0} MiB native, built in {report.BuildTime.TotalMilliseconds:N0} ms; {s.Threads} threads, {s.Agents} agent slots, seed {s.Seed}, diagnostics {(s.Diagnostics ? "on" : "off")}");
        Line($"workload: {Workload(s)}");
        Line($"ran {report.Elapsed.TotalSeconds:0.00} s: {report.Operations:N0} operations, {report.Operations / seconds:N0} per second");
        console.WriteLine();
        console.Write(LatencyTable(report));
        console.WriteLine();
        WorkerStats t = report.Totals;
        Line($"agents: {t.Admitted:N0} admitted, {t.Completed:N0} completed, {t.Preempted:N0} preempted when a decode step waited {WorkloadShape.DecodePatienceMilliseconds} ms for a block");
        Line($"rollbacks: {t.RolledBack:N0} admissions abandoned part-way through prefill, every layer returned");
        Line($"tokens: {t.PromptTokens:N0} prompt, {t.DecodedTokens:N0} decoded ({t.DecodedTokens / seconds:N0} per second)");
        Line($"peak occupancy: {report.PeakBlocks:N0} of {report.CapacityBlocks:N0} blocks ({100.0 * report.PeakBlocks / report.CapacityBlocks:0.0}%)");
        Line($"exhaustion waits: {t.AdmissionWaits + t.DecodeWaits:N0} ({t.AdmissionWaits:N0} admissions, {t.DecodeWaits:N0} decode steps), {report.WaitedSeconds:0.00} s waited across threads");
        if (report.PrefixCache is { } prefix)
        {
            console.WriteLine();
            console.Write(PrefixTable(prefix, report.BytesPerBlock));
            console.WriteLine();
            if (report.Tier is { } tier)
            {
                console.Write(TierTables.Hosts(SimulationJsonDocument.TierOf(tier, prefix), report.SecondHost, Border()));
                console.WriteLine();
            }
        }

        Line($"leaked blocks: {report.LeakedBlocks}");
        if (plotPath is not null)
        {
            Line($"plot: {plotPath}");
        }

        if (report.InvariantsHeld)
        {
            console.MarkupLine("[green]invariants: all held[/]");
            return;
        }

        console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[bold red]INVARIANTS BROKEN ({report.Failures.Count}):[/]");
        foreach (string failure in report.Failures.Take(20))
        {
            Line($"  {failure}");
        }

        if (report.SecondHost is { ExitCode: not 0 } second)
        {
            Line($"  host 2 (process {second.ProcessId}) exited with {second.ExitCode}:");
            foreach (string failure in (second.Report?.Failures ?? []).Take(20))
            {
                Line($"    {failure}");
            }

            if (second.Error is { } error)
            {
                Line($"    {error}");
            }
        }
    }

    private TableBorder Border() => console.Profile.Capabilities.Ansi ? TableBorder.Rounded : TableBorder.Ascii;

    private Table LatencyTable(SimulationReport report)
    {
        bool terminal = console.Profile.Capabilities.Ansi;
        var table = new Table { Border = terminal ? TableBorder.Rounded : TableBorder.Ascii };
        table.AddColumn("operation");
        foreach (string numeric in new[] { "count", "per s", "p50", "p90", "p99", "p99.9", "max" })
        {
            // On a terminal, one space between a number and the border on its left (not two) keeps the table
            // within 80 columns; a log has room for both.
            table.AddColumn(new TableColumn(numeric).RightAligned().Padding(1, 0, terminal ? 0 : 1, 0));
        }

        foreach (OperationKind kind in Enum.GetValues<OperationKind>())
        {
            LatencySummary latency = report.Latency(kind);
            table.AddRow(
                OperationNames.Display(kind),
                Invariant($"{latency.Count:N0}"),
                Invariant($"{latency.Count / report.Seconds:N0}"),
                LatencyFormat.Format(latency.P50),
                LatencyFormat.Format(latency.P90),
                LatencyFormat.Format(latency.P99),
                LatencyFormat.Format(latency.P999),
                LatencyFormat.Format(latency.Max));
        }

        return table;
    }

    private static string Workload(SimulationSettings settings)
    {
        if (settings.SharedPrefix is not { } prefix)
        {
            return Invariant($"{WorkloadNames.Independent} (every prompt its own, no prefix cache)");
        }

        string prompts = prefix.SystemPrompts == 0 ? "every conversation with its own system prompt" : Invariant($"{prefix.SystemPrompts} shared system prompts");
        return Invariant($"{WorkloadNames.SharedPrefix}: {prompts}, {prefix.ReturnProbability:0%} of answered conversations come back");
    }

    private Table PrefixTable(PrefixCacheSummary p, int bytesPerBlock)
    {
        bool terminal = console.Profile.Capabilities.Ansi;
        var table = new Table { Border = terminal ? TableBorder.Rounded : TableBorder.Ascii };
        table.AddColumn("prefix cache");
        table.AddColumn("figures");
        table.AddRow("system prompts", p.Settings.SystemPrompts == 0
            ? Invariant($"one per conversation, {p.Shape.SystemPromptTokens:N0} tokens each")
            : Invariant($"{p.Settings.SystemPrompts:N0} shared, {p.Shape.SystemPromptTokens:N0} tokens each"));
        table.AddRow("turns", Invariant($"{p.FirstTurns.Admitted:N0} first, {p.ReturningTurns.Admitted:N0} returning (a conversation holds at most {p.Shape.TokenBudget:N0} tokens)"));
        table.AddRow("hit rate", Invariant($"{p.HitRate:0.0%} of {p.PromptTokens:N0} prompt tokens (first turns {p.FirstTurns.HitRate:0.0%}, returning turns {p.ReturningTurns.HitRate:0.0%})"));
        table.AddRow("prefill skipped", Invariant($"{p.CachedTokens:N0} tokens"));
        table.AddRow("memory saved, peak", Invariant($"{p.PeakSavedBlocks:N0} blocks ({Mebibytes(p.PeakSavedBlocks, bytesPerBlock)})"));
        table.AddRow("memory saved, mean", Invariant($"{p.MeanSavedBlocks:N0} blocks ({Mebibytes(p.MeanSavedBlocks, bytesPerBlock)}), {p.SavedFraction:0.0%} of the {p.MeanUnsharedBlocks:N0} the live agents would hold without the cache"));
        table.AddRow("chunks", Invariant($"{p.Cache.StoredChunks:N0} stored, {p.Cache.DuplicateChunks:N0} duplicates kept apart, {p.Cache.EvictedChunks:N0} evicted, {p.Cache.CachedChunks:N0} cached at the end"));
        return table;
    }

    private static string Mebibytes(double blocks, int bytesPerBlock) => Invariant($"{blocks * bytesPerBlock / (1024.0 * 1024):N1} MiB");

    // Report text is data, not markup: a failure message may hold brackets.
    private void Line(FormattableString text) => console.WriteLine(text.ToString(CultureInfo.InvariantCulture));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
