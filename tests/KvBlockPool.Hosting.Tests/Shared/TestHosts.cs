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

    /// <summary>
    /// A small pool: TinyLlama (22 layers, 16 KiB blocks), 10 blocks per layer, with <paramref name="settings"/> added
    /// under the section (keys such as <c>PrefixCache:MaxPinnedShare</c>).
    /// </summary>
    public static Dictionary<string, string?> Small(string name, params (string Key, string Value)[] settings)
    {
        var section = new Dictionary<string, string?>
        {
            ["KvBlockPool:Preset"] = "TinyLlama_1_1B",
            ["KvBlockPool:CapacityBlocks"] = "220",
            ["KvBlockPool:Name"] = name,
        };
        foreach ((string key, string value) in settings)
        {
            section[$"{Section}:{key}"] = value;
        }

        return section;
    }

    /// <summary>A bare service provider (no host) with the pool registered from <paramref name="settings"/>.</summary>
    public static ServiceProvider Services(IReadOnlyDictionary<string, string?> settings)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddKvBlockPool(configuration.GetSection(Section));
        return services.BuildServiceProvider();
    }

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
