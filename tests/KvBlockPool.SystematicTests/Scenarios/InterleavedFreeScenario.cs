using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Scenario 2: two agents allocate and free while a third party releases one of them wholesale (a host ending a
/// sequence while its decode step still runs). A free that loses to the release gets a specific handle error;
/// afterwards each agent holds exactly the blocks its handles say are live, in order, and nothing is lost.
/// </summary>
public sealed class InterleavedFreeScenario(ITestOutputHelper output) : SystematicTest(output)
{
    private const int Capacity = 7;
    private const int Layers = 2;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Allocate_free_and_free_agent_interleave_across_agents_without_losing_or_sharing_a_block(BlockClearMode mode) =>
        AssertNoBugs($"InterleavedFree.{mode}", async () =>
        {
            using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers);
            var reapedAgent = new AgentId(1);
            var quietAgent = new AgentId(2);
            Task<List<KvBlock>> reapedWork = Task.Run(() => AgentWork(pool, reapedAgent, mayBeReaped: true));
            Task<List<KvBlock>> quietWork = Task.Run(() => AgentWork(pool, quietAgent, mayBeReaped: false));
            Task<int> reaper = Task.Run(() => pool.FreeAgent(reapedAgent));
            Task auditor = Task.Run(() => Check.Invariants(pool, "while agents allocate and free"));
            await Task.WhenAll(new Task[] { reapedWork, quietWork, reaper, auditor });

            int reapedHolds = CheckHoldsExactlyItsLiveHandles(pool, reapedAgent, reapedWork.Result);
            int quietHolds = CheckHoldsExactlyItsLiveHandles(pool, quietAgent, quietWork.Result);
            Check.That(quietHolds == quietWork.Result.Count, $"{quietAgent}, never released, holds {quietHolds} of its {quietWork.Result.Count} blocks.");
            Check.That(pool.AllocatedBlocks == reapedHolds + quietHolds, $"{pool.AllocatedBlocks} blocks are allocated but the agents hold {reapedHolds + quietHolds}.");
            Check.Invariants(pool, "after the agents finished");

            pool.FreeAgent(reapedAgent);
            pool.FreeAgent(quietAgent);
            Check.That(pool.AllocatedBlocks == 0 && pool.AgentCount == 0, $"After every agent was freed: {pool.GetStatistics()}.");
            Check.Invariants(pool, "after every agent was freed");
        });

    /// <summary>Allocate on both layers, free one block, allocate again; returns the handles the agent believes it holds.</summary>
    private static List<KvBlock> AgentWork(BlockPool pool, AgentId agent, bool mayBeReaped)
    {
        var mine = new List<KvBlock>();
        AllocateOrBeRefused(pool, agent, 0, 2, mine);
        AllocateOrBeRefused(pool, agent, 1, 1, mine);
        if (mine.Count > 0)
        {
            KvBlock victim = mine[0];
            mine.RemoveAt(0);
            try
            {
                pool.Free(agent, victim);
            }
            catch (Exception error) when (mayBeReaped)
            {
                // Released by the reaper first: the block was freed (and maybe handed out again) under our feet.
                Check.That(
                    error is DoubleFreeException or StaleBlockHandleException,
                    $"Freeing a block of a released agent threw {error.GetType().Name} instead of a double-free or stale-handle error: {error.Message}");
            }
        }

        AllocateOrBeRefused(pool, agent, 0, 1, mine);
        return mine;
    }

    private static void AllocateOrBeRefused(BlockPool pool, AgentId agent, int layer, int count, List<KvBlock> mine)
    {
        try
        {
            mine.AddRange(pool.Allocate(agent, layer, count));
        }
        catch (BlockPoolExhaustedException refused)
        {
            Check.That(refused.Requested == count && refused.Available < count, $"A refusal of {count} blocks said {refused.Available} were available.");
        }
    }

    /// <summary>The agent's view must list exactly its live handles, layer by layer, in the order they were appended.</summary>
    private static int CheckHoldsExactlyItsLiveHandles(BlockPool pool, AgentId agent, List<KvBlock> handles)
    {
        AgentBlocks view = pool.GetAgentBlocks(agent);
        for (int layer = 0; layer < Layers; layer++)
        {
            KvBlock[] live = handles.Where(h => h.Layer == layer && IsLive(pool, h)).ToArray();
            KvBlock[] listed = view.GetBlocks(layer);
            Check.That(live.SequenceEqual(listed), $"{agent} layer {layer}: live handles [{string.Join(", ", live)}] but the view lists [{string.Join(", ", listed)}].");
        }

        return view.TotalBlocks;
    }

    private static bool IsLive(BlockPool pool, KvBlock handle)
    {
        try
        {
            pool.GetBlockSpan(handle);
            return true;
        }
        catch (StaleBlockHandleException)
        {
            return false;
        }
    }
}
