using System.Globalization;

namespace KvBlockPool.Persistence;

/// <summary>What <see cref="KvCacheInspector"/> found for one layer of a saved cache.</summary>
public sealed class KvCacheLayerReport
{
    internal KvCacheLayerReport(int layer, int blocks, long payloadBytes, ulong storedChecksum, ulong computedChecksum)
    {
        Layer = layer;
        Blocks = blocks;
        PayloadBytes = payloadBytes;
        StoredChecksum = storedChecksum;
        ComputedChecksum = computedChecksum;
    }

    /// <summary>The layer.</summary>
    public int Layer { get; }

    /// <summary>Blocks saved on the layer.</summary>
    public int Blocks { get; }

    /// <summary>Bytes of block data on the layer.</summary>
    public long PayloadBytes { get; }

    /// <summary>The XxHash3 checksum stored after the layer's data.</summary>
    public ulong StoredChecksum { get; }

    /// <summary>The XxHash3 of the layer's data as read.</summary>
    public ulong ComputedChecksum { get; }

    /// <summary>Whether the stored and computed checksums agree.</summary>
    public bool IsValid => StoredChecksum == ComputedChecksum;

    /// <summary>One line: layer, blocks, bytes, checksums and verdict.</summary>
    /// <returns>For example <c>layer 3: 16 blocks, 1048576 bytes, checksum 0x... ok</c>.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"layer {Layer}: {Blocks} blocks, {PayloadBytes} bytes, checksum 0x{StoredChecksum:x16} {(IsValid ? "ok" : $"MISMATCH (data hashes to 0x{ComputedChecksum:x16})")}");
}
