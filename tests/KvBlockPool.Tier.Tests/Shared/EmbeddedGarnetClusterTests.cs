using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// The cluster helper's own contract: a cluster that does not converge in time fails its start with a message naming
/// what every node is missing, and leaves nothing behind (ports closed, directories deleted); stopping a node and
/// disposing are idempotent.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed partial class EmbeddedGarnetClusterTests(ITestOutputHelper output)
{
    [Fact]
    public void A_cluster_whose_nodes_never_meet_fails_its_start_naming_what_did_not_converge_and_leaves_nothing_running()
    {
        string[] before = ClusterDirectories();

        TimeoutException error = Assert.Throws<TimeoutException>(() => EmbeddedGarnetCluster.Start(3, TimeSpan.FromSeconds(3), meet: false));

        output.WriteLine(error.Message);
        Assert.Contains("did not converge within 3 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("node 0 does not know node 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("node 2 does not know node 0", error.Message, StringComparison.Ordinal);
        foreach (Match endPoint in EndPoint().Matches(error.Message))
        {
            using var client = new TcpClient();
            Assert.Throws<SocketException>(() => client.Connect(IPEndPoint.Parse(endPoint.Value))); // stopped
        }

        Assert.Equal(before, ClusterDirectories());
    }

    [Fact]
    public void Stopping_a_node_and_disposing_are_idempotent()
    {
        EmbeddedGarnetCluster cluster = EmbeddedGarnetCluster.Start(2);
        Assert.Equal([(0, 8191), (8192, 16383)], cluster.SlotRanges);
        cluster.StopNode(1);
        cluster.StopNode(1);
        Assert.False(cluster.IsRunning(1));
        Assert.True(cluster.IsRunning(0));
        cluster.Dispose();
        cluster.Dispose();
        Assert.False(cluster.IsRunning(0));
    }

    private static string[] ClusterDirectories() =>
        [.. Directory.GetDirectories(Path.GetTempPath(), "kvblockpool-garnet-cluster-*").Order()];

    [GeneratedRegex(@"127\.0\.0\.1:\d+")]
    private static partial Regex EndPoint();
}
