namespace KvBlockPool.Persistence;

/// <summary>
/// Where each part of a saved cache lies, from its header alone (offsets from the cache's first byte): every
/// layer's blocks and checksum, and the index of the layer's first block in payload order. It lets a reader that
/// can seek read the layers independently, and name the part a given offset falls in.
/// </summary>
internal sealed class KvCacheLayout
{
    private readonly long[] _payloadOffsets;
    private readonly int[] _firstBlocks;

    public KvCacheLayout(KvCacheHeader header)
    {
        Header = header;
        int layers = header.BlocksPerLayer.Count;
        _payloadOffsets = new long[layers];
        _firstBlocks = new int[layers];
        long offset = header.HeaderLength;
        int block = 0;
        for (int layer = 0; layer < layers; layer++)
        {
            _payloadOffsets[layer] = offset;
            _firstBlocks[layer] = block;
            offset += header.GetLayerPayloadBytes(layer) + KvCacheFormat.ChecksumBytes;
            block += header.BlocksPerLayer[layer];
        }
    }

    public KvCacheHeader Header { get; }

    public int Layers => _payloadOffsets.Length;

    public long PayloadOffset(int layer) => _payloadOffsets[layer];

    public long ChecksumOffset(int layer) => _payloadOffsets[layer] + Header.GetLayerPayloadBytes(layer);

    public int FirstBlock(int layer) => _firstBlocks[layer];

    /// <summary>The part of the cache that holds the byte at <paramref name="offset"/>, as error messages name it.</summary>
    public string Describe(long offset)
    {
        if (offset < Header.HeaderLength)
        {
            return "the header";
        }

        for (int layer = 0; layer < Layers; layer++)
        {
            long checksum = ChecksumOffset(layer);
            if (offset < checksum)
            {
                return KvCacheFormat.Invariant($"layer {layer}'s blocks");
            }

            if (offset < checksum + KvCacheFormat.ChecksumBytes)
            {
                return KvCacheFormat.Invariant($"layer {layer}'s checksum");
            }
        }

        return "the end of the cache";
    }
}
