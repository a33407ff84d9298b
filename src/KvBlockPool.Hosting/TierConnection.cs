using System.Diagnostics.Metrics;
using KvBlockPool.Hosting.Configuration;
using KvBlockPool.Redis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Hosting;

/// <summary>
/// The host's connection to the shared tier's store, when <see cref="KvBlockPoolHostingOptions.Tier"/> is set: opened
/// once, before the pool is built (the pool needs a connected store), and closed by the container after the pool,
/// which it outlives because the pool's factory resolves it first.
/// </summary>
/// <remarks>
/// In a Generic Host the activator connects asynchronously when the host starts, so a store that cannot be reached or
/// refuses the credentials fails the start with a <see cref="KvTierConnectionException"/>. The pool connects on its
/// first resolve instead, synchronously, when it is resolved earlier: from a plain service provider, or by a hosted
/// service that takes the pool or the manager in its constructor (the host builds its hosted services before it starts
/// any). Either way the connect is bounded by the tier's connect timeout (at most a minute) and not by cancellation: a
/// connect abandoned halfway would leave a store nobody closes.
/// </remarks>
internal sealed class TierConnection(IOptions<KvBlockPoolHostingOptions> options, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory)
    : IAsyncDisposable, IDisposable
{
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private RedisKvChunkStore? _store;
    private bool _disposed;

    /// <summary>The connected store, or null when no tier is configured or it is not connected yet.</summary>
    public RedisKvChunkStore? Store => Volatile.Read(ref _store);

    /// <summary>Connects once (later calls return the same store); null when the host configured no tier.</summary>
    /// <exception cref="KvTierConnectionException">The store could not be reached or refused the credentials.</exception>
    /// <exception cref="OptionsValidationException">The options failed validation.</exception>
    public async Task<RedisKvChunkStore?> ConnectAsync(CancellationToken cancellationToken)
    {
        // Reading the options runs the validator, so nothing connects with options that failed it.
        KvBlockPoolHostingOptions settings = options.Value;
        if (settings.Tier is not { } tier)
        {
            return null;
        }

        await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_store is null)
            {
                // Not cancelled by the caller: a connect abandoned halfway would leave a store nobody closes; the
                // connect timeout bounds it instead.
                RedisKvChunkStoreOptions store = tier.ToStoreOptions(PoolOptionsBuilder.TierName(settings), loggerFactory, meterFactory);
                Volatile.Write(ref _store, await RedisKvChunkStore.ConnectAsync(store).ConfigureAwait(false));
            }

            return _store;
        }
        finally
        {
            _connecting.Release();
        }
    }

    /// <summary>Connects on the calling thread (the pool's factory, when the pool is resolved before the host started).</summary>
    public RedisKvChunkStore? Connect() => Store ?? ConnectAsync(CancellationToken.None).GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        // A connect still in flight (a start that was cancelled) is waited for without blocking a thread, then closed.
        await _connecting.WaitAsync().ConfigureAwait(false);
        RedisKvChunkStore? store = TakeStoreHeld();
        if (store is not null)
        {
            await store.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _connecting.Wait();
        TakeStoreHeld()?.Dispose();
    }

    /// <summary>Marks the connection disposed and hands its store over; the caller holds <see cref="_connecting"/>, released here.</summary>
    private RedisKvChunkStore? TakeStoreHeld()
    {
        try
        {
            _disposed = true;
            RedisKvChunkStore? store = _store;
            _store = null;
            return store;
        }
        finally
        {
            _connecting.Release();
        }
    }
}
