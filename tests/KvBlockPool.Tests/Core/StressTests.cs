using System.Runtime.InteropServices;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Real threads hammering one small pool with every operation. Each block carries an ownership claim (an array of
/// holder tokens taken with compare-and-swap when a handle is received and released before it is freed) and the
/// holder's token written into its bytes: a block handed to two owners at once trips one or the other.
/// </summary>
public sealed class StressTests(ITestOutputHelper output)
{
    private const int Threads = 4;
    private const int OperationsPerThread = 60_000;

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree)]
    [InlineData(BlockClearMode.None)]
    public void Threads_never_get_the_same_block_and_every_invariant_holds(BlockClearMode mode)
    {
        using BlockPool pool = TestPools.Create(capacity: 96, layers: 3, clearMode: mode);
        var claims = new long[pool.Capacity];
        var failures = new List<string>();
        int[] operations = new int[Threads];
        int exhausted = 0;
        using var stop = new CancellationTokenSource();

        var observer = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                BlockPoolStatistics stats = pool.GetStatistics();
                if (stats.Available + stats.Allocated != stats.Capacity || stats.HighWaterMark < stats.Allocated || stats.Available < 0)
                {
                    Fail(failures, $"inconsistent statistics {stats}");
                }

                if (pool.FindInvariantViolation() is string violation)
                {
                    Fail(failures, violation);
                }
            }
        });

        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                var worker = new Worker(pool, claims, t, failures);
                for (int i = 0; i < OperationsPerThread && failures.Count == 0; i++)
                {
                    if (!worker.Step())
                    {
                        Interlocked.Increment(ref exhausted);
                    }

                    operations[t]++;
                }

                worker.ReleaseEverything();
            }
            catch (Exception ex)
            {
                Fail(failures, $"thread {t}: {ex}");
            }
        })).ToList();

        DateTime started = DateTime.UtcNow;
        observer.Start();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        stop.Cancel();
        observer.Join();

        output.WriteLine($"{operations.Sum()} operations on {Threads} threads in {(DateTime.UtcNow - started).TotalMilliseconds:F0} ms; {exhausted} refused for exhaustion");
        Assert.Empty(failures);
        Assert.Equal(Threads * OperationsPerThread, operations.Sum());
        Assert.True(exhausted > 0, "the pool was never exhausted: the test did not reach the interesting states");
        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.Equal(0, pool.AgentCount);
        Assert.All(claims, c => Assert.Equal(0, c));
        PoolAssert.Invariants(pool);
    }

    private static void Fail(List<string> failures, string message)
    {
        lock (failures)
        {
            failures.Add(message);
        }
    }

    /// <summary>One thread's agents and handles; every handle it holds is claimed in <c>claims</c>.</summary>
    private sealed class Worker(BlockPool pool, long[] claims, int thread, List<string> failures)
    {
        private readonly Random _random = new(1000 + thread);
        private readonly Dictionary<long, List<KvBlock>> _held = [];
        private readonly KvBlock[] _buffer = new KvBlock[8];
        private long _nextToken = ((long)thread << 40) + 1;

        /// <summary>Performs one random operation; false if it was refused for exhaustion.</summary>
        public bool Step()
        {
            long agent = (thread * 100) + _random.Next(6);
            var id = new AgentId(agent);
            switch (_random.Next(10))
            {
                case 0:
                case 1:
                case 2:
                {
                    Span<KvBlock> blocks = _buffer.AsSpan(0, _random.Next(1, 5));
                    if (!pool.TryAllocate(id, _random.Next(3), blocks))
                    {
                        return false;
                    }

                    Take(agent, blocks);
                    return true;
                }

                case 3:
                {
                    Span<KvBlock> blocks = _buffer.AsSpan(0, 3 * _random.Next(1, 3));
                    if (!pool.TryAllocateAllLayers(id, blocks.Length / 3, blocks))
                    {
                        return false;
                    }

                    Take(agent, blocks);
                    return true;
                }

                case 4:
                case 5:
                case 6:
                {
                    if (!_held.TryGetValue(agent, out List<KvBlock>? held) || held.Count == 0)
                    {
                        return true;
                    }

                    int count = _random.Next(1, Math.Min(held.Count, 5) + 1);
                    var chosen = held.OrderBy(_ => _random.Next()).Take(count).ToArray();
                    foreach (KvBlock block in chosen)
                    {
                        Give(block);
                        held.Remove(block);
                    }

                    pool.Free(id, chosen);
                    return true;
                }

                case 7:
                {
                    if (_held.Remove(agent, out List<KvBlock>? held))
                    {
                        held.ForEach(Give);
                    }

                    int freed = pool.FreeAgent(id);
                    if (freed != (held?.Count ?? 0))
                    {
                        Fail(failures, $"FreeAgent({agent}) freed {freed}, expected {held?.Count ?? 0}");
                    }

                    return true;
                }

                case 8:
                {
                    using AllocationScope scope = pool.BeginScope(id);
                    var pending = new List<KvBlock>();
                    for (int layer = 0; layer < 3; layer++)
                    {
                        Span<KvBlock> one = _buffer.AsSpan(0, 1);
                        if (!scope.TryAllocate(layer, one))
                        {
                            pending.ForEach(Give);
                            return false; // the using rolls back every layer
                        }

                        Claim(one[0]);
                        pending.Add(one[0]);
                    }

                    if (_random.Next(2) == 0)
                    {
                        scope.Commit();
                        Held(agent).AddRange(pending);
                    }
                    else
                    {
                        pending.ForEach(Give);
                    }

                    return true;
                }

                default:
                {
                    if (_held.TryGetValue(agent, out List<KvBlock>? held) && held.Count > 0)
                    {
                        KvBlock block = held[_random.Next(held.Count)];
                        ulong token = MemoryMarshal.Read<ulong>(pool.GetKeySpan(block));
                        if (token != (ulong)claims[block.Id])
                        {
                            Fail(failures, $"{block} holds token {token:X} but its claim is {claims[block.Id]:X}");
                        }

                        int table = pool.CopyBlockIds(id, block.Layer, stackalloc int[96]);
                        if (table == 0)
                        {
                            Fail(failures, $"agent {agent} shows no blocks on layer {block.Layer} while holding {block}");
                        }
                    }

                    return true;
                }
            }
        }

        public void ReleaseEverything()
        {
            foreach ((long agent, List<KvBlock> held) in _held)
            {
                held.ForEach(Give);
                pool.FreeAgent(new AgentId(agent));
            }

            _held.Clear();
        }

        private void Take(long agent, ReadOnlySpan<KvBlock> blocks)
        {
            foreach (KvBlock block in blocks)
            {
                Claim(block);
                Held(agent).Add(block);
            }
        }

        private List<KvBlock> Held(long agent)
        {
            if (!_held.TryGetValue(agent, out List<KvBlock>? list))
            {
                _held[agent] = list = [];
            }

            return list;
        }

        /// <summary>Claims a block just received; fails if anyone else holds a claim on it.</summary>
        private void Claim(KvBlock block)
        {
            long token = _nextToken++;
            long previous = Interlocked.CompareExchange(ref claims[block.Id], token, 0);
            if (previous != 0)
            {
                Fail(failures, $"{block} was handed to thread {thread} while claimed by token {previous:X} (thread {previous >> 40})");
                return;
            }

            MemoryMarshal.Write(pool.GetKeySpan(block), (ulong)token);
        }

        /// <summary>Drops the claim before the block is freed (after Free returns, another thread may receive it).</summary>
        private void Give(KvBlock block)
        {
            long token = Volatile.Read(ref claims[block.Id]);
            if (MemoryMarshal.Read<ulong>(pool.GetKeySpan(block)) != (ulong)token)
            {
                Fail(failures, $"{block}: someone else wrote into a block thread {thread} holds");
            }

            if (Interlocked.CompareExchange(ref claims[block.Id], 0, token) != token)
            {
                Fail(failures, $"{block}: the claim of thread {thread} was taken over");
            }
        }
    }
}
