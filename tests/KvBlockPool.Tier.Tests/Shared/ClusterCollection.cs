namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// Tests that start a Garnet cluster of their own (<see cref="EmbeddedGarnetCluster"/>: three servers gossiping in
/// this process): run alone, after the parallel tests, so their servers do not starve other tests' timeouts on a busy
/// machine, nor other tests theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "Garnet clusters (not parallel)";
}
