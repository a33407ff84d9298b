using System.Globalization;

namespace KvBlockPool.Cli.Simulate.Output;

/// <summary>A latency in the unit that keeps it short: ns below 10 µs, µs below 10 ms, ms above.</summary>
internal static class LatencyFormat
{
    public static string Format(long nanoseconds) => nanoseconds switch
    {
        < 10_000 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds} ns"),
        < 10_000_000 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1000.0:0.0} us"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1_000_000.0:0.0} ms"),
    };
}
