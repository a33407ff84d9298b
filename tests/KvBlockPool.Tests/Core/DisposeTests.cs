using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Core;

public sealed class DisposeTests
{
    private static readonly AgentId Agent = new(31);

    [Fact]
    public void Dispose_is_idempotent_and_a_clean_pool_reports_no_leak()
    {
        BlockPool pool = TestPools.Create();
        pool.FreeAgent(Agent);
        pool.Dispose();
        pool.Dispose();
        Assert.True(pool.IsDisposed);
        Assert.Null(pool.LeakReport);
        Assert.Equal(0, pool.NativeBytes);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void Dispose_reports_and_logs_what_each_agent_still_held()
    {
        var logs = new CapturingLoggerFactory();
        BlockPool pool = TestPools.Create(capacity: 8, name: "leaky", loggerFactory: logs);
        pool.Allocate(new AgentId(2), 0, 3);
        pool.AllocateAllLayers(new AgentId(1), 1);
        pool.Dispose();

        BlockLeakReport report = pool.LeakReport!;
        Assert.Equal("leaky", report.PoolName);
        Assert.Equal(5, report.TotalBlocks);
        Assert.Equal((2, 3), (report.BlocksByAgent[new AgentId(1)], report.BlocksByAgent[new AgentId(2)]));
        Assert.Equal((0, 0), (report.OpenScopes, report.UncommittedScopeBlocks));
        Assert.Empty(report.AllocationStacks);
        Assert.Equal(
            $"Pool 'leaky' was disposed with 5 block(s) still allocated:{Environment.NewLine}  agent 1: 2 block(s){Environment.NewLine}  agent 2: 3 block(s)",
            report.ToString());
        pool.Dispose(); // logs once

        LogEntry entry = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("Block pool 'leaky' disposed with 5 block(s) still allocated", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void Every_call_after_dispose_throws_ObjectDisposedException()
    {
        BlockPool pool = TestPools.Create(capacity: 8);
        KvBlock block = pool.Allocate(Agent, 0);
        AllocationScope scope = pool.BeginScope(Agent);
        pool.Dispose();

        var calls = new Action[]
        {
            () => pool.Allocate(Agent, 0), () => pool.Allocate(Agent, 0, 2), () => pool.Allocate(Agent, 0, 100), () => pool.Allocate(Agent, 0, new KvBlock[1]),
            () => pool.TryAllocate(Agent, 0, new KvBlock[1]), () => pool.AllocateAllLayers(Agent, 1), () => pool.AllocateAllLayers(Agent, 1, new KvBlock[2]),
            () => pool.TryAllocateAllLayers(Agent, 1, new KvBlock[2]), () => pool.Free(Agent, block), () => pool.Free(Agent, ReadOnlySpan<KvBlock>.Empty),
            () => pool.FreeAgent(Agent), () => pool.BeginScope(Agent), () => scope.Allocate(0), () => scope.Commit(),
            () => pool.GetAgentBlocks(Agent), () => pool.CopyBlockIds(Agent, 0, new int[4]), () => pool.ContainsAgent(Agent),
            () => pool.GetBlockCount(Agent), () => pool.GetBlockCount(Agent, 0), () => pool.GetBlockCountsByAgent(),
            () => pool.GetBlockSpan(block), () => pool.GetKeySpan(block), () => pool.GetValueSpan(block), () => _ = (nint)pool.GetPointer(block),
            () => pool.Reconfigure(TestPools.Spec()), () => pool.GetStatistics(), () => _ = pool.Capacity,
        };
        foreach (Action call in calls)
        {
            var error = Assert.ThrowsAny<ObjectDisposedException>(call);
            Assert.True(error.Message.Contains("disposed", StringComparison.Ordinal), error.Message);
        }

        scope.Dispose(); // a no-op, never a throw

        // What still describes the pool after it is gone keeps answering; nothing counts blocks any more.
        Assert.True(pool.IsDisposed);
        Assert.Equal(0, pool.NativeBytes);
        Assert.Equal(TestPools.Spec(), pool.Spec);
        Assert.False(pool.TryGetStatistics(out _));
    }

    [Fact]
    public void Dispose_waits_for_a_free_that_is_clearing_blocks()
    {
        // 64 blocks of 1 MiB: clearing them outside the gate takes long enough for Dispose to arrive meanwhile.
        var spec = new KvCacheSpec(1, 8, 128, 512, KvElementType.Float16);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            BlockPool pool = TestPools.Create(capacity: 64, spec: spec, alignment: 0);
            pool.Allocate(Agent, 0, 64);
            using var started = new ManualResetEventSlim();
            Exception? failure = null;
            var freeing = new Thread(() =>
            {
                try
                {
                    started.Set();
                    pool.FreeAgent(Agent);
                }
                catch (Exception ex) when (ex is ObjectDisposedException)
                {
                    failure = null; // Dispose won the race to the gate: legal, nothing was freed
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
            });
            freeing.Start();
            started.Wait();
            pool.Dispose();
            freeing.Join();
            Assert.Null(failure);
            Assert.True(pool.LeakReport is null || pool.LeakReport.TotalBlocks == 64);
        }
    }

    [Fact]
    public void Disposing_a_pool_gives_its_native_bytes_back()
    {
        BlockPool pool = TestPools.Create(capacity: 8);
        long held = pool.NativeBytes;
        Assert.Equal(8 * 256, held);
        pool.Dispose();
        Assert.Equal(0, pool.NativeBytes);
    }
}
