using KvBlockPool.Lifecycle;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Lifecycle;

[Collection(ProcessWideCollection.Name)]
public sealed class AgentCacheManagerAllocationTests(ITestOutputHelper output)
{
    [Fact]
    public void Steady_state_admit_append_truncate_and_release_allocate_nothing_on_the_managed_heap()
    {
        var spec = KvCacheSpec.Llama3_8B(); // 32 layers: more handles per call than any stack batch
        using BlockPool pool = TestPools.Create(capacity: 3 * 32 * 40, spec: spec, clearMode: BlockClearMode.None, alignment: 0);
        using var manager = new AgentCacheManager(pool);
        AgentId[] agents = [new(1), new(2), new(3)];

        RunCycles(manager, agents, cycles: 200); // warm-up: records, lists and the dictionary reach their size
        long before = GC.GetAllocatedBytesForCurrentThread();
        RunCycles(manager, agents, cycles: 5_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        output.WriteLine($"5,000 cycles x 3 agents (32 layers): {allocated} bytes allocated on the managed heap");
        Assert.Equal(0, allocated);
        Assert.Equal(0, pool.AllocatedBlocks);
    }

    [Fact]
    public void Steady_state_with_zeroing_on_free_allocates_nothing_either()
    {
        using BlockPool pool = TestPools.Create(capacity: 4 * 4 * 20, layers: 4);
        using var manager = new AgentCacheManager(pool);
        AgentId[] agents = [new(1), new(2), new(3), new(4)];

        RunCycles(manager, agents, cycles: 200);
        long before = GC.GetAllocatedBytesForCurrentThread();
        RunCycles(manager, agents, cycles: 5_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    /// <summary>One cycle per agent: a prompt of up to 160 tokens, decode up to 40 tokens one by one, a truncation, release.</summary>
    private static void RunCycles(AgentCacheManager manager, AgentId[] agents, int cycles)
    {
        int tokensPerBlock = manager.Pool.Spec.TokensPerBlock;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            foreach (AgentId agent in agents)
            {
                int prompt = 1 + ((cycle * 37) % (10 * tokensPerBlock));
                manager.Admit(agent, prompt);
                int decode = 1 + (cycle % 40);
                for (int step = 0; step < decode; step++)
                {
                    manager.Append(agent);
                }

                manager.Truncate(agent, prompt / 2);
            }

            foreach (AgentId agent in agents)
            {
                manager.Release(agent);
            }
        }
    }
}
