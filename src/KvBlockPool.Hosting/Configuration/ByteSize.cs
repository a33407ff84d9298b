using System.Globalization;

namespace KvBlockPool.Hosting.Configuration;

/// <summary>Reads a byte count written with an optional unit: <c>268435456</c>, <c>"256MiB"</c>, <c>"2 GiB"</c>, <c>"1.5GB"</c>.</summary>
internal static class ByteSize
{
    /// <summary>The units accepted, largest first within each family, for messages.</summary>
    public const string AcceptedForms =
        "a whole number of bytes, or a number with a unit: B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), for example \"256MiB\" or \"2GiB\"";

    private static readonly (string Unit, long Factor)[] Units =
    [
        ("B", 1),
        ("KiB", 1L << 10),
        ("MiB", 1L << 20),
        ("GiB", 1L << 30),
        ("TiB", 1L << 40),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("TB", 1_000_000_000_000),
    ];

    /// <summary>Parses <paramref name="text"/>; units are case-insensitive and may follow a space.</summary>
    /// <param name="text">The configured value.</param>
    /// <param name="bytes">The byte count, rounded down to a whole byte.</param>
    /// <returns>Whether the text is a size; a size beyond <see cref="long.MaxValue"/> bytes is not.</returns>
    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        ReadOnlySpan<char> span = text.AsSpan().Trim();
        int split = span.Length;
        while (split > 0 && char.IsAsciiLetter(span[split - 1]))
        {
            split--;
        }

        ReadOnlySpan<char> number = span[..split].TrimEnd();
        ReadOnlySpan<char> unit = span[split..];
        long factor = 1;
        if (!unit.IsEmpty && !TryGetFactor(unit, out factor))
        {
            return false;
        }

        if (long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long whole))
        {
            try
            {
                bytes = checked(whole * factor);
                return true;
            }
            catch (OverflowException)
            {
                return false;
            }
        }

        // A fraction only makes sense with a unit ("1.5GiB"); a fraction of a byte is not a size.
        if (factor > 1 && decimal.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
        {
            decimal product = value * factor;
            if (product is >= long.MinValue and <= long.MaxValue)
            {
                bytes = (long)decimal.Truncate(product);
                return true;
            }
        }

        return false;
    }

    private static bool TryGetFactor(ReadOnlySpan<char> unit, out long factor)
    {
        foreach ((string name, long value) in Units)
        {
            if (unit.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                factor = value;
                return true;
            }
        }

        factor = 0;
        return false;
    }
}
