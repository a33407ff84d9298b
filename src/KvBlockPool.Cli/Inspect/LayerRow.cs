namespace KvBlockPool.Cli.Inspect;

/// <summary>One layer of a saved cache as <c>inspect</c> lays it out: where its blocks lie and whether they check out.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Blocks">Blocks saved on the layer, from the header.</param>
/// <param name="FirstBlock">The index of the layer's first block in payload order.</param>
/// <param name="Offset">Where the layer's blocks start, in bytes from the start of the file.</param>
/// <param name="PayloadBytes">Bytes of block data on the layer.</param>
/// <param name="StoredChecksum">The checksum stored after the layer, or null when the layer was not read.</param>
/// <param name="ComputedChecksum">The checksum of the data as read, or null when the layer was not read.</param>
internal sealed record LayerRow(int Layer, int Blocks, int FirstBlock, long Offset, long PayloadBytes, ulong? StoredChecksum, ulong? ComputedChecksum)
{
    public string Status => StoredChecksum is null ? "not read" : StoredChecksum == ComputedChecksum ? "ok" : "MISMATCH";
}
