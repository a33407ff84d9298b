using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Benchmarks.Baselines;

namespace KvBlockPool.Benchmarks.Contention;

/// <summary>
/// Suite 2: <see cref="Threads"/> threads allocate and free one block at a time on one shared pool, each for its
/// own agent, with <see cref="WorkNanoseconds"/> of simulated work after every call (a host computing a token).
/// Each invocation does <see cref="TotalOperations"/> allocate+free pairs split evenly over the threads, so the
/// reported time is wall time per pair and total throughput is its inverse: throughput(2) / throughput(1) is
/// Mean(1 thread) / Mean(2 threads). The floor runs the same way, to show how much of any collapse is the lock's.
/// </summary>
[MemoryDiagnoser]
public class ContentionBenchmarks : IDisposable
{
    /// <summary>Allocate+free pairs per invocation, over all threads (divisible by 1, 2 and 4).</summary>
    public const int TotalOperations = 24_000;

    private BlockPool _pool = null!;
    private LockedIntStackFloor _floor = null!;
    private Barrier _start = null!;
    private Barrier _done = null!;
    private Thread[] _workers = [];
    private volatile bool _stopping;
    private bool _runPool;
    private long _workTicks;

    /// <summary>Threads allocating and freeing at once.</summary>
    [Params(1, 2, 4)]
    public int Threads { get; set; }

    /// <summary>Busy work after every call, in nanoseconds: 0 (pure contention) or 1000.</summary>
    [Params(0, 1000)]
    public int WorkNanoseconds { get; set; }

    /// <summary>Builds the pool and the floor and starts the worker threads, parked until an invocation.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchmarkPools.Create(1024, BlockClearMode.None);
        _floor = new LockedIntStackFloor(1024);
        _workTicks = WorkNanoseconds * Stopwatch.Frequency / 1_000_000_000;
        _start = new Barrier(Threads + 1);
        _done = new Barrier(Threads + 1);
        _workers = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            var agent = new AgentId(t + 1);
            _pool.Allocate(agent, layer: 0); // resident, so the agent stays registered as a decoding agent does
            _workers[t] = new Thread(() => Work(agent)) { IsBackground = true, Name = $"contention-{t}" };
            _workers[t].Start();
        }
    }

    /// <summary>The floor under the same contention.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = TotalOperations)]
    public void Floor() => RunOnce(pool: false);

    /// <summary>The pool under contention.</summary>
    [Benchmark(OperationsPerInvoke = TotalOperations)]
    public void Pool() => RunOnce(pool: true);

    /// <summary>Stops the workers and frees the pool.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        if (_workers.Length > 0)
        {
            _stopping = true;
            _start.SignalAndWait();
            foreach (Thread worker in _workers)
            {
                worker.Join();
            }

            _workers = [];
        }

        _start?.Dispose();
        _done?.Dispose();
        _pool?.Dispose();
        GC.SuppressFinalize(this);
    }

    private void RunOnce(bool pool)
    {
        _runPool = pool;
        _start.SignalAndWait();
        _done.SignalAndWait();
    }

    private void Work(AgentId agent)
    {
        while (true)
        {
            _start.SignalAndWait();
            if (_stopping)
            {
                return;
            }

            int operations = TotalOperations / Threads;
            if (_runPool)
            {
                for (int i = 0; i < operations; i++)
                {
                    KvBlock block = _pool.Allocate(agent, layer: 0);
                    SimulateWork();
                    _pool.Free(agent, block);
                    SimulateWork();
                }
            }
            else
            {
                for (int i = 0; i < operations; i++)
                {
                    int id = _floor.Pop();
                    SimulateWork();
                    _floor.Push(id);
                    SimulateWork();
                }
            }

            _done.SignalAndWait();
        }
    }

    /// <summary>Spins for the work time on the clock, so the work costs the same wall time whatever the CPU's speed.</summary>
    private void SimulateWork()
    {
        if (_workTicks == 0)
        {
            return;
        }

        long until = Stopwatch.GetTimestamp() + _workTicks;
        while (Stopwatch.GetTimestamp() < until)
        {
        }
    }
}
