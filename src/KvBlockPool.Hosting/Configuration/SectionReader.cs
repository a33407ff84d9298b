using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace KvBlockPool.Hosting.Configuration;

/// <summary>
/// Reads a configuration section into <see cref="KvBlockPoolHostingOptions"/> by hand rather than through the
/// reflection binder, so that every unreadable value, unit and misspelt key becomes a validation failure that names
/// its key and the accepted forms (the binder throws on the first bad number and ignores unknown keys), and so the
/// package stays trim- and AOT-friendly.
/// </summary>
internal static class SectionReader
{
    private static readonly (string Key, Action<KvBlockPoolHostingOptions, IConfigurationSection> Read)[] Settings =
        [
            (nameof(KvBlockPoolHostingOptions.Preset), (o, s) => o.Preset = s.Value),
            (nameof(KvBlockPoolHostingOptions.Layers), (o, s) => o.Layers = ReadInt(o, s)),
            (nameof(KvBlockPoolHostingOptions.KvHeads), (o, s) => o.KvHeads = ReadInt(o, s)),
            (nameof(KvBlockPoolHostingOptions.HeadDim), (o, s) => o.HeadDim = ReadInt(o, s)),
            (nameof(KvBlockPoolHostingOptions.TokensPerBlock), (o, s) => o.TokensPerBlock = ReadInt(o, s)),
            (nameof(KvBlockPoolHostingOptions.ElementType), (o, s) => o.ElementType = ReadEnum<KvElementType>(o, s, "an element type")),
            (nameof(KvBlockPoolHostingOptions.Layout), (o, s) => o.Layout = ReadEnum<KvBlockLayout>(o, s, "a layout")),
            (nameof(KvBlockPoolHostingOptions.CapacityBlocks), (o, s) => o.CapacityBlocks = ReadInt(o, s)),
            (nameof(KvBlockPoolHostingOptions.CapacityBytes), (o, s) => o.CapacityBytes = ReadBytes(o, s)),
            (nameof(KvBlockPoolHostingOptions.ClearMode), (o, s) => o.ClearMode = ReadEnum<BlockClearMode>(o, s, "a clear mode") ?? o.ClearMode),
            (nameof(KvBlockPoolHostingOptions.Diagnostics), (o, s) => o.Diagnostics = ReadBool(o, s)),
            (nameof(KvBlockPoolHostingOptions.Alignment), (o, s) => o.Alignment = ReadAlignment(o, s)),
            (nameof(KvBlockPoolHostingOptions.BlocksPerSlab), (o, s) => o.BlocksPerSlab = ReadInt(o, s) ?? 0),
            (nameof(KvBlockPoolHostingOptions.Name), (o, s) => o.Name = s.Value),
            (nameof(KvBlockPoolHostingOptions.AllowOvercommit), (o, s) => o.AllowOvercommit = ReadBool(o, s) ?? false),
            (nameof(KvBlockPoolHostingOptions.PrefixCache), PrefixCacheSectionReader.Read),
            (nameof(KvBlockPoolHostingOptions.Tier), TierSectionReader.Read),
        ];

    /// <summary>The settings that are sections of their own rather than single values.</summary>
    private static readonly HashSet<string> Sections =
        new([nameof(KvBlockPoolHostingOptions.PrefixCache), nameof(KvBlockPoolHostingOptions.Tier)], StringComparer.OrdinalIgnoreCase);

    private static readonly Dictionary<string, Action<KvBlockPoolHostingOptions, IConfigurationSection>> Readers =
        Settings.ToDictionary(s => s.Key, s => s.Read, StringComparer.OrdinalIgnoreCase);

    /// <summary>The keys a section may hold, in the order the documentation lists them.</summary>
    public static string KnownKeys { get; } = string.Join(", ", Settings.Select(s => s.Key));

