namespace KvBlockPool.Tests.Core;

/// <summary>Run under every clear mode, with diagnostics off and on (<see cref="PoolVariantTests"/>).</summary>
public abstract class AllocationTests(BlockClearMode clearMode, bool diagnostics) : PoolVariantTests(clearMode, diagnostics)
{
    public sealed class Zeroed() : AllocationTests(BlockClearMode.ZeroOnFree, diagnostics: false);

    public sealed class Uncleared() : AllocationTests(BlockClearMode.None, diagnostics: false);

    public sealed class ZeroedWithDiagnostics() : AllocationTests(BlockClearMode.ZeroOnFree, diagnostics: true);

    public sealed class UnclearedWithDiagnostics() : AllocationTests(BlockClearMode.None, diagnostics: true);

    private static readonly AgentId Agent = new(7);

    [Fact]
    public void Allocate_one_block_appends_it_to_the_agents_layer()
    {
        using BlockPool pool = CreatePool(capacity: 8);
        KvBlock first = pool.Allocate(Agent, 1);
        KvBlock second = pool.Allocate(Agent, 1);
        Assert.Equal((0, 1, 1u), (first.Id, first.Layer, first.Generation));
        Assert.Equal([0, 1], pool.GetAgentBlocks(Agent).GetBlockIds(1).ToArray());
        Assert.Equal((2, 6, 2, 1), (pool.AllocatedBlocks, pool.AvailableBlocks, pool.HighWaterMark, pool.AgentCount));
        Assert.True(pool.ContainsAgent(Agent));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Allocate_count_returns_the_handles_in_list_order()
    {
        using BlockPool pool = CreatePool(capacity: 8);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 3);
        Assert.Equal(pool.GetAgentBlocks(Agent).GetBlocks(0), blocks);
        Assert.Equal(3, pool.GetBlockCount(Agent, 0));
    }

