using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;

namespace KvBlockPool.Tier;

/// <summary>
/// Writes one tier value, layer by layer, from the blocks' own bytes (<see cref="TierCodec.BeginWrite(Span{byte}, Prefix.KvChunkKey, int)"/>).
/// Each layer is hashed after it is copied, so the checksum covers exactly the bytes the value carries even if the
/// source were to change.
/// </summary>
internal ref struct TierValueWriter
{
    private readonly Span<byte> _value;
    private readonly IBufferWriter<byte>? _owner;
    private readonly int _headerLength;
    private readonly int _layers;
    private readonly int _layerBytes;
    private int _next;

    internal TierValueWriter(Span<byte> value, IBufferWriter<byte>? owner, int headerLength, int layers, int layerBytes)
    {
        _value = value;
        _owner = owner;
        _headerLength = headerLength;
        _layers = layers;
        _layerBytes = layerBytes;
    }

    /// <summary>Layers written so far.</summary>
    public readonly int LayersWritten => _next;

    /// <summary>
    /// The value's payload: every layer's block, in layer order, exactly as <c>KvPrefixCache.TryCopyChunk</c> lays a
    /// chunk out, so a caller can copy a cached chunk straight into the value and then call <see cref="PayloadWritten"/>.
    /// </summary>
    public readonly Span<byte> Payload => _value[_headerLength..];

    /// <summary>Declares every layer written through <see cref="Payload"/>: hashes each in place. Only before any <see cref="WriteLayer"/>.</summary>
    public void PayloadWritten()
    {
        if (_next != 0)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"{_next} layers were written one by one; a payload is written either whole or layer by layer."));
        }

        for (int layer = 0; layer < _layers; layer++)
        {
            Seal(layer);
        }

        _next = _layers;
    }

    /// <summary>Appends the next layer's bytes: one block, <c>BytesPerBlock</c> long.</summary>
    public void WriteLayer(ReadOnlySpan<byte> source)
    {
        if (_next == _layers)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"All {_layers} layers are written; call Complete."));
        }

        if (source.Length != _layerBytes)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer {_next} is {source.Length} bytes; a chunk holds one block ({_layerBytes} bytes) per layer."), nameof(source));
        }

        source.CopyTo(_value.Slice(_headerLength + (_next * _layerBytes), _layerBytes));
        Seal(_next);
        _next++;
    }

    /// <summary>Seals the header with its checksum (and advances the buffer writer, if one was given); returns the value's length.</summary>
    public int Complete()
    {
        if (_next != _layers)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"{_next} of {_layers} layers are written; write every layer before Complete."));
        }

        int checksumAt = _headerLength - TierValueFormat.ChecksumBytes;
        BinaryPrimitives.WriteUInt64LittleEndian(_value[checksumAt..], XxHash3.HashToUInt64(_value[..checksumAt]));
        _next++; // a second Complete is refused
        _owner?.Advance(_value.Length);
        return _value.Length;
    }

    private readonly void Seal(int layer)
    {
        Span<byte> bytes = _value.Slice(_headerLength + (layer * _layerBytes), _layerBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(_value[TierValueFormat.LayerLengthOffset(layer)..], (uint)_layerBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(_value[TierValueFormat.LayerChecksumOffset(_layers, layer)..], XxHash3.HashToUInt64(bytes));
    }
}
