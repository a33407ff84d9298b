using System.Globalization;

namespace KvBlockPool.Persistence;

/// <summary>The header of a saved KV cache: what was saved, and how the payload that follows is laid out.</summary>
public sealed class KvCacheHeader
{
    private readonly int[] _blocksPerLayer;
    private readonly int[] _tokenIds;

    internal KvCacheHeader(int majorVersion, int minorVersion, int headerLength, KvCacheSpec spec, AgentId agent, long tokenCount, int[] blocksPerLayer, int[] tokenIds, ulong headerChecksum)
    {
        _tokenIds = tokenIds;
        MajorVersion = majorVersion;
        MinorVersion = minorVersion;
        HeaderLength = headerLength;
        Spec = spec;
        Agent = agent;
        TokenCount = tokenCount;
        _blocksPerLayer = blocksPerLayer;
        HeaderChecksum = headerChecksum;
        int total = 0;
        foreach (int count in blocksPerLayer)
        {
            total += count; // the decoder has checked the sum fits
        }

        TotalBlocks = total;
    }

    /// <summary>The format's major version; readers refuse majors they do not know.</summary>
    public int MajorVersion { get; }

    /// <summary>The format's minor version; a newer minor only adds header bytes an older reader skips.</summary>
    public int MinorVersion { get; }

    /// <summary>Bytes of the header, its checksum included; the payload starts here.</summary>
    internal int HeaderLength { get; }

    /// <summary>The spec of the pool the cache was saved from; a restore requires an equal spec.</summary>
    public KvCacheSpec Spec { get; }

    /// <summary>The agent whose cache was saved.</summary>
    public AgentId Agent { get; }

    /// <summary>Tokens the cache holds, as the saver stated it (at most the blocks' capacity).</summary>
    public long TokenCount { get; }

    /// <summary>
    /// The ids of the <see cref="TokenCount"/> tokens (format 1.2), so that a restore through
    /// <see cref="Lifecycle.AgentCacheManager.RestoreAsync"/> can publish the agent's full chunks to the prefix cache
    /// again; empty when the saver did not know them (a save through <see cref="KvCacheWriter"/>, or a 1.0/1.1 file).
    /// </summary>
    public IReadOnlyList<int> TokenIds => _tokenIds;

    /// <summary>Blocks on each layer, in layer order.</summary>
    public IReadOnlyList<int> BlocksPerLayer => _blocksPerLayer;

    /// <summary>Blocks on all layers together.</summary>
    public int TotalBlocks { get; }

    /// <summary>The XxHash3 checksum stored at the end of the header.</summary>
    internal ulong HeaderChecksum { get; }

    /// <summary>Bytes of block data in the payload (checksums not included).</summary>
    public long PayloadBytes => (long)TotalBlocks * Spec.BytesPerBlock;

    /// <summary>Bytes of the whole saved cache: header, every layer's blocks and every layer's checksum.</summary>
    public long TotalLength => HeaderLength + PayloadBytes + ((long)_blocksPerLayer.Length * sizeof(ulong));

    /// <summary>Bytes of one layer's block data.</summary>
    /// <param name="layer">The layer.</param>
    /// <returns>The layer's block count times the block size.</returns>
    internal long GetLayerPayloadBytes(int layer) => (long)_blocksPerLayer[layer] * Spec.BytesPerBlock;

    /// <summary>A one-line summary.</summary>
    /// <returns>For example <c>KV cache v1.0 of agent 7: 64 tokens, 8 blocks, ...</c>.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"KV cache v{MajorVersion}.{MinorVersion} of {Agent}: {TokenCount} tokens{(_tokenIds.Length > 0 ? " with their ids" : string.Empty)}, {TotalBlocks} blocks over {Spec.Layers} layers, {PayloadBytes} payload bytes; spec {Spec}");

    internal ReadOnlySpan<int> BlockCounts => _blocksPerLayer;

    internal ReadOnlySpan<int> TokenIdSpan => _tokenIds;
}