    [Fact]
    public void Allocate_into_a_span_fills_it_and_Try_reports_success()
    {
        using BlockPool pool = CreatePool(capacity: 8);
        Span<KvBlock> buffer = stackalloc KvBlock[3];
        pool.Allocate(Agent, 0, buffer);
        Assert.Equal([0, 1, 2], buffer.ToArray().Select(b => b.Id));
        Assert.True(pool.TryAllocate(Agent, 1, buffer));
        Assert.Equal([3, 4, 5], buffer.ToArray().Select(b => b.Id));
        Assert.Equal(6, pool.GetBlockCount(Agent));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void AllocateAllLayers_gives_every_layer_its_blocks_layer_major()
    {
        using BlockPool pool = CreatePool(capacity: 10, layers: 3);
        KvBlock[] blocks = pool.AllocateAllLayers(Agent, 2);
        Assert.Equal([0, 0, 1, 1, 2, 2], blocks.Select(b => b.Layer));
        AgentBlocks view = pool.GetAgentBlocks(Agent);
        Assert.Equal(blocks[..2], view.GetBlocks(0));
        Assert.Equal(blocks[4..], view.GetBlocks(2));

        Span<KvBlock> one = stackalloc KvBlock[3];
        pool.AllocateAllLayers(Agent, 1, one);
        Assert.False(pool.TryAllocateAllLayers(Agent, 1, one)); // 1 left, 3 needed
        Assert.Equal(3, pool.GetBlockCount(Agent, 1));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void An_exhausted_allocation_throws_with_the_counts_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        pool.Allocate(Agent, 0, 3);
        var error = PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(
            pool, () => pool.Allocate(new AgentId(9), 1, 2), "Cannot allocate 2 block(s): only 1 of 4 are available", "Nothing was allocated");
        Assert.Equal((2, 1, 4), (error.Requested, error.Available, error.Capacity));
        Assert.False(pool.ContainsAgent(new AgentId(9)));
        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => pool.Allocate(Agent, 1, new KvBlock[2]), "only 1 of 4");
        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => pool.AllocateAllLayers(Agent, 1), "Cannot allocate 2");
        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => pool.AllocateAllLayers(Agent, 1, new KvBlock[2]), "Cannot allocate 2");
    }

    [Fact]
    public void A_Try_allocation_that_cannot_be_met_returns_false_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 4);
        pool.Allocate(Agent, 0, 3);
        string before = PoolAssert.Snapshot(pool);
        var buffer = new KvBlock[2];
        Assert.False(pool.TryAllocate(new AgentId(9), 0, buffer));
        Assert.False(pool.TryAllocateAllLayers(new AgentId(9), 1, buffer));
        Assert.Equal(new KvBlock[2], buffer);
        Assert.Equal(before, PoolAssert.Snapshot(pool));
        PoolAssert.Invariants(pool);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(2)]
    [InlineData(int.MinValue)]
    public void A_layer_out_of_range_is_rejected_and_changes_nothing(int layer)
    {
        using BlockPool pool = CreatePool(capacity: 4);
        pool.Allocate(Agent, 0);
        var error = PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Allocate(Agent, layer), "Layer must be between 0 and 1 (the spec has 2 layers)");
        Assert.Equal("layer", error.ParamName);
        Assert.Equal(layer, error.ActualValue);
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Allocate(Agent, layer, 2), "Layer must be between 0 and 1");
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.TryAllocate(Agent, layer, new KvBlock[1]), "Layer must be between 0 and 1");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void A_count_below_one_is_rejected_and_changes_nothing(int count)
    {
        using BlockPool pool = CreatePool(capacity: 4);
        pool.Allocate(Agent, 0);
        Assert.Equal("count", PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Allocate(Agent, 0, count)).ParamName);
        Assert.Equal("blocksPerLayer", PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.AllocateAllLayers(Agent, count)).ParamName);
        Assert.Equal("blocksPerLayer", PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.AllocateAllLayers(Agent, count, new KvBlock[2])).ParamName);
    }

    [Fact]
    public void An_empty_or_wrongly_sized_destination_is_rejected_and_changes_nothing()
    {
        using BlockPool pool = CreatePool(capacity: 8, layers: 3);
        pool.Allocate(Agent, 0);
        var empty = PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => pool.Allocate(Agent, 0, Span<KvBlock>.Empty), "The destination is empty");
        Assert.Equal("destination", empty.ParamName);
        PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => pool.TryAllocate(Agent, 0, []), "The destination is empty");
        var length = PoolAssert.ThrowsAndChangesNothing<ArgumentException>(
            pool, () => pool.AllocateAllLayers(Agent, 2, new KvBlock[5]), "The destination holds 5 handles; 2 block(s) on each of 3 layers needs exactly 6");
        Assert.Equal("destination", length.ParamName);
        PoolAssert.ThrowsAndChangesNothing<ArgumentException>(pool, () => pool.TryAllocateAllLayers(Agent, 1, new KvBlock[4]), "needs exactly 3");
    }

    [Fact]
    public void The_high_water_mark_keeps_the_peak()
    {
        using BlockPool pool = CreatePool(capacity: 8);
        pool.Allocate(Agent, 0, 5);
        pool.FreeAgent(Agent);
        pool.Allocate(Agent, 1, 2);
        Assert.Equal((2, 5), (pool.AllocatedBlocks, pool.HighWaterMark));
        Assert.Equal(5, pool.GetStatistics().HighWaterMark);
    }

    [Fact]
    public void A_freed_block_comes_back_with_a_new_generation()
    {
        using BlockPool pool = CreatePool(capacity: 1);
        KvBlock first = pool.Allocate(Agent, 0);
        pool.Free(Agent, first);
        KvBlock second = pool.Allocate(new AgentId(8), 1);
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(first.Generation + 2, second.Generation);
        Assert.NotEqual(first, second);
    }
}
