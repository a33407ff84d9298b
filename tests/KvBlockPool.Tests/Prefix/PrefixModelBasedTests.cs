using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Tests.Core;
using KvBlockPool.Tests.Shared;

namespace KvBlockPool.Tests.Prefix;

/// <summary>
/// Random admissions (prompts sharing a few system prompts), decoding, publishing, releases and resets, checked
/// after every step against <see cref="PrefixReferenceModel"/>: hits, refusals, what is cached and evictable, the
/// pool's counts and its invariants.
/// </summary>
public sealed class PrefixModelBasedTests
{
    private const int Layers = 2;
    private const int Chunk = 4;

    [Theory]
    [InlineData(1, 24, BlockClearMode.ZeroOnFree)]
    [InlineData(2, 24, BlockClearMode.None)]
    [InlineData(3, 40, BlockClearMode.ZeroOnFree)]
    [InlineData(4, 16, BlockClearMode.None)]
    public void The_cache_agrees_with_the_reference_model_through_random_operations(int seed, int capacity, BlockClearMode mode)
    {
        KvPrefixCacheStatistics final = Run(seed, capacity, mode, PrefixMutant.None);

        // The run reached what it is for: hits, duplicates and evictions.
        Assert.True(final.HitTokens > 0 && final.DuplicateChunks > 0 && final.EvictedChunks > 0, $"hits {final.HitTokens}, duplicates {final.DuplicateChunks}, evictions {final.EvictedChunks}");
    }

    [Theory]
    [InlineData((int)PrefixMutant.EvictReferenced)]
    [InlineData((int)PrefixMutant.KeyLeftInIndex)]
    public void The_run_catches_a_planted_bug(int mutant)
    {
        Exception? caught = Record.Exception(() => Run(1, 24, BlockClearMode.ZeroOnFree, (PrefixMutant)mutant));
        Assert.NotNull(caught);
    }

    private static KvPrefixCacheStatistics Run(int seed, int capacity, BlockClearMode mode, PrefixMutant mutant)
    {
        using BlockPool pool = TestPools.Create(capacity: capacity, layers: Layers, clearMode: mode, prefixCache: new KvPrefixCacheOptions());
        pool.Mutant = mutant;
        using var manager = new AgentCacheManager(pool);
        var model = new PrefixReferenceModel(capacity, Layers, Chunk);
        var random = new Random(seed);
        int[][] systemPrompts = [Series(8, 1), Series(12, 2), Series(9, 3)];
        for (int step = 0; step < 2_000; step++)
        {
            int agent = random.Next(1, 7);
            var id = new AgentId(agent);
            string action;
            switch (random.Next(10))
            {
                case < 4 when !model.IsAdmitted(agent):
                {
                    int[] prompt = [.. systemPrompts[random.Next(systemPrompts.Length)], .. Enumerable.Range(0, random.Next(0, 7)).Select(_ => random.Next(3))];
                    int priority = random.Next(3);
                    int expected = model.Admit(agent, prompt, priority);
                    action = $"admit {agent} ({prompt.Length} tokens, priority {priority})";
                    bool admitted = manager.TryAdmit(id, prompt, out KvPrefixAdmission admission, default, priority);
                    Assert.True(admitted == (expected >= 0), $"step {step}: {action}: pool {(admitted ? "admitted" : "refused")}, model {(expected >= 0 ? "admits" : "refuses")}");
                    if (admitted)
                    {
                        Assert.Equal(expected, admission.CachedTokens);
                    }

                    break;
                }

                case < 7 when model.IsAdmitted(agent):
                {
                    int token = random.Next(3);
                    action = $"append {token} to {agent}";
                    bool expected = model.AppendToken(agent, token);
                    bool appended;
                    try
                    {
                        manager.AppendToken(id, token);
                        appended = true;
                    }
                    catch (BlockPoolExhaustedException)
                    {
                        appended = false;
                    }

                    Assert.True(appended == expected, $"step {step}: {action}: pool {appended}, model {expected}");
                    break;
                }

                case 7 when model.IsAdmitted(agent):
                {
                    int computed = random.Next(model.Tokens(agent) + 1);
                    action = $"publish {computed} tokens of {agent}";
                    Assert.Equal(model.Publish(agent, computed), manager.PublishComputed(id, computed));
                    break;
                }

                case 8 when model.IsAdmitted(agent):
                    action = $"release {agent}";
                    Assert.Equal(model.Release(agent), manager.Release(id));
                    break;
                case 9 when random.Next(20) == 0:
                    action = "reset";
                    Assert.Equal(model.Reset(), pool.PrefixCache!.Reset());
                    break;
                default:
                    continue;
            }

            KvPrefixCacheStatistics stats = pool.PrefixCache!.GetStatistics();
            Assert.True(
                (model.CachedChunks, model.EvictableChunks, model.Evicted) == (stats.CachedChunks, stats.EvictableChunks, stats.EvictedChunks),
                $"step {step}: after {action}: model caches {model.CachedChunks} ({model.EvictableChunks} evictable, {model.Evicted} evicted), pool {stats.CachedChunks} ({stats.EvictableChunks}, {stats.EvictedChunks})");
            Assert.Equal(model.Free + (model.EvictableChunks * Layers), pool.GetStatistics().Available);
            string? violation = pool.FindInvariantViolation();
            Assert.True(violation is null, $"step {step}: after {action}: {violation}");
        }

        foreach (int agent in model.Agents.ToArray())
        {
            Assert.Equal(model.Release(agent), manager.Release(new AgentId(agent)));
        }

        Assert.Equal(0, pool.GetStatistics().Allocated);
        PoolAssert.Invariants(pool);
        return pool.PrefixCache!.GetStatistics();
    }

    private static int[] Series(int length, int seed) => Enumerable.Range(0, length).Select(i => (seed * 100) + i).ToArray();
}
