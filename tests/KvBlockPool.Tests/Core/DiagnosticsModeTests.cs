using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Core;

/// <summary>The core's diagnostics paths: poison checked at allocation, guard bytes checked at free, allocation stacks in leak reports.</summary>
public sealed class DiagnosticsModeTests
{
    private static readonly AgentId Agent = new(41);

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree, 0x00)]
    [InlineData(BlockClearMode.None, 0xDB)]
    public void Blocks_are_handed_out_zeroed_or_poisoned_with_guard_bytes_after_them(BlockClearMode mode, byte expected)
    {
        using BlockPool pool = TestPools.Create(capacity: 4, clearMode: mode, diagnostics: true);
        Assert.True(pool.DiagnosticsEnabled);
        Assert.Equal(4 * 320, pool.NativeBytes); // 256 data + 64 guard, 64-aligned
        KvBlock block = pool.Allocate(Agent, 0);
        Assert.Equal(-1, pool.GetBlockSpan(block).IndexOfAnyExcept(expected));
        pool.GetBlockSpan(block).Fill(1);
        pool.Free(Agent, block);
        KvBlock again = pool.Allocate(Agent, 1);
        Assert.Equal(block.Id, again.Id);
        Assert.Equal(-1, pool.GetBlockSpan(again).IndexOfAnyExcept(expected));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_write_after_free_is_caught_at_the_next_allocation_naming_the_last_owner()
    {
        var logs = new CapturingLoggerFactory();
        using BlockPool pool = TestPools.Create(capacity: 2, diagnostics: true, loggerFactory: logs);
        KvBlock block = pool.Allocate(Agent, 1);
        Span<byte> kept = pool.GetBlockSpan(block);
        pool.Free(Agent, block);
        kept[17] = 0x42; // the bug: a span kept past Free

        var error = PoolAssert.ThrowsAndChangesNothing<BlockCorruptionException>(
            pool, () => pool.Allocate(new AgentId(42), 0), "Block 0 was written after it was freed: byte 17 is 0x42", "its last owner was agent 41 on layer 1");
        Assert.Equal((BlockCorruptionKind.WriteAfterFree, 0, Agent, 1, 17), (error.Kind, error.BlockId, error.Owner, error.Layer, error.ByteOffset));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("found corrupted memory", StringComparison.Ordinal));

        // Reported once: the block was re-poisoned and can be handed out.
        Assert.Equal(0, pool.Allocate(new AgentId(42), 0).Id);
    }

    [Fact]
    public void A_write_to_a_never_allocated_block_says_so()
    {
        using BlockPool pool = TestPools.Create(capacity: 2, diagnostics: true);
        KvBlock block = pool.Allocate(Agent, 0);
        unsafe
        {
            pool.GetPointer(block)[320] = 1; // the next block, never allocated
        }

        var error = PoolAssert.ThrowsAndChangesNothing<BlockCorruptionException>(pool, () => pool.Allocate(Agent, 1), "it has not been allocated before");
        Assert.Equal(-1, error.Layer);
    }

    [Fact]
    public void An_overrun_is_caught_at_free_and_the_free_still_takes_effect()
    {
        using BlockPool pool = TestPools.Create(capacity: 4, diagnostics: true);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 2);
        unsafe
        {
            pool.GetPointer(blocks[1])[256 + 5] = 0; // 6 bytes past the end
        }

        var error = Assert.Throws<BlockCorruptionException>(() => pool.Free(Agent, blocks));
        Assert.Equal((BlockCorruptionKind.Overrun, blocks[1].Id, 261), (error.Kind, error.BlockId, error.ByteOffset));
        Assert.Contains("was written past its end: guard byte 5 (block offset 261) is 0x00", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, pool.AllocatedBlocks);
        PoolAssert.Invariants(pool);

        // The guard was restored: the next owner's free is clean. FreeAgent reports an overrun too.
        KvBlock[] again = pool.Allocate(Agent, 1, 2);
        pool.Free(Agent, again[0]);
        unsafe
        {
            pool.GetPointer(again[1])[300] = 7;
        }

        Assert.Equal(BlockCorruptionKind.Overrun, Assert.Throws<BlockCorruptionException>(() => pool.FreeAgent(Agent)).Kind);
        Assert.Equal(0, pool.AllocatedBlocks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_leak_report_keeps_the_stacks_that_allocated_leaked_blocks()
    {
        BlockPool pool = TestPools.Create(capacity: 40, diagnostics: true);
        AllocateHere(pool);
        using (AllocationScope scope = pool.BeginScope(Agent))
        {
            scope.Allocate(1);
            scope.Commit();
        }

        for (int i = 0; i < 20; i++)
        {
            AllocateFrom(pool, i); // more distinct stacks than the report keeps
        }

        pool.Dispose();
        BlockLeakReport report = pool.LeakReport!;
        Assert.Equal(23, report.TotalBlocks);
        Assert.Equal(16, report.AllocationStacks.Count);
        Assert.Contains(report.AllocationStacks, s => s.Key.Contains(nameof(AllocateHere), StringComparison.Ordinal) && s.Value == 2);
        Assert.Contains("block(s) allocated at:", report.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Rolling_back_a_scope_in_diagnostics_mode_poisons_its_blocks()
    {
        using BlockPool pool = TestPools.Create(capacity: 4, clearMode: BlockClearMode.None, diagnostics: true);
        using (AllocationScope scope = pool.BeginScope(Agent))
        {
            pool.GetBlockSpan(scope.Allocate(0)).Fill(5);
        }

        Assert.Equal(-1, pool.GetBlockSpan(pool.Allocate(Agent, 0)).IndexOfAnyExcept((byte)0xDB));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void AllocateHere(BlockPool pool) => pool.Allocate(Agent, 0, 2);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void AllocateFrom(BlockPool pool, int depth)
    {
        if (depth > 0)
        {
            AllocateFrom(pool, depth - 1);
            return;
        }

        pool.Allocate(new AgentId(depth + 100), 0);
    }
}
