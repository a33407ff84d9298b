using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Integration;

/// <summary>
/// A tier that forgets. Garnet without a storage tier is a cache: once its log memory is full it drops the oldest
/// records, and the SET that pushed them out still succeeds, so the host that offloaded a chunk never learns it is
/// gone. A host reading afterwards must restore what the server kept, compute what it dropped, and stay whole.
/// </summary>
public sealed class EvictingTierTests(ITestOutputHelper output)
{
    // The smallest log Garnet accepts: 4 pages of 4 KiB. A chunk's value here is about 0.9 KiB, so the server keeps
    // the last dozen or so of the 90 chunks written and drops the rest.
    private const string LogMemorySize = "16k";
    private const string PageSize = "4k";
    private const int Prompts = 30;
    private const int ChunksPerPrompt = 3;

    private static readonly byte[] Secret = [.. Enumerable.Range(90, 32).Select(i => (byte)i)];

    [Fact]
    public async Task Chunks_an_evicting_server_dropped_are_computed_and_the_ones_it_kept_are_restored_bit_for_bit()
    {
        KvCacheSpec spec = SharedTierTests.Spec;
        int tokensPerChunk = spec.TokensPerBlock;
        int promptLength = (ChunksPerPrompt * tokensPerChunk) + 1; // the last token is always computed
        int[][] prompts = [.. Enumerable.Range(0, Prompts).Select(p => Enumerable.Range(10_000 + (p * 100), promptLength).ToArray())];
        using EmbeddedGarnet server = EmbeddedGarnet.Start(logMemorySize: LogMemorySize, pageSize: PageSize);
        // Room for every call on a busy machine: this test is about what the server drops, and a write that timed out
        // (once seen as 1 of 90 not offloaded beside the cluster tests) would be a different story.
        var options = new RedisKvChunkStoreOptions { Name = "evicting", KeyPrefix = "evicting:", OperationTimeout = TimeSpan.FromSeconds(10) };
        options.EndPoints.Add(server.EndPoint);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);

        // The first host computes every prompt and offloads its chunks, one prompt at a time, so the server receives
        // them in prompt order and its oldest records are the first prompts' chunks.
        using BlockPool first = SharedTierTests.Create(store, Secret);
        using var firstManager = new AgentCacheManager(first);
        var computed = new byte[Prompts][][];
        for (int p = 0; p < Prompts; p++)
        {
            var agent = new AgentId(p + 1);
            Assert.Equal(0, (await firstManager.AdmitAsync(agent, prompts[p])).CachedTokens);
            computed[p] = SharedTierTests.Compute(first, firstManager, agent, seed: p);
            firstManager.PublishComputed(agent, promptLength);
            await first.Tier!.DrainAsync(CancellationToken.None);
            firstManager.Release(agent);
        }

        Assert.Equal(((long)Prompts * ChunksPerPrompt, 0L), (first.Tier!.Offloaded, first.Tier.NotOffloaded)); // every SET succeeded, kept or not

        // What the server still holds. Nothing writes to it from here on (the second host only reads, and finds its
        // restored chunks already stored), so this is exactly what the second host will find.
        var kept = new bool[Prompts][];
        var keys = new KvChunkKey[ChunksPerPrompt];
        KvChunkKey root = first.PrefixCache!.GetRootKey(default);
        for (int p = 0; p < Prompts; p++)
        {
            first.PrefixCache.ComputeKeys(prompts[p], default, keys);
            kept[p] = new bool[ChunksPerPrompt];
            for (int c = 0; c < ChunksPerPrompt; c++)
            {
                kept[p][c] = await store.ExistsAsync(first.Tier.KeyOf(keys[c], root)) == KvChunkStoreStatus.Ok;
            }
        }

        int keptChunks = kept.Sum(k => k.Count(x => x));
        output.WriteLine($"a {LogMemorySize} log of {PageSize} pages kept {keptChunks} of {Prompts * ChunksPerPrompt} chunks (+ kept, . dropped): {string.Join(" ", kept.Select(k => string.Concat(k.Select(x => x ? '+' : '.'))))}");
        Assert.InRange(keptChunks, 1, (Prompts * ChunksPerPrompt) - 1); // else the server did not evict, and this tests nothing

        // The second host admits every prompt: a chunk the server kept is restored only while every chunk before it was
        // kept too (a chunk's keys and values depend on each token before it); the rest is computed.
        using BlockPool second = SharedTierTests.Create(store, Secret);
        using var secondManager = new AgentCacheManager(second);
        int restored = 0;
        for (int p = 0; p < Prompts; p++)
        {
            int leading = kept[p].TakeWhile(k => k).Count();
            var agent = new AgentId(1_000 + p);
            KvPrefixAdmission admission = await secondManager.AdmitAsync(agent, prompts[p]);

            int cached = leading * tokensPerChunk;
            Assert.True((cached, cached, 0, promptLength - cached) == (admission.CachedTokens, admission.TierTokens, admission.LocalTokens, admission.ComputedTokens), $"prompt {p}: kept {string.Join(",", kept[p])}, admitted with {admission.CachedTokens} cached ({admission.TierTokens} from the tier, {admission.LocalTokens} local), {admission.ComputedTokens} computed");
            using (KvCacheLease lease = secondManager.Lease(agent))
            {
                for (int layer = 0; layer < spec.Layers; layer++)
                {
                    for (int chunk = 0; chunk < leading; chunk++)
                    {
                        byte[] bytes = [.. lease.GetKeys<byte>(layer, chunk), .. lease.GetValues<byte>(layer, chunk)];
                        Assert.True(bytes.AsSpan().SequenceEqual(computed[p][layer].AsSpan(chunk * spec.BytesPerBlock, spec.BytesPerBlock)), $"prompt {p}, layer {layer}, chunk {chunk}");
                    }
                }
            }

            restored += leading;
            secondManager.Release(agent);
        }

        output.WriteLine($"the second host restored {restored} chunks and computed the other {(Prompts * ChunksPerPrompt) - restored}");
        Assert.True(restored > 0, "the server kept the last prompts' chunks, and the second host restored none of them");
        Assert.Equal(((long)restored, 0L), (second.Tier!.Restored, second.Tier.Rejected));
        await second.Tier.DrainAsync(CancellationToken.None);
        Assert.Equal((0L, (long)restored, 0L), (second.Tier.Offloaded, second.Tier.AlreadyStored, second.Tier.NotOffloaded));
        foreach (BlockPool pool in new[] { first, second })
        {
            Assert.Equal(0, pool.GetStatistics().Allocated);
            Assert.Null(pool.FindInvariantViolation());
        }
    }
}
