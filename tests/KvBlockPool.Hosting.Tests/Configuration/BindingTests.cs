using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Lifecycle;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Hosting.Tests.Configuration;

/// <summary>Every setting of the section reaches the pool, in every accepted form.</summary>
public sealed class BindingTests
{
    [Fact]
    public async Task Every_setting_of_the_section_reaches_the_pool()
    {
        using IHost host = TestHosts.Build(new Dictionary<string, string?>
        {
            ["KvBlockPool:Layers"] = "4",
            ["KvBlockPool:KvHeads"] = "2",
            ["KvBlockPool:HeadDim"] = "32",
            ["KvBlockPool:TokensPerBlock"] = "8",
            ["KvBlockPool:ElementType"] = "float32",
            ["KvBlockPool:Layout"] = "TokenMajor",
            ["KvBlockPool:CapacityBytes"] = "1MiB",
            ["KvBlockPool:ClearMode"] = "None",
            ["KvBlockPool:Diagnostics"] = "true",
            ["KvBlockPool:Alignment"] = "4KiB",
            ["KvBlockPool:BlocksPerSlab"] = "16",
            ["KvBlockPool:Name"] = "bound",
            ["KvBlockPool:AllowOvercommit"] = "True",
        });
        await host.StartAsync();

        BlockPool pool = host.Services.GetRequiredService<BlockPool>();
        Assert.Equal(new KvCacheSpec(4, 2, 32, 8, KvElementType.Float32, KvBlockLayout.TokenMajor), pool.Spec);
        Assert.Equal(BlockClearMode.None, pool.ClearMode);
        Assert.True(pool.DiagnosticsEnabled);
        Assert.Equal("bound", pool.Name);

        // A 4 KiB block plus its 64 guard bytes, aligned to 4 KiB: an 8 KiB stride, so 1 MiB holds 128 blocks.
        BlockPoolStatistics statistics = pool.GetStatistics();
        Assert.Equal(8192, statistics.Stride);
        Assert.Equal(128, statistics.Capacity);

        var agent = new AgentId(1);
        pool.AllocateAllLayers(agent, blocksPerLayer: 1);
        using (KvCacheLease lease = pool.Lease(agent))
        {
            Assert.Equal(16, lease.Addressing.BlocksPerSlab);
        }

        pool.FreeAgent(agent);
        Assert.True(host.Services.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value.AllowOvercommit);
        await host.StopAsync();
    }

    [Fact]
    public void Keys_values_and_units_are_case_insensitive()
    {
        KvBlockPoolHostingOptions options = Bind(new()
        {
            ["kvblockpool:preset"] = "llama3_70b",
            ["KVBLOCKPOOL:CAPACITYBYTES"] = "2gib",
            ["KvBlockPool:clearMode"] = "zeroonfree",
            ["KvBlockPool:elementType"] = "FLOAT8",
        });

        Assert.Equal("llama3_70b", options.Preset);
        Assert.Equal(2L << 30, options.CapacityBytes);
        Assert.Equal(BlockClearMode.ZeroOnFree, options.ClearMode);
        Assert.Equal(KvElementType.Float8, options.ElementType);
    }

    [Fact]
    public void Empty_values_leave_the_defaults()
    {
        KvBlockPoolHostingOptions options = Bind(new()
        {
            ["KvBlockPool:Preset"] = "Mistral7B",
            ["KvBlockPool:CapacityBlocks"] = "64",
            ["KvBlockPool:Diagnostics"] = "",
            ["KvBlockPool:Alignment"] = "",
            ["KvBlockPool:TokensPerBlock"] = " ",
        });

        Assert.Null(options.Diagnostics);
        Assert.Equal(0, options.Alignment);
        Assert.Null(options.TokensPerBlock);
        Assert.Equal(64, options.CapacityBlocks);
    }

    public static TheoryData<string, KvCacheSpec> Presets => new()
    {
        { "Llama3_8B", KvCacheSpec.Llama3_8B() },
        { "llama3_70b", KvCacheSpec.Llama3_70B() },
        { "Mistral7B", KvCacheSpec.Mistral7B() },
        { "QWEN25_7B", KvCacheSpec.Qwen25_7B() },
        { "TinyLlama_1_1B", KvCacheSpec.TinyLlama_1_1B() },
    };

