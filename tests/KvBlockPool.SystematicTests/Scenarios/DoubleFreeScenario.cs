using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Scenario 4: two threads free the same handle while a third frees the agent's other block (so the agent may
/// disappear mid-race) and a fourth allocates (so the block may be handed out again at once). Exactly one free
/// wins; the other gets <see cref="DoubleFreeException"/>, or <see cref="StaleBlockHandleException"/> only when
/// the block was handed out again in between; the block is on the free stack at most once.
/// </summary>
public sealed class DoubleFreeScenario(ITestOutputHelper output) : SystematicTest(output)
{
    private const int Capacity = 3;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Two_frees_of_one_handle_one_wins_the_other_gets_the_specific_error(BlockClearMode mode) =>
        AssertNoBugs($"DoubleFree.{mode}", async () =>
        {
            using BlockPool pool = ScenarioPools.Create(mode, Capacity, layers: 1);
            var owner = new AgentId(1);
            var other = new AgentId(2);
            KvBlock[] held = pool.Allocate(owner, 0, 2);
            KvBlock contested = held[0];

            Task<Exception?> first = Task.Run(() => Outcome.Of(() => pool.Free(owner, contested)));
            Task<Exception?> second = Task.Run(() => Outcome.Of(() => pool.Free(owner, contested)));
            Task<Exception?> sibling = Task.Run(() => Outcome.Of(() => pool.Free(owner, held[1])));
            Task<KvBlock[]> allocator = Task.Run(() =>
            {
                KvBlock[] got = [];
                try
                {
                    got = pool.Allocate(other, 0, 2);
                }
                catch (BlockPoolExhaustedException)
                {
                    // Too early: neither block was back yet.
                }

                Check.Invariants(pool, "while the frees race");
                return got;
            });
            await Task.WhenAll(new Task[] { first, second, sibling, allocator });

            Check.That(sibling.Result is null, $"Freeing the agent's other block failed: {sibling.Result}");
            Exception?[] outcomes = [first.Result, second.Result];
            Check.That(outcomes.Count(e => e is null) == 1, $"{outcomes.Count(e => e is null)} of the two frees of {contested} succeeded: [{string.Join(" | ", outcomes.Select(e => e?.GetType().Name ?? "ok"))}].");
            Exception loser = outcomes.Single(e => e is not null)!;
            bool reissued = allocator.Result.Any(b => b.Id == contested.Id);
            if (reissued)
            {
                Check.That(loser is DoubleFreeException or StaleBlockHandleException, $"The losing free threw {loser.GetType().Name}: {loser.Message}");
            }
            else
            {
                Check.Throws<DoubleFreeException>(loser, $"The losing free of {contested}");
            }

            Check.Throws<StaleBlockHandleException>(Outcome.Of(() => pool.GetBlockSpan(contested)), "Reaching memory through the freed handle");
            Check.That(!pool.ContainsAgent(owner), $"{owner} freed both its blocks but is still registered.");
            Check.That(pool.AllocatedBlocks == allocator.Result.Length, $"{pool.AllocatedBlocks} blocks are allocated; {other} holds {allocator.Result.Length}.");
            Check.Invariants(pool, "after the double free"); // includes: no block on the free stack twice
        });
}
