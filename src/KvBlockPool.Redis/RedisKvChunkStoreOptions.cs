using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Redis;

/// <summary>
/// Where and how a <see cref="RedisKvChunkStore"/> connects: the store's endpoints, credentials, TLS, timeouts and the
/// key prefix. Validated by <see cref="RedisKvChunkStore.ConnectAsync"/> before anything connects. The password is
/// never logged and never appears in <see cref="ToString"/> or in an exception's message.
/// </summary>
public sealed class RedisKvChunkStoreOptions
{
    /// <summary>The default <see cref="KeyPrefix"/>.</summary>
    public const string DefaultKeyPrefix = "kvblockpool:";

    /// <summary>The longest <see cref="KeyPrefix"/> accepted, in characters.</summary>
    public const int MaxKeyPrefixLength = 256;

    /// <summary>
    /// The store's endpoints as <c>host:port</c> (a Garnet or Redis server, or the nodes of a cluster); at least one.
    /// Empty by default.
    /// </summary>
    public IList<string> EndPoints { get; } = new List<string>();

    /// <summary>The ACL user name, or null for the default user (password-only authentication).</summary>
    public string? User { get; set; }

    /// <summary>The password, or null. Never logged, never in <see cref="ToString"/>.</summary>
    public string? Password { get; set; }

    /// <summary>Whether to connect with TLS; <see langword="false"/> by default.</summary>
    public bool UseTls { get; set; }

    /// <summary>The host name the server's certificate must carry, when it is not the endpoint's host (TLS only).</summary>
    public string? TlsHost { get; set; }

    /// <summary>
    /// A file holding the certificate (PEM or DER) of the authority that issued the server's certificate, trusted for
    /// this store's connections only: for a server whose certificate comes from a private CA. Null (the default): the
    /// machine's trust store decides. Needs <see cref="UseTls"/>.
    /// </summary>
    public string? TlsCaCertificatePath { get; set; }

    /// <summary>How long connecting may take, at start and on every reconnection; 5 seconds by default.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest any one read, write or check may take before it is a miss (<c>TimedOut</c>); 1 second by default.
    /// A caller's cancellation token ends a call sooner. Size it for the chunk: a 2 MiB value takes about 1-2 ms on
    /// a local network.
    /// </summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Put before every key (<c>kvblockpool:</c> by default), so one store can serve several deployments or share a
    /// server with other data. Printable ASCII without spaces and without <c>{</c> or <c>}</c> (which would move the
    /// key's cluster hash tag); may be empty.
    /// </summary>
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    /// <summary>How long a written chunk lives in the store, or null (the default) to leave eviction to the store's own policy.</summary>
    public TimeSpan? TimeToLive { get; set; }

    /// <summary>
    /// The largest value read or written, in bytes: a larger one is a miss (<c>TooLarge</c>) and is not copied; 256 MiB
    /// by default (Redis refuses values over 512 MiB).
    /// </summary>
    public long MaxValueBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>The tier's name in metrics (the tag <c>kvblockpool.tier.name</c>) and logs; <c>"default"</c> by default.</summary>
    public string Name { get; set; } = "default";

    /// <summary>Creates the meter (named <c>KvBlockPool</c>) through a host's factory; null: the store's own meter.</summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>Where the store logs connection changes and failed calls; null: no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// Checks the options as <see cref="RedisKvChunkStore.ConnectAsync"/> does, without connecting: a host can refuse a
    /// bad configuration at start, before anything opens a socket.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A setting is out of range: no endpoint, an endpoint that is not <c>host:port</c>, a CA certificate file that is
    /// missing or not a certificate (or given without TLS), a timeout below 1 ms, a key prefix with spaces or braces, a
    /// value limit out of range, an empty name. The message names the setting (as
    /// <c>RedisKvChunkStoreOptions.Setting</c>) and never holds the password.
    /// </exception>
    public void Validate() => RedisKvChunkStoreConfiguration.Validate(this);

    /// <summary>
    /// Whether <paramref name="text"/> is an endpoint <see cref="EndPoints"/> takes: a host name, an IPv4 address or an
    /// IPv6 address in brackets, a colon, and a port 1 to 65535; nothing else (no connection-string options). For a
    /// host that reads one endpoint from its command line and wants to refuse it before anything starts.
    /// </summary>
    /// <param name="text">The candidate, for example <c>cache.example:6379</c> or <c>[::1]:6379</c>; null is not one.</param>
    /// <returns>Whether <see cref="Validate"/> would accept it as an endpoint.</returns>
    public static bool IsEndPoint(string? text) => RedisKvChunkStoreConfiguration.IsHostAndPort(text);

    /// <summary>Describes the options without the password.</summary>
    /// <returns>For example <c>tier 'default' at 127.0.0.1:6379 as user 'app' (password set), TLS off, prefix 'kvblockpool:'</c>.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"tier '{Name}' at {string.Join(",", EndPoints)}{(User is null ? string.Empty : $" as user '{User}'")} ({(Password is null ? "no password" : "password set")}), TLS {(UseTls ? "on" : "off")}, prefix '{KeyPrefix}'");
}
