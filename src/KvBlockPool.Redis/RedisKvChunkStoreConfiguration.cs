using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
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

        if (options.TlsCaCertificatePath is { } authority)
        {
            // Trusted for this connection's server certificates only, not added to the machine's store.
            configuration.TrustIssuer(LoadCertificate(authority));
        }

        return configuration;
    }

    public static void Validate(RedisKvChunkStoreOptions options)
    {
        if (options.EndPoints.Count == 0)
        {
            throw new ArgumentException("RedisKvChunkStoreOptions.EndPoints is empty; give at least one store as host:port (127.0.0.1:6379).", nameof(options));
        }

        // Parsed here, strictly, rather than by the client's own parser, which takes a whole connection string
        // ("host:6380,password=...") as endpoints: a pasted connection string would pass and later be printed. A refused
        // entry is named by its position, never quoted, for the same reason.
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < options.EndPoints.Count; i++)
        {
            string? endPoint = options.EndPoints[i];
            if (!IsHostAndPort(endPoint))
            {
                throw new ArgumentException(
                    Invariant($"RedisKvChunkStoreOptions.EndPoints[{i}] is not host:port (a host name, an IPv4 address or a bracketed IPv6 address, a colon, a port 1 to 65535; nothing else, such as a connection string's options). The value is not shown: it may hold a password."),
                    nameof(options));
            }

            if (!seen.Add(endPoint!))
            {
                throw new ArgumentException(Invariant($"RedisKvChunkStoreOptions.EndPoints[{i}] repeats an earlier endpoint; give each server once."), nameof(options));
            }
        }

        CheckAuthority(options);
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

    private static void CheckAuthority(RedisKvChunkStoreOptions options)
    {
        if (options.TlsCaCertificatePath is not { } path)
        {
            return;
        }

        if (!options.UseTls)
        {
            throw new ArgumentException("RedisKvChunkStoreOptions.TlsCaCertificatePath is set but UseTls is not; a CA certificate only matters on a TLS connection. Set UseTls, or leave the path out.", nameof(options));
        }

        if (!File.Exists(path))
        {
            throw new ArgumentException($"RedisKvChunkStoreOptions.TlsCaCertificatePath names '{path}', which is not a file. Give the CA certificate's file (PEM or DER).", nameof(options));
        }

        try
        {
            using X509Certificate2 certificate = LoadCertificate(path);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"RedisKvChunkStoreOptions.TlsCaCertificatePath names '{path}', which holds no certificate that can be read ({ex.Message}). Give the CA certificate's file (PEM or DER).", nameof(options));
        }
    }

    /// <summary>
    /// Whether <paramref name="text"/> is exactly a host and a port: a DNS name or an IPv4 address, or an IPv6 address
    /// in brackets, then a port 1 to 65535.
    /// </summary>
    internal static bool IsHostAndPort(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            return false;
        }

        string host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            return System.Net.IPAddress.TryParse(host[1..^1], out System.Net.IPAddress? address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }

        return Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4;
    }

    private static X509Certificate2 LoadCertificate(string path) => X509CertificateLoader.LoadCertificateFromFile(path);

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
