using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace KvBlockPool.Hosting.Tests.Shared;

/// <summary>Generic Hosts with the pool configured from an in-memory "KvBlockPool" section and every log entry kept.</summary>
internal static class TestHosts
{
    public const string Section = "KvBlockPool";

    /// <summary>A small pool: TinyLlama (22 layers, 16 KiB blocks), 10 blocks per layer.</summary>
    public static Dictionary<string, string?> Small(string name) => new()
    {
        ["KvBlockPool:Preset"] = "TinyLlama_1_1B",
        ["KvBlockPool:CapacityBlocks"] = "220",
        ["KvBlockPool:Name"] = name,
    };

    public static IHost Build(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Debug).AddFakeLogging();
        builder.Services.AddKvBlockPool(builder.Configuration.GetSection(Section));
        configure?.Invoke(builder.Services);
        return builder.Build();
    }

    public static IReadOnlyList<FakeLogRecord> Logs(this IHost host) => host.Services.GetFakeLogCollector().GetSnapshot();
}
