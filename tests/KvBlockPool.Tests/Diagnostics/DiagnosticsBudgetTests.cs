namespace KvBlockPool.Tests.Diagnostics;

public sealed class DiagnosticsBudgetTests
{
    [Fact]
    public void A_byte_budget_holds_in_diagnostics_mode_even_when_the_guard_leaves_the_last_slab_part_full()
    {
        // 256-byte blocks + a 64-byte guard: a 320-byte stride; 7 blocks in slabs of 3 are 3 + 3 + 1.
        using BlockPool pool = TestPools.Create(layers: 4, capacityBytes: 7 * 320, blocksPerSlab: 3, diagnostics: true);

        Assert.Equal(7, pool.Capacity);
        Assert.Equal(7 * 320, pool.NativeBytes); // not 9 blocks' worth: the last slab holds one block

        // Every block, including the one in the short last slab, is fully writable and its guard intact.
        var agent = new AgentId(1);
        KvBlock[] blocks = pool.Allocate(agent, layer: 0, count: 7);
        foreach (KvBlock block in blocks)
        {
            pool.GetBlockSpan(block).Fill(0x5A);
        }

        pool.Free(agent, blocks);
        Assert.Equal(7, pool.AvailableBlocks);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void Diagnostics_mode_costs_a_guard_per_block_in_native_memory()
    {
        using BlockPool plain = TestPools.Create(capacity: 10, layers: 4, diagnostics: false);
        using BlockPool checkedPool = TestPools.Create(capacity: 10, layers: 4, diagnostics: true);

        Assert.Equal(10 * 256, plain.NativeBytes);
        Assert.Equal(10 * 320, checkedPool.NativeBytes);
    }
}
