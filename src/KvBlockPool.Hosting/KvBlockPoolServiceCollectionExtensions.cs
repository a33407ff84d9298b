using KvBlockPool.Hosting.Configuration;
using KvBlockPool.Lifecycle;
using KvBlockPool.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using System.Diagnostics.Metrics;

namespace KvBlockPool.Hosting;

/// <summary>Registers a <see cref="BlockPool"/> and its <see cref="AgentCacheManager"/> with a host's services.</summary>
public static class KvBlockPoolServiceCollectionExtensions
{
    /// <summary>The name of the meter every pool publishes its instruments on (see <c>docs/metrics.md</c>).</summary>
    public const string MeterName = "KvBlockPool";

    /// <summary>
    /// Registers the pool, configured in code. See
    /// <see cref="AddKvBlockPool(IServiceCollection, IConfiguration)"/> for what is registered.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Sets the spec, the capacity and the pool's optional settings.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IServiceCollection AddKvBlockPool(this IServiceCollection services, Action<KvBlockPoolHostingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<KvBlockPoolHostingOptions>().Configure(configure);
        return AddCore(services);
    }

    /// <summary>
    /// Registers the pool, configured from a configuration section such as <c>builder.Configuration.GetSection("KvBlockPool")</c>
    /// (its keys are listed in <c>docs/hosting.md</c>; a capacity may carry a unit, as in <c>"256MiB"</c>).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Registers <see cref="KvBlockPoolHostingOptions"/>, validated when the host starts (<c>ValidateOnStart</c>): a
    /// value that cannot be read, an unknown key or preset, or a setting the pool would refuse fails the start with an
    /// <see cref="OptionsValidationException"/> naming the key and the accepted forms, before any memory is taken.
    /// </para>
    /// <para>
    /// Registers <see cref="BlockPool"/> and <see cref="AgentCacheManager"/> as singletons, built with the host's
    /// <see cref="ILoggerFactory"/> and <see cref="IMeterFactory"/> when it has them; in a Generic Host the pool is built
    /// when the host starts (a pool larger than the machine can give fails the start, with the same exception), and the
    /// container disposes the manager and then the pool when the host is disposed, each logging what was still held.
    /// </para>
    /// <para>
    /// With a <see cref="KvBlockPoolHostingOptions.Tier"/> (a <c>Tier</c> section), connects to the store when the host
    /// starts, before the pool is built: a store that cannot be reached or refuses the credentials fails the start with
    /// a <see cref="KvTierConnectionException"/>, and nothing is allocated. The connection is closed after the pool is
    /// disposed.
    /// </para>
    /// <para>
    /// Enables the <see cref="MeterName"/> meter in the host's metrics rules, so a metrics listener configured through
    /// them (OpenTelemetry's <c>WithMetrics</c>) exports the pool's instruments without an <c>AddMeter</c> call; a
    /// <c>DisableMetrics("KvBlockPool")</c> rule added afterwards turns that off.
    /// </para>
    /// </remarks>
    /// <param name="services">The host's services.</param>
    /// <param name="configuration">The section to read; later changes to it are not applied to a pool already built.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IServiceCollection AddKvBlockPool(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<KvBlockPoolHostingOptions>().Configure(options => SectionReader.Read(configuration, options));
        return AddCore(services);
    }

    private static IServiceCollection AddCore(IServiceCollection services)
    {
        bool first = !services.Any(d => d.ServiceType == typeof(IValidateOptions<KvBlockPoolHostingOptions>) && d.ImplementationType == typeof(KvBlockPoolOptionsValidator));
        services.AddOptions<KvBlockPoolHostingOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KvBlockPoolHostingOptions>, KvBlockPoolOptionsValidator>());
        services.TryAddSingleton(sp => new TierConnection(
            sp.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>(), sp.GetService<ILoggerFactory>(), sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(CreatePool);
        services.TryAddSingleton(sp => new AgentCacheManager(sp.GetRequiredService<BlockPool>(), sp.GetService<ILoggerFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KvBlockPoolActivator>());
        if (first)
        {
            services.Configure<MetricsOptions>(metrics => metrics.EnableMetrics(MeterName));
        }

        return services;
    }

    private static BlockPool CreatePool(IServiceProvider services)
    {
        // Reading the options runs the validator, so a pool is never built from options that failed it.
        KvBlockPoolHostingOptions options = services.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value;
        var failures = new List<string>();
        BlockPoolOptions poolOptions = PoolOptionsBuilder.TryBuild(options, failures)
            ?? throw new OptionsValidationException(Options.DefaultName, typeof(KvBlockPoolHostingOptions), failures);
        poolOptions.LoggerFactory = services.GetService<ILoggerFactory>();
        poolOptions.MeterFactory = services.GetService<IMeterFactory>();
        if (options.Tier is { } tier)
        {
            // Resolved here, before the pool exists, so the container disposes the connection after the pool.
            RedisKvChunkStore store = services.GetRequiredService<TierConnection>().Connect()!;
            poolOptions = PoolOptionsBuilder.WithTier(poolOptions, tier.ToTierOptions(store));
        }

        try
        {
            return new BlockPool(poolOptions);
        }
        catch (ArgumentException ex)
        {
            // The checks that need the pool's layout (stride, the memory the machine can still give) run only here.
            throw new OptionsValidationException(Options.DefaultName, typeof(KvBlockPoolHostingOptions), [PoolOptionsBuilder.Translate(ex, options)]);
        }
    }
}
