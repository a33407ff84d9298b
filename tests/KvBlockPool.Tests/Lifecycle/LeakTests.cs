using KvBlockPool.Lifecycle;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Lifecycle;

[Collection(ProcessWideCollection.Name)]
public sealed class LeakTests(ITestOutputHelper output)
{
    private const int Lifecycles = 10_000;
    private const int MaxContext = 64;

    [Fact]
    public void Ten_thousand_agent_lifecycles_with_failed_admissions_leave_nothing_behind()
    {
        ForceFullCollection();
        long nativeAtStart = BlockPool.LiveNativeBytes;
        long managedAtStart = GC.GetTotalMemory(forceFullCollection: true);
        var random = new Random(20261125);
        int rolledBack = 0, exhausted = 0, truncations = 0;

        using (BlockPool pool = TestPools.Create(capacity: 4 * 24, layers: 4)) // 4 layers: 24 blocks each, so the pool is often full
        using (var manager = new AgentCacheManager(pool))
        {
            long poolNativeBytes = pool.NativeBytes;
            var live = new List<AgentId>();
            for (int lifecycle = 0; lifecycle < Lifecycles; lifecycle++)
            {
                var agent = new AgentId(lifecycle);
                int prompt = random.Next(1, 33);
                if (random.Next(10) == 0)
                {
                    // A prefill that fails part-way: some layers allocated, then an error. The scope must return them all.
                    Assert.Throws<InvalidOperationException>(() => FailingPrefill(pool, agent, prompt, random.Next(1, 4)));
                    Assert.False(pool.ContainsAgent(agent));
                    rolledBack++;
                    continue;
                }

                while (!manager.TryAdmit(agent, prompt))
                {
                    exhausted++;
                    ReleaseOldest(manager, live); // a host preempts its oldest agent when the pool is full
                }

                live.Add(agent);
                int decode = random.Next(0, 24);
                for (int step = 0; step < decode; step++)
                {
                    AgentId who = live[random.Next(live.Count)];
                    if (manager.GetInfo(who).Tokens >= MaxContext)
                    {
                        continue; // a context limit, so one agent alone always fits
                    }

                    while (!manager.TryAppend(who))
                    {
                        exhausted++;
                        ReleaseOldest(manager, live, except: who);
                    }
                }

                if (random.Next(4) == 0)
                {
                    AgentId who = live[random.Next(live.Count)];
                    manager.Truncate(who, random.Next(0, manager.GetInfo(who).Tokens + 1));
                    truncations++;
                }

                if (live.Count > 4 || random.Next(3) == 0)
                {
                    ReleaseOldest(manager, live);
                }
            }

            while (live.Count > 0)
            {
                ReleaseOldest(manager, live);
            }

            Assert.Equal(0, manager.AgentCount);
            Assert.Equal(0, manager.TotalBlocks);
            Assert.Equal(0, manager.TotalTokens);
            Assert.Equal(0, pool.AllocatedBlocks);
            Assert.Equal(0, pool.AgentCount);
            Assert.Equal(pool.Capacity, pool.AvailableBlocks);
            Assert.Equal(poolNativeBytes, pool.NativeBytes);
            Assert.Null(pool.FindInvariantViolation());
            Assert.Equal(nativeAtStart + poolNativeBytes, BlockPool.LiveNativeBytes);
            manager.Dispose();
            Assert.Null(manager.LiveAgentsAtDispose);
        }

        Assert.Equal(nativeAtStart, BlockPool.LiveNativeBytes);
        long managedGrowth = GC.GetTotalMemory(forceFullCollection: true) - managedAtStart;
        output.WriteLine($"{Lifecycles} lifecycles: {rolledBack} admissions rolled back part-way, {exhausted} exhaustions met by preemption, {truncations} truncations; managed heap growth {managedGrowth} bytes; native bytes {nativeAtStart} before and {BlockPool.LiveNativeBytes} after");
        Assert.True(managedGrowth < 1024 * 1024, $"the managed heap grew by {managedGrowth} bytes");

        // The workload really exercised every path.
        Assert.InRange(rolledBack, Lifecycles / 20, Lifecycles / 5);
        Assert.True(exhausted > 0, "no admission or append ever met an exhausted pool");
        Assert.True(truncations > 1000);
    }

    [Fact]
    public void A_pool_disposed_with_agents_alive_reports_each_agent_and_its_blocks()
    {
        BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        pool.AllocateAllLayers(new AgentId(7), blocksPerLayer: 2);
        pool.Allocate(new AgentId(8), layer: 1, count: 3);

        pool.Dispose();

        BlockLeakReport report = Assert.IsType<BlockLeakReport>(pool.LeakReport);
        Assert.Equal(11, report.TotalBlocks);
        Assert.Equal(8, report.BlocksByAgent[new AgentId(7)]);
        Assert.Equal(3, report.BlocksByAgent[new AgentId(8)]);
        Assert.Contains("agent 7: 8 block(s)", report.ToString(), StringComparison.Ordinal);
    }

    private static void FailingPrefill(BlockPool pool, AgentId agent, int prompt, int layersBeforeFailure)
    {
        int perLayer = pool.Spec.BlocksForTokens(prompt);
        Span<KvBlock> blocks = stackalloc KvBlock[perLayer];
        using AllocationScope scope = pool.BeginScope(agent);
        for (int layer = 0; layer < pool.Spec.Layers; layer++)
        {
            if (layer == layersBeforeFailure)
            {
                throw new InvalidOperationException("prefill failed");
            }

            if (!scope.TryAllocate(layer, blocks))
            {
                throw new InvalidOperationException("pool exhausted during prefill");
            }
        }

        scope.Commit();
    }

    private static void ReleaseOldest(AgentCacheManager manager, List<AgentId> live, AgentId? except = null)
    {
        int index = live.Count > 1 && except == live[0] ? 1 : 0;
        Assert.True(live.Count > 0 && live[index] != except, "nothing left to release");
        AgentCacheInfo info = manager.GetInfo(live[index]);
        Assert.Equal(info.TotalBlocks, manager.Release(live[index]));
        live.RemoveAt(index);
    }

    private static void ForceFullCollection()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
