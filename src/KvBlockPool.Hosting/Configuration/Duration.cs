using System.Globalization;

namespace KvBlockPool.Hosting.Configuration;

/// <summary>
/// Reads a duration written with a unit (<c>"250ms"</c>, <c>"5s"</c>, <c>"1.5 s"</c>, <c>"2min"</c>, <c>"1h"</c>) or
/// as a <see cref="TimeSpan"/> (<c>"00:00:05"</c>, what the configuration binder writes). A bare number is refused:
/// whether <c>250</c> meant milliseconds or seconds is exactly the mistake a unit prevents.
/// </summary>
internal static class Duration
{
    /// <summary>The forms accepted, for messages.</summary>
    public const string AcceptedForms = "a number with a unit: ms, s, min or h (for example \"250ms\" or \"5s\"), or hh:mm:ss(.fff) such as \"00:00:05\"";

    private static readonly string[] TimeSpanFormats = [@"hh\:mm\:ss", @"hh\:mm\:ss\.FFFFFFF"];

    private static readonly (string Unit, double Milliseconds)[] Units =
    [
        ("ms", 1),
        ("s", 1_000),
        ("min", 60_000),
        ("h", 3_600_000),
    ];

    /// <summary>Parses <paramref name="text"/>; units are case-insensitive and may follow a space.</summary>
    /// <param name="text">The configured value.</param>
    /// <param name="duration">The duration, rounded to the nearest tick.</param>
    /// <returns>Whether the text is a duration that a <see cref="TimeSpan"/> can hold.</returns>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        ReadOnlySpan<char> span = text.AsSpan().Trim();
        if (span.Contains(':'))
        {
            // Exactly hh:mm:ss with optional fractions: TimeSpan.TryParse would also read "0:30" as 30 minutes, which a
            // host meaning 30 seconds would not notice.
            return TimeSpan.TryParseExact(span, TimeSpanFormats, CultureInfo.InvariantCulture, out duration);
        }

        int split = span.Length;
        while (split > 0 && char.IsAsciiLetter(span[split - 1]))
        {
            split--;
        }

        ReadOnlySpan<char> number = span[..split].TrimEnd();
        ReadOnlySpan<char> unit = span[split..];
        foreach ((string name, double milliseconds) in Units)
        {
            if (unit.Equals(name, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
            {
                double total = value * milliseconds;
                if (double.IsFinite(total) && Math.Abs(total) <= TimeSpan.MaxValue.TotalMilliseconds)
                {
                    duration = TimeSpan.FromTicks((long)Math.Round(total * TimeSpan.TicksPerMillisecond));
                    return true;
                }

                return false;
            }
        }

        return false;
    }
}
