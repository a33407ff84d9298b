using System.Buffers;
using KvBlockPool.Prefix;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>Chunks of random bytes standing for a block per layer, encoded as the pool will encode them.</summary>
internal static class TestChunks
{
    public static readonly KvChunkKey Key = new(0x0123456789abcdef, 0xfedcba9876543210);

    public static KvCacheSpec Small => new(layers: 4, kvHeads: 2, headDim: 8, tokensPerBlock: 4, KvElementType.Float16);

    /// <summary>Every preset the library ships, by name.</summary>
    public static TheoryData<string> PresetNames() => new() { "Llama3_8B", "Llama3_70B", "Mistral7B", "Qwen25_7B", "TinyLlama_1_1B" };

    public static KvCacheSpec Preset(string name) => name switch
    {
        "Llama3_8B" => KvCacheSpec.Llama3_8B(),
        "Llama3_70B" => KvCacheSpec.Llama3_70B(),
        "Mistral7B" => KvCacheSpec.Mistral7B(),
        "Qwen25_7B" => KvCacheSpec.Qwen25_7B(),
        "TinyLlama_1_1B" => KvCacheSpec.TinyLlama_1_1B(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a preset"),
    };

    /// <summary>One block's bytes per layer, random but reproducible from <paramref name="seed"/>.</summary>
    public static byte[][] Layers(KvCacheSpec spec, int seed)
    {
        var random = new Random(seed);
        var layers = new byte[spec.Layers][];
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            layers[layer] = new byte[spec.BytesPerBlock];
            random.NextBytes(layers[layer]);
        }

        return layers;
    }

    public static byte[] Encode(TierCodec codec, KvChunkKey key, byte[][] layers, int? tokens = null)
    {
        var buffer = new ArrayBufferWriter<byte>(codec.ValueLength);
        TierValueWriter writer = codec.BeginWrite(buffer, key, tokens ?? codec.Spec.TokensPerBlock);
        foreach (byte[] layer in layers)
        {
            writer.WriteLayer(layer);
        }

        writer.Complete();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>What a restore does: check the value, then (only then) copy each layer into its block.</summary>
    public static TierValueError Restore(TierCodec codec, ReadOnlySpan<byte> value, KvChunkKey key, byte[][] blocks, out int failedLayer)
    {
        TierValueError error = codec.TryRead(value, key, out TierValueReader reader, out failedLayer);
        if (error == TierValueError.None)
        {
            for (int layer = 0; layer < blocks.Length; layer++)
            {
                reader.CopyLayerTo(layer, blocks[layer]);
            }
        }

        return error;
    }

    /// <summary>Blocks filled with a sentinel, to show a refused value wrote nothing into them.</summary>
    public static byte[][] SentinelBlocks(KvCacheSpec spec)
    {
        var blocks = new byte[spec.Layers][];
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            blocks[layer] = new byte[spec.BytesPerBlock];
            blocks[layer].AsSpan().Fill(0xA5);
        }

        return blocks;
    }

    public static bool AllSentinel(byte[][] blocks) => blocks.All(b => !b.AsSpan().ContainsAnyExcept((byte)0xA5));
}
