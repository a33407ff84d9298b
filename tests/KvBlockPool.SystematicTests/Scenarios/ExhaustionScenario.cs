using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Scenario 1, the original incident: several agents allocate on several layers while the pool runs out.
/// Nine blocks are asked for from six, so some callers must be refused — and every refusal must be specific
/// and change nothing, every success must deliver all it asked for, and no block may go to two callers.
/// </summary>
public sealed class ExhaustionScenario(ITestOutputHelper output) : SystematicTest(output)
{
    internal const int Capacity = 6;
    internal const int Layers = 2;
    private const int Agents = 3;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Callers_near_exhaustion_get_all_they_asked_or_a_specific_refusal_and_no_block_goes_to_two(BlockClearMode mode) =>
        AssertNoBugs($"Exhaustion.{mode}", async () =>
        {
            using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers);
            await RunAsync(new PoolBlockSource(pool));
            for (int i = 0; i < Agents; i++)
            {
                pool.FreeAgent(new AgentId(i + 1));
            }

            Check.That(pool.AllocatedBlocks == 0 && pool.AgentCount == 0, $"After every agent was freed: {pool.GetStatistics()}.");
            Check.Invariants(pool, "after every agent was freed");
        });

    /// <summary>The scenario on any block source; the check-then-pop mutants run exactly this.</summary>
    internal static async Task RunAsync(IBlockSource source)
    {
        var ledger = new BlockLedger();
        var workers = new Task[Agents + 1];
        for (int i = 0; i < Agents; i++)
        {
            var agent = new AgentId(i + 1);
            int firstLayer = i % Layers;
            workers[i] = Task.Run(() =>
            {
                AllocateOrBeRefused(source, ledger, agent, firstLayer, count: 2);
                AllocateOrBeRefused(source, ledger, agent, (firstLayer + 1) % Layers, count: 1);
            });
        }

        workers[Agents] = Task.Run(() =>
        {
            string? violation = source.FindInvariantViolation();
            Check.That(violation is null, $"Invariant broken while agents allocate: {violation}");
        });
        await Task.WhenAll(workers);

        int held = 0;
        for (int i = 0; i < Agents; i++)
        {
            for (int layer = 0; layer < Layers; layer++)
            {
                held += source.GetBlockCount(new AgentId(i + 1), layer);
            }
        }

        Check.That(held == ledger.Count, $"The agents hold {held} blocks but callers were handed {ledger.Count}.");
        Check.That(source.AvailableBlocks + held == source.Capacity, $"available {source.AvailableBlocks} + held {held} != capacity {source.Capacity}.");
        string? violation = source.FindInvariantViolation();
        Check.That(violation is null, $"Invariant broken after the allocations: {violation}");
    }

    private static void AllocateOrBeRefused(IBlockSource source, BlockLedger ledger, AgentId agent, int layer, int count)
    {
        int before = source.GetBlockCount(agent, layer); // only this worker changes this agent
        KvBlock[] blocks;
        try
        {
            blocks = source.Allocate(agent, layer, count);
        }
        catch (BlockPoolExhaustedException refused)
        {
            Check.That(
                refused.Requested == count && refused.Available < count && refused.Capacity == Capacity,
                $"{agent} was refused {count} blocks with Requested={refused.Requested}, Available={refused.Available}, Capacity={refused.Capacity}.");
            Check.That(source.GetBlockCount(agent, layer) == before, $"A refused allocation changed what {agent} holds on layer {layer}.");
            return;
        }

        Check.That(blocks.Length == count && blocks.All(b => b.Layer == layer), $"{agent} asked for {count} blocks on layer {layer} and got {blocks.Length}.");
        ledger.Claim(agent, blocks);
        Check.That(source.GetBlockCount(agent, layer) == before + count, $"{agent} was handed {count} blocks but holds {source.GetBlockCount(agent, layer) - before} more.");
    }
}
