using KvBlockPool.Prefix;
using KvBlockPool.Tier;

namespace KvBlockPool;

/// <content>The shared tier's counts and the wait for its offload.</content>
public sealed partial class BlockPool
{
    /// <summary>What the shared tier has done since the pool was built, or null when the pool has none (see <see cref="KvPrefixCacheOptions.Tier"/>).</summary>
    /// <returns>The tier's counts, read without the pool's lock (each is exact; together they are a moment's view).</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvTierStatistics? GetTierStatistics()
    {
        _guard.ThrowIfClosed();
        return Tier is not { } tier ? null : new KvTierStatistics(tier.Offloaded, tier.AlreadyStored, tier.NotOffloaded, tier.Restored, tier.Rejected);
    }

    /// <summary>
    /// Waits until every chunk published before the call has been written to the shared tier or given up on: before a
    /// host stops, so that what it computed is there for the others. Completes at once when the pool has no tier.
    /// </summary>
    /// <param name="cancellationToken">Ends the wait (the offload goes on in the background).</param>
    /// <returns>A task that completes when the offload has caught up.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled first.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Task FlushTierAsync(CancellationToken cancellationToken = default)
    {
        _guard.ThrowIfClosed();
        return Tier is { } tier ? tier.DrainAsync(cancellationToken) : Task.CompletedTask;
    }
}
