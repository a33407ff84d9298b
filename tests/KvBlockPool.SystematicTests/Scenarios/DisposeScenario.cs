using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Scenario 5b: the pool is disposed while agents allocate, reach block memory, free, and commit scopes. Every call
/// either completes before the dispose or throws <see cref="ObjectDisposedException"/>; a call that starts after
/// Dispose returned always throws it; nothing else is thrown; every slab is freed exactly once, and no one (a
/// free clearing its blocks outside the gate, above all) writes a slab after it was freed.
/// </summary>
public sealed class DisposeScenario(ITestOutputHelper output) : SystematicTest(output)
{
    private const int Capacity = 4;
    private const int Layers = 2;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Dispose_racing_allocate_free_and_data_access_leaves_late_callers_with_ObjectDisposedException(BlockClearMode mode) =>
        AssertNoBugs($"Dispose.{mode}", async () =>
        {
            using var slabs = new QuarantineAllocator();
            using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers, slabs); // disposed by a worker; again here if a check failed first
            var gate = new DisposeGate();

            Task single = Task.Run(() =>
            {
                var agent = new AgentId(1);
                KvBlock block = default;
                if (gate.Call(() => block = pool.Allocate(agent, 0), "Allocate")
                    && gate.Call(() => Check.That(pool.GetKeySpan(block).Length == pool.Spec.BytesPerHalf, "The K half has the wrong length."), "GetKeySpan"))
                {
                    gate.Call(() => pool.Free(agent, block), "Free");
                }
            });
            Task wholeAgent = Task.Run(() =>
            {
                var agent = new AgentId(2);
                if (gate.Call(() => pool.AllocateAllLayers(agent, 1), "AllocateAllLayers"))
                {
                    gate.Call(() => pool.FreeAgent(agent), "FreeAgent");
                }
            });
            Task scoped = Task.Run(() =>
            {
                AllocationScope scope = default;
                if (gate.Call(() => scope = pool.BeginScope(new AgentId(3)), "BeginScope"))
                {
                    using (scope)
                    {
                        _ = gate.Call(() => scope.Allocate(1), "scope Allocate") && gate.Call(scope.Commit, "scope Commit");
                    }
                }
            });
            Task reader = Task.Run(() => gate.Call(() => pool.GetAgentBlocks(new AgentId(2)), "GetAgentBlocks"));
            Task disposer = Task.Run(() =>
            {
                pool.Dispose();
                gate.Closed();
            });
            await Task.WhenAll(new Task[] { single, wholeAgent, scoped, reader, disposer });

            Check.That(pool.IsDisposed && pool.NativeBytes == 0, "The pool is not fully disposed.");
            Check.Throws<ObjectDisposedException>(Outcome.Of(() => pool.Allocate(new AgentId(4), 0)), "Allocate after Dispose");
            Check.That(pool.LeakReport is null || pool.LeakReport.TotalBlocks > 0, "The leak report lists no blocks.");
            pool.Dispose(); // idempotent
            Check.That(slabs.LiveSlabs == 0, $"{slabs.LiveSlabs} slab(s) were still allocated after Dispose.");
            slabs.CheckFreedSlabsUntouched();
        });

    /// <summary>Knows whether Dispose has returned, and checks each call against it.</summary>
    private sealed class DisposeGate
    {
        private int _closed;

        public void Closed() => Interlocked.Exchange(ref _closed, 1);

        /// <summary>Runs <paramref name="call"/>; true if it completed, false if it met the disposed pool.</summary>
        public bool Call(Action call, string what)
        {
            bool closedBefore = Volatile.Read(ref _closed) == 1;
            try
            {
                call();
            }
            catch (ObjectDisposedException)
            {
                return false;
            }

            Check.That(!closedBefore, $"{what} started after Dispose returned and did not throw ObjectDisposedException.");
            return true;
        }
    }
}
