using System.Collections.Concurrent;
using System.Diagnostics;
using KvBlockPool.Cli.Simulate.Progress;
using KvBlockPool.Cli.Simulate.SharedPrefix;
using KvBlockPool.Cli.Simulate.Tier;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Tier;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// Plays a multi-agent inference host against a real pool: builds it, runs the workers for the duration while
/// sampling the pool (for the live view and the plot) and checking its counters, stops them (every agent is released), then checks that
/// nothing leaked: no block allocated, no agent left, and the process's native bytes back where they started.
/// A shared-prefix run turns the pool's prefix cache on; released agents' chunks stay cached, but unreferenced, so
/// they count as available and the same checks hold, with the cache's own checked besides. With a shared tier, every
/// chunk the host computes is offloaded to it, admissions restore what this pool lacks from it, and the run waits for
/// the offload to catch up before it ends (so a host that starts next finds everything this one computed).
/// </summary>
internal static class Simulation
{
    /// <summary>Ten samples a second: smooth curves over a few seconds, and a negligible share of the pool's lock.</summary>
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>How long the end of a run waits for the offload to the tier to catch up.</summary>
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(30);

    public static SimulationReport Run(SimulationSettings settings, IProgressView progress, TierSession? tier = null)
    {
        var failures = new ConcurrentQueue<string>();
        long nativeBefore = BlockPool.LiveNativeBytes;
        long buildStarted = Stopwatch.GetTimestamp();
        var pool = new BlockPool(new BlockPoolOptions
        {
            Spec = settings.Spec,
            CapacityBytes = settings.CapacityMiB * 1024L * 1024L,
            Diagnostics = settings.Diagnostics,
            Name = "simulate",
            PrefixCache = settings.SharedPrefix is null ? null : tier?.PrefixCacheOptions() ?? new KvPrefixCacheOptions(),
        });
        TimeSpan buildTime = Stopwatch.GetElapsedTime(buildStarted);
        var manager = new AgentCacheManager(pool);
        WorkloadShape shape;
        SharedPrefixWorkload? prefix = null;
        try
        {
            shape = WorkloadShape.For(settings.Spec, pool.Capacity);
            if (settings.SharedPrefix is { } shared)
            {
                prefix = new SharedPrefixWorkload(shared, ConversationShape.For(settings.Spec, pool.Capacity, shared), settings.Seed);
            }
        }
        catch
        {
            manager.Dispose();
            pool.Dispose();
            throw;
        }

        long nativeBytes = pool.NativeBytes;
        int capacity = pool.Capacity;
        long lastAgent = 0;
        AgentId NextAgent() => new(Interlocked.Increment(ref lastAgent));
        var space = new SpaceSignal();
        var workers = new SimulationWorker[settings.Threads];
        for (int i = 0; i < workers.Length; i++)
        {
            int slots = (settings.Agents / workers.Length) + (i < settings.Agents % workers.Length ? 1 : 0);
            workers[i] = new SimulationWorker(manager, shape, slots, settings.Seed + i, space, NextAgent, failures, prefix);
        }

        var duration = TimeSpan.FromSeconds(settings.DurationSeconds);
        int stop = 0;
        bool Stopping() => Volatile.Read(ref stop) != 0;
        var threads = workers.Select((worker, i) => new Thread(() => worker.Run(Stopping)) { Name = $"host worker {i}", IsBackground = true }).ToArray();
        long started = Stopwatch.GetTimestamp();
        foreach (Thread thread in threads)
        {
            thread.Start();
        }

        var samples = new List<SimulationSample> { new(0, 0, 0, 0) }; // the workers start on an empty pool
        try
        {
            progress.Run(show =>
            {
                while (true)
                {
                    TimeSpan left = duration - Stopwatch.GetElapsedTime(started);
                    if (left <= TimeSpan.Zero)
                    {
                        break;
                    }

                    Thread.Sleep(left < SampleInterval ? left : SampleInterval);
                    BlockPoolStatistics stats = pool.GetStatistics();
                    CheckCounters(stats, failures);
                    prefix?.Ledger.Sample(pool);
                    TimeSpan now = Stopwatch.GetElapsedTime(started);
                    int agents = manager.AgentCount;
                    long operations = workers.Sum(w => w.Stats.Operations);
                    samples.Add(new SimulationSample(now.TotalSeconds, stats.Allocated, agents, operations));
                    show(new ProgressSnapshot(now, duration, agents, stats.Allocated, stats.Capacity, operations));
                }
            });
        }
        finally
        {
            // Also when the view fails: the workers must stop and release every agent before the pool goes.
            Volatile.Write(ref stop, 1);
            foreach (Thread thread in threads)
            {
                thread.Join();
            }
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(started);

        var totals = new WorkerStats();
        foreach (SimulationWorker worker in workers)
        {
            totals.Add(worker.Stats);
        }

        TierSummary? tierSummary = tier is null ? null : FlushTier(pool, tier, totals, failures);
        BlockPoolStatistics final = pool.GetStatistics();
        int peak = final.HighWaterMark;
        int leaked = final.Allocated;
        CheckEmpty(pool, manager, failures);
        PrefixCacheSummary? prefixSummary = prefix is null ? null : CheckPrefixCache(pool, prefix, totals, failures);
        manager.Dispose();
        if (manager.LiveAgentsAtDispose is { Count: > 0 } live)
        {
            failures.Enqueue($"{live.Count} agent(s) were still admitted at the end.");
        }

        pool.Dispose();
        if (pool.LeakReport is { } report)
        {
            failures.Enqueue(report.ToString());
        }

        long nativeAfter = BlockPool.LiveNativeBytes;
        if (nativeAfter != nativeBefore)
        {
            failures.Enqueue($"native bytes of live pools were {nativeBefore} before the run and {nativeAfter} after it.");
        }

        return new SimulationReport
        {
            Settings = settings,
            CapacityBlocks = capacity,
            BytesPerBlock = settings.Spec.BytesPerBlock,
            NativeBytes = nativeBytes,
            BuildTime = buildTime,
            Elapsed = elapsed,
            Totals = totals,
            PeakBlocks = peak,
            LeakedBlocks = leaked,
            Failures = [.. failures],
            Samples = samples,
            PrefixCache = prefixSummary,
            Tier = tierSummary,
        };
    }

    private static void CheckCounters(BlockPoolStatistics stats, ConcurrentQueue<string> failures)
    {
        if (stats.Available + stats.Allocated != stats.Capacity || stats.Available < 0 || stats.HighWaterMark < stats.Allocated || stats.HighWaterMark > stats.Capacity)
        {
            failures.Enqueue($"inconsistent pool counters: {stats}");
        }
    }

    /// <summary>
    /// After every agent left: no chunk is still referenced, the cache counted exactly the hits the admissions
    /// reported, the ledger is back to 0, and a reset empties the cache (so the pool is disposed with nothing cached).
    /// </summary>
    private static PrefixCacheSummary CheckPrefixCache(BlockPool pool, SharedPrefixWorkload prefix, WorkerStats totals, ConcurrentQueue<string> failures)
    {
        KvPrefixCache cache = pool.PrefixCache!;
        KvPrefixCacheStatistics stats = cache.GetStatistics();
        var summary = PrefixCacheSummary.From(prefix, totals, stats);
        if (stats.EvictableChunks != stats.CachedChunks)
        {
            failures.Enqueue($"after every agent was released {stats.CachedChunks - stats.EvictableChunks} cached chunk(s) are still referenced.");
        }

        // Chunks restored from the tier are published after the lookup, so the cache counts only the local hits.
        long localTokens = summary.CachedTokens - summary.TierTokens;
        if (stats.HitTokens != localTokens || stats.QueriedTokens != summary.PromptTokens)
        {
            failures.Enqueue($"the prefix cache counted {stats.HitTokens} hit token(s) of {stats.QueriedTokens}; the admissions reported {localTokens} local of {summary.PromptTokens}.");
        }

        if (prefix.Ledger.Outstanding != 0)
        {
            failures.Enqueue($"after every agent was released the memory ledger still counts {prefix.Ledger.Outstanding} block(s).");
        }

        cache.Reset();
        KvPrefixCacheStatistics reset = cache.GetStatistics();
        if (reset.CachedChunks != 0 || pool.GetStatistics().Allocated != 0)
        {
            failures.Enqueue($"a reset of the prefix cache left {reset.CachedChunks} chunk(s) cached and {pool.GetStatistics().Allocated} block(s) allocated.");
        }

        return summary;
    }

    /// <summary>Waits for the offload to catch up, and checks that the tier's counts add up to the chunks published.</summary>
    private static TierSummary FlushTier(BlockPool pool, TierSession tier, WorkerStats totals, ConcurrentQueue<string> failures)
    {
        using var timeout = new CancellationTokenSource(FlushTimeout);
        try
        {
            pool.FlushTierAsync(timeout.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            failures.Enqueue($"the offload to the tier had not caught up {FlushTimeout.TotalSeconds:0} s after the workers stopped.");
        }

        KvTierStatistics stats = pool.GetTierStatistics()!.Value;
        long published = pool.PrefixCache!.GetStatistics().StoredChunks;
        if (stats.Offloaded + stats.AlreadyStored + stats.NotOffloaded < published)
        {
            failures.Enqueue($"{published} chunk(s) were published but the tier accounts for {stats.Offloaded + stats.AlreadyStored + stats.NotOffloaded}.");
        }

        long restoredTokens = stats.Restored * pool.Spec.TokensPerBlock;
        long tierTokens = totals.FirstTurns.TierTokens + totals.ReturningTurns.TierTokens;
        if (restoredTokens != tierTokens)
        {
            failures.Enqueue($"the tier restored {stats.Restored} chunk(s) ({restoredTokens} tokens); the admissions reported {tierTokens} tokens from it.");
        }

        return new TierSummary { Choice = tier.Choice, Statistics = stats, PublishedChunks = published };
    }

    private static void CheckEmpty(BlockPool pool, AgentCacheManager manager, ConcurrentQueue<string> failures)
    {
        BlockPoolStatistics stats = pool.GetStatistics();
        if (stats.Allocated != 0 || stats.Agents != 0)
        {
            failures.Enqueue($"after every agent was released the pool still has {stats.Allocated} block(s) allocated to {stats.Agents} agent(s).");
        }

        if (manager.AgentCount != 0 || manager.TotalBlocks != 0 || manager.TotalTokens != 0)
        {
            failures.Enqueue($"after every agent was released the manager still counts {manager.AgentCount} agent(s), {manager.TotalBlocks} block(s), {manager.TotalTokens} token(s).");
        }
    }
}
