using System.Diagnostics.CodeAnalysis;

namespace KvBlockPool;

/// <content>Presets for the KV-cache shapes of common open models.</content>
[SuppressMessage("Naming", "CA1707", Justification = "Preset names keep the model's own name and size, e.g. Llama3_8B.")]
public sealed partial class KvCacheSpec
{
    /// <summary>Llama 3 / 3.1 8B: 32 layers, 8 KV heads (grouped-query attention), head dim 128.</summary>
    /// <param name="elementType">Element type; FP16 by default.</param>
    /// <param name="tokensPerBlock">Tokens per block; 16 by default, as vLLM uses.</param>
    /// <returns>The spec.</returns>
    public static KvCacheSpec Llama3_8B(KvElementType elementType = KvElementType.Float16, int tokensPerBlock = 16) =>
        new(32, 8, 128, tokensPerBlock, elementType);

    /// <summary>Llama 3 / 3.1 70B: 80 layers, 8 KV heads, head dim 128.</summary>
    /// <param name="elementType">Element type; FP16 by default.</param>
    /// <param name="tokensPerBlock">Tokens per block; 16 by default.</param>
    /// <returns>The spec.</returns>
    public static KvCacheSpec Llama3_70B(KvElementType elementType = KvElementType.Float16, int tokensPerBlock = 16) =>
        new(80, 8, 128, tokensPerBlock, elementType);

    /// <summary>Mistral 7B: 32 layers, 8 KV heads, head dim 128.</summary>
    /// <param name="elementType">Element type; FP16 by default.</param>
    /// <param name="tokensPerBlock">Tokens per block; 16 by default.</param>
    /// <returns>The spec.</returns>
    public static KvCacheSpec Mistral7B(KvElementType elementType = KvElementType.Float16, int tokensPerBlock = 16) =>
        new(32, 8, 128, tokensPerBlock, elementType);

    /// <summary>Qwen2.5 7B: 28 layers, 4 KV heads, head dim 128.</summary>
    /// <param name="elementType">Element type; BF16 by default.</param>
    /// <param name="tokensPerBlock">Tokens per block; 16 by default.</param>
    /// <returns>The spec.</returns>
    public static KvCacheSpec Qwen25_7B(KvElementType elementType = KvElementType.BFloat16, int tokensPerBlock = 16) =>
        new(28, 4, 128, tokensPerBlock, elementType);

    /// <summary>TinyLlama 1.1B: 22 layers, 4 KV heads, head dim 64; small enough for tests and laptops.</summary>
    /// <param name="elementType">Element type; FP16 by default.</param>
    /// <param name="tokensPerBlock">Tokens per block; 16 by default.</param>
    /// <returns>The spec.</returns>
    public static KvCacheSpec TinyLlama_1_1B(KvElementType elementType = KvElementType.Float16, int tokensPerBlock = 16) =>
        new(22, 4, 64, tokensPerBlock, elementType);
}
