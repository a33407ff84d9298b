using System.Globalization;
using System.Numerics;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier;

namespace KvBlockPool.Hosting.Configuration;

/// <summary>
/// Turns <see cref="KvBlockPoolHostingOptions"/> into <see cref="BlockPoolOptions"/>, collecting every problem it
/// finds without taking any memory. The validator and the pool's factory share it, so what was validated is what is
/// built. The spec is built by <see cref="KvCacheSpec"/>'s own constructor, whose messages are passed on; the pool's
/// own checks that need its layout (stride, the memory the machine can still give) run when the pool is constructed,
/// and <see cref="Translate"/> passes their messages on the same way.
/// </summary>
internal static class PoolOptionsBuilder
{
    private const int MinAlignment = 16;
    private const int MaxAlignment = 1024 * 1024;
    private const string LibraryPrefix = "BlockPoolOptions.";
    private static readonly TimeSpan MaxConnectTimeout = TimeSpan.FromMinutes(1);

    /// <summary>Builds the pool's options; on failure returns null and adds one message per problem to <paramref name="failures"/>.</summary>
    public static BlockPoolOptions? TryBuild(KvBlockPoolHostingOptions options, List<string> failures)
    {
        int before = failures.Count;
        KvCacheSpec? spec = BuildSpec(options, failures);
        CheckCapacity(options, spec, failures);

        if (!Enum.IsDefined(options.ClearMode))
        {
            failures.Add(Invariant($"{Key(options, nameof(options.ClearMode))}: {options.ClearMode} is not defined. Use ZeroOnFree or None."));
        }

        if (options.Alignment != 0 && (options.Alignment < MinAlignment || options.Alignment > MaxAlignment || !BitOperations.IsPow2(options.Alignment)))
        {
            failures.Add(Invariant(
                $"{Key(options, nameof(options.Alignment))}: {options.Alignment} is not a power of two between {MinAlignment} and {MaxAlignment} bytes. Use 0 to let the pool choose (a cache line), or {Environment.SystemPageSize} (this machine's page size) for page-aligned blocks."));
        }

        if (options.BlocksPerSlab < 0)
        {
            failures.Add(Invariant($"{Key(options, nameof(options.BlocksPerSlab))}: {options.BlocksPerSlab} is negative. Use 0 to let the pool choose, or a positive count."));
        }

        CheckPrefixCache(options, failures);
        CheckTier(options, failures);

        if (failures.Count > before || spec is null)
        {
            return null;
        }

        return new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = options.CapacityBlocks,
            CapacityBytes = options.CapacityBytes,
            ClearMode = options.ClearMode,
            Diagnostics = options.Diagnostics,
            Alignment = options.Alignment,
            BlocksPerSlab = options.BlocksPerSlab,
            Name = options.Name,
            AllowOvercommit = options.AllowOvercommit,
            PrefixCache = options.PrefixCache,
        };
    }

    /// <summary>
    /// Rewrites an <see cref="ArgumentException"/> from the <see cref="BlockPool"/> constructor (<c>BlockPoolOptions.X: …</c>)
    /// so it names the setting as the host wrote it (<c>KvBlockPool:X: …</c>).
    /// </summary>
    public static string Translate(ArgumentException exception, KvBlockPoolHostingOptions options)
    {
        string message = LibraryMessage(exception);
        int colon = message.IndexOf(": ", StringComparison.Ordinal);
        if (!message.StartsWith(LibraryPrefix, StringComparison.Ordinal) || colon < 0)
        {
            return Invariant($"{Prefix(options).TrimEnd(':', '.')}: {message}");
        }

        string setting = message[LibraryPrefix.Length..colon];
        string rest = message[(colon + 2)..].Replace(LibraryPrefix, Prefix(options), StringComparison.Ordinal);
        return Invariant($"{Key(options, setting)}: {rest}");
    }

    /// <summary>How a message names a setting: a configuration key when the options came from a section, else the property.</summary>
    public static string Key(KvBlockPoolHostingOptions options, string setting) => Prefix(options) + setting;

    /// <summary>How a message names a setting of a nested group, such as the prefix cache's <c>MaxPinnedShare</c>.</summary>
    public static string Key(KvBlockPoolHostingOptions options, string group, string setting) =>
        Key(options, group) + (options.SectionPath is null ? "." : ":") + setting;

    private static string Prefix(KvBlockPoolHostingOptions options) => options.SectionPath switch
    {
        null => nameof(KvBlockPoolHostingOptions) + ".",
        "" => string.Empty,
        string path => path + ":",
    };

    private static KvCacheSpec? BuildSpec(KvBlockPoolHostingOptions options, List<string> failures)
    {
        bool hasPreset = !string.IsNullOrWhiteSpace(options.Preset);
        bool hasDimensions = options.Layers is not null || options.KvHeads is not null || options.HeadDim is not null;
        bool hasSpec = options.Spec is not null;
        string presets = string.Join(", ", KvBlockPoolHostingOptions.PresetNames);

        int ways = (hasPreset ? 1 : 0) + (hasDimensions ? 1 : 0) + (hasSpec ? 1 : 0);
        if (ways == 0)
        {
            if (!options.UnreadKeys.Overlaps([nameof(options.Preset), nameof(options.Layers), nameof(options.KvHeads), nameof(options.HeadDim)]))
            {
                failures.Add(Invariant(
                    $"{Key(options, nameof(options.Preset))}: no KV-cache shape was given. Set {nameof(options.Preset)} (one of: {presets}), or {nameof(options.Layers)}, {nameof(options.KvHeads)} and {nameof(options.HeadDim)}{(options.SectionPath is null ? $", or {nameof(options.Spec)}" : string.Empty)}."));
            }

            return null;
        }

        if (ways > 1)
        {
            var given = new List<string>();
            if (hasSpec)
            {
                given.Add(nameof(options.Spec));
            }

            if (hasPreset)
            {
                given.Add(Invariant($"{nameof(options.Preset)} ('{options.Preset}')"));
            }

            if (hasDimensions)
            {
                given.Add(Invariant($"{nameof(options.Layers)}/{nameof(options.KvHeads)}/{nameof(options.HeadDim)}"));
            }

            failures.Add(Invariant(
                $"{Key(options, hasPreset ? nameof(options.Preset) : nameof(options.Spec))}: the shape is given {ways} ways ({string.Join(" and ", given)}). Give exactly one: a preset with optional {nameof(options.ElementType)}, {nameof(options.TokensPerBlock)} and {nameof(options.Layout)}, or explicit dimensions."));
            return null;
        }

        if (hasSpec)
        {
            if (options.ElementType is not null || options.TokensPerBlock is not null || options.Layout is not null)
            {
                failures.Add(Invariant(
                    $"{Key(options, nameof(options.Spec))}: {nameof(options.ElementType)}, {nameof(options.TokensPerBlock)} and {nameof(options.Layout)} refine a {nameof(options.Preset)} or explicit dimensions, not a ready-made {nameof(options.Spec)}. Put them in the spec instead."));
                return null;
            }

            return options.Spec;
        }

        int layers, kvHeads, headDim, tokensPerBlock;
        KvElementType elementType;
        KvBlockLayout layout;
        if (hasPreset)
        {
            KvCacheSpec? preset = Preset(options.Preset!.Trim());
            if (preset is null)
            {
                failures.Add(Invariant($"{Key(options, nameof(options.Preset))}: '{options.Preset}' is not a preset. Use one of: {presets}; or give {nameof(options.Layers)}, {nameof(options.KvHeads)} and {nameof(options.HeadDim)} instead."));
                return null;
            }

            (layers, kvHeads, headDim) = (preset.Layers, preset.KvHeads, preset.HeadDim);
            tokensPerBlock = options.TokensPerBlock ?? preset.TokensPerBlock;
            elementType = options.ElementType ?? preset.ElementType;
            layout = options.Layout ?? preset.Layout;
        }
        else
        {
            string[] missing =
            [
                .. options.Layers is null ? [nameof(options.Layers)] : Array.Empty<string>(),
                .. options.KvHeads is null ? [nameof(options.KvHeads)] : Array.Empty<string>(),
                .. options.HeadDim is null ? [nameof(options.HeadDim)] : Array.Empty<string>(),
            ];
            if (missing.Length > 0)
            {
                if (!options.UnreadKeys.Overlaps(missing))
                {
                    failures.Add(Invariant(
                        $"{Key(options, missing[0])}: missing. An explicit spec needs {nameof(options.Layers)}, {nameof(options.KvHeads)} and {nameof(options.HeadDim)} (and takes optional {nameof(options.TokensPerBlock)}, {nameof(options.ElementType)} and {nameof(options.Layout)}); {string.Join(" and ", missing)} {(missing.Length == 1 ? "is" : "are")} not set. Or use a {nameof(options.Preset)} (one of: {presets})."));
                }

                return null;
            }

            (layers, kvHeads, headDim) = (options.Layers!.Value, options.KvHeads!.Value, options.HeadDim!.Value);
            tokensPerBlock = options.TokensPerBlock ?? 16;
            elementType = options.ElementType ?? KvElementType.Float16;
            layout = options.Layout ?? KvBlockLayout.HeadMajor;
        }

        try
        {
            return new KvCacheSpec(layers, kvHeads, headDim, tokensPerBlock, elementType, layout);
        }
        catch (ArgumentException ex)
        {
            string setting = ex.ParamName is { Length: > 0 } name ? char.ToUpperInvariant(name[0]) + name[1..] : nameof(options.Preset);
            string value = ex is ArgumentOutOfRangeException { ActualValue: { } actual } ? Invariant($" = {actual}") : string.Empty;
            failures.Add(Invariant($"{Key(options, setting)}{value}: {LibraryMessage(ex)}"));
            return null;
        }
    }

    private static KvCacheSpec? Preset(string name) =>
        KvBlockPoolHostingOptions.PresetNames.FirstOrDefault(p => p.Equals(name, StringComparison.OrdinalIgnoreCase)) switch
        {
            "Llama3_8B" => KvCacheSpec.Llama3_8B(),
            "Llama3_70B" => KvCacheSpec.Llama3_70B(),
            "Mistral7B" => KvCacheSpec.Mistral7B(),
            "Qwen25_7B" => KvCacheSpec.Qwen25_7B(),
            "TinyLlama_1_1B" => KvCacheSpec.TinyLlama_1_1B(),
            _ => null,
        };

    private static void CheckCapacity(KvBlockPoolHostingOptions options, KvCacheSpec? spec, List<string> failures)
    {
        string blocksKey = Key(options, nameof(options.CapacityBlocks));
        string bytesKey = Key(options, nameof(options.CapacityBytes));
        switch (options.CapacityBlocks, options.CapacityBytes)
        {
            case (not null, not null):
                failures.Add(Invariant($"{blocksKey}: both {nameof(options.CapacityBlocks)} and {nameof(options.CapacityBytes)} are set. Set exactly one."));
                break;
            case (null, null):
                if (!options.UnreadKeys.Overlaps([nameof(options.CapacityBlocks), nameof(options.CapacityBytes)]))
                {
                    failures.Add(Invariant(
                        $"{bytesKey}: no capacity was given. Set {nameof(options.CapacityBytes)} (a native-memory budget: {ByteSize.AcceptedForms}) or {nameof(options.CapacityBlocks)} (a block count)."));
                }

                break;
            case (int blocks, null) when blocks < 1:
                failures.Add(Invariant($"{blocksKey}: {blocks} blocks. It must be at least 1."));
                break;
            case (null, long bytes) when bytes < 1:
                failures.Add(Invariant($"{bytesKey}: {bytes} bytes. A budget must be positive: {ByteSize.AcceptedForms}."));
                break;
            case (null, long bytes) when spec is not null && bytes < spec.BytesPerBlock:
                failures.Add(Invariant(
                    $"{bytesKey}: {bytes} bytes do not hold even one block of {spec.BytesPerBlock} bytes ({spec}). Raise the budget or use a smaller spec."));
                break;
        }
    }

    /// <summary>
    /// The checks the pool makes of <see cref="KvPrefixCacheOptions"/>, made here so that they name the host's keys;
    /// the key secret is described by its length only.
    /// </summary>
    private static void CheckPrefixCache(KvBlockPoolHostingOptions options, List<string> failures)
    {
        if (options.PrefixCache is not { } prefix)
        {
            return;
        }

        const string group = nameof(options.PrefixCache);
        if (!Enum.IsDefined(prefix.HashAlgorithm))
        {
            failures.Add(Invariant(
                $"{Key(options, group, nameof(prefix.HashAlgorithm))}: {prefix.HashAlgorithm} is not defined. Use one of: {string.Join(", ", Enum.GetNames<KvChunkHashAlgorithm>())}."));
        }

        if (!(prefix.MaxPinnedShare > 0 && prefix.MaxPinnedShare <= 1))
        {
            failures.Add(Invariant(
                $"{Key(options, group, nameof(prefix.MaxPinnedShare))}: {prefix.MaxPinnedShare}. Give a share of the pool above 0 and at most 1 (0.5 by default)."));
        }

        if (prefix.KeySecret is { } secret && (secret.Length < KvPrefixCacheOptions.MinKeySecretBytes || secret.Length > KvPrefixCacheOptions.MaxKeySecretBytes))
        {
            failures.Add(Invariant(
                $"{Key(options, group, nameof(prefix.KeySecret))}: {(options.SectionPath is null ? "is" : "decodes to")} {secret.Length} bytes (not shown). Give {KvPrefixCacheOptions.MinKeySecretBytes} to {KvPrefixCacheOptions.MaxKeySecretBytes} random bytes (32 is a good size), or leave it out for a random secret per pool."));
        }
    }

    /// <summary>
    /// The pool's options with the prefix cache connected to <paramref name="tier"/>: a copy of the host's prefix-cache
    /// settings, so the options the host reads back stay as it wrote them.
    /// </summary>
    public static BlockPoolOptions WithTier(BlockPoolOptions pool, KvTierOptions tier)
    {
        KvPrefixCacheOptions prefix = pool.PrefixCache!;
        pool.PrefixCache = new KvPrefixCacheOptions
        {
            KeySecret = prefix.KeySecret,
            HashAlgorithm = prefix.HashAlgorithm,
            MaxPinnedShare = prefix.MaxPinnedShare,
            Tier = tier,
        };
        return pool;
    }

    /// <summary>The name the tier's metrics and logs carry: the pool's.</summary>
    public static string TierName(KvBlockPoolHostingOptions options) =>
        string.IsNullOrWhiteSpace(options.Name) ? "default" : options.Name;

    /// <summary>
    /// The tier's checks, made before the host connects to anything: the prefix cache it belongs to, the tier's ranges
    /// (as the pool makes them) and the store's own checks (<see cref="RedisKvChunkStoreOptions.Validate"/>), each
    /// message naming the host's key. The password is never part of a message.
    /// </summary>
    private static void CheckTier(KvBlockPoolHostingOptions options, List<string> failures)
    {
        if (options.Tier is not { } tier)
        {
            return;
        }

        const string group = nameof(options.Tier);
        if (options.PrefixCache is null)
        {
            failures.Add(Invariant(
                $"{Key(options, group)}: a tier holds the prefix cache's chunks, and the prefix cache is off. Turn it on with {(options.SectionPath is null ? "PrefixCache = new KvPrefixCacheOptions { KeySecret = ... }" : "a PrefixCache section (with the KeySecret the hosts sharing the tier share)")}."));
        }
        else if (options.PrefixCache.Tier is not null)
        {
            failures.Add(Invariant(
                $"{Key(options, group)}: the tier is given two ways ({nameof(options.Tier)} and {nameof(options.PrefixCache)}.{nameof(KvPrefixCacheOptions.Tier)}). Give one: {nameof(options.Tier)} to let the host connect, or {nameof(options.PrefixCache)}.{nameof(KvPrefixCacheOptions.Tier)} with a store you connected."));
        }

        if (!(tier.RestoreTimeout > TimeSpan.Zero && tier.RestoreTimeout <= TimeSpan.FromMinutes(1)))
        {
            failures.Add(Invariant($"{Key(options, group, nameof(tier.RestoreTimeout))}: {tier.RestoreTimeout}. Give more than 0 and at most 1 minute, such as \"250ms\" (the default)."));
        }

        if (tier.ConnectTimeout > MaxConnectTimeout)
        {
            // The start waits this long and cannot be cancelled meanwhile (see TierConnection).
            failures.Add(Invariant($"{Key(options, group, nameof(tier.ConnectTimeout))}: {tier.ConnectTimeout}. A host's start waits this long for the tier: give at most 1 minute (5s by default)."));
        }

        if (tier.MaxReadsInFlight is < 1 or > KvTierOptions.MaxReadsInFlightLimit)
        {
            failures.Add(Invariant($"{Key(options, group, nameof(tier.MaxReadsInFlight))}: {tier.MaxReadsInFlight}. Give 1 to {KvTierOptions.MaxReadsInFlightLimit} (4 by default)."));
        }

        if (tier.OffloadQueueCapacity is < 1 or > KvPrefixCache.MaxSubscriptionCapacity)
        {
            failures.Add(Invariant($"{Key(options, group, nameof(tier.OffloadQueueCapacity))}: {tier.OffloadQueueCapacity}. Give 1 to {KvPrefixCache.MaxSubscriptionCapacity} (1024 by default)."));
        }

        try
        {
            tier.ToStoreOptions(TierName(options), loggerFactory: null, meterFactory: null).Validate();
        }
        catch (ArgumentException ex)
        {
            string message = LibraryMessage(ex).Replace(nameof(RedisKvChunkStoreOptions) + ".", Key(options, group, string.Empty), StringComparison.Ordinal);
            failures.Add(message);
        }
    }

    /// <summary>The library's message without the parameter name and actual value the runtime appends to it.</summary>
    private static string LibraryMessage(ArgumentException exception)
    {
        string message = exception.Message;
        int newline = message.IndexOf('\n', StringComparison.Ordinal);
        if (newline >= 0)
        {
            message = message[..newline].TrimEnd('\r');
        }

        if (exception.ParamName is { } parameter)
        {
            string suffix = $" (Parameter '{parameter}')";
            if (message.EndsWith(suffix, StringComparison.Ordinal))
            {
                message = message[..^suffix.Length];
            }
        }

        return message;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
