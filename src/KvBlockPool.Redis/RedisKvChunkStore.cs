using System.Buffers;
using System.Diagnostics;
using System.Security.Authentication;
using System.Globalization;
using System.Text;
using KvBlockPool.Tier;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace KvBlockPool.Redis;

/// <summary>
/// An <see cref="IKvChunkStore"/> on a RESP store (Garnet, Redis, Valkey; a server or a cluster) through
/// StackExchange.Redis. Connect with <see cref="ConnectAsync"/>; dispose to close.
/// </summary>
/// <remarks>
/// <para>
/// <b>Reads never queue behind writes.</b> Reads (<see cref="GetAsync"/>, on an admission's path) and the offload's
/// calls (<see cref="PutAsync"/>, <see cref="ExistsAsync"/>, <see cref="DeleteAsync"/>) go over two connections: a
/// connection delivers its commands in order, so on one, a read would wait for every multi-MiB value queued before it.
/// </para>
/// <para>
/// <b>Never waits on a dead store.</b> The connection's backlog policy is fail-fast: while it is down, every call is
/// an immediate <see cref="KvChunkStoreStatus.Unavailable"/> rather than a queued wait, and the client reconnects by
/// itself in the background (logged, and seen in <see cref="IsConnected"/>). A read that has started ends at the
/// operation timeout or the caller's cancellation, whichever is first; a value that arrives later is released
/// without touching the caller's buffer. In a cluster, a node that is down costs only the calls for its slots, each an
/// immediate <see cref="KvChunkStoreStatus.Unavailable"/>: a call goes to the node that owns its key's slot, and a
/// redirection (<c>MOVED</c>, <c>ASK</c>) is a miss rather than followed, since the client would resend it to the node
/// named even while that node is down, and hold it there until a reconnection failed.
/// </para>
/// <para>
/// <b>Reads into reused buffers.</b> A read takes the value as a lease from the client's pool and copies it once
/// into the caller's <see cref="IBufferWriter{T}"/>: no per-call array of the value's size.
/// </para>
/// <para>
/// Thread-safe: every call may run concurrently with any other, and concurrent calls are pipelined on the connection.
/// </para>
/// </remarks>
public sealed class RedisKvChunkStore : IKvChunkStore, IAsyncDisposable, IDisposable
{
    private readonly ConnectionMultiplexer _reads;
    private readonly ConnectionMultiplexer _writes;
    private readonly IDatabase _readDatabase;
    private readonly IDatabase _writeDatabase;
    private readonly byte[] _prefix;
    private readonly TimeSpan _timeout;
    private readonly Expiration _expiration;
    private readonly long _maxValueBytes;
    private readonly string _description;
    private readonly ILogger _logger;
    private readonly TierMetrics _metrics;
    private int _disposed;

    // Every call goes straight to the node the client maps its key's slot to, and a MOVED or ASK is a miss, not
    // followed: the client resends a redirected call to the node named even while that node is down, as an internal
    // call that waits for a reconnection (seconds) instead of failing fast. A MOVED still updates the client's slot map,
    // so after a resharding only the first call for each moved slot misses.
    private const CommandFlags Routing = CommandFlags.NoRedirect;

    private RedisKvChunkStore(ConnectionMultiplexer reads, ConnectionMultiplexer writes, RedisKvChunkStoreOptions options, ILogger logger)
    {
        _reads = reads;
        _writes = writes;
        _readDatabase = reads.GetDatabase();
        _writeDatabase = writes.GetDatabase();
        _prefix = Encoding.ASCII.GetBytes(options.KeyPrefix);
        _timeout = options.OperationTimeout;
        _expiration = options.TimeToLive is { } ttl ? new Expiration(ttl) : Expiration.Default;
        _maxValueBytes = options.MaxValueBytes;
        _description = options.ToString();
        Name = options.Name;
        _logger = logger;
        _metrics = new TierMetrics(options.MeterFactory, options.Name);
        foreach (ConnectionMultiplexer connection in new[] { reads, writes })
        {
            connection.ConnectionFailed += OnConnectionFailed;
            connection.ConnectionRestored += OnConnectionRestored;
        }
    }

    /// <summary>The tier's name (<see cref="RedisKvChunkStoreOptions.Name"/>), as metrics and logs show it.</summary>
    public string Name { get; }

