using System.Collections.Concurrent;
using System.Diagnostics;
using KvBlockPool.Cli.Simulate.Progress;
using KvBlockPool.Lifecycle;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// Plays a multi-agent inference host against a real pool: builds it, runs the workers for the duration while
/// sampling the pool (for the live view and the plot) and checking its counters, stops them (every agent is released), then checks that
/// nothing leaked: no block allocated, no agent left, and the process's native bytes back where they started.
/// </summary>
internal static class Simulation
{
    /// <summary>Ten samples a second: smooth curves over a few seconds, and a negligible share of the pool's lock.</summary>
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(100);

    public static SimulationReport Run(SimulationSettings settings, IProgressView progress)
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
        });
        TimeSpan buildTime = Stopwatch.GetElapsedTime(buildStarted);
        var manager = new AgentCacheManager(pool);
        WorkloadShape shape;
        try
        {
            shape = WorkloadShape.For(settings.Spec, pool.Capacity);
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
            workers[i] = new SimulationWorker(manager, shape, slots, settings.Seed + i, space, NextAgent, failures);
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

        BlockPoolStatistics final = pool.GetStatistics();
        int peak = final.HighWaterMark;
        int leaked = final.Allocated;
        CheckEmpty(pool, manager, failures);
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
        };
    }

    private static void CheckCounters(BlockPoolStatistics stats, ConcurrentQueue<string> failures)
    {
        if (stats.Available + stats.Allocated != stats.Capacity || stats.Available < 0 || stats.HighWaterMark < stats.Allocated || stats.HighWaterMark > stats.Capacity)
        {
            failures.Enqueue($"inconsistent pool counters: {stats}");
        }
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
