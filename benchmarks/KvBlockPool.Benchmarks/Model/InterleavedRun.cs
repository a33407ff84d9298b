using System.Diagnostics;
using System.Globalization;

namespace KvBlockPool.Benchmarks.Model;

/// <summary>
/// The model suites measured in rounds that interleave their methods (A, B, C, A, B, C, ...), for a machine whose load
/// moves while the run goes on: BenchmarkDotNet measures one method after another, so a burst of another tenant's
/// work lands on one method's iterations and skews a ratio; here every round measures every method within
/// milliseconds of the others. Two ratios to the first method: of the medians over the rounds, and the median of the
/// ratios within each round (the steadier of the two when the load moves from round to round).
/// <c>dotnet run -c Release --project benchmarks/KvBlockPool.Benchmarks -- --interleaved-model [rounds]</c>.
/// </summary>
internal static class InterleavedRun
{
    public static void Run(int rounds)
    {
        Console.WriteLine($"Interleaved model suites: {rounds} rounds; time per operation: median (p25-p75) over the rounds; ratios to the first row.");
        var decode = new OnnxDecodeStepBenchmarks();
        decode.Setup();
        try
        {
            Measure(
                "OnnxDecodeStepBenchmarks (one decode step at 200 tokens of context)",
                rounds,
                operationsPerRound: 200,
                [
                    ("ContiguousPingPong", () => decode.ContiguousPingPong(), 1),
                    ("ContiguousOrtAllocated", () => decode.ContiguousOrtAllocated(), 1),
                    ("Pooled", () => decode.Pooled(), 1),
                    ("PooledDiagnostics", () => decode.PooledDiagnostics(), 1),
                    ("PoolCalls", () => decode.PoolCalls(), 16),
                    ("PoolCallsDiagnostics", () => decode.PoolCallsDiagnostics(), 16),
                ]);
        }
        finally
        {
            decode.Cleanup();
        }

        foreach (int tokens in (int[])[1024, 4096, 8192])
        {
            var attention = new PagedAttentionBenchmarks { Tokens = tokens };
            attention.Setup();
            try
            {
                Measure(
                    $"PagedAttentionBenchmarks, {tokens} tokens",
                    rounds,
                    operationsPerRound: Math.Max(4, 40 * 1024 / tokens),
                    [
                        ("Contiguous", () => attention.Contiguous(), 1),
                        ("ContiguousInPoolBlock", () => attention.ContiguousInPoolBlock(), 1),
                        ("Paged", () => attention.Paged(), 1),
                    ]);
            }
            finally
            {
                attention.Cleanup();
            }
        }
    }

    private static void Measure(string title, int rounds, int operationsPerRound, (string Name, Func<float> Run, int OperationsPerCall)[] methods)
    {
        var samples = new double[methods.Length][];
        for (int m = 0; m < methods.Length; m++)
        {
            samples[m] = new double[rounds];
            for (int i = 0; i < operationsPerRound; i++)
            {
                methods[m].Run(); // warm-up: the JIT's final tier, caches
            }
        }

        for (int round = 0; round < rounds; round++)
        {
            for (int k = 0; k < methods.Length; k++)
            {
                int m = (k + round) % methods.Length; // rotate which goes first
                int calls = Math.Max(1, operationsPerRound / methods[m].OperationsPerCall);
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < calls; i++)
                {
                    methods[m].Run();
                }

                samples[m][round] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / (calls * methods[m].OperationsPerCall);
            }
        }

        Console.WriteLine();
        Console.WriteLine(title);
        Console.WriteLine("| Method | Median | p25-p75 | Ratio of medians | Median of the rounds' ratios |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        double baseline = Percentile(samples[0], 0.5);
        for (int m = 0; m < methods.Length; m++)
        {
            double median = Percentile(samples[m], 0.5);
            double[] ratios = [.. samples[m].Select((value, round) => value / samples[0][round])];
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"| {methods[m].Name} | {Format(median)} | {Format(Percentile(samples[m], 0.25))}-{Format(Percentile(samples[m], 0.75))} | {median / baseline:F3} | {Percentile(ratios, 0.5):F3} |"));
        }
    }

    private static double Percentile(double[] values, double fraction)
    {
        double[] sorted = [.. values.Order()];
        return sorted[(int)Math.Round(fraction * (sorted.Length - 1))];
    }

    private static string Format(double nanoseconds) => nanoseconds >= 10_000
        ? string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1000:F1} µs")
        : string.Create(CultureInfo.InvariantCulture, $"{nanoseconds:F1} ns");
}
