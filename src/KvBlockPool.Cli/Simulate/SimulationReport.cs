using System.Diagnostics;
using System.Globalization;

namespace KvBlockPool.Cli.Simulate;

/// <summary>What one simulation did and found.</summary>
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

    public bool InvariantsHeld => Failures.Count == 0 && LeakedBlocks == 0;

    public long Operations => Enum.GetValues<OperationKind>().Sum(k => Totals.Latency(k).Count);

    public void Write(TextWriter writer)
    {
        SimulationSettings s = Settings;
        KvCacheSpec spec = s.Spec;
        double seconds = Math.Max(Elapsed.TotalSeconds, 1e-9);
        var w = new Line(writer);
        w.Write($"KvBlockPool simulate: {s.ModelTitle} ({spec.Layers} layers, {spec.KvHeads} KV heads x {spec.HeadDim}, {spec.TokensPerBlock} tokens/block, {BytesPerBlock / 1024.0:0.#} KiB/block)");
        w.Write($"pool: {CapacityBlocks:N0} blocks, {NativeBytes / (1024.0 * 1024):N0} MiB native, built in {BuildTime.TotalMilliseconds:N0} ms; {s.Threads} threads, {s.Agents} agent slots, seed {s.Seed}, diagnostics {(s.Diagnostics ? "on" : "off")}");
        w.Write($"ran {Elapsed.TotalSeconds:0.00} s: {Operations:N0} operations, {Operations / seconds:N0} per second");
        w.Write(string.Empty);
        w.Write($"{"operation",-18}{"count",12}{"per second",14}{"p50",12}{"p99",12}");
        foreach (OperationKind kind in Enum.GetValues<OperationKind>())
        {
            LatencyHistogram latency = Totals.Latency(kind);
            w.Write($"{Name(kind),-18}{latency.Count,12:N0}{latency.Count / seconds,14:N0}{Format(latency.Percentile(0.50)),12}{Format(latency.Percentile(0.99)),12}");
        }

        w.Write(string.Empty);
        w.Write($"agents: {Totals.Admitted:N0} admitted, {Totals.Completed:N0} completed, {Totals.Preempted:N0} preempted when a decode step waited {WorkloadShape.DecodePatienceMilliseconds} ms for a block");
        w.Write($"rollbacks: {Totals.RolledBack:N0} admissions abandoned part-way through prefill, every layer returned");
        w.Write($"tokens: {Totals.PromptTokens:N0} prompt, {Totals.DecodedTokens:N0} decoded ({Totals.DecodedTokens / seconds:N0} per second)");
        w.Write($"peak occupancy: {PeakBlocks:N0} of {CapacityBlocks:N0} blocks ({100.0 * PeakBlocks / CapacityBlocks:0.0}%)");
        w.Write($"exhaustion waits: {Totals.AdmissionWaits + Totals.DecodeWaits:N0} ({Totals.AdmissionWaits:N0} admissions, {Totals.DecodeWaits:N0} decode steps), {Totals.WaitedTicks / (double)Stopwatch.Frequency:0.00} s waited across threads");
        w.Write($"leaked blocks: {LeakedBlocks}");
        if (InvariantsHeld)
        {
            w.Write("invariants: all held");
        }
        else
        {
            w.Write($"INVARIANTS BROKEN ({Failures.Count}):");
            foreach (string failure in Failures.Take(20))
            {
                w.Write($"  {failure}");
            }
        }
    }

    private static string Name(OperationKind kind) => kind switch
    {
        OperationKind.Admit => "admit",
        OperationKind.Append => "append",
        OperationKind.Truncate => "truncate",
        OperationKind.Release => "release",
        OperationKind.AbortedAdmission => "aborted admission",
        _ => kind.ToString(),
    };

    private static string Format(long nanoseconds) => nanoseconds switch
    {
        < 10_000 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds} ns"),
        < 10_000_000 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1000.0:0.0} us"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1_000_000.0:0.0} ms"),
    };

    private readonly struct Line(TextWriter writer)
    {
        public void Write(FormattableString text) => writer.WriteLine(text.ToString(CultureInfo.InvariantCulture));

        public void Write(string text) => writer.WriteLine(text);
    }
}
