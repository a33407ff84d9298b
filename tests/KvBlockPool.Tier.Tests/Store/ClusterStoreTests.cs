using System.Buffers;
using System.Diagnostics;
using System.Net;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Store;

/// <summary>
/// The store's routing on a real 3-node Garnet cluster: with one node stopped, every call for a key of that node's
/// slots is an immediate <see cref="KvChunkStoreStatus.Unavailable"/>, not a wait for the client to reconnect to it,
/// and the other nodes' keys are read and written as before; a slot moved to another node behind the client's back
/// costs one miss (the redirection is not followed), and the next call goes to its new owner.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterStoreTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_stopped_node_s_keys_are_immediate_misses_and_the_other_nodes_keep_answering()
    {
        using EmbeddedGarnetCluster cluster = EmbeddedGarnetCluster.Start(3);
        var options = new RedisKvChunkStoreOptions
        {
            Name = "cluster-store",
            // Far above what a call may take here: a fast miss must come from the store, not from this timeout.
            OperationTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(15),
        };
        foreach (string endPoint in cluster.EndPoints)
        {
            options.EndPoints.Add(endPoint);
        }

        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        using ConnectionMultiplexer admin = cluster.ConnectAdmin();
        var random = new Random(17);
        var keys = new List<(KvTierKey Key, int Node)>();
        while (keys.Count < 30 || keys.Select(k => k.Node).Distinct().Count() < 3)
        {
            var key = new KvTierKey(1, 2, new KvChunkKey((ulong)random.NextInt64(1, long.MaxValue), (ulong)random.NextInt64()));
            keys.Add((key, cluster.NodeOfSlot(admin.HashSlot(store.ToRedisKey(key)))));
            Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, new byte[] { 1, 2, 3 }));
        }

        cluster.StopNode(1);

        var slowest = TimeSpan.Zero;
        foreach ((KvTierKey key, int node) in keys)
        {
            KvChunkStoreStatus expected = node == 1 ? KvChunkStoreStatus.Unavailable : KvChunkStoreStatus.Ok;
            var clock = Stopwatch.StartNew();
            Assert.Equal(expected, await store.GetAsync(key, new ArrayBufferWriter<byte>()));
            Assert.Equal(expected, await store.ExistsAsync(key));
            Assert.Equal(expected, await store.PutAsync(key, new byte[] { 4, 5, 6 }));
            clock.Stop();
            if (node == 1)
            {
                slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
                Assert.Equal(KvChunkStoreStatus.Unavailable, await store.DeleteAsync(key));
            }
        }

        // Milliseconds each; without the store's NoRedirect the client followed the other nodes' MOVED to the stopped
        // node and held each call until a reconnection to it failed, 8 to 10 s here. 3 s is room for a busy machine.
        output.WriteLine($"{keys.Count(k => k.Node == 1)} of {keys.Count} keys on the stopped node; slowest get, exists and put of one: {slowest.TotalMilliseconds:0} ms");
        Assert.True(slowest < TimeSpan.FromSeconds(3), $"a stopped node's key took {slowest} to miss");
    }

    [Fact]
    public async Task A_slot_moved_to_another_node_costs_one_miss_and_the_next_call_goes_to_its_new_owner()
    {
        using EmbeddedGarnetCluster cluster = EmbeddedGarnetCluster.Start(3);
        var options = new RedisKvChunkStoreOptions { Name = "cluster-moved", OperationTimeout = TimeSpan.FromSeconds(30), ConnectTimeout = TimeSpan.FromSeconds(15) };
        options.EndPoints.Add(cluster.EndPoints[0]);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        using ConnectionMultiplexer admin = cluster.ConnectAdmin();
        var random = new Random(23);
        KvTierKey key;
        int slot;
        do
        {
            key = new KvTierKey(1, 2, new KvChunkKey((ulong)random.NextInt64(1, long.MaxValue), (ulong)random.NextInt64()));
            slot = admin.HashSlot(store.ToRedisKey(key));
        }
        while (cluster.NodeOfSlot(slot) != 0);

        // The slot (empty) passes from node 0 to node 2, behind the client's back: its map still names node 0.
        IServer from = admin.GetServer(cluster.EndPoints[0]);
        IServer to = admin.GetServer(cluster.EndPoints[2]);
        // A migration of an empty slot, as a resharding tool runs it: the target imports, the source migrates, then
        // both record the target as the owner (the target with a new epoch, which the gossip spreads).
        string fromId = (string)from.Execute("CLUSTER", "MYID")!;
        string toId = (string)to.Execute("CLUSTER", "MYID")!;
        Assert.Equal("OK", (string?)to.Execute("CLUSTER", "SETSLOT", slot, "IMPORTING", fromId));
        Assert.Equal("OK", (string?)from.Execute("CLUSTER", "SETSLOT", slot, "MIGRATING", toId));
        Assert.Equal("OK", (string?)to.Execute("CLUSTER", "SETSLOT", slot, "NODE", toId));
        Assert.Equal("OK", (string?)from.Execute("CLUSTER", "SETSLOT", slot, "NODE", toId));
        var clock = Stopwatch.StartNew();
        string port = IPEndPoint.Parse(cluster.EndPoints[2]).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        while (!Redirects(from, store.ToRedisKey(key), port))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"node 0 never redirected slot {slot} to node 2");
            await Task.Delay(100);
        }

        Assert.Equal(KvChunkStoreStatus.Unavailable, await store.PutAsync(key, new byte[] { 9 })); // MOVED, not followed
        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, new byte[] { 9 }));          // the map learned it
        Assert.Equal(KvChunkStoreStatus.Ok, await store.ExistsAsync(key));
        Assert.Equal((0L, 1L), (cluster.KeyCount(admin, 0), cluster.KeyCount(admin, 2)));
    }

    /// <summary>Whether the node answers a read of <paramref name="key"/> with a MOVED to the port given.</summary>
    private static bool Redirects(IServer node, RedisKey key, string port)
    {
        try
        {
            node.Execute("GET", [key], CommandFlags.NoRedirect); // else the client follows the MOVED itself
            return false;
        }
        catch (RedisServerException ex)
        {
            return ex.Message.Contains("MOVED", StringComparison.Ordinal) && ex.Message.Contains($":{port} ", StringComparison.Ordinal);
        }
    }
}
