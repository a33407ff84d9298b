using System.Diagnostics.CodeAnalysis;

namespace KvBlockPool.Cli.Simulate;

/// <summary>The model shapes <c>--preset</c> accepts, all at FP16 (BF16 for Qwen) with 16 tokens per block.</summary>
internal static class ModelPresets
{
    public const string Default = "llama3-8b";

    private static readonly (string Name, string Title, Func<KvCacheSpec> Create)[] All =
    [
        ("llama3-8b", "Llama-3-8B f16", () => KvCacheSpec.Llama3_8B()),
        ("llama3-70b", "Llama-3-70B f16", () => KvCacheSpec.Llama3_70B()),
        ("mistral-7b", "Mistral-7B f16", () => KvCacheSpec.Mistral7B()),
        ("qwen2.5-7b", "Qwen2.5-7B bf16", () => KvCacheSpec.Qwen25_7B()),
        ("tinyllama", "TinyLlama-1.1B f16", () => KvCacheSpec.TinyLlama_1_1B()),
    ];

    public static IEnumerable<string> Names => All.Select(p => p.Name);

    public static bool TryCreate(string name, [NotNullWhen(true)] out KvCacheSpec? spec, out string title)
    {
        foreach ((string each, string eachTitle, Func<KvCacheSpec> create) in All)
        {
            if (string.Equals(each, name, StringComparison.OrdinalIgnoreCase))
            {
                spec = create();
                title = eachTitle;
                return true;
            }
        }

        spec = null;
        title = string.Empty;
        return false;
    }
}
