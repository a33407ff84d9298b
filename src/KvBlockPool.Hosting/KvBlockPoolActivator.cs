using KvBlockPool.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Hosting;

/// <summary>
/// Builds the pool when the host starts, after the options were validated, so a pool the machine cannot give (the
/// constructor's memory check) fails the start rather than the first request; connects the shared tier first, when
/// there is one; logs what was built.
/// </summary>
internal sealed partial class KvBlockPoolActivator(IServiceProvider services) : IHostedService
{
    private BlockPool? _pool;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ILogger logger = services.GetService<ILoggerFactory>()?.CreateLogger(typeof(KvBlockPoolActivator).FullName!) ?? NullLogger.Instance;

        // The tier's store first, without blocking a thread: the pool is built on a connected store.
        RedisKvChunkStore? store = await services.GetRequiredService<TierConnection>().ConnectAsync(cancellationToken).ConfigureAwait(false);
        BlockPool pool = services.GetRequiredService<BlockPool>();
        _pool = pool;
        BlockPoolStatistics statistics = pool.GetStatistics();
        PoolReady(logger, pool.Name, pool.Spec, statistics.Capacity, pool.NativeBytes, pool.ClearMode, pool.DiagnosticsEnabled);
        if (store is not null)
        {
            KvBlockPoolHostingOptions options = services.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value;
            // The description, not the options object: a structured logger could otherwise write out its password.
            string tier = options.Tier!.ToString();
            TierReady(logger, pool.Name, tier);
            if (options.PrefixCache?.KeySecret is null)
            {
                TierWithoutSecret(logger, pool.Name);
            }
        }
    }

    /// <summary>
    /// With a tier, waits (until the host's shutdown timeout) for the chunks published so far to be written, so a
    /// stopping host leaves them to the others rather than dropping its queue. The container disposes the pool (and the
    /// manager before it) when the host is disposed, after every hosted service stopped.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_pool is not { } pool)
        {
            return;
        }

        try
        {
            await pool.FlushTierAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The shutdown timeout ran out first: what is still queued is dropped with the pool, counted as not offloaded.
        }
        catch (ObjectDisposedException)
        {
            // Disposed by someone else already: nothing left to flush.
        }
    }

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Block pool '{Pool}' connected to its {Tier}.")]
    private static partial void TierReady(ILogger logger, string pool, string tier);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Block pool '{Pool}' has a shared tier but no PrefixCache:KeySecret: its chunk keys come from a secret drawn for this pool alone, so no other host (and no restart of this one) can reuse what it writes. Give every host sharing the tier the same secret.")]
    private static partial void TierWithoutSecret(ILogger logger, string pool);

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Block pool '{Pool}' ready: {Spec}, {Capacity} blocks, {NativeBytes} native bytes, clear mode {ClearMode}, diagnostics {Diagnostics}.")]
    private static partial void PoolReady(ILogger logger, string pool, KvCacheSpec spec, int capacity, long nativeBytes, BlockClearMode clearMode, bool diagnostics);
}
