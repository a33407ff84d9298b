using System.Diagnostics;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Integration;

/// <summary>
/// The tier on a real 3-node Garnet cluster (slots split evenly, in the test process): the chunk keys' hash tags spread
/// one prompt's chunks over the nodes, a client given all the nodes or only one of them (it discovers the rest) writes
/// and reads every chunk where its slot lives, and a second host restores them all byte for byte; with one node
/// stopped, the second host restores the chunks before the first one that lived there and computes the rest, at
/// once rather than at the restore timeout, and leaks nothing.
/// </summary>
/// <remarks>
/// Not in the Garnet collection: each test starts a cluster of its own (seconds, on a busy machine), may stop a node
/// of it, and shares nothing with that collection's single server; the cluster collection runs them alone.
/// </remarks>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTierTests(ITestOutputHelper output)
{
    private const int Nodes = 3;
    private const int Chunks = 24;
    private static readonly KvCacheSpec Spec = SharedTierTests.Spec;
    private static readonly byte[] Secret = [.. Enumerable.Range(41, 32).Select(i => (byte)i)];

    // 24 full chunks and 2 tokens the model must compute (the last token is never restored).
    private static readonly int[] Prompt = [.. Enumerable.Range(9000, (Chunks * 4) + 2)];

    // The restore's deadline: generous, for a busy 2-core machine, so that a slow restore shows as slow rather than as
    // a miss; a stopped node must cost far less than it.
    private static readonly TimeSpan RestoreTimeout = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_prompt_spread_over_the_cluster_s_nodes_is_restored_whole_by_another_host(bool listEveryNode)
    {
        await using TwoHosts hosts = await TwoHosts.StartAsync(listEveryNode);
        (EmbeddedGarnetCluster cluster, RedisKvChunkStore firstStore, BlockPool first, BlockPool second, AgentCacheManager firstManager, AgentCacheManager secondManager) =
            (hosts.Cluster, hosts.FirstStore, hosts.First, hosts.Second, hosts.FirstManager, hosts.SecondManager);

        byte[][] computed = await OffloadAsync(first, firstManager);

        // Every chunk is on the node its hash tag's slot names, and the prompt is spread over more than one node.
        int[] owners = Owners(cluster, first, firstStore);
        using ConnectionMultiplexer admin = cluster.ConnectAdmin();
        long[] held = [.. Enumerable.Range(0, Nodes).Select(i => cluster.KeyCount(admin, i))];
        long[] expected = [.. Enumerable.Range(0, Nodes).Select(i => (long)owners.Count(o => o == i))];
        output.WriteLine($"listed {(listEveryNode ? "every node" : "one node")}; chunks per node: {string.Join(", ", held)}");
        Assert.Equal(expected, held);
        Assert.True(held.Count(n => n > 0) >= 2, $"the {Chunks} chunks landed on {held.Count(n => n > 0)} node(s): {string.Join(", ", held)}");

        KvPrefixAdmission warm = await secondManager.AdmitAsync(new AgentId(2), Prompt);

        Assert.Equal((Chunks * 4, Chunks * 4, 0, 2), (warm.CachedTokens, warm.TierTokens, warm.LocalTokens, warm.ComputedTokens));
        Assert.Equal((long)Chunks, second.Tier!.Restored);
        AssertSameBytes(secondManager, new AgentId(2), computed, Chunks);
        Assert.Null(second.FindInvariantViolation());
    }

    [Fact]
    public async Task A_stopped_node_costs_the_chunks_from_its_first_one_on_and_nothing_else()
    {
        await using TwoHosts hosts = await TwoHosts.StartAsync(listEveryNode: true);
        (EmbeddedGarnetCluster cluster, RedisKvChunkStore firstStore, BlockPool first, BlockPool second, AgentCacheManager firstManager, AgentCacheManager secondManager) =
            (hosts.Cluster, hosts.FirstStore, hosts.First, hosts.Second, hosts.FirstManager, hosts.SecondManager);
        byte[][] computed = await OffloadAsync(first, firstManager);

        // The node to stop: not chunk 0's (some chunks must still be restored), and of the others the one whose first
        // chunk comes latest, so the restore has the longest run to get right before the gap.
        int[] owners = Owners(cluster, first, firstStore);
        int stopped = Enumerable.Range(0, Nodes).Where(n => n != owners[0] && owners.Contains(n)).MaxBy(n => Array.IndexOf(owners, n));
        int before = Array.IndexOf(owners, stopped);
        int lost = owners.Count(o => o == stopped);
        output.WriteLine($"owners: {string.Join("", owners)}; stopping node {stopped}: its first chunk is {before}, it held {lost}");
        cluster.StopNode(stopped);

        var clock = Stopwatch.StartNew();
        KvPrefixAdmission admission = await secondManager.AdmitAsync(new AgentId(2), Prompt);
        clock.Stop();
        output.WriteLine($"the admission took {clock.Elapsed.TotalMilliseconds:0} ms and restored {second.Tier!.Restored} chunks");

        // What lived before the stopped node's first chunk comes from the tier; from there on the model computes.
        Assert.Equal((before * 4, before * 4, Prompt.Length - (before * 4)), (admission.CachedTokens, admission.TierTokens, admission.ComputedTokens));
        Assert.Equal((long)before, second.Tier.Restored);
        // A fast miss, not a wait: far inside the restore timeout (without the store's NoRedirect the client held the
        // read of the stopped node's first chunk 8 to 10 s for a reconnection); 5 s is room for a busy machine.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the admission waited {clock.Elapsed} for a stopped node (restore timeout {RestoreTimeout})");
        AssertSameBytes(secondManager, new AgentId(2), computed, before);

        // The second host publishes the prompt (its own chunks as computed): the restored chunks and the later ones the
        // live nodes hold are found there; the stopped node's fail to be written at once, counted, and nothing waits.
        clock.Restart();
        secondManager.PublishComputed(new AgentId(2), Prompt.Length);
        await second.FlushTierAsync(new CancellationTokenSource(TimeSpan.FromSeconds(120)).Token);
        clock.Stop();
        output.WriteLine($"the second host's flush took {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal((0L, (long)(Chunks - lost), (long)lost), (second.Tier.Offloaded, second.Tier.AlreadyStored, second.Tier.NotOffloaded));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the flush waited {clock.Elapsed} for a stopped node's {lost} chunks");
        Assert.Null(second.FindInvariantViolation());
        secondManager.Release(new AgentId(2));
        firstManager.Release(new AgentId(1));
        Assert.Equal((0, 0), (second.GetStatistics().Allocated, first.GetStatistics().Allocated));
        Assert.Null(second.FindInvariantViolation());
        Assert.Null(first.FindInvariantViolation());
    }

    /// <summary>A cluster and two hosts on it, each with a store, a pool and a manager; disposed in reverse order.</summary>
    private sealed class TwoHosts : IAsyncDisposable
    {
        private TwoHosts(EmbeddedGarnetCluster cluster, RedisKvChunkStore firstStore, RedisKvChunkStore secondStore)
        {
            (Cluster, FirstStore, SecondStore) = (cluster, firstStore, secondStore);
            First = Create(firstStore);
            Second = Create(secondStore);
            FirstManager = new AgentCacheManager(First);
            SecondManager = new AgentCacheManager(Second);
        }

        public EmbeddedGarnetCluster Cluster { get; }

        public RedisKvChunkStore FirstStore { get; }

        public RedisKvChunkStore SecondStore { get; }

        public BlockPool First { get; }

        public BlockPool Second { get; }

        public AgentCacheManager FirstManager { get; }

        public AgentCacheManager SecondManager { get; }

        public static async Task<TwoHosts> StartAsync(bool listEveryNode)
        {
            EmbeddedGarnetCluster cluster = EmbeddedGarnetCluster.Start(Nodes);
            try
            {
                RedisKvChunkStore first = await ConnectAsync(cluster, listEveryNode, "first");
                try
                {
                    return new TwoHosts(cluster, first, await ConnectAsync(cluster, listEveryNode, "second"));
                }
                catch
                {
                    await first.DisposeAsync();
                    throw;
                }
            }
            catch
            {
                cluster.Dispose();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            SecondManager.Dispose();
            FirstManager.Dispose();
            Second.Dispose();
            First.Dispose();
            await SecondStore.DisposeAsync();
            await FirstStore.DisposeAsync();
            Cluster.Dispose();
        }
    }

    private static async Task<RedisKvChunkStore> ConnectAsync(EmbeddedGarnetCluster cluster, bool listEveryNode, string name)
    {
        var options = new RedisKvChunkStoreOptions
        {
            Name = name,
            // Generous: the machine is busy, and a call to a stopped node must fail by itself, not by this timeout.
            ConnectTimeout = TimeSpan.FromSeconds(15),
            OperationTimeout = TimeSpan.FromSeconds(20),
        };
        foreach (string endPoint in listEveryNode ? cluster.EndPoints : cluster.EndPoints.Take(1))
        {
            options.EndPoints.Add(endPoint);
        }

        return await RedisKvChunkStore.ConnectAsync(options);
    }

    private static BlockPool Create(IKvChunkStore store) => new(new BlockPoolOptions
    {
        Spec = Spec,
        CapacityBlocks = 400,
        PrefixCache = new KvPrefixCacheOptions
        {
            KeySecret = Secret,
            Tier = new KvTierOptions { Store = store, RestoreTimeout = RestoreTimeout },
        },
    });

    /// <summary>The first host computes the prompt, publishes it, and flushes its tier: every chunk written.</summary>
    private static async Task<byte[][]> OffloadAsync(BlockPool pool, AgentCacheManager manager)
    {
        KvPrefixAdmission cold = await manager.AdmitAsync(new AgentId(1), Prompt);
        Assert.Equal(0, cold.CachedTokens);
        byte[][] computed = SharedTierTests.Compute(pool, manager, new AgentId(1), seed: 11);
        manager.PublishComputed(new AgentId(1), Prompt.Length);
        await pool.FlushTierAsync(new CancellationTokenSource(TimeSpan.FromSeconds(120)).Token);
        Assert.Equal(((long)Chunks, 0L), (pool.Tier!.Offloaded, pool.Tier.NotOffloaded));
        return computed;
    }

    /// <summary>The node each chunk of the prompt lives on, in chunk order, by the slot Garnet itself computes for its key.</summary>
    private static int[] Owners(EmbeddedGarnetCluster cluster, BlockPool pool, RedisKvChunkStore store)
    {
        var keys = new KvChunkKey[Chunks];
        pool.PrefixCache!.ComputeKeys(Prompt, default, keys);
        KvChunkKey root = pool.PrefixCache.GetRootKey(default);
        using ConnectionMultiplexer admin = cluster.ConnectAdmin();
        IServer any = admin.GetServer(cluster.EndPoints[0]);
        var owners = new int[Chunks];
        for (int i = 0; i < Chunks; i++)
        {
            RedisKey key = store.ToRedisKey(pool.Tier!.KeyOf(keys[i], root));
            int slot = (int)any.Execute("CLUSTER", "KEYSLOT", key.ToString());
            Assert.Equal(admin.HashSlot(key), slot); // the client routes by the same slot
            owners[i] = cluster.NodeOfSlot(slot);
        }

        return owners;
    }

    private static void AssertSameBytes(AgentCacheManager manager, AgentId agent, byte[][] computed, int chunks)
    {
        using KvCacheLease lease = manager.Lease(agent);
        for (int layer = 0; layer < Spec.Layers; layer++)
        {
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                byte[] bytes = [.. lease.GetKeys<byte>(layer, chunk), .. lease.GetValues<byte>(layer, chunk)];
                Assert.True(bytes.AsSpan().SequenceEqual(computed[layer].AsSpan(chunk * Spec.BytesPerBlock, Spec.BytesPerBlock)), $"layer {layer}, chunk {chunk}");
            }
        }
    }
}
