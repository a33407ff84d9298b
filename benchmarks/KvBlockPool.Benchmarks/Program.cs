using BenchmarkDotNet.Running;

namespace KvBlockPool.Benchmarks;

/// <summary>
/// Runs the suites chosen on the command line, for example
/// <c>dotnet run -c Release --project benchmarks/KvBlockPool.Benchmarks -- --filter '*SingleBlock*' --job short</c>.
/// Every suite class carries its own baselines, so every ratio in a report compares figures of the same run.
/// </summary>
public static class Program
{
    /// <summary>Entry point: hands the arguments to BenchmarkDotNet's switcher.</summary>
    /// <param name="args">BenchmarkDotNet command-line arguments (<c>--filter</c>, <c>--job</c>, <c>--list flat</c>, ...), or <c>--interleaved-model [rounds]</c>.</param>
    public static void Main(string[] args)
    {
        if (args is ["--interleaved-model", ..])
        {
            // The model suites in interleaved rounds (Model/InterleavedRun.cs), not through BenchmarkDotNet.
            Model.InterleavedRun.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 30);
            return;
        }

        if (args is ["--prefix-trace"])
        {
            // The recorded shared-prefix trace replayed at several pool sizes (Prefix/PrefixTraceReplay.cs): hit rates, not timings.
            Prefix.PrefixTraceReplay.Run();
            return;
        }

        if (args is ["--prefix-trace-generate", string path])
        {
            // How Prefix/shared-prefix-trace.csv was recorded.
            Prefix.PrefixTrace.Write(path, Prefix.PrefixTrace.Generate(requests: 2_000, seed: 16));
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
