using System.Diagnostics.Metrics;

namespace KvBlockPool.Observability;

/// <summary>
/// The pool's <see cref="System.Diagnostics.Metrics"/> instruments. Counters are updated outside the gate and
/// only when a listener is attached (<see cref="Instrument.Enabled"/>); gauges are observed on demand from
/// the lock-free counters, so with no listener the hot path pays one field read per call.
/// </summary>
internal sealed class BlockPoolMetrics : IDisposable
{
    /// <summary>The meter's name; listen to it with a <see cref="MeterListener"/> or <c>dotnet-counters</c>.</summary>
    public const string MeterName = "KvBlockPool";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _poolTag;
    private readonly Counter<long> _allocated;
    private readonly Counter<long> _freed;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _rollbacks;

    // Meters are tracked process-wide until disposed; a strong reference from the gauges would keep a pool that was
    // never disposed alive forever, and with it the finalizer that frees its slabs would never run.
    private readonly WeakReference<BlockPool> _pool;

    public BlockPoolMetrics(BlockPool pool, IMeterFactory? factory, string poolName)
    {
        _pool = new WeakReference<BlockPool>(pool);
        // A factory may hand several pools the same meter, so only a meter we created ourselves is ours to dispose.
        _ownsMeter = factory is null;
        _meter = factory?.Create(new MeterOptions(MeterName)) ?? new Meter(MeterName);
        _poolTag = new KeyValuePair<string, object?>("kvblockpool.pool.name", poolName);

        _allocated = _meter.CreateCounter<long>("kvblockpool.blocks.allocated", "{block}", "Blocks handed out.");
        _freed = _meter.CreateCounter<long>("kvblockpool.blocks.freed", "{block}", "Blocks returned (freed, agents released, scopes rolled back).");
        _failures = _meter.CreateCounter<long>("kvblockpool.allocation.failures", "{failure}", "Allocations refused because too few blocks were available.");
        _rollbacks = _meter.CreateCounter<long>("kvblockpool.scope.rollbacks", "{rollback}", "Allocation scopes disposed without a commit.");

        _meter.CreateObservableUpDownCounter("kvblockpool.blocks.in_use", () => Observe(s => s.Allocated), "{block}", "Blocks allocated now.");
        _meter.CreateObservableUpDownCounter("kvblockpool.blocks.available", () => Observe(s => s.Available), "{block}", "Blocks available now.");
        _meter.CreateObservableUpDownCounter("kvblockpool.bytes.in_use", () => Observe(s => s.AllocatedBytes), "By", "Data bytes in allocated blocks.");
        _meter.CreateObservableUpDownCounter("kvblockpool.bytes.available", () => Observe(s => s.AvailableBytes), "By", "Data bytes in available blocks.");
        _meter.CreateObservableUpDownCounter("kvblockpool.agents", () => Observe(s => s.Agents), "{agent}", "Agents holding blocks.");
        _meter.CreateObservableUpDownCounter("kvblockpool.native.bytes", () => ObserveNativeBytes(), "By", "Native bytes the pool holds, padding and guards included.");
        if (pool.PrefixCache is not null)
        {
            // Read from the cache's own totals when a collector asks: the admission path pays nothing for them.
            _meter.CreateObservableCounter("kvblockpool.prefix.lookups", () => ObservePrefix(s => s.Lookups), "{lookup}", "Admissions that looked the prefix cache up.");
            _meter.CreateObservableCounter("kvblockpool.prefix.queried_tokens", () => ObservePrefix(s => s.QueriedTokens), "{token}", "Prompt tokens of those admissions.");
            _meter.CreateObservableCounter("kvblockpool.prefix.hit_tokens", () => ObservePrefix(s => s.HitTokens), "{token}", "Prompt tokens found in the prefix cache (prefill skipped).");
            _meter.CreateObservableCounter("kvblockpool.prefix.stored_chunks", () => ObservePrefix(s => s.StoredChunks), "{chunk}", "Chunks published into the prefix cache.");
            _meter.CreateObservableCounter("kvblockpool.prefix.evicted_chunks", () => ObservePrefix(s => s.EvictedChunks), "{chunk}", "Chunks evicted from the prefix cache.");
            _meter.CreateObservableUpDownCounter("kvblockpool.prefix.cached_blocks", () => ObservePrefix(s => s.CachedBlocks), "{block}", "Blocks of cached chunks, referenced or not.");
            _meter.CreateObservableUpDownCounter("kvblockpool.prefix.evictable_blocks", () => ObservePrefix(s => s.EvictableBlocks), "{block}", "Blocks of cached chunks no agent references (counted as available).");
            _meter.CreateObservableUpDownCounter("kvblockpool.prefix.pinned_blocks", () => ObservePrefix(s => s.PinnedBlocks), "{block}", "Blocks of pinned chunks (never evicted).");
            if (pool.Tier is not null)
            {
                _meter.CreateObservableCounter("kvblockpool.tier.restored_chunks", () => ObserveTier(t => t.Restored), "{chunk}", "Chunks restored from the shared tier into admissions (prefill skipped).");
                _meter.CreateObservableCounter("kvblockpool.tier.offloaded_chunks", () => ObserveTier(t => t.Offloaded), "{chunk}", "Published chunks written to the shared tier.");
                _meter.CreateObservableCounter("kvblockpool.tier.already_stored_chunks", () => ObserveTier(t => t.AlreadyStored), "{chunk}", "Published chunks the tier held already (not written again).");
                _meter.CreateObservableCounter("kvblockpool.tier.not_offloaded_chunks", () => ObserveTier(t => t.NotOffloaded), "{chunk}", "Published chunks not written: the queue overflowed, the store failed, or the chunk was evicted first.");
                _meter.CreateObservableCounter("kvblockpool.tier.rejected_values", () => ObserveTier(t => t.Rejected), "{value}", "Values the tier returned that failed a check (a miss; deleted).");
            }
        }
    }

