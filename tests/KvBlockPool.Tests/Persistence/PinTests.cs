using System.IO.Pipelines;
using KvBlockPool.Core;
using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// A save pins its agent: frees of a pinned agent are refused (not waited for), other agents are unaffected, and
/// disposing the pool during a save never frees memory under a copy.
/// </summary>
public sealed class PinTests
{
    private static readonly AgentId Agent = new(7);

    [Fact]
    public void Freeing_a_pinned_agent_is_refused_and_changes_nothing_until_the_pin_is_released()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 21, 2, 2, 2);
        KvBlock block = pool.GetAgentBlocks(Agent).GetBlock(1, 0);

        using (pool.Pin(Agent))
        using (pool.Pin(Agent))
        {
            Assert.Equal(2, pool.GetPinCount(Agent));
            string before = pool.DescribeState();

            AgentPinnedException all = Assert.Throws<AgentPinnedException>(() => pool.FreeAgent(Agent));
            AgentPinnedException one = Assert.Throws<AgentPinnedException>(() => pool.Free(Agent, block));
            Assert.Equal(Agent, all.Agent);
            Assert.Equal(2, one.Pins);
            Assert.Contains("pinned", all.Message, StringComparison.Ordinal);
            Assert.Equal(before, pool.DescribeState());
            Assert.Null(pool.FindPinViolation());

            // Growing a pinned agent is allowed, and so is freeing another agent.
            pool.Allocate(Agent, 0);
            PersistenceKit.Fill(pool, new AgentId(8), seed: 22, 1, 0, 0);
            Assert.Equal(1, pool.FreeAgent(new AgentId(8)));
        }

        Assert.Equal(0, pool.GetPinCount(Agent));
        pool.Free(Agent, block);
        Assert.Equal(6, pool.FreeAgent(Agent));
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void Pinning_an_agent_the_pool_does_not_hold_is_refused_and_releasing_a_pin_twice_is_harmless()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        Assert.Throws<ArgumentException>(() => pool.Pin(Agent));
        PersistenceKit.Fill(pool, Agent, seed: 23, 1, 1, 1);
        var first = pool.Pin(Agent);
        using var second = pool.Pin(Agent);
        first.Dispose();
        first.Dispose();
        Assert.Equal(1, pool.GetPinCount(Agent));
        Assert.Throws<ObjectDisposedException>(() => first.BeginAccess(first.GetBlock(0, 0), 0, 4));
    }

    [Fact]
    public async Task A_release_attempted_during_a_save_is_refused_and_the_saved_bytes_are_the_agents()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 24, 6, 6, 6);
        byte[][] expected = PersistenceKit.Snapshot(pool, Agent);

        // The save stalls on a full pipe while holding its pin.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 512, resumeWriterThreshold: 256, minimumSegmentSize: 256));
        Task<KvCacheHeader> save = KvCacheWriter.SaveAsync(pool, Agent, pipe.Writer);
        await WaitUntilAsync(() => pool.GetPinCount(Agent) == 1);
        Assert.Throws<AgentPinnedException>(() => pool.FreeAgent(Agent));

        using BlockPool target = TestPools.Create(capacity: 64, layers: 3);
        Task<KvCacheHeader> restore = KvCacheReader.RestoreAsync(target, pipe.Reader);
        await save;
        await pipe.Writer.CompleteAsync();
        await restore;

        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(target, Agent));
        Assert.Equal(18, pool.FreeAgent(Agent)); // the pin is gone with the save
    }

    [Fact]
    public async Task Disposing_the_pool_during_a_save_does_not_wait_for_the_save_and_the_save_then_fails_cleanly()
    {
        // 64 KiB blocks, 1.5 MiB in all: more than the save writes between flushes, so it stalls with blocks still to read.
        BlockPool pool = TestPools.Create(capacity: 24, spec: PersistenceKit.LargeSpec, alignment: 0);
        PersistenceKit.Fill(pool, Agent, seed: 25, 8, 8, 8);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 512, resumeWriterThreshold: 256, minimumSegmentSize: 256));
        Task<KvCacheHeader> save = KvCacheWriter.SaveAsync(pool, Agent, pipe.Writer);
        await WaitUntilAsync(() => pool.GetPinCount(Agent) == 1);

        // Returns at once: the stalled save holds a pin, but no copy is in flight.
        await Task.Run(pool.Dispose).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, pool.NativeBytes);
        Assert.Equal(24, pool.LeakReport!.TotalBlocks);

        // Let the save run on: its next copy finds the pool gone instead of reading freed memory.
        Task drain = DrainAsync(pipe.Reader);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => save);
        await pipe.Writer.CompleteAsync();
        await drain;
    }

    [Fact]
    public void Dispose_waits_for_a_copy_in_flight_before_freeing_the_slabs()
    {
        BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 26, 1, 1, 1);
        KvBlock block = pool.GetAgentBlocks(Agent).GetBlock(0, 0);
        using var inCopy = new ManualResetEventSlim();
        using var letGo = new ManualResetEventSlim();

        // A copier holds a data access open (the counted section every save and restore copy runs in).
        var copier = new Thread(() =>
        {
            BlockAccess access = pool.BeginDataAccess(block, 0, 16);
            inCopy.Set();
            letGo.Wait();
            access.Dispose();
        });
        copier.Start();
        inCopy.Wait();
        Assert.Equal(1, pool.DataAccessesInFlight);

        var disposer = new Thread(pool.Dispose);
        disposer.Start();
        Assert.False(disposer.Join(200)); // still waiting for the copy
        Assert.NotEqual(0, pool.NativeBytes); // the slabs are still there
        letGo.Set();
        Assert.True(disposer.Join(10_000));
        copier.Join();
        Assert.True(pool.IsDisposed);
        Assert.Equal(0, pool.NativeBytes);
        Assert.Throws<ObjectDisposedException>(() => pool.BeginDataAccess(block, 0, 16));
    }

    [Fact]
    public async Task Saves_racing_releases_on_threads_never_save_a_freed_block()
    {
        using BlockPool pool = TestPools.Create(capacity: 128, layers: 3);
        var agents = Enumerable.Range(0, 4).Select(i => new AgentId(i)).ToArray();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        using var cap = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int saves = 0, refusals = 0;

        // At least 2 s, and on until both outcomes were seen: on a loaded machine 2 s can pass before the first save.
        bool Going() => !cap.IsCancellationRequested
            && (!stop.IsCancellationRequested || Volatile.Read(ref saves) == 0 || Volatile.Read(ref refusals) == 0);

        async Task Churn(AgentId agent, int seed)
        {
            var random = new Random(seed);
            while (Going())
            {
                // Every block of an agent holds the agent's id byte; a reused block would carry another id.
                foreach (KvBlock block in pool.AllocateAllLayers(agent, 1 + random.Next(3)))
                {
                    pool.GetBlockSpan(block).Fill((byte)(agent.Value + 1));
                }

                // The save goes into a small pipe whose reader starts late, so the save holds its pin across awaits.
                var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 512, resumeWriterThreshold: 256, minimumSegmentSize: 256, useSynchronizationContext: false));
                int delay = random.Next(3);
                Task<KvCacheHeader> save = Task.Run(() => KvCacheWriter.SaveAsync(pool, agent, pipe.Writer));
                Task<byte[]> collected = Task.Run(async () =>
                {
                    await Task.Delay(delay);
                    return await CollectAsync(pipe.Reader);
                });
                Thread.SpinWait(random.Next(20_000)); // sometimes the release comes first, mostly the save's pin
                while (true)
                {
                    try
                    {
                        pool.FreeAgent(agent);
                        break;
                    }
                    catch (AgentPinnedException)
                    {
                        Interlocked.Increment(ref refusals);
                        await Task.Yield();
                    }
                }

                try
                {
                    await save;
                }
                catch (ArgumentException)
                {
                    await pipe.Writer.CompleteAsync();
                    await collected;
                    continue; // the release won the race: nothing to save
                }

                await pipe.Writer.CompleteAsync();
                byte[] file = await collected;
                Interlocked.Increment(ref saves);
                KvCacheInspectionReport report = await KvCacheInspector.InspectAsync(new MemoryStream(file));
                Assert.True(report.IsValid, report.ToString());
                int at = PersistenceKit.HeaderLength;
                for (int layer = 0; layer < 3; layer++)
                {
                    int length = (int)report.Header!.GetLayerPayloadBytes(layer);
                    Assert.True(file.AsSpan(at, length).IndexOfAnyExcept((byte)(agent.Value + 1)) < 0, "a saved block does not hold the agent's bytes");
                    at += length + 8;
                }
            }
        }

        await Task.WhenAll(agents.Select((agent, i) => Task.Run(() => Churn(agent, i))));
        Assert.True(saves > 0);
        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.Null(pool.FindInvariantViolation());
        Assert.Null(pool.FindPinViolation());
        Assert.True(refusals > 0, "no release ever met a save in progress: the race was not exercised");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(1);
        }
    }

    private static async Task<byte[]> CollectAsync(PipeReader reader)
    {
        using var bytes = new MemoryStream();
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                bytes.Write(segment.Span);
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await reader.CompleteAsync();
        return bytes.ToArray();
    }

    private static async Task DrainAsync(PipeReader reader)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await reader.CompleteAsync();
    }

    [Fact]
    public void An_access_outside_its_block_is_refused_and_counts_no_data_access()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 31, 1, 0, 0);
        KvBlock block = pool.GetAgentBlocks(Agent).GetBlock(0, 0);

        Assert.Throws<ArgumentOutOfRangeException>(() => pool.BeginDataAccess(block, pool.Spec.BytesPerBlock - 8, 16));
        Assert.Equal(0, pool.DataAccessesInFlight);
        Assert.Null(pool.FindInvariantViolation());
        pool.Dispose();
        Assert.Null(pool.FindInvariantViolation()); // "data accesses in flight after dispose" if the refused fill had counted one
    }

    [Fact]
    public void A_run_that_meets_a_freed_block_ends_before_it_and_the_next_run_refuses_it()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 3);
        pool.Free(Agent, blocks[1]);

        // A memory stream restore gathers contiguous blocks into one read; a stale handle is never part of a run,
        // and the run that starts with it is refused with no access left counted (Dispose would wait for it forever).
        using (BlockAccess run = pool.BeginContiguousAccess(blocks, 1024 * 1024))
        {
            Assert.Equal(1, run.BlockCount);
            Assert.Equal(pool.Spec.BytesPerBlock, run.Length);
        }

        Assert.ThrowsAny<InvalidBlockHandleException>(() => pool.BeginContiguousAccess(blocks[1..], 1024 * 1024));
        Assert.Equal(0, pool.DataAccessesInFlight);
        pool.Dispose();
        Assert.Null(pool.FindInvariantViolation());
    }
}

