using KvBlockPool.Hosting;
using KvBlockPool.Samples.Host;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

// A Generic Host worker serving simulated agents from a KvBlockPool registered with AddKvBlockPool.
// dotnet run --project samples/KvBlockPool.Samples.Host -c Release -- --duration 5
HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddCommandLine(args, SampleOptions.Switches);

// The pool, from appsettings.json's "KvBlockPool" section, and its health check.
builder.Services.AddKvBlockPool(builder.Configuration.GetSection("KvBlockPool"));
builder.Services.AddHealthChecks().AddKvBlockPoolHealthCheck();

// The simulated traffic, checked before the host is built.
SampleOptions sample = builder.Configuration.GetSection(SampleOptions.Section).Get<SampleOptions>() ?? new SampleOptions();
string[] problems = [.. sample.Problems()];
if (problems.Length > 0)
{
    Console.Error.WriteLine(string.Join(Environment.NewLine, problems));
    return 2;
}

// The pool's metrics through OpenTelemetry: AddKvBlockPool already enabled its meter, so no AddMeter is needed.
builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource.AddService("KvBlockPool.Samples.Host"))
    .WithMetrics(metrics =>
    {
        metrics.AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = sample.MetricsIntervalMilliseconds);
        if (sample.PrometheusPort > 0)
        {
            // Loopback only: the listener binds localhost and serves /metrics.
            metrics.AddPrometheusHttpListener(prometheus =>
            {
                prometheus.Host = "localhost";
                prometheus.Port = sample.PrometheusPort;
            });
        }
    });

// The workers and the periodic health log.
builder.Services.Configure<SampleOptions>(builder.Configuration.GetSection(SampleOptions.Section));
builder.Services.AddSingleton<SimulationTotals>();
builder.Services.AddHostedService<AgentSimulator>();
builder.Services.AddHostedService<HealthReporter>();

using IHost host = builder.Build();
try
{
    await host.RunAsync();
}
catch (OptionsValidationException ex)
{
    // A bad KvBlockPool section (the host's own log of the failure is turned off in appsettings.json):
    // each failure names its key and the accepted values.
    Console.Error.WriteLine("The configuration is invalid:");
    foreach (string failure in ex.Failures)
    {
        Console.Error.WriteLine($"  {failure}");
    }

    return 2;
}

return Environment.ExitCode;
