using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Scenario 5a: an administrator reconfigures (there and back) while agents allocate, write their blocks and free
/// them. A reconfigure either finds the pool idle and switches every slab, or is refused with nothing changed; an
/// agent's handle is never pulled from under it; no one writes a slab after it was freed (the allocator keeps
/// freed slabs poisoned and checks them).
/// </summary>
public sealed class ReconfigureScenario(ITestOutputHelper output) : SystematicTest(output)
{
    private const int Capacity = 4;
    private const int Layers = 2;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Reconfigure_racing_allocate_and_free_switches_an_idle_pool_or_changes_nothing(BlockClearMode mode) =>
        AssertNoBugs($"Reconfigure.{mode}", async () =>
        {
            using var slabs = new QuarantineAllocator();
            KvCacheSpec original = ScenarioPools.Spec(Layers);
            KvCacheSpec wider = ScenarioPools.Spec(Layers, headDim: 16);
            KvCacheSpec expected = original; // the last spec a reconfigure switched to
            using (BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers, slabs))
            {
                Task single = Task.Run(() =>
                {
                    for (int round = 0; round < 2; round++)
                    {
                        KvBlock block = pool.Allocate(new AgentId(1), 0);
                        WriteAndCheck(pool, block);
                        pool.Free(new AgentId(1), block); // held all along: a reconfigure cannot have invalidated it
                    }
                });
                Task wholeAgent = Task.Run(() =>
                {
                    KvBlock[] blocks = new KvBlock[Layers];
                    pool.AllocateAllLayers(new AgentId(2), 1, blocks);
                    WriteAndCheck(pool, blocks[1]);
                    Check.That(pool.FreeAgent(new AgentId(2)) == Layers, "Freeing the agent did not free both its blocks.");
                });
                Task admin = Task.Run(() =>
                {
                    foreach (KvCacheSpec target in new[] { wider, original })
                    {
                        KvCacheSpec before = pool.Spec;
                        Exception? refused = Outcome.Of(() => pool.Reconfigure(target));
                        if (refused is null)
                        {
                            expected = target;
                            Check.That(pool.Spec.Equals(target) && pool.Capacity == Capacity, $"After a reconfigure the pool has {pool.Spec} and {pool.Capacity} blocks.");
                        }
                        else
                        {
                            Check.Throws<BlockPoolInUseException>(refused, "A reconfigure of a busy pool");
                            Check.That(ReferenceEquals(pool.Spec, before), "A refused reconfigure changed the spec.");
                        }

                        Check.Invariants(pool, "after a reconfigure attempt, while agents work");
                    }
                });
                await Task.WhenAll(new Task[] { single, wholeAgent, admin });

                Check.That(pool.AllocatedBlocks == 0 && pool.AgentCount == 0, $"After every agent freed its blocks: {pool.GetStatistics()}.");
                Check.That(pool.Spec.Equals(expected), $"The last reconfigure that succeeded switched to {expected}, but the pool has {pool.Spec}.");
                Check.Invariants(pool, "after the reconfigures");
            }

            Check.That(slabs.LiveSlabs == 0, $"{slabs.LiveSlabs} slab(s) were still allocated after Dispose.");
            slabs.CheckFreedSlabsUntouched();
        });

    private static void WriteAndCheck(BlockPool pool, KvBlock block)
    {
        Span<byte> bytes = pool.GetBlockSpan(block);
        Check.That(bytes.Length == pool.Spec.BytesPerBlock, $"{block} spans {bytes.Length} bytes; the spec says {pool.Spec.BytesPerBlock}.");
        bytes.Fill(0xA5);
    }
}
