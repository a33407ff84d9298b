using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Samples.Host;

/// <summary>Logs the pool's health check result at a fixed interval, as a host's readiness probe would see it.</summary>
internal sealed partial class HealthReporter(HealthCheckService health, IOptions<SampleOptions> options, ILogger<HealthReporter> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.HealthIntervalSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                HealthReport report = await health.CheckHealthAsync(stoppingToken);
                foreach ((string name, HealthReportEntry entry) in report.Entries)
                {
                    LogLevel level = entry.Status == HealthStatus.Healthy ? LogLevel.Information : LogLevel.Warning;
                    Health(logger, level, name, entry.Status, entry.Description);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
    }

    [LoggerMessage(EventId = 2, Message = "Health check {Name}: {Status}. {Description}")]
    private static partial void Health(ILogger logger, LogLevel level, string name, HealthStatus status, string? description);
}
