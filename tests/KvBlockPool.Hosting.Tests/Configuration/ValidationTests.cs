using KvBlockPool.Hosting.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Hosting.Tests.Configuration;

/// <summary>
/// A bad section fails the host's start with an <see cref="OptionsValidationException"/> that names the key and the
/// accepted forms, and no pool memory is taken. Alone (not parallel) so <see cref="BlockPool.LiveNativeBytes"/> is ours to read.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class ValidationTests
{
    private const string Presets = "Llama3_8B, Llama3_70B, Mistral7B, Qwen25_7B, TinyLlama_1_1B";

    public static TheoryData<string, string[]> BadSections => new()
    {
        { "Preset=Llama4;CapacityBlocks=64", ["KvBlockPool:Preset: 'Llama4' is not a preset. Use one of: " + Presets] },
        { "Preset=Llama3_8B;CapacityBytes=256 parsecs", ["KvBlockPool:CapacityBytes: '256 parsecs' is not a size.", "KiB, MiB, GiB, TiB", "\"256MiB\""] },
        { "Preset=Llama3_8B;CapacityBytes=-1GiB", ["KvBlockPool:CapacityBytes: -1073741824 bytes. A budget must be positive"] },
        { "Preset=Llama3_8B;CapacityBlocks=-5", ["KvBlockPool:CapacityBlocks: -5 blocks. It must be at least 1."] },
        { "Preset=Llama3_8B;CapacityBytes=1KiB", ["KvBlockPool:CapacityBytes: 1024 bytes do not hold even one block of 65536 bytes", "Raise the budget or use a smaller spec."] },
        { "Preset=Llama3_8B", ["KvBlockPool:CapacityBytes: no capacity was given. Set CapacityBytes", "or CapacityBlocks (a block count)"] },
        { "Preset=Llama3_8B;CapacityBlocks=64;CapacityBytes=1GiB", ["KvBlockPool:CapacityBlocks: both CapacityBlocks and CapacityBytes are set. Set exactly one."] },
        { "Layers=abc;KvHeads=8;HeadDim=128;CapacityBlocks=64", ["KvBlockPool:Layers: 'abc' is not a whole number"] },
        { "Layers=0;KvHeads=8;HeadDim=128;CapacityBlocks=64", ["KvBlockPool:Layers = 0: layers must be between 1 and 4096."] },
        { "Preset=Mistral7B;TokensPerBlock=0;CapacityBlocks=64", ["KvBlockPool:TokensPerBlock = 0: tokensPerBlock must be between 1 and 65536."] },
        { "Layers=1;KvHeads=4096;HeadDim=65536;CapacityBlocks=1", ["KvBlockPool:TokensPerBlock = 16: One block would take", "Use fewer tokens per block."] },
        { "Layers=32;KvHeads=8;CapacityBlocks=64", ["KvBlockPool:HeadDim: missing. An explicit spec needs Layers, KvHeads and HeadDim", "Or use a Preset (one of: " + Presets] },
        { "CapacityBlocks=64", ["KvBlockPool:Preset: no KV-cache shape was given. Set Preset (one of: " + Presets + "), or Layers, KvHeads and HeadDim."] },
        { "Preset=Llama3_8B;Layers=32;CapacityBlocks=64", ["KvBlockPool:Preset: the shape is given 2 ways (Preset ('Llama3_8B') and Layers/KvHeads/HeadDim). Give exactly one"] },
        { "Preset=Llama3_8B;ElementType=fp16;CapacityBlocks=64", ["KvBlockPool:ElementType: 'fp16' is not an element type. Use one of: Float32, Float16, BFloat16, Float8, Int8."] },
        { "Preset=Llama3_8B;Layout=rows;CapacityBlocks=64", ["KvBlockPool:Layout: 'rows' is not a layout. Use one of: HeadMajor, TokenMajor."] },
        { "Preset=Llama3_8B;ClearMode=Scrub;CapacityBlocks=64", ["KvBlockPool:ClearMode: 'Scrub' is not a clear mode. Use one of: ZeroOnFree, None."] },
        { "Preset=Llama3_8B;Diagnostics=yes;CapacityBlocks=64", ["KvBlockPool:Diagnostics: 'yes' is not a boolean. Write true or false."] },
        { "Preset=Llama3_8B;AllowOvercommit=1;CapacityBlocks=64", ["KvBlockPool:AllowOvercommit: '1' is not a boolean. Write true or false."] },
        { "Preset=Llama3_8B;Alignment=48;CapacityBlocks=64", ["KvBlockPool:Alignment: 48 is not a power of two between 16 and 1048576 bytes. Use 0 to let the pool choose"] },
        { "Preset=Llama3_8B;Alignment=4K;CapacityBlocks=64", ["KvBlockPool:Alignment: '4K' is not an alignment."] },
        { "Preset=Llama3_8B;BlocksPerSlab=-1;CapacityBlocks=64", ["KvBlockPool:BlocksPerSlab: -1 is negative. Use 0 to let the pool choose, or a positive count."] },
        { "Preset=Llama3_8B;CapacityBlocks=64;ClearMod=None", ["KvBlockPool:ClearMod: not a setting of the pool. Use: Preset, Layers, KvHeads, HeadDim, TokensPerBlock, ElementType, Layout, CapacityBlocks, CapacityBytes, ClearMode, Diagnostics, Alignment, BlocksPerSlab, Name, AllowOvercommit, PrefixCache, Tier."] },
        { "Preset:Name=Llama3_8B;CapacityBlocks=64", ["KvBlockPool:Preset: expected a single value, found a section."] },
        { string.Empty, ["The section 'KvBlockPool' is missing or empty."] },
        // Checked by the pool's constructor when the host builds it at start, and passed on under the host's key.
        { "Preset=Llama3_70B;CapacityBytes=64TiB", ["KvBlockPool:CapacityBytes: The pool would take", "Lower the capacity, free memory, or set KvBlockPool:AllowOvercommit to skip this check."] },
    };

    [Theory]
    [MemberData(nameof(BadSections))]
    public async Task A_bad_section_fails_the_start_naming_the_key_and_the_fix_and_takes_no_memory(string section, string[] expected)
    {
        using IHost host = TestHosts.Build(Parse(section));
        long before = BlockPool.LiveNativeBytes;

        OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(typeof(KvBlockPoolHostingOptions), failure.OptionsType);
        string message = Assert.Single(failure.Failures);
        foreach (string part in expected)
        {
            Assert.Contains(part, message, StringComparison.Ordinal);
        }

        Assert.Equal(before, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public async Task Every_problem_is_reported_at_once_and_an_unreadable_value_is_not_also_called_missing()
    {
        using IHost host = TestHosts.Build(Parse("Preset=Llama4;CapacityBytes=256 parsecs;Diagnostics=maybe"));

        OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(3, failure.Failures.Count());
        Assert.Contains(failure.Failures, f => f.StartsWith("KvBlockPool:CapacityBytes: '256 parsecs' is not a size.", StringComparison.Ordinal));
        Assert.Contains(failure.Failures, f => f.StartsWith("KvBlockPool:Diagnostics:", StringComparison.Ordinal));
        Assert.Contains(failure.Failures, f => f.StartsWith("KvBlockPool:Preset: 'Llama4' is not a preset.", StringComparison.Ordinal));
        Assert.DoesNotContain(failure.Failures, f => f.Contains("no capacity was given", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Options_set_in_code_are_named_by_their_property()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddKvBlockPool(options =>
        {
            options.Spec = KvCacheSpec.Llama3_8B();
            options.CapacityBlocks = 0;
            options.ClearMode = (BlockClearMode)7;
        });
        using IHost host = builder.Build();

        OptionsValidationException failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("KvBlockPoolHostingOptions.CapacityBlocks: 0 blocks. It must be at least 1.", failure.Failures);
        Assert.Contains("KvBlockPoolHostingOptions.ClearMode: 7 is not defined. Use ZeroOnFree or None.", failure.Failures);
    }

    [Fact]
    public async Task A_spec_in_code_takes_no_refinements_and_an_undefined_element_type_gets_the_spec_message()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddKvBlockPool(options =>
        {
            options.Spec = KvCacheSpec.Llama3_8B();
            options.TokensPerBlock = 32;
            options.CapacityBlocks = 64;
        });
        using IHost host = builder.Build();
        OptionsValidationException refined = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.StartsWith("KvBlockPoolHostingOptions.Spec: ElementType, TokensPerBlock and Layout refine a Preset", Assert.Single(refined.Failures), StringComparison.Ordinal);

        var services = new ServiceCollection();
        services.AddKvBlockPool(options =>
        {
            options.Preset = "Llama3_8B";
            options.ElementType = (KvElementType)42;
            options.CapacityBlocks = 64;
        });
        using ServiceProvider provider = services.BuildServiceProvider();
        OptionsValidationException undefined = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<BlockPool>());
        Assert.Equal("KvBlockPoolHostingOptions.ElementType = 42: Unknown element type. Use one of: Float32, Float16, BFloat16, Float8, Int8.", Assert.Single(undefined.Failures));
    }

    [Fact]
    public void A_spec_and_a_preset_together_are_refused_naming_both()
    {
        var services = new ServiceCollection();
        services.AddKvBlockPool(options =>
        {
            options.Spec = KvCacheSpec.Mistral7B();
            options.Preset = "Mistral7B";
            options.CapacityBlocks = 64;
        });
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException failure = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<BlockPool>());

        Assert.StartsWith(
            "KvBlockPoolHostingOptions.Preset: the shape is given 2 ways (Spec and Preset ('Mistral7B')). Give exactly one",
            Assert.Single(failure.Failures),
            StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_host_the_first_resolve_fails_the_same_way()
    {
        var services = new ServiceCollection();
        services.AddKvBlockPool(options => options.Preset = "Gpt5");
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException failure = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<BlockPool>());

        Assert.Equal(2, failure.Failures.Count());
        Assert.Contains(failure.Failures, f => f.StartsWith("KvBlockPoolHostingOptions.Preset: 'Gpt5' is not a preset.", StringComparison.Ordinal));
        Assert.Contains(failure.Failures, f => f.StartsWith("KvBlockPoolHostingOptions.CapacityBytes: no capacity was given.", StringComparison.Ordinal));
    }

    /// <summary>"Key=Value;Key=Value" under the KvBlockPool section.</summary>
    private static Dictionary<string, string?> Parse(string section) =>
        section.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(pair => $"{TestHosts.Section}:{pair[0]}", pair => (string?)pair[1]);
}