    /// <summary>
    /// Whether both connections reach every server now (every node of a cluster); while one does not, the calls for
    /// the keys it holds are <see cref="KvChunkStoreStatus.Unavailable"/>. Allocates a little (the client's server
    /// list): for a health check, not for a hot path.
    /// </summary>
    public bool IsConnected => Volatile.Read(ref _disposed) == 0 && ReachesEveryServer(_reads) && ReachesEveryServer(_writes);

    /// <summary>
    /// Checks <paramref name="options"/>, then connects and authenticates. Fails here, with nothing read or written,
    /// when the store is unreachable within <see cref="RedisKvChunkStoreOptions.ConnectTimeout"/> or refuses the
    /// credentials; after a successful start, a lost connection is re-established by itself.
    /// </summary>
    /// <param name="options">Where and how to connect; read once, here.</param>
    /// <returns>The connected store.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it. Nothing was connected.</exception>
    /// <exception cref="KvTierConnectionException">The store could not be reached, or refused the user or password.</exception>
    public static async Task<RedisKvChunkStore> ConnectAsync(RedisKvChunkStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ConfigurationOptions configuration = RedisKvChunkStoreConfiguration.Build(options);
        ILogger logger = options.LoggerFactory?.CreateLogger<RedisKvChunkStore>() ?? NullLogger<RedisKvChunkStore>.Instance;
        ConnectionMultiplexer reads = await ConnectOneAsync(configuration, options, logger).ConfigureAwait(false);
        ConnectionMultiplexer writes;
        try
        {
            writes = await ConnectOneAsync(configuration, options, logger).ConfigureAwait(false);
        }
        catch
        {
            await reads.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        string endPoints = string.Join(",", options.EndPoints);
        TierLog.Connected(logger, options.Name, endPoints);
        return new RedisKvChunkStore(reads, writes, options, logger);
    }

    private static async Task<ConnectionMultiplexer> ConnectOneAsync(ConfigurationOptions configuration, RedisKvChunkStoreOptions options, ILogger logger)
    {
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            // The client reports every failed handshake as an authentication failure: a certificate refused, and a
            // handshake that got no answer (a TLS client at a plain port waits for a reply that never comes). Only
            // WRONGPASS or NOAUTH is the server refusing the credentials; with TLS on, anything else in an
            // "authentication" failure is the handshake, whose fix is a certificate or a port, not a password.
            bool refused = ex.Message.Contains("WRONGPASS", StringComparison.Ordinal) || ex.Message.Contains("NOAUTH", StringComparison.Ordinal);
            AuthenticationException? handshake = FindInner<AuthenticationException>(ex);
            bool tls = !refused && (handshake is not null || (options.UseTls && ex.FailureType == ConnectionFailureType.AuthenticationFailure));
            bool authentication = !tls && (refused || ex.FailureType == ConnectionFailureType.AuthenticationFailure);
            string reason = (handshake ?? ex.InnerException ?? ex).Message.TrimEnd('.');
            string message = tls
                ? $"The KV {options} could not complete the TLS handshake ({reason}). Check that the server speaks TLS on this port, the name its certificate carries (TlsHost) and the authority that issued it (TlsCaCertificatePath, or the machine's trust store). Nothing was read or written."
                : authentication
                ? $"The KV {options} refused the credentials: check the user and password (the store answered {ex.FailureType}). Nothing was read or written."
                : $"The KV {options} could not be reached within {options.ConnectTimeout.TotalMilliseconds:0} ms ({ex.FailureType}). Check that the store runs and listens there{(options.UseTls ? " and speaks TLS" : " without TLS")}; nothing was read or written.";
            TierLog.ConnectFailed(logger, options.Name, message);
            throw new KvTierConnectionException(message, ex) { IsAuthenticationFailure = authentication, IsTlsFailure = tls };
        }
    }

    // The client's own IsConnected means "any server": in a cluster with a node down it stays true.
    private static bool ReachesEveryServer(ConnectionMultiplexer connection) =>
        connection.IsConnected && connection.GetServers().All(server => server.IsConnected);

    private static T? FindInner<T>(Exception exception)
        where T : Exception
    {
        for (Exception? inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is T found)
            {
                return found;
            }
        }

