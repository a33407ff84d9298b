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
    private static readonly NestedSection<KvPrefixCacheOptions> Section = new(
        "the prefix cache",
        [
            (nameof(KvPrefixCacheOptions.KeySecret), (o, p, s) => p.KeySecret = ReadSecret(o, s)),
            (nameof(KvPrefixCacheOptions.HashAlgorithm), (o, p, s) => p.HashAlgorithm = SectionReader.ReadEnum<KvChunkHashAlgorithm>(o, s, "a chunk hash algorithm") ?? p.HashAlgorithm),
            (nameof(KvPrefixCacheOptions.MaxPinnedShare), (o, p, s) => p.MaxPinnedShare = ReadShare(o, s) ?? p.MaxPinnedShare),
        ],
        "Write \"PrefixCache\": { } to turn the cache on with its defaults.");

    /// <summary>Applies the section to <paramref name="options"/>; problems go to <see cref="KvBlockPoolHostingOptions.BindingErrors"/>.</summary>
    public static void Read(KvBlockPoolHostingOptions options, IConfigurationSection section) =>
        options.PrefixCache = Section.Read(options, section);

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
