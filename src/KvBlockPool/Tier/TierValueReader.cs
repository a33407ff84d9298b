using System.Globalization;

namespace KvBlockPool.Tier;

/// <summary>
/// A tier value that passed every check of <see cref="TierCodec.TryRead"/>: the only way to get at its layers, so no
/// unchecked byte can reach a block. Valid while the buffer it reads from is.
/// </summary>
internal readonly ref struct TierValueReader
{
    private readonly ReadOnlySpan<byte> _value;
    private readonly int _headerLength;
    private readonly int _layerBytes;

    internal TierValueReader(ReadOnlySpan<byte> value, int headerLength, int layers, int layerBytes, int tokenCount)
    {
        _value = value;
        _headerLength = headerLength;
        Layers = layers;
        _layerBytes = layerBytes;
        TokenCount = tokenCount;
    }

    public int Layers { get; }

    /// <summary>Tokens the chunk holds, as its writer stated (1 to the spec's tokens per block).</summary>
    public int TokenCount { get; }

    /// <summary>One layer's checked bytes.</summary>
    public ReadOnlySpan<byte> GetLayer(int layer)
    {
        if ((uint)layer >= (uint)Layers)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, string.Create(CultureInfo.InvariantCulture, $"The value has layers 0 to {Layers - 1}."));
        }

        return _value.Slice(_headerLength + (layer * _layerBytes), _layerBytes);
    }

    /// <summary>Copies one layer into a block (exactly one block's bytes).</summary>
    public void CopyLayerTo(int layer, Span<byte> destination)
    {
        ReadOnlySpan<byte> source = GetLayer(layer);
        if (destination.Length != source.Length)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"The destination is {destination.Length} bytes; a layer of the chunk is {source.Length}."), nameof(destination));
        }

        source.CopyTo(destination);
    }
}
