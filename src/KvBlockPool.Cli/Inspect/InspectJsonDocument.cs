using System.Text.Json;
using KvBlockPool.Persistence;

namespace KvBlockPool.Cli.Inspect;

/// <summary>
/// The <c>--json</c> report of <c>inspect</c> (documented in docs/cli.md): the verdict, the header when it was readable,
/// and every layer's layout and checksums. Checksums are hexadecimal strings, as 64-bit values do not survive every
/// JSON reader.
/// </summary>
internal sealed record InspectJsonDocument(
    string Schema,
    string File,
    bool Valid,
    long BytesRead,
    InspectJsonDocument.ErrorPart? Error,
    InspectJsonDocument.HeaderPart? Header,
    IReadOnlyList<InspectJsonDocument.LayerPart> Layers)
{
    public const string CurrentSchema = "kvblockpool.inspect/1";

    internal sealed record ErrorPart(string Reason, long Offset, string Message);

    internal sealed record HeaderPart(string Format, long Agent, long Tokens, int TokenIds, SpecPart Spec, int TotalBlocks, long PayloadBytes, long TotalBytes, IReadOnlyList<int> BlocksPerLayer);

    internal sealed record SpecPart(int Layers, int KvHeads, int HeadDim, int TokensPerBlock, string ElementType, int BytesPerBlock);

    internal sealed record LayerPart(int Layer, int Blocks, int FirstBlock, long Offset, long PayloadBytes, string? StoredChecksum, string? ComputedChecksum, string Status);

    public static void Write(string path, KvCacheInspectionReport report, TextWriter output) =>
        output.WriteLine(JsonSerializer.Serialize(From(path, report), InspectJsonContext.Default.InspectJsonDocument));

    public static InspectJsonDocument From(string path, KvCacheInspectionReport report)
    {
        HeaderPart? header = report.Header is { } h
            ? new HeaderPart(
                $"{h.MajorVersion}.{h.MinorVersion}",
                h.Agent.Value,
                h.TokenCount,
                h.TokenIds.Count,
                new SpecPart(h.Spec.Layers, h.Spec.KvHeads, h.Spec.HeadDim, h.Spec.TokensPerBlock, h.Spec.ElementType.ToString(), h.Spec.BytesPerBlock),
                h.TotalBlocks,
                h.PayloadBytes,
                h.TotalLength,
                h.BlocksPerLayer)
            : null;
        ErrorPart? error = report.Error is { } e ? new ErrorPart(e.Reason.ToString(), e.Offset, e.Message) : null;
        LayerPart[] layers = FileLayout.Rows(report)
            .Select(r => new LayerPart(r.Layer, r.Blocks, r.FirstBlock, r.Offset, r.PayloadBytes, Hex(r.StoredChecksum), Hex(r.ComputedChecksum), r.Status))
            .ToArray();
        return new InspectJsonDocument(CurrentSchema, path, report.IsValid, report.BytesRead, error, header, layers);
    }

    private static string? Hex(ulong? value) => value is { } v ? $"0x{v:x16}" : null;
}
