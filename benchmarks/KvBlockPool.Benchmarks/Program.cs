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
    /// <param name="args">BenchmarkDotNet command-line arguments (<c>--filter</c>, <c>--job</c>, <c>--list flat</c>, ...).</param>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