    [Theory]
    [MemberData(nameof(Presets))]
    public void A_preset_name_builds_the_preset(string name, KvCacheSpec expected)
    {
        using ServiceProvider services = Services(new() { ["KvBlockPool:Preset"] = name, ["KvBlockPool:CapacityBlocks"] = "4" });
        Assert.Equal(expected, services.GetRequiredService<BlockPool>().Spec);
    }

    [Fact]
    public void A_preset_takes_an_element_type_tokens_per_block_and_layout()
    {
        using ServiceProvider services = Services(new()
        {
            ["KvBlockPool:Preset"] = "Qwen25_7B",
            ["KvBlockPool:ElementType"] = "Int8",
            ["KvBlockPool:TokensPerBlock"] = "32",
            ["KvBlockPool:Layout"] = "TokenMajor",
            ["KvBlockPool:CapacityBlocks"] = "8",
        });

        KvCacheSpec preset = KvCacheSpec.Qwen25_7B(KvElementType.Int8, tokensPerBlock: 32);
        Assert.Equal(
            new KvCacheSpec(preset.Layers, preset.KvHeads, preset.HeadDim, 32, KvElementType.Int8, KvBlockLayout.TokenMajor),
            services.GetRequiredService<BlockPool>().Spec);
    }

    [Fact]
    public void An_explicit_spec_defaults_to_16_tokens_fp16_head_major()
    {
        using ServiceProvider services = Services(new()
        {
            ["KvBlockPool:Layers"] = "2",
            ["KvBlockPool:KvHeads"] = "1",
            ["KvBlockPool:HeadDim"] = "64",
            ["KvBlockPool:CapacityBlocks"] = "4",
        });

        Assert.Equal(new KvCacheSpec(2, 1, 64, 16, KvElementType.Float16), services.GetRequiredService<BlockPool>().Spec);
    }

    [Fact]
    public void A_byte_budget_with_a_unit_sets_the_capacity()
    {
        using ServiceProvider services = Services(new() { ["KvBlockPool:Preset"] = "Llama3_8B", ["KvBlockPool:CapacityBytes"] = "256MiB" });

        // 64 KiB blocks, cache-line aligned without padding: 256 MiB holds 4096.
        Assert.Equal(4096, services.GetRequiredService<BlockPool>().Capacity);
    }

    [Fact]
    public void Options_set_in_code_build_the_same_pool_and_a_spec_may_be_given_whole()
    {
        var services = new ServiceCollection();
        services.AddKvBlockPool(options =>
        {
            options.Spec = KvCacheSpec.TinyLlama_1_1B(KvElementType.BFloat16, tokensPerBlock: 8);
            options.CapacityBytes = 4L * 1024 * 1024;
            options.ClearMode = BlockClearMode.None;
            options.Name = "coded";
        });
        using ServiceProvider provider = services.BuildServiceProvider();

        BlockPool pool = provider.GetRequiredService<BlockPool>();
        Assert.Equal(KvCacheSpec.TinyLlama_1_1B(KvElementType.BFloat16, tokensPerBlock: 8), pool.Spec);
        Assert.Equal(4 * 1024 * 1024 / 8192, pool.Capacity);
        Assert.Equal(BlockClearMode.None, pool.ClearMode);
        Assert.Equal("coded", pool.Name);
        Assert.Same(pool, provider.GetRequiredService<AgentCacheManager>().Pool);
    }

    [Fact]
    public void A_root_configuration_is_read_with_bare_keys()
    {
        IConfiguration root = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Preset"] = "TinyLlama_1_1B", ["CapacityBlocks"] = "22" })
            .Build();
        var services = new ServiceCollection();
        services.AddKvBlockPool(root);
        using ServiceProvider provider = services.BuildServiceProvider();

        Assert.Equal(22, provider.GetRequiredService<BlockPool>().Capacity);
    }

    private static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddKvBlockPool(configuration.GetSection(TestHosts.Section));
        return services.BuildServiceProvider();
    }

    private static KvBlockPoolHostingOptions Bind(Dictionary<string, string?> settings)
    {
        using ServiceProvider services = Services(settings);
        return services.GetRequiredService<IOptions<KvBlockPoolHostingOptions>>().Value;
    }
}
