using System.Globalization;

namespace KvBlockPool.Cli.Simulate.Output;

/// <summary>
/// A latency in three significant digits and the unit that keeps it short (950 ns, 1.22 us, 123 us, 45.7 ms, 1.20 s):
/// at most seven characters, so the report table fits an 80-column terminal.
/// </summary>
internal static class LatencyFormat
{
    public static string Format(long nanoseconds) => nanoseconds switch
    {
        < 1_000 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds} ns"),
        < 1_000_000 => Scaled(nanoseconds / 1e3, "us"),
        < 1_000_000_000 => Scaled(nanoseconds / 1e6, "ms"),
        _ => Scaled(nanoseconds / 1e9, "s"),
    };

    private static string Scaled(double value, string unit) => value switch
    {
        // Rounding may carry into the next unit's range (999.6 us): then it reads 1000 us, still correct and short.
        < 9.995 => string.Create(CultureInfo.InvariantCulture, $"{value:0.00} {unit}"),
        < 99.95 => string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {unit}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{value:0} {unit}"),
    };
}
