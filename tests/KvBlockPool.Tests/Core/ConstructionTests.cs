namespace KvBlockPool.Tests.Core;

[Collection(ProcessWideCollection.Name)]
public sealed class ConstructionTests
{
    [Fact]
    public void A_new_pool_has_every_block_available_and_reports_its_settings()
    {
        using BlockPool pool = TestPools.Create(capacity: 10, layers: 3, blocksPerSlab: 4, name: "tiny");
        Assert.Equal((10, 10, 0, 0, 0), (pool.Capacity, pool.AvailableBlocks, pool.AllocatedBlocks, pool.HighWaterMark, pool.AgentCount));
        Assert.Equal("tiny", pool.Name);
        Assert.Equal(TestPools.Spec(3), pool.Spec);
        Assert.Equal(BlockClearMode.ZeroOnFree, pool.ClearMode);
        Assert.False(pool.DiagnosticsEnabled);
        Assert.False(pool.IsDisposed);
        Assert.Null(pool.LeakReport);
        Assert.Equal(10L * 256, pool.NativeBytes); // slabs of 4, 4 and 2 blocks of 256 bytes (already 64-aligned): the last slab holds only its blocks
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_pool_hands_out_the_lowest_ids_first_and_zeroed_memory()
    {
        using BlockPool pool = TestPools.Create(capacity: 6, blocksPerSlab: 2);
        KvBlock[] blocks = pool.Allocate(new AgentId(1), 0, 6);
        Assert.Equal([0, 1, 2, 3, 4, 5], blocks.Select(b => b.Id));
        Assert.All(blocks, b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));
    }

    [Fact]
    public void The_default_name_is_default()
    {
        using var pool = new BlockPool(new BlockPoolOptions { Spec = TestPools.Spec(), CapacityBlocks = 1, Name = "  " });
        Assert.Equal("default", pool.Name);
    }

