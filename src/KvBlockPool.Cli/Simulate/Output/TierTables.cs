using System.Globalization;
using KvBlockPool.Cli.Simulate.Tier;
using Spectre.Console;

namespace KvBlockPool.Cli.Simulate.Output;

/// <summary>
/// The shared tier's table in the report: for each host (the second one of <c>--hosts 2</c> read from its own JSON
/// report), its prompt tokens split into local hits, tokens restored from the tier and tokens computed, and what its
/// offload did.
/// </summary>
internal static class TierTables
{
    public static Table Hosts(SimulationJsonDocument.TierPart first, SecondHostRun? second, TableBorder border)
    {
        var table = new Table { Border = border };
        table.AddColumn("shared tier");
        table.AddColumn(new TableColumn("local hits").RightAligned());
        table.AddColumn(new TableColumn("from the tier").RightAligned());
        table.AddColumn(new TableColumn("computed").RightAligned());
        table.AddColumn("chunks offered to the tier");
        table.AddRow(Row("host 1 (this process)", first));
        if (second is not null)
        {
            string name = Invariant($"host 2 (process {second.ProcessId})");
            if (second.Report?.Tier is { } tier)
            {
                table.AddRow(Row(name, tier));
            }
            else
            {
                table.AddRow(Markup.Escape(name), "-", "-", "-", Markup.Escape(Invariant($"no report (exit code {second.ExitCode})")));
            }
        }

        table.Caption(Markup.Escape(Invariant($"tokens of the prompts; tier: {first.Where}")));
        return table;
    }

    private static string[] Row(string host, SimulationJsonDocument.TierPart t) =>
    [
        Markup.Escape(host),
        Invariant($"{t.LocalTokens:N0}"),
        Invariant($"{t.TierTokens:N0} ({t.RestoredChunks:N0} chunks)"),
        Invariant($"{t.ComputedTokens:N0}"),
        Invariant($"{t.PublishedChunks:N0}: {t.OffloadedChunks:N0} written, {t.AlreadyStoredChunks:N0} already there, {t.NotOffloadedChunks:N0} not written; {t.RejectedValues:N0} bad values refused"),
    ];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
