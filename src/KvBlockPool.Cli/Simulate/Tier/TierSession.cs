using System.Globalization;
using System.Security.Cryptography;
using KvBlockPool.Garnet;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier;

namespace KvBlockPool.Cli.Simulate.Tier;

/// <summary>
/// The shared tier of one <c>simulate</c> run: the embedded Garnet server when the run starts one, the store connected
/// to it (or to the external server), and the key secret the hosts share. Disposed after the last host is done.
/// </summary>
internal sealed class TierSession : IDisposable
{
    /// <summary>
    /// The restore deadline: four times the library's default, because the simulated host's workers keep every core
    /// busy (a real host's CPU mostly waits for its GPU), and on a small machine the reads' I/O threads queue behind them.
    /// </summary>
    private static readonly TimeSpan RestoreTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Memory for the embedded server's values: room for what a run of a few seconds offloads of a large model.</summary>
    private const int EmbeddedMemoryMiB = 1024;

    private readonly EmbeddedGarnetServer? _server;

    private TierSession(TierChoice choice, EmbeddedGarnetServer? server, RedisKvChunkStore store, string endPoint, byte[] keySecret)
    {
        Choice = choice;
        _server = server;
        Store = store;
        EndPoint = endPoint;
        KeySecret = keySecret;
    }

    public TierChoice Choice { get; }

    public RedisKvChunkStore Store { get; }

    /// <summary>The server's <c>host:port</c>, which a second host connects to.</summary>
    public string EndPoint { get; }

    /// <summary>The prefix cache's key secret: from <see cref="TierEnvironment.KeySecret"/>, or random for this run.</summary>
    public byte[] KeySecret { get; }

    /// <summary>Starts the embedded server if the choice asks for it, and connects.</summary>
    /// <exception cref="UsageException">The secret in the environment is malformed, or the server cannot be started or reached.</exception>
    public static TierSession Open(TierChoice choice)
    {
        byte[] secret = ReadSecret();
        string? password = Environment.GetEnvironmentVariable(TierEnvironment.Password) is { Length: > 0 } text ? text : null;
        EmbeddedGarnetServer? server = null;
        try
        {
            if (choice.IsEmbedded)
            {
                server = EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { Password = password, MemoryMiB = EmbeddedMemoryMiB });
            }

            string endPoint = server?.EndPoint ?? choice.EndPoint!;
            var options = new RedisKvChunkStoreOptions { Name = "simulate", Password = password, UseTls = choice.UseTls, TlsCaCertificatePath = choice.CaCertificatePath };
            options.EndPoints.Add(endPoint);
            RedisKvChunkStore store = RedisKvChunkStore.ConnectAsync(options).GetAwaiter().GetResult();
            return new TierSession(choice, server, store, endPoint, secret);
        }
        catch (Exception error) when (error is KvTierConnectionException or InvalidOperationException or ArgumentException)
        {
            server?.Dispose();
            throw new UsageException($"--tier {(choice.IsEmbedded ? TierChoice.Embedded : choice.EndPoint)}: {error.Message}");
        }
    }

    /// <summary>The prefix cache's options for a pool on this tier.</summary>
    public KvPrefixCacheOptions PrefixCacheOptions() => new() { KeySecret = KeySecret, Tier = new KvTierOptions { Store = Store, RestoreTimeout = RestoreTimeout } };

    public void Dispose()
    {
        Store.Dispose();
        _server?.Dispose();
    }

    private static byte[] ReadSecret()
    {
        string? hex = Environment.GetEnvironmentVariable(TierEnvironment.KeySecret);
        if (string.IsNullOrEmpty(hex))
        {
            return RandomNumberGenerator.GetBytes(32);
        }

        // The value is a secret: the message says what is wrong with it, never what it is.
        byte[] secret;
        try
        {
            secret = Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            throw new UsageException($"{TierEnvironment.KeySecret} is not hexadecimal: give {KvPrefixCacheOptions.MinKeySecretBytes} to {KvPrefixCacheOptions.MaxKeySecretBytes} bytes as hex digits.");
        }

        if (secret.Length is < KvPrefixCacheOptions.MinKeySecretBytes or > KvPrefixCacheOptions.MaxKeySecretBytes)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{TierEnvironment.KeySecret} holds {secret.Length} bytes: give {KvPrefixCacheOptions.MinKeySecretBytes} to {KvPrefixCacheOptions.MaxKeySecretBytes}."));
        }

        return secret;
    }
}
