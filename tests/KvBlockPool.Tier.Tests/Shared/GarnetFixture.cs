using System.Security.Cryptography;
using KvBlockPool.Redis;
using StackExchange.Redis;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// The server shared by the tests that do not stop or reconfigure their own: a separately started one when
/// <c>KVBLOCKPOOL_TIER_ENDPOINT</c> names it (CI runs these tests against the <c>garnet-server</c> tool that way, so the
/// store is exercised across a real process boundary), else a Garnet embedded in the test process.
/// </summary>
/// <remarks>
/// Every key carries a run id of this fixture's own: a long-lived external server may still hold an earlier run's keys,
/// and a test that expects a miss, or expects to be the first to write a chunk, must never find them. Against an
/// external server the run's keys are deleted when the fixture ends.
/// </remarks>
public sealed class GarnetFixture : IAsyncLifetime
{
    /// <summary>The environment variable naming an external server as <c>host:port</c>, on a loopback address only.</summary>
    public const string EndPointVariable = "KVBLOCKPOOL_TIER_ENDPOINT";

    private readonly EmbeddedGarnet? _embedded;

    public GarnetFixture()
    {
        string? external = Environment.GetEnvironmentVariable(EndPointVariable);
        if (string.IsNullOrWhiteSpace(external))
        {
            _embedded = EmbeddedGarnet.Start();
            EndPoint = _embedded.EndPoint;
        }
        else
        {
            EndPoint = LoopbackEndPoint.Parse(external, EndPointVariable);
        }
    }

    /// <summary>The server's <c>host:port</c>.</summary>
    public string EndPoint { get; }

    /// <summary>Whether the server is an external process rather than the embedded one.</summary>
    public bool IsExternal => _embedded is null;

    /// <summary>A random id in every key this fixture's tests write, fresh for each run.</summary>
    public string RunId { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>The key prefix of a test's own, so tests never see each other's keys, nor an earlier run's.</summary>
    public string KeyPrefix(string name) => $"test-{RunId}-{name}:";

    /// <summary>Options for this server, with the test's own key prefix.</summary>
    public RedisKvChunkStoreOptions Options(string name, Action<RedisKvChunkStoreOptions>? configure = null)
    {
        var options = new RedisKvChunkStoreOptions { Name = name, KeyPrefix = KeyPrefix(name) };
        options.EndPoints.Add(EndPoint);
        configure?.Invoke(options);
        return options;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_embedded is not null)
        {
            _embedded.Dispose(); // its keys die with it
            return;
        }

        // The run's keys would otherwise stay on a long-lived server (Redis without maxmemory never evicts them). SCAN
        // with the run's pattern is an ordinary command: no admin rights, and another client's keys are never touched.
        await using ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(EndPoint);
        IServer server = connection.GetServer(connection.GetEndPoints()[0]);
        IDatabase database = connection.GetDatabase();
        var batch = new List<RedisKey>();
        await foreach (RedisKey key in server.KeysAsync(pattern: $"test-{RunId}-*", pageSize: 1000))
        {
            batch.Add(key);
            if (batch.Count == 1000)
            {
                await database.KeyDeleteAsync([.. batch]);
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            await database.KeyDeleteAsync([.. batch]);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class GarnetCollection : ICollectionFixture<GarnetFixture>
{
    public const string Name = "Garnet";

    /// <summary>
    /// The trait every class in this collection carries (<c>[Trait(TraitName, TraitValue)]</c>), so a run can pick
    /// exactly the tests that use the fixture's server: <c>--filter Server=Shared</c>. xUnit puts no trait on a test
    /// from its collection, and <c>GarnetFixtureTests</c> checks the two never drift apart.
    /// </summary>
    public const string TraitName = "Server";

    /// <inheritdoc cref="TraitName"/>
    public const string TraitValue = "Shared";
}