    [Fact]
    public void Null_options_or_spec_are_rejected()
    {
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => new BlockPool(null!)).ParamName);
        var error = Assert.Throws<ArgumentNullException>(() => new BlockPool(new BlockPoolOptions { CapacityBlocks = 4 }));
        Assert.Contains("BlockPoolOptions.Spec is null", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, Action<BlockPoolOptions>, string> InvalidOptions() => new()
    {
        { "undefined clear mode", o => o.ClearMode = (BlockClearMode)7, "ClearMode 7 is not defined" },
        { "alignment not a power of two", o => o.Alignment = 48, "Alignment 48 is not a power of two" },
        { "alignment too small", o => o.Alignment = 8, "BlockPoolOptions.Alignment" },
        { "alignment too large", o => o.Alignment = 2 * 1024 * 1024, "between 16 and 1048576" },
        { "both capacities", o => o.CapacityBytes = 4096, "Both CapacityBlocks and CapacityBytes are set" },
        { "no capacity", o => o.CapacityBlocks = null, "No capacity was given" },
        { "zero blocks", o => o.CapacityBlocks = 0, "CapacityBlocks is 0. It must be at least 1" },
        { "too many blocks", o => o.CapacityBlocks = (1 << 30) + 1, "exceeds the maximum of 1073741824" },
        { "byte budget below one block", o => (o.CapacityBlocks, o.CapacityBytes) = (null, 255), "CapacityBytes 255 does not hold even one block of 256 bytes" },
        { "negative blocks per slab", o => o.BlocksPerSlab = -1, "BlocksPerSlab is -1" },
        { "more than the machine", o => (o.CapacityBlocks, o.CapacityBytes) = (null, long.MaxValue), "more than the" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Invalid_options_are_rejected_with_a_message_that_says_what_to_change(string why, Action<BlockPoolOptions> spoil, string message)
    {
        var options = new BlockPoolOptions { Spec = TestPools.Spec(), CapacityBlocks = 4, Alignment = 64, Diagnostics = false };
        spoil(options);
        long live = BlockPool.LiveNativeBytes;
        var error = Assert.Throws<ArgumentException>(() => new BlockPool(options));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal("options", error.ParamName);
        Assert.True(live == BlockPool.LiveNativeBytes, why);
    }

    [Fact]
    public void A_byte_budget_holds_as_many_padded_blocks_as_fit()
    {
        using BlockPool pool = TestPools.Create(capacityBytes: 10_000, alignment: 1024);
        Assert.Equal(9, pool.Capacity); // 256-byte blocks padded to 1024
        Assert.Equal(9 * 1024, pool.NativeBytes);
    }

    [Fact]
    public unsafe void The_default_alignment_is_a_cache_line_and_page_alignment_is_still_available()
    {
        using var pool = new BlockPool(new BlockPoolOptions { Spec = TestPools.Spec(), CapacityBlocks = 3, Diagnostics = false });
        KvBlock[] blocks = pool.Allocate(new AgentId(1), 0, 3);
        Assert.All(blocks, b => Assert.Equal(0, (long)pool.GetPointer(b) % 64));
        Assert.Equal(3L * 256, pool.NativeBytes); // 256-byte blocks back to back
        Assert.Equal((256, 0.0), (pool.GetStatistics().Stride, pool.GetStatistics().Overhead));

        using var paged = new BlockPool(new BlockPoolOptions { Spec = TestPools.Spec(), CapacityBlocks = 3, Diagnostics = false, Alignment = Environment.SystemPageSize });
        blocks = paged.Allocate(new AgentId(1), 0, 3);
        Assert.All(blocks, b => Assert.Equal(0, (long)paged.GetPointer(b) % Environment.SystemPageSize));
        Assert.Equal(3L * Environment.SystemPageSize, paged.NativeBytes);
        Assert.Equal((Environment.SystemPageSize / 256.0) - 1, paged.GetStatistics().Overhead);
    }

    [Theory]
    [InlineData(1024, 64, 1024)]         // 1 KiB blocks: back to back
    [InlineData(6400, 64, 6400)]
    [InlineData(1000, 16, 1008)]         // 2.4% at 64 and at 32, 0.8% at 16
    [InlineData(3000, 64, 3008)]         // 0.27%
    [InlineData(100, 16, 112)]           // a tiny odd block: the least padding there is
    [InlineData(131072 + 64, 64, 131136)] // a preset's block and a diagnostics guard
    public void The_default_alignment_keeps_padding_under_one_percent_where_a_power_of_two_can(long blockBytes, int expectedAlignment, long expectedStride)
    {
        int alignment = KvBlockPool.Core.BlockLayout.DefaultAlignment(blockBytes);
        long stride = (blockBytes + alignment - 1) / alignment * alignment;
        Assert.Equal((expectedAlignment, expectedStride), (alignment, stride));
    }

    [Fact]
    public void Every_presets_default_padding_is_under_one_percent()
    {
        foreach (KvCacheSpec spec in new[] { KvCacheSpec.Llama3_8B(), KvCacheSpec.Llama3_70B(), KvCacheSpec.Mistral7B(), KvCacheSpec.Qwen25_7B(), KvCacheSpec.TinyLlama_1_1B(), KvCacheSpec.Llama3_8B(tokensPerBlock: 1) })
        {
            using BlockPool pool = TestPools.Create(capacity: 4, spec: spec, alignment: 0);
            Assert.True(pool.GetStatistics().Overhead < 0.01, $"{spec}: {pool.GetStatistics().Overhead:P2}");
        }
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 3)]
    [InlineData(true, 2)]
    public void A_failed_slab_allocation_frees_what_was_taken_and_says_so(bool throwOutOfMemory, int failingCall)
    {
        var allocator = new FailingAllocator(throwOutOfMemory, failingCall);
        long live = BlockPool.LiveNativeBytes;
        var error = Assert.Throws<NativeAllocationException>(() => TestPools.Create(capacity: 8, blocksPerSlab: 2, allocator: allocator));
        Assert.Contains($"Could not allocate native slab {failingCall} of 4", error.Message, StringComparison.Ordinal);
        Assert.Contains($"The {failingCall - 1} slab(s) already taken were freed", error.Message, StringComparison.Ordinal);
        Assert.Equal(8 * 256, error.RequestedBytes);
        Assert.Equal(throwOutOfMemory, error.InnerException is OutOfMemoryException);
        Assert.Equal(0, allocator.Live);
        Assert.Equal(live, BlockPool.LiveNativeBytes);
    }
}
