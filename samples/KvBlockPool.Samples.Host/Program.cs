using System.Security.Cryptography;
using KvBlockPool.Garnet;
using KvBlockPool.Hosting;
using KvBlockPool.Samples.Host;
using KvBlockPool.Redis;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

// A Generic Host worker serving simulated agents from a KvBlockPool registered with AddKvBlockPool.
// dotnet run --project samples/KvBlockPool.Samples.Host -c Release -- --duration 5 [--tier embedded|host:port]
HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddCommandLine(args, SampleOptions.Switches);

// The simulated traffic, checked before the host is built.
SampleOptions sample = builder.Configuration.GetSection(SampleOptions.Section).Get<SampleOptions>() ?? new SampleOptions();
string[] problems = [.. sample.Problems()];
if (problems.Length > 0)
{
    Console.Error.WriteLine(string.Join(Environment.NewLine, problems));
    return 2;
}

// With --tier, the pool's prefix cache writes its chunks to a shared tier and restores them from it: a Garnet server
// started here (loopback only, disposed after the host), or an external one. Everything else is the pool's own
// configuration, as a deployment would write it in appsettings.json: PrefixCache and Tier sections.
using EmbeddedGarnetServer? garnet = sample.UsesEmbeddedTier ? EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { MemoryMiB = 512 }) : null;
if (sample.UsesTier)
{
    var tier = new Dictionary<string, string?>
    {
        ["KvBlockPool:PrefixCache:Enabled"] = "true",
        ["KvBlockPool:Tier:EndPoints"] = garnet?.EndPoint ?? sample.Tier,
    };
    if (string.IsNullOrEmpty(builder.Configuration["KvBlockPool:PrefixCache:KeySecret"]))
    {
        // One host here, so a secret of this run's own will do. Hosts that share a tier share one secret, given through
        // their secret store (KvBlockPool__PrefixCache__KeySecret), never written in appsettings.json.
        tier["KvBlockPool:PrefixCache:KeySecret"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    }

    builder.Configuration.AddInMemoryCollection(tier);
}

// The pool, from appsettings.json's "KvBlockPool" section, and its health check.
builder.Services.AddKvBlockPool(builder.Configuration.GetSection("KvBlockPool"));
builder.Services.AddHealthChecks().AddKvBlockPoolHealthCheck();

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
catch (KvTierConnectionException ex)
{
    // The tier's server could not be reached or refused the credentials: the host did not start, nothing was allocated.
    Console.Error.WriteLine(ex.Message);
    return 2;
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
