using KvBlockPool.Garnet;
using KvBlockPool.Lifecycle;
using KvBlockPool.Redis;
using KvBlockPool.Tier;

namespace KvBlockPool.Benchmarks.Tier;

/// <summary>
/// What the tier suites share: the embedded Garnet each suite starts once in its global setup (loopback only, a free
/// port), the store connected to it, the key secret every pool of a suite shares (pools that share a tier must, or
/// their chunk keys differ), and a fill of an agent's blocks with random bytes standing for a prefill's K and V.
/// </summary>
internal static class TierBenchmarkServer
{
    /// <summary>
    /// Garnet's memory for values. 1 GiB holds 512 Llama-3-8B chunks: every value a restore suite reads stays
    /// resident; the write-through suite writes more over a run, and Garnet (a cache without a storage tier) then drops
    /// the oldest, which no benchmark reads again.
    /// </summary>
    public const int MemoryMiB = 1024;

    /// <summary>The deployment secret of every pool in a suite (32 bytes, fixed so runs are alike).</summary>
    public static byte[] KeySecret() => [.. Enumerable.Range(1, 32).Select(i => (byte)(i * 7))];

    /// <summary>Starts the server: loopback, a free port, <see cref="MemoryMiB"/>.</summary>
    public static EmbeddedGarnetServer Start() => EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { MemoryMiB = MemoryMiB });

    /// <summary>Connects a store to <paramref name="server"/> with a key prefix of the suite's own.</summary>
    public static RedisKvChunkStore Connect(EmbeddedGarnetServer server, string name)
    {
        var options = new RedisKvChunkStoreOptions { Name = name, KeyPrefix = $"bench-{name}:" };
        options.EndPoints.Add(server.EndPoint);
        return RedisKvChunkStore.ConnectAsync(options).GetAwaiter().GetResult();
    }

    /// <summary>What a prefill would write: random bytes (from <paramref name="seed"/>) in every block the agent holds.</summary>
    public static void FillRandom(BlockPool pool, AgentCacheManager manager, AgentId agent, int seed)
    {
        var random = new Random(seed);
        var blocks = new KvBlock[manager.GetInfo(agent).BlocksPerLayer];
        for (int layer = 0; layer < pool.Spec.Layers; layer++)
        {
            manager.CopyBlocks(agent, layer, blocks);
            foreach (KvBlock block in blocks)
            {
                random.NextBytes(pool.GetBlockSpan(block));
            }
        }
    }

    /// <summary>Fails the setup when the tier did not get every chunk: a benchmark over misses would measure nothing.</summary>
    public static void RequireOffloaded(BlockPool pool, long chunks)
    {
        pool.FlushTierAsync().GetAwaiter().GetResult();
        KvTierStatistics statistics = pool.GetTierStatistics()!.Value;
        if (statistics.Offloaded + statistics.AlreadyStored != chunks)
        {
            throw new InvalidOperationException($"The publisher's {chunks} chunks did not all reach the tier: {statistics}.");
        }
    }
}
