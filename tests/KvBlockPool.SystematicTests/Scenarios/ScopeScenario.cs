using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Scenario 3: one agent admits through a scope and commits, another allocates through a scope and rolls back,
/// a third allocates directly, while an observer watches the two scope agents. A rollback returns every block of
/// every layer (its handles go stale, the agent holds nothing); a commit publishes every layer at once; no
/// snapshot ever shows part of a scope. Ten blocks are wanted from eight, so scopes also meet exhaustion.
/// </summary>
public sealed class ScopeScenario(ITestOutputHelper output) : SystematicTest(output)
{
    internal const int Capacity = 8;
    internal const int Layers = 3;
    private static readonly AgentId Committer = new(1);
    private static readonly AgentId RollsBack = new(2);
    private static readonly AgentId Direct = new(3);

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Scopes_commit_every_layer_or_return_every_layer_and_nobody_sees_half_a_scope(BlockClearMode mode) =>
        AssertNoBugs($"Scope.{mode}", async () =>
        {
            using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers);
            await RunAsync(pool, new PoolScopeSource(pool));
        });

    /// <summary>The scenario with any scope implementation; the layer-0 rollback mutant runs exactly this.</summary>
    internal static async Task RunAsync(BlockPool pool, IScopeSource scopes)
    {
        Task<bool> committer = Task.Run(() => AllocateEveryLayer(pool, scopes, Committer, commit: true));
        Task<bool> rollsBack = Task.Run(() => AllocateEveryLayer(pool, scopes, RollsBack, commit: false));
        Task<int> direct = Task.Run(() => AllocateDirectly(pool));
        Task observer = Task.Run(() =>
        {
            for (int look = 0; look < 2; look++)
            {
                CheckWholeScopeOrNothing(pool.GetAgentBlocks(Committer));
                Check.That(pool.GetAgentBlocks(RollsBack).IsEmpty, $"A snapshot shows blocks of {RollsBack}, whose scope never commits.");
            }

            Check.Invariants(pool, "while scopes are open");
        });
        await Task.WhenAll(new Task[] { committer, rollsBack, direct, observer });

        int committed = committer.Result ? Layers : 0;
        Check.That(pool.GetBlockCount(Committer) == committed, $"{Committer} holds {pool.GetBlockCount(Committer)} blocks; its scope {(committer.Result ? "committed" : "rolled back")}.");
        Check.That(pool.GetBlockCount(RollsBack) == 0, $"{RollsBack} holds {pool.GetBlockCount(RollsBack)} blocks after its rollback.");
        Check.That(pool.AllocatedBlocks == committed + direct.Result, $"{pool.AllocatedBlocks} blocks are allocated; the agents hold {committed + direct.Result}.");
        Check.Invariants(pool, "after the scopes ended");

        pool.FreeAgent(Committer);
        pool.FreeAgent(Direct);
        Check.That(pool.AllocatedBlocks == 0 && pool.AgentCount == 0, $"After every agent was freed: {pool.GetStatistics()}.");
        Check.Invariants(pool, "after every agent was freed");
    }

    /// <summary>One block per layer through a scope, then commit (unless told not to, or a layer was refused) or roll back. Returns whether it committed.</summary>
    private static bool AllocateEveryLayer(BlockPool pool, IScopeSource scopes, AgentId agent, bool commit)
    {
        var handles = new List<KvBlock>();
        bool publish = commit;
        bool committed = false;
        using (IScopeUnderTest scope = scopes.Begin(agent))
        {
            try
            {
                for (int layer = 0; layer < Layers; layer++)
                {
                    handles.AddRange(scope.Allocate(layer, 1));
                }
            }
            catch (BlockPoolExhaustedException)
            {
                publish = false; // a half-admitted agent must not be published
            }

            if (publish)
            {
                scope.Commit();
                committed = true;
            }
        }

        // Only this task changes this agent, so its view must now be exactly the outcome.
        AgentBlocks view = pool.GetAgentBlocks(agent);
        if (committed)
        {
            for (int layer = 0; layer < Layers; layer++)
            {
                Check.That(view.GetBlocks(layer).SequenceEqual([handles[layer]]), $"After the commit {agent} layer {layer} lists [{string.Join(", ", view.GetBlocks(layer))}], not {handles[layer]}.");
            }
        }
        else
        {
            Check.That(view.IsEmpty, $"After the rollback {agent} still holds {view.TotalBlocks} blocks.");
            foreach (KvBlock handle in handles)
            {
                Exception? thrown = Outcome.Of(() => pool.GetBlockSpan(handle));
                Check.Throws<StaleBlockHandleException>(thrown, $"Reaching layer {handle.Layer}'s block {handle.Id} through a rolled-back scope's handle");
            }
        }

        return committed;
    }

    private static int AllocateDirectly(BlockPool pool)
    {
        int held = 0;
        try
        {
            pool.AllocateAllLayers(Direct, blocksPerLayer: 1);
            held += Layers;
            pool.Allocate(Direct, 0);
            held++;
        }
        catch (BlockPoolExhaustedException)
        {
            // Nothing changed; held says what did go through.
        }

        return held;
    }

    private static void CheckWholeScopeOrNothing(AgentBlocks view)
    {
        int first = view.GetBlockCount(0);
        for (int layer = 1; layer < Layers; layer++)
        {
            Check.That(view.GetBlockCount(layer) == first, $"A snapshot of {view.Agent} shows part of a scope: {first} block(s) on layer 0, {view.GetBlockCount(layer)} on layer {layer}.");
        }
    }
}
