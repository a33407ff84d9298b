using System.Diagnostics;
using System.Globalization;
using System.Net;
using Garnet;
using Garnet.server;
using StackExchange.Redis;
using Tsavorite.core;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// A real Garnet cluster in the test process: <see cref="Count"/> primaries (no replicas) on free loopback ports, the
/// 16384 hash slots split evenly in index order, joined with <c>CLUSTER MEET</c>; <see cref="Start"/> returns once every
/// node knows every other, sees its link up, and sees all 16384 slots owned as assigned. Each node keeps its cluster
/// configuration (<c>nodes.conf</c>) in a temporary directory of its own, deleted on <see cref="Dispose"/>, so no two
/// runs or clusters ever share state.
/// </summary>
internal sealed class EmbeddedGarnetCluster : IDisposable
{
    /// <summary>The hash slots of a Redis or Garnet cluster.</summary>
    public const int SlotCount = 16384;

    // Small per node: three logs of this size live in one test process, and the tests write a few MiB at most.
    private const string LogMemorySize = "64m";
    private const string PageSize = "4m";

    private readonly GarnetServer?[] _servers;
    private readonly string _root;
    private readonly string[] _endPoints;
    private readonly object _gate = new();
    private int _disposed;

    private EmbeddedGarnetCluster(int nodes)
    {
        _root = Path.Combine(Path.GetTempPath(), "kvblockpool-garnet-cluster-" + Guid.NewGuid().ToString("N"));
        _servers = new GarnetServer?[nodes];
        _endPoints = new string[nodes];
        var slots = new (int First, int Last)[nodes];
        for (int i = 0; i < nodes; i++)
        {
            slots[i] = (i * SlotCount / nodes, ((i + 1) * SlotCount / nodes) - 1);
        }

        EndPoints = _endPoints;
        SlotRanges = slots;
    }

    /// <summary>The nodes' <c>host:port</c>, in index order (node i owns <see cref="SlotRanges"/>[i]).</summary>
    public IReadOnlyList<string> EndPoints { get; }

    /// <summary>The slots each node owns, first and last inclusive, in index order.</summary>
    public IReadOnlyList<(int First, int Last)> SlotRanges { get; }

    /// <summary>The nodes started, stopped ones included.</summary>
    public int Count => _servers.Length;

