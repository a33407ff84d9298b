using KvBlockPool.Redis;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>One embedded Garnet shared by the tests that do not stop or reconfigure their server.</summary>
public sealed class GarnetFixture : IDisposable
{
    private readonly EmbeddedGarnet _garnet = EmbeddedGarnet.Start();

    public string EndPoint => _garnet.EndPoint;

    /// <summary>Options for this server, with a prefix of the test's own so tests never see each other's keys.</summary>
    public RedisKvChunkStoreOptions Options(string name, Action<RedisKvChunkStoreOptions>? configure = null)
    {
        var options = new RedisKvChunkStoreOptions { Name = name, KeyPrefix = $"test-{name}:" };
        options.EndPoints.Add(EndPoint);
        configure?.Invoke(options);
        return options;
    }

    public void Dispose() => _garnet.Dispose();
}

[CollectionDefinition(Name)]
public sealed class GarnetCollection : ICollectionFixture<GarnetFixture>
{
    public const string Name = "Garnet";
}
