using KvBlockPool.Lifecycle;
using System.Runtime.CompilerServices;

namespace KvBlockPool.Tests.Diagnostics;

public sealed class LeakStackTests
{
    [Fact]
    public void A_leak_report_starts_each_stack_at_the_host_code_even_through_the_lifecycle_layer()
    {
        BlockPool pool = TestPools.Create(capacity: 16, layers: 4, diagnostics: true);
        var manager = new AgentCacheManager(pool);
        AdmitFromHost(manager);
        AllocateFromHost(pool);

        pool.Dispose(); // the manager is never disposed: its agent leaks, as a host that forgot it would leak it

        BlockLeakReport report = Assert.IsType<BlockLeakReport>(pool.LeakReport);
        Assert.Equal(2, report.AllocationStacks.Count);
        foreach (string stack in report.AllocationStacks.Keys)
        {
            // The first frame is the host's: none of the library's own frames (pool or lifecycle layer) come before it.
            string firstFrame = stack.TrimStart().Split('\n')[0];
            Assert.True(firstFrame.Contains(nameof(AdmitFromHost), StringComparison.Ordinal) || firstFrame.Contains(nameof(AllocateFromHost), StringComparison.Ordinal), stack);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AdmitFromHost(AgentCacheManager manager) => manager.Admit(new AgentId(1), promptTokens: 1);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AllocateFromHost(BlockPool pool) => pool.Allocate(new AgentId(2), layer: 0);
}
