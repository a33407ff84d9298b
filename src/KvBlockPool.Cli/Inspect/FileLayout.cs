using KvBlockPool.Persistence;

namespace KvBlockPool.Cli.Inspect;

/// <summary>
/// The per-layer layout of a saved cache, from its header (the format puts each layer's blocks and then its 8-byte
/// checksum one after another, after the header) joined with what the inspector read of each layer.
/// </summary>
internal static class FileLayout
{
    private const int ChecksumBytes = sizeof(ulong);

    /// <summary>One row per layer the header lists; empty when the header could not be read.</summary>
    public static IReadOnlyList<LayerRow> Rows(KvCacheInspectionReport report)
    {
        if (report.Header is not { } header)
        {
            return [];
        }

        IReadOnlyList<int> blocks = header.BlocksPerLayer;
        // The header's own length is not public; the total length gives it.
        long offset = header.TotalLength - header.PayloadBytes - ((long)blocks.Count * ChecksumBytes);
        int firstBlock = 0;
        var rows = new List<LayerRow>(blocks.Count);
        for (int layer = 0; layer < blocks.Count; layer++)
        {
            long payload = (long)blocks[layer] * header.Spec.BytesPerBlock;
            KvCacheLayerReport? read = layer < report.Layers.Count ? report.Layers[layer] : null;
            rows.Add(new LayerRow(layer, blocks[layer], firstBlock, offset, payload, read?.StoredChecksum, read?.ComputedChecksum));
            offset += payload + ChecksumBytes;
            firstBlock += blocks[layer];
        }

        return rows;
    }
}
