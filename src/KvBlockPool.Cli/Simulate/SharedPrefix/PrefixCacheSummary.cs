using KvBlockPool.Prefix;

namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>What the prefix cache did in a shared-prefix run; the views only present it.</summary>
internal sealed class PrefixCacheSummary
{
    public required SharedPrefixSettings Settings { get; init; }

    public required ConversationShape Shape { get; init; }

    public required TurnStats FirstTurns { get; init; }

    public required TurnStats ReturningTurns { get; init; }

    /// <summary>The cache's own counters after every agent left (before anything was reset).</summary>
    public required KvPrefixCacheStatistics Cache { get; init; }

    public required long PeakSavedBlocks { get; init; }

    public required double MeanSavedBlocks { get; init; }

    public required double MeanUnsharedBlocks { get; init; }

    /// <summary>Blocks saved over the run as a share of the blocks the live agents would have held without sharing.</summary>
    public required double SavedFraction { get; init; }

    public required int Samples { get; init; }

    public long PromptTokens => FirstTurns.PromptTokens + ReturningTurns.PromptTokens;

    /// <summary>Prompt tokens found in the cache, whose prefill was skipped.</summary>
    public long CachedTokens => FirstTurns.CachedTokens + ReturningTurns.CachedTokens;

    /// <summary>Of <see cref="CachedTokens"/>, those restored from the shared tier.</summary>
    public long TierTokens => FirstTurns.TierTokens + ReturningTurns.TierTokens;

    /// <summary><see cref="CachedTokens"/> / <see cref="PromptTokens"/>: hit tokens over queried tokens.</summary>
    public double HitRate => PromptTokens == 0 ? 0 : (double)CachedTokens / PromptTokens;

    public static PrefixCacheSummary From(SharedPrefixWorkload workload, WorkerStats totals, KvPrefixCacheStatistics cache)
    {
        SharingLedger ledger = workload.Ledger;
        return new PrefixCacheSummary
        {
            Settings = workload.Settings,
            Shape = workload.Shape,
            FirstTurns = totals.FirstTurns,
            ReturningTurns = totals.ReturningTurns,
            Cache = cache,
            PeakSavedBlocks = ledger.PeakSavedBlocks,
            MeanSavedBlocks = ledger.MeanSavedBlocks,
            MeanUnsharedBlocks = ledger.MeanUnsharedBlocks,
            SavedFraction = ledger.SavedFraction,
            Samples = ledger.SampleCount,
        };
    }
}
