using KvBlockPool.Core;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// A pool is checked against what the machine can still give, not against the machine alone: memory other pools of
/// the process have taken (even untouched) counts as used, and <see cref="BlockPoolOptions.AllowOvercommit"/> opts out.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class MemoryCheckTests(ITestOutputHelper output)
{
    private static BlockPoolOptions Options(long? available, bool allowOvercommit = false) => new()
    {
        Spec = TestPools.Spec(),
        CapacityBlocks = 8, // 8 blocks of 256 bytes: 2048 bytes
        Alignment = 64,
        Diagnostics = false,
        AllowOvercommit = allowOvercommit,
        AvailableMemoryOverride = available,
    };

    [Fact]
    public void A_pool_larger_than_the_memory_available_is_refused_with_the_figures_and_the_way_out()
    {
        long live = BlockPool.LiveNativeBytes;
        var error = Assert.Throws<ArgumentException>(() => new BlockPool(Options(available: 2047)));
        Assert.Equal("options", error.ParamName);
        Assert.Contains("BlockPoolOptions.CapacityBlocks", error.Message, StringComparison.Ordinal);
        Assert.Contains("would take 2048 bytes of native memory (8 blocks of 256 bytes)", error.Message, StringComparison.Ordinal);
        Assert.Contains("more than the 2047 bytes available", error.Message, StringComparison.Ordinal);
        Assert.Contains("set BlockPoolOptions.AllowOvercommit", error.Message, StringComparison.Ordinal);
        Assert.Equal(live, BlockPool.LiveNativeBytes);

        using var fits = new BlockPool(Options(available: 2048));
        Assert.Equal(2048, fits.NativeBytes);
    }

    [Fact]
    public void AllowOvercommit_accepts_a_pool_larger_than_the_memory_available()
    {
        using var pool = new BlockPool(Options(available: 100, allowOvercommit: true));
        Assert.Equal(2048, pool.NativeBytes);
        Assert.Equal(8, pool.Allocate(new AgentId(1), 0, 8).Length);
    }

    [Fact]
    public void Reconfigure_is_checked_too_and_a_refusal_keeps_the_old_configuration()
    {
        BlockPoolOptions options = Options(available: 4096);
        using var pool = new BlockPool(options);
        options.AvailableMemoryOverride = 3000;
        var error = Assert.Throws<ArgumentException>(() => pool.Reconfigure(TestPools.Spec(layers: 2, kvHeads: 4))); // 512-byte blocks: 4096 bytes
        Assert.Contains("more than the 3000 bytes available", error.Message, StringComparison.Ordinal);
        Assert.Equal(TestPools.Spec(), pool.Spec);
        Assert.Equal(2048, pool.NativeBytes);
    }

    [Fact]
    public void The_machines_figures_name_where_they_come_from()
    {
        MemoryHeadroom headroom = MemoryHeadroom.Measure(replacing: null);
        output.WriteLine($"{headroom.Bytes} bytes: {headroom.Explanation}");
        Assert.InRange(headroom.Bytes, 1, long.MaxValue - 1);
        Assert.Contains(" bytes", headroom.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_pools_that_together_exceed_the_machine_are_refused_even_before_either_is_touched()
    {
        if (!AnonymousMapping.IsSupported)
        {
            return; // without lazy mappings the first pool would be zeroed: tens of seconds and the whole machine
        }

        // The case: two pools of 60% of what is available each. Mapped slabs are untouched, so the OS's
        // free-memory figure does not drop when the first is built; the check must count them itself.
        MemoryHeadroom headroom = MemoryHeadroom.Measure(replacing: null);
        long each = headroom.Bytes / 10 * 6;
        var options = new BlockPoolOptions { Spec = KvCacheSpec.Llama3_8B(), CapacityBytes = each, ClearMode = BlockClearMode.None, Diagnostics = false };
        using var first = new BlockPool(options);
        var error = Assert.Throws<ArgumentException>(() => new BlockPool(options));
        output.WriteLine(error.Message);
        Assert.Contains("this process", error.Message, StringComparison.Ordinal);
        Assert.Contains("AllowOvercommit", error.Message, StringComparison.Ordinal);

        // Replacing the configuration frees the old one: its memory counts as available to the new one.
        first.Reconfigure(KvCacheSpec.Llama3_8B(tokensPerBlock: 32));
        Assert.True(first.NativeBytes > each * 9 / 10);
    }
}