    /// <summary>Applies every key of <paramref name="section"/> to <paramref name="options"/>; problems go to <see cref="KvBlockPoolHostingOptions.BindingErrors"/>.</summary>
    public static void Read(IConfiguration section, KvBlockPoolHostingOptions options)
    {
        string path = section is IConfigurationSection named ? named.Path : string.Empty;
        options.SectionPath = path;
        bool any = false;
        foreach (IConfigurationSection child in section.GetChildren())
        {
            any = true;
            if (!Readers.TryGetValue(child.Key, out Action<KvBlockPoolHostingOptions, IConfigurationSection>? read))
            {
                options.BindingErrors.Add(Invariant($"{child.Path}: not a setting of the pool. Use: {KnownKeys}."));
                continue;
            }

            if (child.Value is null && !Sections.Contains(child.Key))
            {
                // A nested object or array where a single value belongs; an empty string is a value (it clears the setting).
                options.BindingErrors.Add(Invariant($"{child.Path}: expected a single value, found a section."));
                options.UnreadKeys.Add(child.Key);
                continue;
            }

            int errors = options.BindingErrors.Count;
            read(options, child);
            if (options.BindingErrors.Count > errors)
            {
                options.UnreadKeys.Add(child.Key);
            }
        }

        if (!any)
        {
            // One message says it all: the shape and the capacity are not also reported missing.
            options.UnreadKeys.UnionWith(Settings.Select(s => s.Key));
            options.BindingErrors.Add(Invariant(
                $"{(path.Length == 0 ? "The configuration" : $"The section '{path}'")} is missing or empty. Give it a Preset (one of: {string.Join(", ", KvBlockPoolHostingOptions.PresetNames)}) or Layers, KvHeads and HeadDim, and a CapacityBytes or CapacityBlocks."));
        }
    }

    internal static int? ReadInt(KvBlockPoolHostingOptions options, IConfigurationSection value)
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return null;
        }

        if (int.TryParse(value.Value, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out int parsed))
        {
            return parsed;
        }

        options.BindingErrors.Add(Invariant($"{value.Path}: '{value.Value}' is not a whole number (from {int.MinValue} to {int.MaxValue})."));
        return null;
    }

    private static long? ReadBytes(KvBlockPoolHostingOptions options, IConfigurationSection value)
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return null;
        }

        if (ByteSize.TryParse(value.Value, out long bytes))
        {
            return bytes;
        }

        options.BindingErrors.Add(Invariant($"{value.Path}: '{value.Value}' is not a size. Write {ByteSize.AcceptedForms}."));
        return null;
    }

    private static int ReadAlignment(KvBlockPoolHostingOptions options, IConfigurationSection value)
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return 0;
        }

        if (ByteSize.TryParse(value.Value, out long bytes) && bytes is >= int.MinValue and <= int.MaxValue)
        {
            return (int)bytes;
        }

        options.BindingErrors.Add(Invariant($"{value.Path}: '{value.Value}' is not an alignment. Write 0 to let the pool choose, or a power of two from 16 bytes to 1MiB such as 64 or \"4KiB\"."));
        return 0;
    }

    internal static bool? ReadBool(KvBlockPoolHostingOptions options, IConfigurationSection value)
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return null;
        }

        if (bool.TryParse(value.Value.Trim(), out bool parsed))
        {
            return parsed;
        }

        options.BindingErrors.Add(Invariant($"{value.Path}: '{value.Value}' is not a boolean. Write true or false."));
        return null;
    }

    internal static TEnum? ReadEnum<TEnum>(KvBlockPoolHostingOptions options, IConfigurationSection value, string what)
        where TEnum : struct, Enum
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return null;
        }

        // Names only: Enum.TryParse would also take numbers and comma-separated lists, which no setting means.
        foreach (string name in Enum.GetNames<TEnum>())
        {
            if (name.Equals(value.Value.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return Enum.Parse<TEnum>(name);
            }
        }

        options.BindingErrors.Add(Invariant($"{value.Path}: '{value.Value}' is not {what}. Use one of: {string.Join(", ", Enum.GetNames<TEnum>())}."));
        return null;
    }

    internal static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
