using System.Globalization;
using StackExchange.Redis;

namespace KvBlockPool.Redis;

/// <summary>Checks a store's options and turns them into the client's configuration: every refusal before any connection.</summary>
internal static class RedisKvChunkStoreConfiguration
{
    public static ConfigurationOptions Build(RedisKvChunkStoreOptions options)
    {
        Validate(options);
        var configuration = new ConfigurationOptions
        {
            User = options.User,
            Password = options.Password,
            Ssl = options.UseTls,
            SslHost = options.TlsHost,
            ConnectTimeout = Milliseconds(options.ConnectTimeout),
            AsyncTimeout = Milliseconds(options.OperationTimeout),
            SyncTimeout = Milliseconds(options.OperationTimeout),
            // A start that cannot connect or authenticate fails at once, clearly; after it, the client reconnects by itself.
            AbortOnConnectFail = true,
            // While disconnected, calls fail at once instead of waiting in a queue: a miss costs the pool nothing.
            BacklogPolicy = BacklogPolicy.FailFast,
            ClientName = "kvblockpool",
        };
        foreach (string endPoint in options.EndPoints)
        {
            configuration.EndPoints.Add(endPoint);
        }

        return configuration;
    }

    public static void Validate(RedisKvChunkStoreOptions options)
    {
        if (options.EndPoints.Count == 0)
        {
            throw new ArgumentException("RedisKvChunkStoreOptions.EndPoints is empty; give at least one store as host:port (127.0.0.1:6379).", nameof(options));
        }

        var probe = new EndPointCollection();
        foreach (string endPoint in options.EndPoints)
        {
            try
            {
                probe.Add(endPoint ?? throw new ArgumentException("null"));
            }
            catch (ArgumentException)
            {
                throw new ArgumentException($"RedisKvChunkStoreOptions.EndPoints holds '{endPoint}', which is not host:port.", nameof(options));
            }
        }

        CheckTimeout(options.ConnectTimeout, nameof(RedisKvChunkStoreOptions.ConnectTimeout), nameof(options));
        CheckTimeout(options.OperationTimeout, nameof(RedisKvChunkStoreOptions.OperationTimeout), nameof(options));
        if (options.TimeToLive is { } ttl && ttl < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentException(Invariant($"RedisKvChunkStoreOptions.TimeToLive is {ttl}; give 1 ms or more, or null to leave eviction to the store."), nameof(options));
        }

        string? prefix = options.KeyPrefix;
        if (prefix is null || prefix.Length > RedisKvChunkStoreOptions.MaxKeyPrefixLength || prefix.Any(c => c is < '!' or > '~' or '{' or '}'))
        {
            throw new ArgumentException(
                Invariant($"RedisKvChunkStoreOptions.KeyPrefix must be at most {RedisKvChunkStoreOptions.MaxKeyPrefixLength} printable ASCII characters without spaces, '{{' or '}}' (which would move the cluster hash tag); it is {(prefix is null ? "null" : $"'{prefix}'")}."),
                nameof(options));
        }

        if (options.MaxValueBytes < 1 || options.MaxValueBytes > Array.MaxLength)
        {
            throw new ArgumentException(Invariant($"RedisKvChunkStoreOptions.MaxValueBytes is {options.MaxValueBytes}; give 1 to {Array.MaxLength} bytes."), nameof(options));
        }

        if (string.IsNullOrWhiteSpace(options.Name))
        {
            throw new ArgumentException("RedisKvChunkStoreOptions.Name is empty; give the tier a name for its metrics and logs.", nameof(options));
        }
    }

    private static void CheckTimeout(TimeSpan value, string name, string paramName)
    {
        if (value < TimeSpan.FromMilliseconds(1) || value.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentException(Invariant($"RedisKvChunkStoreOptions.{name} is {value}; give 1 ms to {int.MaxValue} ms."), paramName);
        }
    }

    private static int Milliseconds(TimeSpan value) => (int)Math.Ceiling(value.TotalMilliseconds);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
