using System.Diagnostics;
using KvBlockPool.Cli.Simulate.SharedPrefix;
using KvBlockPool.Cli.Simulate.Tier;

namespace KvBlockPool.Cli.Simulate;

/// <summary>What one simulation did and found; the views (table, JSON, plot) only present it.</summary>
internal sealed class SimulationReport
{
    public required SimulationSettings Settings { get; init; }

    public required int CapacityBlocks { get; init; }

    public required int BytesPerBlock { get; init; }

    public required long NativeBytes { get; init; }

    public required TimeSpan BuildTime { get; init; }

    public required TimeSpan Elapsed { get; init; }

    public required WorkerStats Totals { get; init; }

    public required int PeakBlocks { get; init; }

    public required int LeakedBlocks { get; init; }

    public required IReadOnlyList<string> Failures { get; init; }

    /// <summary>The pool and the host sampled while the workers ran, oldest first.</summary>
    public IReadOnlyList<SimulationSample> Samples { get; init; } = [];

    /// <summary>The prefix cache's figures in a shared-prefix run; null for the independent workload.</summary>
    public PrefixCacheSummary? PrefixCache { get; init; }

    /// <summary>What the shared tier did in a shared-prefix run with one; null otherwise.</summary>
    public TierSummary? Tier { get; init; }

    /// <summary>The second host of <c>--hosts 2</c>, once it has run; null otherwise.</summary>
    public SecondHostRun? SecondHost { get; set; }

    /// <summary>Every invariant held here, and in the second host when there was one.</summary>
    public bool InvariantsHeld => Failures.Count == 0 && LeakedBlocks == 0 && SecondHost is null or { ExitCode: 0 };

    public long Operations => Enum.GetValues<OperationKind>().Sum(k => Totals.Latency(k).TotalCount);

    /// <summary>The run time in seconds, never zero, to divide by.</summary>
    public double Seconds => Math.Max(Elapsed.TotalSeconds, 1e-9);

    public double WaitedSeconds => Totals.WaitedTicks / (double)Stopwatch.Frequency;

    public LatencySummary Latency(OperationKind kind) => LatencySummary.Of(Totals.Latency(kind));
}
