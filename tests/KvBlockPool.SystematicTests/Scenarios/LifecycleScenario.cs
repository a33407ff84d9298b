using KvBlockPool.Lifecycle;
using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// The lifecycle layer under interleavings: one agent decodes (admit, append across a block boundary, truncate) while
/// another thread releases it at any moment, a second agent competes for the last blocks, and a reader takes
/// snapshots. Every snapshot is a consistent cache (its tokens fit its blocks, the same on every layer); every
/// refusal is the documented one with nothing changed; at the end the manager's totals and the pool agree and
/// nothing is left allocated.
/// </summary>
public sealed class LifecycleScenario(ITestOutputHelper output) : SystematicTest(output)
{
    private const int Layers = 2;
    private const int Capacity = 6; // 3 blocks per layer: the two agents cannot both grow to 2 blocks per layer
    private const int TokensPerBlock = 2;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Admit_append_truncate_and_release_keep_the_books_equal_to_the_pool(BlockClearMode mode) =>
        AssertNoBugs($"Lifecycle.{mode}", async () =>
        {
            using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers);
            using var manager = new AgentCacheManager(pool);
            var decoder = new AgentId(1);
            var rival = new AgentId(2);

            Task decode = Task.Run(() => Tolerating<KeyNotFoundException>(() => // the releaser may come first at any step
            {
                if (!manager.TryAdmit(decoder, promptTokens: 2))
                {
                    return;
                }

                manager.TryAppend(decoder);   // 3 tokens: a second block per layer, if one is left
                manager.TryAppend(decoder);   // 4 tokens: fits, or needs the block the rival may hold
                manager.Truncate(decoder, 1); // back to one block per layer
            }));
            Task release = Task.Run(() => manager.Release(decoder)); // known or not: never throws, reclaims what the pool holds
            Task compete = Task.Run(() =>
            {
                if (manager.TryAdmit(rival, promptTokens: 3))
                {
                    manager.Release(rival);
                }
            });
            Task observe = Task.Run(() =>
            {
                foreach (AgentId agent in new[] { decoder, rival })
                {
                    if (manager.TryGetInfo(agent, out AgentCacheInfo info))
                    {
                        Check.That(
                            info.Layers == Layers && info.BlocksPerLayer >= 1 && info.Tokens > (info.BlocksPerLayer - 1) * TokensPerBlock && info.Tokens <= info.BlocksPerLayer * TokensPerBlock,
                            $"Inconsistent snapshot of {agent}: {info}");
                    }
                }
            });
            await Task.WhenAll(new Task[] { decode, release, compete, observe }); // the array overload: Coyote 1.7 does not rewrite the span one

            // The decoder may have been admitted after the release ran; then it still holds its cache. Release it now.
            manager.Release(decoder);
            Check.That(manager.AgentCount == 0 && manager.TotalBlocks == 0 && manager.TotalTokens == 0, $"The manager still counts {manager.AgentCount} agents, {manager.TotalBlocks} blocks, {manager.TotalTokens} tokens.");
            Check.That(pool.AllocatedBlocks == 0, $"{pool.AllocatedBlocks} blocks are still allocated after every agent was released.");
            Check.Invariants(pool, "after the lifecycles");
        });

    private static void Tolerating<TException>(Action action)
        where TException : Exception
    {
        try
        {
            action();
        }
        catch (TException)
        {
            // the documented refusal for an agent that is no longer admitted; nothing changed
        }
    }
}
