using System.Text.Json;
using KvBlockPool.Cli.Simulate.SharedPrefix;
using KvBlockPool.Cli.Simulate.Tier;

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
    SimulationJsonDocument.PrefixCachePart? PrefixCache,
    SimulationJsonDocument.TierPart? Tier,
    SimulationJsonDocument.SecondHostPart? SecondHost,
    int LeakedBlocks,
    bool InvariantsHeld,
    IReadOnlyList<string> Failures,
    string? Plot)
{
    public const string CurrentSchema = "kvblockpool.simulate/1";

    internal sealed record ModelPart(string Preset, string Title, int Layers, int KvHeads, int HeadDim, int TokensPerBlock, int BytesPerBlock);

    internal sealed record PoolPart(int CapacityBlocks, long NativeBytes, double BuildMilliseconds);

    internal sealed record RunPart(int Threads, int Agents, int Seed, bool Diagnostics, double DurationSeconds, double ElapsedSeconds, string Workload);

    internal sealed record OperationsPart(long Total, double PerSecond);

    internal sealed record LatencyPart(long Count, double PerSecond, long P50, long P90, long P99, long P999, long Max);

    internal sealed record AgentsPart(long Admitted, long Completed, long Preempted);

    internal sealed record TokensPart(long Prompt, long Decoded, double DecodedPerSecond);

    internal sealed record OccupancyPart(int PeakBlocks, double PeakFraction);

    internal sealed record WaitsPart(long Admissions, long DecodeSteps, double WaitedSeconds);

    /// <summary>The shared-prefix workload's knobs and what the prefix cache did; null for the independent workload.</summary>
    internal sealed record PrefixCachePart(
        int SystemPrompts,
        int SystemPromptTokens,
        double ReturnProbability,
        TurnsPart FirstTurns,
        TurnsPart ReturningTurns,
        long Lookups,
        long QueriedTokens,
        long HitTokens,
        double HitRate,
        long PrefillTokensSkipped,
        long StoredChunks,
        long DuplicateChunks,
        long EvictedChunks,
        int CachedChunksAtEnd,
        MemorySavedPart MemorySaved);

    internal sealed record TurnsPart(long Admitted, long PromptTokens, long CachedTokens, long TierTokens, double HitRate);

    /// <summary>What the shared tier did; null without one.</summary>
    internal sealed record TierPart(
        string Where,
        long LocalTokens,
        long TierTokens,
        long ComputedTokens,
        long PublishedChunks,
        long OffloadedChunks,
        long AlreadyStoredChunks,
        long NotOffloadedChunks,
        long RestoredChunks,
        long RejectedValues);

    /// <summary>The second host of <c>--hosts 2</c>: its process's exit code and its own report.</summary>
    internal sealed record SecondHostPart(int ProcessId, int ExitCode, SimulationJsonDocument? Report, string? Error);

    internal sealed record MemorySavedPart(long PeakBlocks, long PeakBytes, double MeanBlocks, double MeanBytes, double MeanUnsharedBlocks, double Fraction, int Samples);

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
            new RunPart(s.Threads, s.Agents, s.Seed, s.Diagnostics, s.DurationSeconds, report.Elapsed.TotalSeconds, s.Workload),
            new OperationsPart(report.Operations, report.Operations / seconds),
            latency,
            new AgentsPart(t.Admitted, t.Completed, t.Preempted),
            t.RolledBack,
            new TokensPart(t.PromptTokens, t.DecodedTokens, t.DecodedTokens / seconds),
            new OccupancyPart(report.PeakBlocks, (double)report.PeakBlocks / report.CapacityBlocks),
            new WaitsPart(t.AdmissionWaits, t.DecodeWaits, report.WaitedSeconds),
            report.PrefixCache is { } prefix ? PrefixPart(prefix, report.BytesPerBlock) : null,
            report.Tier is { } tier && report.PrefixCache is { } cached ? TierOf(tier, cached) : null,
            report.SecondHost is { } second ? new SecondHostPart(second.ProcessId, second.ExitCode, second.Report, second.Error) : null,
            report.LeakedBlocks,
            report.InvariantsHeld,
            report.Failures,
            plotPath);
    }

    private static PrefixCachePart PrefixPart(PrefixCacheSummary p, int bytesPerBlock) => new(
        p.Settings.SystemPrompts,
        p.Shape.SystemPromptTokens,
        p.Settings.ReturnProbability,
        Turns(p.FirstTurns),
        Turns(p.ReturningTurns),
        p.Cache.Lookups,
        p.Cache.QueriedTokens,
        p.Cache.HitTokens,
        p.HitRate,
        p.CachedTokens,
        p.Cache.StoredChunks,
        p.Cache.DuplicateChunks,
        p.Cache.EvictedChunks,
        p.Cache.CachedChunks,
        new MemorySavedPart(p.PeakSavedBlocks, p.PeakSavedBlocks * bytesPerBlock, p.MeanSavedBlocks, p.MeanSavedBlocks * bytesPerBlock, p.MeanUnsharedBlocks, p.SavedFraction, p.Samples));

    private static TurnsPart Turns(TurnStats turns) => new(turns.Admitted, turns.PromptTokens, turns.CachedTokens, turns.TierTokens, turns.HitRate);

    internal static TierPart TierOf(TierSummary tier, PrefixCacheSummary prefix) => new(
        tier.Choice.ToString(),
        prefix.CachedTokens - prefix.TierTokens,
        prefix.TierTokens,
        prefix.PromptTokens - prefix.CachedTokens,
        tier.PublishedChunks,
        tier.Statistics.Offloaded,
        tier.Statistics.AlreadyStored,
        tier.Statistics.NotOffloaded,
        tier.Statistics.Restored,
        tier.Statistics.Rejected);
}
