using KvBlockPool.Tier;

namespace KvBlockPool.Cli.Simulate.Tier;

/// <summary>What the shared tier did in one host's run; the views only present it.</summary>
internal sealed class TierSummary
{
    public required TierChoice Choice { get; init; }

    /// <summary>The pool's tier counts after the offload caught up.</summary>
    public required KvTierStatistics Statistics { get; init; }

    /// <summary>Chunks the host published (computed, or restored and republished): what the offload was offered.</summary>
    public required long PublishedChunks { get; init; }
}
