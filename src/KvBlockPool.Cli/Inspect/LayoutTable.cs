using System.Globalization;
using Spectre.Console;

namespace KvBlockPool.Cli.Inspect;

/// <summary><c>inspect --layers</c>: the per-layer layout as a table (ASCII borders when the output is not a terminal).</summary>
internal static class LayoutTable
{
    public static Table Create(IReadOnlyList<LayerRow> rows, bool ansi)
    {
        var table = new Table { Border = ansi ? TableBorder.Rounded : TableBorder.Ascii };
        table.AddColumn(new TableColumn("layer").RightAligned());
        table.AddColumn(new TableColumn("blocks").RightAligned());
        table.AddColumn(new TableColumn("first block").RightAligned());
        table.AddColumn(new TableColumn("offset").RightAligned());
        table.AddColumn(new TableColumn("bytes").RightAligned());
        table.AddColumn("checksum");
        table.AddColumn("status");
        foreach (LayerRow row in rows)
        {
            table.AddRow(
                Invariant($"{row.Layer}"),
                Invariant($"{row.Blocks:N0}"),
                Invariant($"{row.FirstBlock:N0}"),
                Invariant($"{row.Offset:N0}"),
                Invariant($"{row.PayloadBytes:N0}"),
                row.StoredChecksum is { } stored ? Invariant($"0x{stored:x16}") : "-",
                row.Status == "MISMATCH" && ansi ? "[red]MISMATCH[/]" : row.Status);
        }

        return table;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
