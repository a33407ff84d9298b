using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Scenario 6: an observer takes <see cref="AgentBlocks"/> snapshots of an agent while the agent admits, commits a
/// scope, appends, frees a block and is released — and while a neighbour competes for the same blocks. Every
/// snapshot must be internally consistent and equal to one of the states the agent actually passed through: no
/// torn view, no block that was never the agent's.
/// </summary>
public sealed class SnapshotScenario(ITestOutputHelper output) : SystematicTest(output)
{
    private const int Capacity = 8;
    private const int Layers = 2;
    private static readonly AgentId Watched = new(1);
    private static readonly AgentId Neighbour = new(2);

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Every_snapshot_taken_while_the_agent_changes_is_one_state_it_passed_through(BlockClearMode mode) =>
        AssertNoBugs($"Snapshot.{mode}", async () =>
        {
            using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers);
            Task<List<string>> mutator = Task.Run(() => MutateWatched(pool));
            Task neighbour = Task.Run(() =>
            {
                _ = Outcome.Of(() => pool.AllocateAllLayers(Neighbour, 1));
                _ = Outcome.Of(() => pool.Allocate(Neighbour, 1, 2));
                pool.FreeAgent(Neighbour);
            });
            Task<List<string>> observer = Task.Run(() =>
            {
                var seen = new List<string>();
                for (int look = 0; look < 3; look++)
                {
                    seen.Add(Describe(CheckConsistent(pool.GetAgentBlocks(Watched))));
                }

                Check.Invariants(pool, "while the agents change");

                return seen;
            });
            await Task.WhenAll(new Task[] { mutator, neighbour, observer });

            foreach (string snapshot in observer.Result)
            {
                Check.That(mutator.Result.Contains(snapshot), $"A snapshot showed {snapshot}, which the agent never held. Its states: {string.Join(" -> ", mutator.Result)}");
            }

            Check.That(pool.AllocatedBlocks == 0, $"{pool.AllocatedBlocks} blocks are still allocated after both agents were released.");
            Check.Invariants(pool, "after the agents were released");
        });

    /// <summary>Changes the watched agent step by step; returns every state it was in, as the agent's own handles say.</summary>
    private static List<string> MutateWatched(BlockPool pool)
    {
        var layers = new List<KvBlock>[Layers];
        for (int layer = 0; layer < Layers; layer++)
        {
            layers[layer] = [];
        }

        var states = new List<string> { Describe(layers) };
        void Step(Action change)
        {
            if (Outcome.Of(change) is { } error)
            {
                Check.That(error is BlockPoolExhaustedException, $"A step of the watched agent threw {error.GetType().Name}: {error.Message}");
                return; // refused: nothing changed
            }

            states.Add(Describe(layers));
        }

        Step(() =>
        {
            var admitted = new KvBlock[Layers];
            pool.AllocateAllLayers(Watched, 1, admitted);
            Append(layers, admitted);
        });
        Step(() =>
        {
            using AllocationScope scope = pool.BeginScope(Watched);
            KvBlock[] added = [scope.Allocate(0), scope.Allocate(1)];
            scope.Commit();
            Append(layers, added);
        });
        Step(() => Append(layers, [pool.Allocate(Watched, 0)]));
        Step(() =>
        {
            if (layers[0].Count > 0)
            {
                pool.Free(Watched, layers[0][0]);
                layers[0].RemoveAt(0);
            }
        });
        Step(() =>
        {
            pool.FreeAgent(Watched);
            Array.ForEach(layers, l => l.Clear());
        });
        return states;
    }

    private static void Append(List<KvBlock>[] layers, KvBlock[] blocks)
    {
        foreach (KvBlock block in blocks)
        {
            layers[block.Layer].Add(block);
        }
    }

    /// <summary>A snapshot agrees with itself: counts, ids and handles line up, no id twice, every handle issued (odd generation).</summary>
    private static List<KvBlock>[] CheckConsistent(AgentBlocks view)
    {
        Check.That(view.LayerCount == Layers, $"The snapshot has {view.LayerCount} layers.");
        var layers = new List<KvBlock>[Layers];
        int total = 0;
        var ids = new HashSet<int>();
        for (int layer = 0; layer < Layers; layer++)
        {
            ReadOnlySpan<int> table = view.GetBlockIds(layer);
            layers[layer] = [.. view.GetBlocks(layer)];
            Check.That(table.Length == view.GetBlockCount(layer) && table.Length == layers[layer].Count, $"Layer {layer}: the id table, the count and the handles disagree.");
            for (int i = 0; i < table.Length; i++)
            {
                KvBlock handle = layers[layer][i];
                Check.That(handle.Id == table[i] && handle.Layer == layer && (handle.Generation & 1) == 1, $"Layer {layer} entry {i}: id {table[i]} but handle {handle}.");
                Check.That(ids.Add(table[i]), $"Block {table[i]} appears twice in one snapshot.");
            }

            total += table.Length;
        }

        Check.That(total == view.TotalBlocks && view.IsEmpty == (total == 0), $"The snapshot counts {view.TotalBlocks} blocks but lists {total}.");
        return layers;
    }

    private static string Describe(List<KvBlock>[] layers) =>
        string.Join(" | ", layers.Select(l => string.Join(",", l.Select(b => $"{b.Id}@{b.Generation}"))));
}