    /// <summary>
    /// Starts <paramref name="nodes"/> nodes, assigns the slots and joins them; returns when the cluster is ready, or
    /// throws <see cref="TimeoutException"/> naming what had not converged after <paramref name="readyTimeout"/>
    /// (nothing is left running then).
    /// </summary>
    /// <param name="nodes">The primaries, 1 to 16.</param>
    /// <param name="readyTimeout">The longest to wait for the cluster to converge; 60 s by default (a busy machine).</param>
    /// <param name="meet">False to leave the nodes strangers (no <c>CLUSTER MEET</c>): a cluster that never converges, for the test of the failure.</param>
    public static EmbeddedGarnetCluster Start(int nodes = 3, TimeSpan? readyTimeout = null, bool meet = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nodes, 16);
        EmbeddedGarnetCluster? cluster = null;
        try
        {
            cluster = new EmbeddedGarnetCluster(nodes);
            cluster.StartNodes();
            cluster.Form(readyTimeout ?? TimeSpan.FromSeconds(60), meet);
            return cluster;
        }
        catch
        {
            cluster?.Dispose();
            throw;
        }
    }

    /// <summary>The node that owns <paramref name="slot"/>.</summary>
    public int NodeOfSlot(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, SlotCount);
        for (int i = 0; i < SlotRanges.Count; i++)
        {
            if (slot >= SlotRanges[i].First && slot <= SlotRanges[i].Last)
            {
                return i;
            }
        }

        throw new UnreachableException($"slot {slot} is in no range");
    }

    /// <summary>
    /// Stops node <paramref name="index"/> as a crash would look to its clients: its port closes and its values are
    /// gone. The others keep running and keep owning their slots. Idempotent.
    /// </summary>
    public void StopNode(int index)
    {
        GarnetServer? server;
        lock (_gate)
        {
            server = _servers[index];
            _servers[index] = null;
        }

        server?.Dispose();
    }

    /// <summary>Whether node <paramref name="index"/> runs (was not stopped).</summary>
    public bool IsRunning(int index)
    {
        lock (_gate)
        {
            return _servers[index] is not null;
        }
    }

    /// <summary>Stops every node still running and deletes the nodes' directories; idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        for (int i = 0; i < _servers.Length; i++)
        {
            StopNode(i);
        }

        // A node's files may stay open a moment after its Dispose; a directory left behind is only litter in the temp
        // directory, never shared (each cluster's root is new), so a few tries are enough.
        for (int attempt = 0; attempt < 10 && Directory.Exists(_root); attempt++)
        {
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
            catch (UnauthorizedAccessException)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>An admin connection to every running node, each addressed on its own (no cluster routing for admin commands).</summary>
    public ConnectionMultiplexer ConnectAdmin()
    {
        var configuration = new ConfigurationOptions
        {
            AllowAdmin = true,
            AbortOnConnectFail = false,
            ConnectTimeout = 10_000,
            SyncTimeout = 30_000,
            AsyncTimeout = 30_000,
            ClientName = "kvblockpool-test-admin",
        };
        for (int i = 0; i < Count; i++)
        {
            if (IsRunning(i))
            {
                configuration.EndPoints.Add(EndPoints[i]);
            }
        }

        return ConnectionMultiplexer.Connect(configuration);
    }

    /// <summary>The number of keys node <paramref name="index"/> holds (<c>DBSIZE</c>, asked of that node alone).</summary>
    public long KeyCount(ConnectionMultiplexer admin, int index) =>
        (long)admin.GetServer(EndPoints[index]).Execute("DBSIZE");

    private void StartNodes()
    {
        for (int i = 0; i < Count; i++)
        {
            int port = LoopbackEndPoint.FreePort();
            string directory = Path.Combine(_root, "node" + i.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(directory);
            var options = new GarnetServerOptions(null)
            {
                EndPoints = [new IPEndPoint(IPAddress.Loopback, port)],
                EnableCluster = true,
                // A fresh identity and an empty slot map, whatever the directory held: a node never rejoins an old cluster.
                CleanClusterConfig = true,
                // Where the node keeps its cluster configuration (nodes.conf); no LogDir: without a storage tier Garnet refuses one.
                CheckpointDir = directory,
                // Files through .NET's RandomAccess: Garnet's default on Linux x64 is its native device, which needs libaio
                // (absent here and on many hosts) as soon as a cluster node opens its configuration file.
                DeviceType = DeviceType.RandomAccess,
                LogMemorySize = LogMemorySize,
                PageSize = PageSize,
                IndexMemorySize = "1m",
                QuietMode = true,
                // Gossip every second (Garnet's tests do too): the nodes learn of each other within seconds of the MEETs.
                GossipDelay = 1,
            };
            var server = new GarnetServer(options);
            lock (_gate)
            {
                _servers[i] = server; // disposed with the cluster even if its start fails
            }

            _endPoints[i] = new IPEndPoint(IPAddress.Loopback, port).ToString();
            server.Start();
        }
    }

    private void Form(TimeSpan readyTimeout, bool meet)
    {
        using ConnectionMultiplexer admin = ConnectAdmin();
        var ids = new string[Count];
        for (int i = 0; i < Count; i++)
        {
            IServer server = admin.GetServer(EndPoints[i]);
            ids[i] = (string)server.Execute("CLUSTER", "MYID")!;
            Expect("OK", server.Execute("CLUSTER", "ADDSLOTSRANGE", SlotRanges[i].First, SlotRanges[i].Last), i, "CLUSTER ADDSLOTSRANGE");
            // Distinct config epochs, as Garnet's own tests set them: two nodes of one epoch would have to settle a
            // collision before their slot claims are trusted by the others.
            Expect("OK", server.Execute("CLUSTER", "SET-CONFIG-EPOCH", i + 1), i, "CLUSTER SET-CONFIG-EPOCH");
        }

        IServer first = admin.GetServer(EndPoints[0]);
        for (int i = 1; i < Count && meet; i++)
        {
            var endPoint = IPEndPoint.Parse(EndPoints[i]);
            Expect("OK", first.Execute("CLUSTER", "MEET", endPoint.Address.ToString(), endPoint.Port), 0, "CLUSTER MEET");
        }

        var clock = Stopwatch.StartNew();
        string? pending;
        while ((pending = Pending(admin, ids)) is not null)
        {
            if (clock.Elapsed > readyTimeout)
            {
                throw new TimeoutException($"The {Count}-node Garnet cluster at {string.Join(", ", EndPoints)} did not converge within {readyTimeout.TotalSeconds:0} s: {pending}");
            }

            Thread.Sleep(100);
        }
    }

    /// <summary>What is not converged yet, every node's view at once; null when every node sees the whole cluster.</summary>
    private string? Pending(ConnectionMultiplexer admin, string[] ids)
    {
        var problems = new List<string>();
        for (int i = 0; i < Count; i++)
        {
            string nodes;
            try
            {
                nodes = (string)admin.GetServer(EndPoints[i]).Execute("CLUSTER", "NODES")!;
            }
            catch (RedisException ex)
            {
                problems.Add($"node {i} ({EndPoints[i]}) did not answer CLUSTER NODES ({ex.Message})");
                continue;
            }

            var seen = new Dictionary<string, (string Link, string Flags, List<(int, int)> Slots)>(StringComparer.Ordinal);
            foreach (string line in nodes.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                // id ip:port@bus[,hostname] flags master ping pong epoch link slot...
                string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 8)
                {
                    continue;
                }

                var owned = new List<(int, int)>();
                foreach (string range in fields.Skip(8))
                {
                    if (range.StartsWith('['))
                    {
                        continue; // a slot being migrated or imported: none here
                    }

                    string[] bounds = range.Split('-');
                    int low = int.Parse(bounds[0], CultureInfo.InvariantCulture);
                    owned.Add((low, bounds.Length > 1 ? int.Parse(bounds[1], CultureInfo.InvariantCulture) : low));
                }

                seen[fields[0]] = (fields[7], fields[2], owned);
            }

            for (int j = 0; j < Count; j++)
            {
                if (!seen.TryGetValue(ids[j], out var view))
                {
                    problems.Add($"node {i} does not know node {j} ({EndPoints[j]}, id {ids[j]})");
                    continue;
                }

                if (view.Link != "connected")
                {
                    problems.Add($"node {i} sees its link to node {j} {view.Link}");
                }

                if (view.Flags.Contains("fail", StringComparison.Ordinal))
                {
                    problems.Add($"node {i} flags node {j} '{view.Flags}'");
                }

                if (view.Slots.Count != 1 || view.Slots[0] != SlotRanges[j])
                {
                    string slots = view.Slots.Count == 0 ? "no slots" : string.Join(",", view.Slots.Select(s => $"{s.Item1}-{s.Item2}"));
                    problems.Add($"node {i} sees node {j} owning {slots}, not {SlotRanges[j].First}-{SlotRanges[j].Last}");
                }
            }

            if (seen.Count > Count)
            {
                problems.Add($"node {i} knows {seen.Count} nodes, not {Count}");
            }
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    private void Expect(string expected, RedisResult result, int node, string command)
    {
        if ((string?)result != expected)
        {
            throw new InvalidOperationException($"{command} on node {node} ({EndPoints[node]}) answered '{result}', not {expected}.");
        }
    }
}
