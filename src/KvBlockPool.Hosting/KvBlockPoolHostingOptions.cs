using KvBlockPool.Prefix;

namespace KvBlockPool.Hosting;

/// <summary>
/// How <see cref="KvBlockPoolServiceCollectionExtensions.AddKvBlockPool(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{KvBlockPoolHostingOptions})"/>
/// builds the host's <see cref="BlockPool"/>: the shape of the cache (a <see cref="Preset"/>, explicit dimensions or a
/// <see cref="Spec"/>), its capacity (<see cref="CapacityBlocks"/> or <see cref="CapacityBytes"/>) and the pool's
/// optional settings. Every property can also be bound from a configuration section (see <c>docs/hosting.md</c>).
/// </summary>
/// <remarks>
/// The options are validated when the host starts, before any memory is taken; a failure names the setting (as a
/// configuration key when bound from configuration) and says which values are accepted. Give the shape in exactly
/// one way: <see cref="Spec"/>, <see cref="Preset"/> (with optional <see cref="ElementType"/>,
/// <see cref="TokensPerBlock"/> and <see cref="Layout"/>), or <see cref="Layers"/>, <see cref="KvHeads"/> and
/// <see cref="HeadDim"/> (with the same optional three).
/// </remarks>
public sealed class KvBlockPoolHostingOptions
{
    /// <summary>The names <see cref="Preset"/> accepts (case-insensitive), each the name of a <see cref="KvCacheSpec"/> preset method.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["Llama3_8B", "Llama3_70B", "Mistral7B", "Qwen25_7B", "TinyLlama_1_1B"];

    /// <summary>A ready-made spec; set this, or <see cref="Preset"/>, or the explicit dimensions. Code only: configuration cannot bind it.</summary>
    public KvCacheSpec? Spec { get; set; }

    /// <summary>The name of a <see cref="KvCacheSpec"/> preset, one of <see cref="PresetNames"/>, for example <c>Llama3_8B</c>.</summary>
    public string? Preset { get; set; }

    /// <summary>Transformer layers, for an explicit spec (1 to <see cref="KvCacheSpec.MaxLayers"/>).</summary>
    public int? Layers { get; set; }

    /// <summary>Key/value heads per layer, for an explicit spec (1 to <see cref="KvCacheSpec.MaxKvHeads"/>).</summary>
    public int? KvHeads { get; set; }

    /// <summary>Elements per head, for an explicit spec (1 to <see cref="KvCacheSpec.MaxHeadDim"/>).</summary>
    public int? HeadDim { get; set; }

    /// <summary>Tokens per block; the preset's default (16) or 16 for an explicit spec when not set.</summary>
    public int? TokensPerBlock { get; set; }

    /// <summary>The element type; the preset's default, or <see cref="KvElementType.Float16"/> for an explicit spec, when not set.</summary>
    public KvElementType? ElementType { get; set; }

    /// <summary>The layout inside each block half; <see cref="KvBlockLayout.HeadMajor"/> when not set.</summary>
    public KvBlockLayout? Layout { get; set; }

    /// <summary>The capacity in blocks (all layers together). Set this or <see cref="CapacityBytes"/>.</summary>
    public int? CapacityBlocks { get; set; }

    /// <summary>
    /// A native-memory budget in bytes (see <see cref="BlockPoolOptions.CapacityBytes"/>). Set this or
    /// <see cref="CapacityBlocks"/>. In configuration it may carry a unit: <c>"256MiB"</c>, <c>"2GiB"</c>, <c>"500MB"</c>.
    /// </summary>
    public long? CapacityBytes { get; set; }

    /// <summary>What happens to a freed block's bytes (see <see cref="BlockPoolOptions.ClearMode"/>).</summary>
    public BlockClearMode ClearMode { get; set; } = BlockClearMode.ZeroOnFree;

    /// <summary>Diagnostics mode (see <see cref="BlockPoolOptions.Diagnostics"/>); <see langword="null"/> reads the environment variable.</summary>
    public bool? Diagnostics { get; set; }

    /// <summary>Block alignment in bytes (see <see cref="BlockPoolOptions.Alignment"/>); 0 lets the pool choose.</summary>
    public int Alignment { get; set; }

    /// <summary>Blocks per native slab (see <see cref="BlockPoolOptions.BlocksPerSlab"/>); 0 lets the pool choose.</summary>
    public int BlocksPerSlab { get; set; }

    /// <summary>The pool's name in logs and in the <c>kvblockpool.pool.name</c> metric tag; "default" when not set.</summary>
    public string? Name { get; set; }

    /// <summary>Skips the check that the machine can still give the pool its memory (see <see cref="BlockPoolOptions.AllowOvercommit"/>).</summary>
    public bool AllowOvercommit { get; set; }

    /// <summary>
    /// Turns on the pool's prefix cache with these settings (see <see cref="BlockPoolOptions.PrefixCache"/> and
    /// <c>docs/prefix-cache.md</c>); <see langword="null"/> (the default) leaves it off. In configuration, a
    /// <c>PrefixCache</c> section turns it on (an empty one with the defaults) unless it holds <c>Enabled: false</c>;
    /// its <c>KeySecret</c> is base64, never logged and never shown in a validation message.
    /// </summary>
    public KvPrefixCacheOptions? PrefixCache { get; set; }

    /// <summary>
    /// Connects the prefix cache to a shared tier on a Garnet, Redis or Valkey server (see <c>docs/tier.md</c>);
    /// <see langword="null"/> (the default) for none. Needs <see cref="PrefixCache"/>. In configuration, a <c>Tier</c>
    /// section turns it on unless it holds <c>Enabled: false</c>; its <c>Password</c> is never logged and never shown in
    /// a validation message. The host connects when it starts and closes the connection after the pool is disposed.
    /// </summary>
    public KvTierHostingOptions? Tier { get; set; }

    /// <summary>The configuration path the options were bound from, so messages name configuration keys; null when set in code.</summary>
    internal string? SectionPath { get; set; }

    /// <summary>Values in the bound section that could not be read; reported by validation.</summary>
    internal List<string> BindingErrors { get; } = [];

    /// <summary>The settings whose configured value could not be read, so validation does not also call them missing.</summary>
    internal HashSet<string> UnreadKeys { get; } = new(StringComparer.OrdinalIgnoreCase);
}
