using System.Globalization;
using System.Text;

namespace KvBlockPool.Persistence;

/// <summary>
/// The verdict of <see cref="KvCacheInspector"/> on a saved cache: its header (when readable), every layer's
/// checksums and the first problem found. <see cref="ToString"/> prints all of it for a console.
/// </summary>
public sealed class KvCacheInspectionReport
{
    private readonly KvCacheLayerReport[] _layers;

    internal KvCacheInspectionReport(KvCacheHeader? header, KvCacheLayerReport[] layers, KvCacheFormatException? error, long bytesRead)
    {
        Header = header;
        _layers = layers;
        Error = error;
        BytesRead = bytesRead;
    }

    /// <summary>Whether the data is a complete, intact saved cache: header and every layer checksum match, nothing follows.</summary>
    public bool IsValid => Error is null;

    /// <summary>The header, or <see langword="null"/> when it could not be read or failed its checks.</summary>
    public KvCacheHeader? Header { get; }

    /// <summary>The layers that were read in full, in order, with their checksums.</summary>
    public IReadOnlyList<KvCacheLayerReport> Layers => _layers;

    /// <summary>The first problem found, or <see langword="null"/> for a valid cache.</summary>
    public KvCacheFormatException? Error { get; }

    /// <summary>Bytes read from the source.</summary>
    public long BytesRead { get; }

    /// <summary>A multi-line report: verdict, header fields, one line per layer.</summary>
    /// <returns>The report text.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        IFormatProvider c = CultureInfo.InvariantCulture;
        text.Append(c, $"verdict: {(IsValid ? "VALID" : $"INVALID ({Error!.Reason} at offset {Error.Offset}): {Error.Message}")}").AppendLine();
        text.Append(c, $"bytes read: {BytesRead}").AppendLine();
        if (Header is { } h)
        {
            text.Append(c, $"format: {h.MajorVersion}.{h.MinorVersion}, header {h.HeaderLength} bytes, header checksum 0x{h.HeaderChecksum:x16}").AppendLine();
            text.Append(c, $"spec: {h.Spec}").AppendLine();
            text.Append(c, $"agent: {h.Agent.Value}").AppendLine();
            text.Append(c, $"tokens: {h.TokenCount}").AppendLine();
            text.Append(c, $"blocks: {h.TotalBlocks} ({string.Join(' ', h.BlocksPerLayer)} per layer), {h.PayloadBytes} payload bytes, {h.TotalLength} bytes in all").AppendLine();
        }
        else
        {
            text.AppendLine("header: unreadable");
        }

        foreach (KvCacheLayerReport layer in _layers)
        {
            text.Append(layer).AppendLine();
        }

        return text.ToString();
    }
}
