using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvBlockPool.Hosting;

/// <summary>
/// Builds the pool when the host starts, after the options were validated, so a pool the machine cannot give (the
/// constructor's memory check) fails the start rather than the first request; logs what was built.
/// </summary>
internal sealed partial class KvBlockPoolActivator(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        BlockPool pool = services.GetRequiredService<BlockPool>();
        ILogger logger = services.GetService<ILoggerFactory>()?.CreateLogger(typeof(KvBlockPoolActivator).FullName!) ?? NullLogger.Instance;
        BlockPoolStatistics statistics = pool.GetStatistics();
        PoolReady(logger, pool.Name, pool.Spec, statistics.Capacity, pool.NativeBytes, pool.ClearMode, pool.DiagnosticsEnabled);
        return Task.CompletedTask;
    }

    // The container disposes the pool (and the manager before it) when the host is disposed, after every hosted service stopped.
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Block pool '{Pool}' ready: {Spec}, {Capacity} blocks, {NativeBytes} native bytes, clear mode {ClearMode}, diagnostics {Diagnostics}.")]
    private static partial void PoolReady(ILogger logger, string pool, KvCacheSpec spec, int capacity, long nativeBytes, BlockClearMode clearMode, bool diagnostics);
}
