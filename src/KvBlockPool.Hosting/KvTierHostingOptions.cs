using System.Diagnostics.Metrics;
using System.Globalization;
using KvBlockPool.Redis;
using KvBlockPool.Tier;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Hosting;

/// <summary>
/// A shared tier for the pool's prefix cache on a Garnet, Redis or Valkey server (see <c>docs/tier.md</c>), set up by
/// the host: <see cref="KvBlockPoolHostingOptions.Tier"/>. The host connects to the store when it starts (a store it
/// cannot reach or authenticate with fails the start) and closes it after the pool is disposed.
/// </summary>
/// <remarks>
/// The store's settings are those of <see cref="RedisKvChunkStoreOptions"/> and the tier's those of
/// <see cref="KvTierOptions"/>, with the same defaults. Hosts that share a tier must share the prefix cache's key
/// secret (<see cref="Prefix.KvPrefixCacheOptions.KeySecret"/>): without one, every pool draws its own and only reads
/// back what it wrote itself. The password is never logged and never appears in a message or in
/// <see cref="ToString"/>.
/// </remarks>
public sealed class KvTierHostingOptions
{
    private static readonly RedisKvChunkStoreOptions StoreDefaults = new();
    private static readonly KvTierOptions TierDefaults = new();

    /// <summary>
    /// The store's endpoints as <c>host:port</c> (a server, or the nodes of a cluster); at least one. In configuration,
    /// an array or one comma-separated string.
    /// </summary>
    public IList<string> EndPoints { get; } = new List<string>();

    /// <summary>The ACL user name, or null for the default user (password-only authentication).</summary>
    public string? User { get; set; }

    /// <summary>The password, or null. Never logged and never shown in a message.</summary>
    public string? Password { get; set; }

    /// <summary>Whether the connection uses TLS; off by default.</summary>
    public bool UseTls { get; set; }

    /// <summary>The host name the server's TLS certificate must carry, when it differs from the endpoint's.</summary>
    public string? TlsHost { get; set; }

    /// <summary>
    /// A file with the certificate (PEM or DER) of the private authority that issued the server's certificate, trusted
    /// for the tier's connections only; null: the machine's trust store decides. Needs <see cref="UseTls"/>.
    /// </summary>
    public string? TlsCaCertificatePath { get; set; }

    /// <summary>What every key of this deployment starts with (see <see cref="RedisKvChunkStoreOptions.KeyPrefix"/>).</summary>
    public string KeyPrefix { get; set; } = StoreDefaults.KeyPrefix;

    /// <summary>How long the start may wait to connect and authenticate; 5 seconds by default.</summary>
    public TimeSpan ConnectTimeout { get; set; } = StoreDefaults.ConnectTimeout;

    /// <summary>How long one read or write may take before it counts as failed; 1 second by default.</summary>
    public TimeSpan OperationTimeout { get; set; } = StoreDefaults.OperationTimeout;

    /// <summary>How long the store keeps a chunk after it was written; null (the default) leaves eviction to the store.</summary>
    public TimeSpan? TimeToLive { get; set; }

    /// <summary>How long an admission may wait for the tier, all reads together (see <see cref="KvTierOptions.RestoreTimeout"/>); 250 ms by default.</summary>
    public TimeSpan RestoreTimeout { get; set; } = TierDefaults.RestoreTimeout;

    /// <summary>Reads a restore keeps in flight at once (see <see cref="KvTierOptions.MaxReadsInFlight"/>); 4 by default.</summary>
    public int MaxReadsInFlight { get; set; } = TierDefaults.MaxReadsInFlight;

    /// <summary>Published chunks waiting to be written (see <see cref="KvTierOptions.OffloadQueueCapacity"/>); 1,024 by default.</summary>
    public int OffloadQueueCapacity { get; set; } = TierDefaults.OffloadQueueCapacity;

    /// <summary>Describes the tier without the password.</summary>
    /// <returns>For example <c>tier at redis-a:6379 (password set), TLS on, prefix 'kvblockpool:', restore within 250 ms</c>.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"tier at {string.Join(",", EndPoints)}{(User is null ? string.Empty : $" as user '{User}'")} ({(Password is null ? "no password" : "password set")}), TLS {(UseTls ? "on" : "off")}, prefix '{KeyPrefix}', restore within {RestoreTimeout.TotalMilliseconds} ms");

    /// <summary>The store's options for a pool named <paramref name="name"/>, with the host's logging and metrics.</summary>
    internal RedisKvChunkStoreOptions ToStoreOptions(string name, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory)
    {
        var store = new RedisKvChunkStoreOptions
        {
            User = User,
            Password = Password,
            UseTls = UseTls,
            TlsHost = TlsHost,
            TlsCaCertificatePath = TlsCaCertificatePath,
            KeyPrefix = KeyPrefix,
            ConnectTimeout = ConnectTimeout,
            OperationTimeout = OperationTimeout,
            TimeToLive = TimeToLive,
            Name = name,
            LoggerFactory = loggerFactory,
            MeterFactory = meterFactory,
        };
        foreach (string endPoint in EndPoints)
        {
            store.EndPoints.Add(endPoint);
        }

        return store;
    }

    /// <summary>The tier's options on <paramref name="store"/>.</summary>
    internal KvTierOptions ToTierOptions(IKvChunkStore store) => new()
    {
        Store = store,
        RestoreTimeout = RestoreTimeout,
        MaxReadsInFlight = MaxReadsInFlight,
        OffloadQueueCapacity = OffloadQueueCapacity,
    };
}