    public void Allocated(int blocks)
    {
        if (_allocated.Enabled)
        {
            _allocated.Add(blocks, _poolTag);
        }
    }

    public void Freed(int blocks)
    {
        if (_freed.Enabled && blocks > 0)
        {
            _freed.Add(blocks, _poolTag);
        }
    }

    public void AllocationFailed()
    {
        if (_failures.Enabled)
        {
            _failures.Add(1, _poolTag);
        }
    }

    public void RolledBack(int blocks)
    {
        if (_rollbacks.Enabled)
        {
            _rollbacks.Add(1, _poolTag);
        }

        Freed(blocks);
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private IEnumerable<Measurement<long>> Observe(Func<BlockPoolStatistics, long> read) =>
        _pool.TryGetTarget(out BlockPool? pool) && pool.TryGetStatistics(out BlockPoolStatistics statistics) ? [new Measurement<long>(read(statistics), _poolTag)] : [];

    private IEnumerable<Measurement<long>> ObserveTier(Func<Tier.TierLink, long> read) =>
        _pool.TryGetTarget(out BlockPool? pool) && !pool.IsDisposed && pool.Tier is { } tier ? [new Measurement<long>(read(tier), _poolTag)] : [];

    private IEnumerable<Measurement<long>> ObservePrefix(Func<Prefix.KvPrefixCacheStatistics, long> read) =>
        _pool.TryGetTarget(out BlockPool? pool) && pool.TryReadPrefixStatistics(out Prefix.KvPrefixCacheStatistics statistics) ? [new Measurement<long>(read(statistics), _poolTag)] : [];

    private IEnumerable<Measurement<long>> ObserveNativeBytes() =>
        _pool.TryGetTarget(out BlockPool? pool) && !pool.IsDisposed ? [new Measurement<long>(pool.NativeBytes, _poolTag)] : [];
}
