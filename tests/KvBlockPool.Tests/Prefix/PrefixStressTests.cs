using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Tests.Shared;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Prefix;

/// <summary>
/// Real threads admitting agents whose prompts share a few system prompts, publishing, decoding and releasing on a
/// pool too small for all of them, while an observer checks the invariants. Every block an agent computes holds a
/// byte derived from the tokens up to its end, so a shared block read by another agent must hold the byte of the
/// reader's own prefix: a chunk reached by the wrong key, or reused while referenced, shows another byte.
/// </summary>
public sealed class PrefixStressTests(ITestOutputHelper output)
{
    private const int Threads = 4;
    private const int AgentsPerThread = 1_500;
    private const int Chunk = 4;

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree)]
    [InlineData(BlockClearMode.None)]
    public void Threads_sharing_prefixes_only_ever_read_their_own_prefixs_bytes_and_every_invariant_holds(BlockClearMode mode)
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 2, clearMode: mode, prefixCache: new KvPrefixCacheOptions());
        using var manager = new AgentCacheManager(pool);
        var failures = new List<string>();
        int[][] systemPrompts = [Series(12, 1), Series(16, 2), Series(9, 3)];
        long hits = 0, refused = 0;
        using var stop = new CancellationTokenSource();
        var observer = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (pool.FindInvariantViolation() is string violation)
                {
                    Fail(failures, violation);
                }

                Thread.Sleep(1);
            }
        });
        observer.Start();

        var workers = Enumerable.Range(0, Threads).Select(thread => new Thread(() =>
        {
            var random = new Random(thread);
            for (int n = 0; n < AgentsPerThread && failures.Count == 0; n++)
            {
                var agent = new AgentId((thread * 1_000_000L) + n);
                int[] prompt = [.. systemPrompts[random.Next(systemPrompts.Length)], .. Enumerable.Range(0, random.Next(0, 6)).Select(_ => random.Next(2))];
                if (!manager.TryAdmit(agent, prompt, out KvPrefixAdmission admission))
                {
                    Interlocked.Increment(ref refused);
                    continue;
                }

                Interlocked.Add(ref hits, admission.CachedTokens);
                List<int> tokens = [.. prompt];
                string? wrong = Check(pool, manager, agent, tokens, admission.CachedBlocksPerLayer);
                if (wrong is not null)
                {
                    Fail(failures, wrong);
                    break;
                }

                Compute(pool, manager, agent, tokens, admission.CachedBlocksPerLayer);
                manager.PublishComputed(agent, tokens.Count);
                for (int step = random.Next(0, 6); step > 0; step--)
                {
                    int token = random.Next(2);
                    try
                    {
                        manager.AppendToken(agent, token);
                    }
                    catch (BlockPoolExhaustedException)
                    {
                        break;
                    }

                    tokens.Add(token);
                    Compute(pool, manager, agent, tokens, admission.CachedBlocksPerLayer);
                }

                manager.Release(agent);
            }
        })).ToArray();
        foreach (Thread worker in workers)
        {
            worker.Start();
        }

        foreach (Thread worker in workers)
        {
            worker.Join();
        }

        stop.Cancel();
        observer.Join();
        KvPrefixCacheStatistics stats = pool.PrefixCache!.GetStatistics();
        output.WriteLine($"{Threads * AgentsPerThread} admissions: {refused} refused, {hits} hit tokens, {stats.StoredChunks} chunks stored, {stats.DuplicateChunks} duplicates, {stats.EvictedChunks} evicted");
        Assert.Empty(failures);
        Assert.True(hits > 0 && stats.EvictedChunks > 0, "the run must reach hits and evictions");
        Assert.Null(pool.FindInvariantViolation());
        Assert.Equal(0, pool.GetStatistics().Allocated);
    }

    /// <summary>The byte every block holding the tokens up to <paramref name="end"/> (exclusive) carries.</summary>
    private static byte ContentByte(List<int> tokens, int end)
    {
        var hash = new HashCode();
        for (int i = 0; i < end; i++)
        {
            hash.Add(tokens[i]);
        }

        return (byte)(hash.ToHashCode() | 1); // never 0: a scrubbed block cannot pass for content
    }

    /// <summary>The shared blocks hold the bytes of this agent's own prefix.</summary>
    private static string? Check(BlockPool pool, AgentCacheManager manager, AgentId agent, List<int> tokens, int shared)
    {
        using KvCacheLease lease = manager.Lease(agent);
        for (int index = 0; index < shared; index++)
        {
            byte expected = ContentByte(tokens, (index + 1) * Chunk);
            for (int layer = 0; layer < pool.Spec.Layers; layer++)
            {
                if (lease.GetKeys<byte>(layer, index).IndexOfAnyExcept(expected) >= 0 || lease.GetValues<byte>(layer, index).IndexOfAnyExcept(expected) >= 0)
                {
                    return $"{agent} hit block {lease.GetBlockIds(layer)[index]} (layer {layer}, chunk {index}) whose bytes are not its prefix's 0x{expected:x2}";
                }
            }
        }

        return null;
    }

    /// <summary>Writes each of the agent's own blocks as a model would: the byte of the tokens up to the block's end.</summary>
    private static void Compute(BlockPool pool, AgentCacheManager manager, AgentId agent, List<int> tokens, int shared)
    {
        for (int layer = 0; layer < pool.Spec.Layers; layer++)
        {
            var blocks = new KvBlock[manager.GetInfo(agent).BlocksPerLayer];
            manager.CopyBlocks(agent, layer, blocks);
            for (int index = shared; index < blocks.Length; index++)
            {
                try
                {
                    pool.GetBlockSpan(blocks[index]).Fill(ContentByte(tokens, Math.Min(tokens.Count, (index + 1) * Chunk)));
                }
                catch (SharedBlockException)
                {
                    // Published meanwhile by this agent (its full chunks): already written with their final bytes.
                }
            }
        }
    }

    private static int[] Series(int length, int seed) => Enumerable.Range(0, length).Select(i => (seed * 100) + i).ToArray();

    private static void Fail(List<string> failures, string message)
    {
        lock (failures)
        {
            failures.Add(message);
        }
    }
}
