using System.Text.Json;

namespace KvBlockPool.Cli.Simulate.Output;

/// <summary>
/// The <c>--json</c> report of <c>simulate</c> (documented field by field in docs/cli.md). Field names are camelCase;
/// latencies are whole nanoseconds; <see cref="Schema"/> changes only when a field changes meaning or goes away.
/// </summary>
internal sealed record SimulationJsonDocument(
    string Schema,
    SimulationJsonDocument.ModelPart Model,
    SimulationJsonDocument.PoolPart Pool,
    SimulationJsonDocument.RunPart Run,
    SimulationJsonDocument.OperationsPart Operations,
    IReadOnlyDictionary<string, SimulationJsonDocument.LatencyPart> LatencyNs,
    SimulationJsonDocument.AgentsPart Agents,
    long Rollbacks,
    SimulationJsonDocument.TokensPart Tokens,
    SimulationJsonDocument.OccupancyPart Occupancy,
    SimulationJsonDocument.WaitsPart ExhaustionWaits,
    int LeakedBlocks,
    bool InvariantsHeld,
    IReadOnlyList<string> Failures,
    string? Plot)
{
    public const string CurrentSchema = "kvblockpool.simulate/1";

    internal sealed record ModelPart(string Preset, string Title, int Layers, int KvHeads, int HeadDim, int TokensPerBlock, int BytesPerBlock);

    internal sealed record PoolPart(int CapacityBlocks, long NativeBytes, double BuildMilliseconds);

    internal sealed record RunPart(int Threads, int Agents, int Seed, bool Diagnostics, double DurationSeconds, double ElapsedSeconds);

    internal sealed record OperationsPart(long Total, double PerSecond);

    internal sealed record LatencyPart(long Count, double PerSecond, long P50, long P90, long P99, long P999, long Max);

    internal sealed record AgentsPart(long Admitted, long Completed, long Preempted);

    internal sealed record TokensPart(long Prompt, long Decoded, double DecodedPerSecond);

    internal sealed record OccupancyPart(int PeakBlocks, double PeakFraction);

    internal sealed record WaitsPart(long Admissions, long DecodeSteps, double WaitedSeconds);

    public static void Write(SimulationReport report, string? plotPath, TextWriter output) =>
        output.WriteLine(JsonSerializer.Serialize(From(report, plotPath), SimulationJsonContext.Default.SimulationJsonDocument));

    public static SimulationJsonDocument From(SimulationReport report, string? plotPath)
    {
        SimulationSettings s = report.Settings;
        WorkerStats t = report.Totals;
        double seconds = report.Seconds;
        var latency = new Dictionary<string, LatencyPart>(StringComparer.Ordinal);
        foreach (OperationKind kind in Enum.GetValues<OperationKind>())
        {
            LatencySummary l = report.Latency(kind);
            latency[OperationNames.JsonKey(kind)] = new LatencyPart(l.Count, l.Count / seconds, l.P50, l.P90, l.P99, l.P999, l.Max);
        }

        return new SimulationJsonDocument(
            CurrentSchema,
            new ModelPart(s.Preset, s.ModelTitle, s.Spec.Layers, s.Spec.KvHeads, s.Spec.HeadDim, s.Spec.TokensPerBlock, report.BytesPerBlock),
            new PoolPart(report.CapacityBlocks, report.NativeBytes, report.BuildTime.TotalMilliseconds),
            new RunPart(s.Threads, s.Agents, s.Seed, s.Diagnostics, s.DurationSeconds, report.Elapsed.TotalSeconds),
            new OperationsPart(report.Operations, report.Operations / seconds),
            latency,
            new AgentsPart(t.Admitted, t.Completed, t.Preempted),
            t.RolledBack,
            new TokensPart(t.PromptTokens, t.DecodedTokens, t.DecodedTokens / seconds),
            new OccupancyPart(report.PeakBlocks, (double)report.PeakBlocks / report.CapacityBlocks),
            new WaitsPart(t.AdmissionWaits, t.DecodeWaits, report.WaitedSeconds),
            report.LeakedBlocks,
            report.InvariantsHeld,
            report.Failures,
            plotPath);
    }
}
