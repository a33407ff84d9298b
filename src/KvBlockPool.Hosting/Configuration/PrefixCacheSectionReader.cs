using System.Globalization;
using KvBlockPool.Prefix;
using Microsoft.Extensions.Configuration;

namespace KvBlockPool.Hosting.Configuration;

/// <summary>
/// Reads the <c>PrefixCache</c> section into <see cref="KvBlockPoolHostingOptions.PrefixCache"/>: its presence turns
/// the cache on (an empty object too), <c>Enabled: false</c> turns it off while keeping the other keys in the file.
/// The key secret is read from base64 and never appears in a message: a secret that cannot be read is described by
/// its length alone, so a mistyped production secret does not end up in a log that shows the start's failure.
/// </summary>
internal static class PrefixCacheSectionReader
{
    private const string Enabled = "Enabled";

    private static readonly (string Key, Action<KvBlockPoolHostingOptions, KvPrefixCacheOptions, IConfigurationSection> Read)[] Settings =
        [
            (Enabled, (_, _, _) => { }),
            (nameof(KvPrefixCacheOptions.KeySecret), (o, p, s) => p.KeySecret = ReadSecret(o, s)),
            (nameof(KvPrefixCacheOptions.HashAlgorithm), (o, p, s) => p.HashAlgorithm = SectionReader.ReadEnum<KvChunkHashAlgorithm>(o, s, "a chunk hash algorithm") ?? p.HashAlgorithm),
            (nameof(KvPrefixCacheOptions.MaxPinnedShare), (o, p, s) => p.MaxPinnedShare = ReadShare(o, s) ?? p.MaxPinnedShare),
        ];

    /// <summary>The keys the section may hold, in the order the documentation lists them.</summary>
    public static string KnownKeys { get; } = string.Join(", ", Settings.Select(s => s.Key));

    /// <summary>Applies the section to <paramref name="options"/>; problems go to <see cref="KvBlockPoolHostingOptions.BindingErrors"/>.</summary>
    public static void Read(KvBlockPoolHostingOptions options, IConfigurationSection section)
    {
        if (section.Value is not null)
        {
            if (section.Value.Length > 0)
            {
                options.BindingErrors.Add(SectionReader.Invariant(
                    $"{section.Path}: expected a section with the keys {KnownKeys}, found a single value. Write \"{section.Key}\": {{ }} to turn the cache on with its defaults."));
            }

            return;
        }

        var prefix = new KvPrefixCacheOptions();
        bool enabled = true;
        foreach (IConfigurationSection child in section.GetChildren())
        {
            (string Key, Action<KvBlockPoolHostingOptions, KvPrefixCacheOptions, IConfigurationSection> Read) setting =
                Array.Find(Settings, s => s.Key.Equals(child.Key, StringComparison.OrdinalIgnoreCase));
            if (setting.Key is null)
            {
                options.BindingErrors.Add(SectionReader.Invariant($"{child.Path}: not a setting of the prefix cache. Use: {KnownKeys}."));
            }
            else if (child.Value is null)
            {
                options.BindingErrors.Add(SectionReader.Invariant($"{child.Path}: expected a single value, found a section."));
            }
            else if (setting.Key == Enabled)
            {
                enabled = SectionReader.ReadBool(options, child) ?? true;
            }
            else
            {
                setting.Read(options, prefix, child);
            }
        }

        options.PrefixCache = enabled ? prefix : null;
    }

    private static byte[]? ReadSecret(KvBlockPoolHostingOptions options, IConfigurationSection value)
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return null;
        }

        string text = value.Value.Trim();
        byte[] buffer = new byte[(text.Length * 3 / 4) + 3];
        if (Convert.TryFromBase64String(text, buffer, out int written))
        {
            return buffer[..written];
        }

        // The value is a secret: say how long it is and what was expected, never what it is.
        options.BindingErrors.Add(SectionReader.Invariant(
            $"{value.Path}: the value ({text.Length} characters, not shown) is not base64. Write {KvPrefixCacheOptions.MinKeySecretBytes} to {KvPrefixCacheOptions.MaxKeySecretBytes} random bytes in base64 (32 is a good size, for example from 'openssl rand -base64 32'), or leave it out for a random secret per pool."));
        return null;
    }

    private static double? ReadShare(KvBlockPoolHostingOptions options, IConfigurationSection value)
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return null;
        }

        if (double.TryParse(value.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double share))
        {
            return share;
        }

        options.BindingErrors.Add(SectionReader.Invariant($"{value.Path}: '{value.Value}' is not a number. Write a share of the pool above 0 and at most 1, such as 0.25."));
        return null;
    }
}