        return null;
    }

    /// <inheritdoc/>
    public async ValueTask<KvChunkStoreStatus> GetAsync(KvTierKey key, IBufferWriter<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ThrowIfDisposed();
        long start = Stopwatch.GetTimestamp();
        if (cancellationToken.IsCancellationRequested)
        {
            return Finish(TierOperation.Get, key, KvChunkStoreStatus.Canceled, 0, start, null);
        }

        Task<Lease<byte>?> pending;
        Lease<byte>? lease;
        try
        {
            pending = _readDatabase.StringGetLeaseAsync(ToRedisKey(key), Routing);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            return Finish(TierOperation.Get, key, Classify(ex), 0, start, ex);
        }

        try
        {
            lease = await pending.WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex) || ex is OperationCanceledException)
        {
            // The read may still complete: its lease goes back to the pool then, and the caller's buffer is never touched.
            ReleaseWhenDone(pending);
            KvChunkStoreStatus status = ex is OperationCanceledException && cancellationToken.IsCancellationRequested ? KvChunkStoreStatus.Canceled : Classify(ex);
            return Finish(TierOperation.Get, key, status, 0, start, ex);
        }

        using (lease)
        {
            if (lease is null)
            {
                return Finish(TierOperation.Get, key, KvChunkStoreStatus.NotFound, 0, start, null);
            }

            if (lease.Length > _maxValueBytes)
            {
                return Finish(TierOperation.Get, key, KvChunkStoreStatus.TooLarge, 0, start, null);
            }

            int length = lease.Length;
            lease.Span.CopyTo(destination.GetSpan(length));
            destination.Advance(length);
            return Finish(TierOperation.Get, key, KvChunkStoreStatus.Ok, length, start, null);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<KvChunkStoreStatus> PutAsync(KvTierKey key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        long start = Stopwatch.GetTimestamp();
        if (cancellationToken.IsCancellationRequested)
        {
            return Finish(TierOperation.Put, key, KvChunkStoreStatus.Canceled, 0, start, null);
        }

        if (value.Length > _maxValueBytes)
        {
            return Finish(TierOperation.Put, key, KvChunkStoreStatus.TooLarge, 0, start, null);
        }

        // Awaited to its end, never abandoned at a deadline: the client may read the caller's buffer until then. The
        // client's own timeout (the operation timeout, checked about once a second) bounds the wait.
        try
        {
            bool stored = await _writeDatabase.StringSetAsync(ToRedisKey(key), value, _expiration, flags: Routing).ConfigureAwait(false);
            return Finish(TierOperation.Put, key, stored ? KvChunkStoreStatus.Ok : KvChunkStoreStatus.Failed, value.Length, start, null);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            return Finish(TierOperation.Put, key, Classify(ex), 0, start, ex);
        }
    }

    /// <inheritdoc/>
    public ValueTask<KvChunkStoreStatus> ExistsAsync(KvTierKey key, CancellationToken cancellationToken = default) =>
        RunAsync(TierOperation.Exists, key, static (database, redisKey) => database.KeyExistsAsync(redisKey, Routing), cancellationToken);

    /// <inheritdoc/>
    public ValueTask<KvChunkStoreStatus> DeleteAsync(KvTierKey key, CancellationToken cancellationToken = default) =>
        RunAsync(TierOperation.Delete, key, static (database, redisKey) => database.KeyDeleteAsync(redisKey, Routing), cancellationToken);

    /// <summary>Closes the connections; calls after this throw <see cref="ObjectDisposedException"/>. Idempotent.</summary>
    public void Dispose()
    {
        if (BeginDispose())
        {
            _reads.Dispose();
            _writes.Dispose();
            _metrics.Dispose();
        }
    }

    /// <summary>Closes the connections; calls after this throw <see cref="ObjectDisposedException"/>. Idempotent.</summary>
    /// <returns>A task that completes when the connections are closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (BeginDispose())
        {
            await _reads.DisposeAsync().ConfigureAwait(false);
            await _writes.DisposeAsync().ConfigureAwait(false);
            _metrics.Dispose();
        }
    }

    /// <summary>Describes the store without its password.</summary>
    /// <returns>For example <c>tier 'default' at 127.0.0.1:6379 (password set), TLS off, prefix 'kvblockpool:'</c>.</returns>
    public override string ToString() => _description;

    /// <summary>The key as the store holds it: the prefix, then the tier key's text form.</summary>
    internal RedisKey ToRedisKey(KvTierKey key)
    {
        var bytes = new byte[_prefix.Length + KvTierKey.FormattedLength];
        _prefix.CopyTo(bytes, 0);
        key.Format(bytes.AsSpan(_prefix.Length));
        return bytes;
    }

    private async ValueTask<KvChunkStoreStatus> RunAsync(TierOperation operation, KvTierKey key, Func<IDatabase, RedisKey, Task<bool>> call, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        long start = Stopwatch.GetTimestamp();
        if (cancellationToken.IsCancellationRequested)
        {
            return Finish(operation, key, KvChunkStoreStatus.Canceled, 0, start, null);
        }

        try
        {
            bool found = await call(_writeDatabase, ToRedisKey(key)).WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
            return Finish(operation, key, found ? KvChunkStoreStatus.Ok : KvChunkStoreStatus.NotFound, 0, start, null);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            return Finish(operation, key, KvChunkStoreStatus.Canceled, 0, start, ex);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            return Finish(operation, key, Classify(ex), 0, start, ex);
        }
    }

    private KvChunkStoreStatus Finish(TierOperation operation, KvTierKey key, KvChunkStoreStatus status, long bytes, long start, Exception? error)
    {
        _metrics.Record(operation, status, bytes, start);
        LogLevel level = status == KvChunkStoreStatus.Rejected ? LogLevel.Warning : LogLevel.Debug;
        if (TierMetrics.IsError(status) && _logger.IsEnabled(level))
        {
            // Formatted only when the line is written: a dead store fails every call.
            string name = TierMetrics.OperationName(operation);
            string text = key.ToString();
            if (status == KvChunkStoreStatus.Rejected)
            {
                string message = error?.Message ?? string.Empty;
                TierLog.CallRejected(_logger, Name, name, text, message);
            }
            else
            {
                string reason = TierMetrics.ReasonName(status);
                TierLog.CallFailed(_logger, Name, name, text, reason, error);
            }
        }

        return status;
    }

    /// <summary>What the client throws when the store fails or is slow: a miss, never the caller's problem.</summary>
    private static bool IsStoreFailure(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException;

    private static KvChunkStoreStatus Classify(Exception ex) => ex switch
    {
        TimeoutException => KvChunkStoreStatus.TimedOut, // RedisTimeoutException too
        RedisConnectionException or ObjectDisposedException => KvChunkStoreStatus.Unavailable,
        // A cluster node that is down or not serving the key's slot now (Routing): the slot is unreachable, not refused.
        RedisServerException { Kind: RedisErrorKind.Moved or RedisErrorKind.Ask or RedisErrorKind.UnknownRedirectTarget or RedisErrorKind.ClusterDown } => KvChunkStoreStatus.Unavailable,
        // A server still loading its data, without its primary, or asking to retry: unreachable for now, not a refusal.
        RedisServerException { Kind: RedisErrorKind.Loading or RedisErrorKind.MasterDown or RedisErrorKind.TryAgain } => KvChunkStoreStatus.Unavailable,
        RedisServerException => KvChunkStoreStatus.Rejected,
        _ => KvChunkStoreStatus.Failed,
    };

    private static void ReleaseWhenDone(Task<Lease<byte>?> pending) =>
        pending.ContinueWith(
            static done =>
            {
                if (done.IsCompletedSuccessfully)
                {
                    done.Result?.Dispose();
                }
                else
                {
                    _ = done.Exception; // observed: a late failure of an abandoned read is not news
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        string endPoint = Format(e.EndPoint);
        string failure = e.FailureType.ToString();
        TierLog.ConnectionLost(_logger, Name, endPoint, failure, e.Exception);
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        string endPoint = Format(e.EndPoint);
        TierLog.ConnectionRestored(_logger, Name, endPoint);
    }

    private static string Format(System.Net.EndPoint? endPoint) => endPoint?.ToString() ?? "?";

    private bool BeginDispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
        }

        foreach (ConnectionMultiplexer connection in new[] { _reads, _writes })
        {
            connection.ConnectionFailed -= OnConnectionFailed;
            connection.ConnectionRestored -= OnConnectionRestored;
        }

        return true;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
