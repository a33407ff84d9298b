using KvBlockPool.Lifecycle;
using System.Runtime.CompilerServices;
using KvBlockPool.Tests.Core;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Diagnostics;

/// <summary>
/// Diagnostics mode: poison checked when a block is handed out, guard bytes checked when it is freed (by the pool
/// and through the lifecycle layer), allocation stacks in leak reports; and none of it when the mode is off.
/// </summary>
public sealed unsafe class DiagnosticsModeTests
{
    private static readonly AgentId Writer = new(11);
    private static readonly AgentId Victim = new(12);

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree, 0x00)]
    [InlineData(BlockClearMode.None, 0xDB)]
    public void Blocks_are_handed_out_zeroed_or_poisoned_with_guard_bytes_after_them(BlockClearMode mode, byte expected)
    {
        using BlockPool pool = TestPools.Create(capacity: 4, clearMode: mode, diagnostics: true);
        Assert.True(pool.DiagnosticsEnabled);
        Assert.Equal(4 * 320, pool.NativeBytes); // 256 data + 64 guard, 64-aligned
        KvBlock block = pool.Allocate(Writer, 0);
        Assert.Equal(-1, pool.GetBlockSpan(block).IndexOfAnyExcept(expected));
        pool.GetBlockSpan(block).Fill(1);
        pool.Free(Writer, block);
        KvBlock again = pool.Allocate(Writer, 1);
        Assert.Equal(block.Id, again.Id);
        Assert.Equal(-1, pool.GetBlockSpan(again).IndexOfAnyExcept(expected));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_write_after_free_through_a_kept_pointer_is_reported_at_the_next_allocation_with_block_owner_and_layer()
    {
        var logs = new CapturingLoggerFactory();
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 4, diagnostics: true, loggerFactory: logs);
        KvBlock block = pool.Allocate(Writer, layer: 2);
        byte* kept = pool.GetPointer(block);
        pool.Free(Writer, block);

        kept[100] = 0x42; // the bug: a kernel still writing through a pointer taken before Free

        BlockCorruptionException error = PoolAssert.ThrowsAndChangesNothing<BlockCorruptionException>(
            pool,
            () => pool.Allocate(Victim, layer: 0),
            "Block 0 was written after it was freed: byte 100 is 0x42",
            "its last owner was agent 11 on layer 2");
        Assert.Equal((BlockCorruptionKind.WriteAfterFree, block.Id, Writer, 2, 100), (error.Kind, error.BlockId, error.Owner, error.Layer, error.ByteOffset));
        Assert.False(pool.ContainsAgent(Victim));
        LogEntry logged = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Contains("found corrupted memory", logged.Message, StringComparison.Ordinal);
        Assert.Contains("was written after it was freed", logged.Message, StringComparison.Ordinal);

        // Reported once: the block was poisoned again, so the retry gets it.
        KvBlock again = pool.Allocate(Victim, layer: 0);
        Assert.Equal(block.Id, again.Id);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void A_write_to_a_never_allocated_block_says_so()
    {
        using BlockPool pool = TestPools.Create(capacity: 2, diagnostics: true);
        KvBlock block = pool.Allocate(Writer, 0);
        pool.GetPointer(block)[320] = 1; // the next block, never allocated

        var error = PoolAssert.ThrowsAndChangesNothing<BlockCorruptionException>(pool, () => pool.Allocate(Writer, 1), "it has not been allocated before");
        Assert.Equal(-1, error.Layer);
    }

    [Fact]
    public void A_write_past_the_end_of_a_block_is_reported_when_it_is_freed_and_the_free_still_happens()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 4, diagnostics: true);
        KvBlock[] blocks = pool.Allocate(Writer, layer: 3, count: 2);
        KvBlock block = blocks[0]; // block 0: the report docs/diagnostics.md shows
        int size = pool.Spec.BytesPerBlock;
        byte* data = pool.GetPointer(block);
        new Span<byte>(data, size).Fill(7); // writing the whole block is fine
        data[size + 5] = 0; // 6 bytes past the end: the overrun lands in the guard

        BlockCorruptionException error = Assert.Throws<BlockCorruptionException>(() => pool.Free(Writer, blocks));

        Assert.Equal((BlockCorruptionKind.Overrun, block.Id, Writer, 3, size + 5), (error.Kind, error.BlockId, error.Owner, error.Layer, error.ByteOffset));
        Assert.Contains("Block 0 (layer 3) of agent 11 was written past its end: guard byte 5 (block offset 261) is 0x00", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, pool.AllocatedBlocks); // both blocks were freed
        Assert.Throws<DoubleFreeException>(() => pool.Free(Writer, block));
        PoolAssert.Invariants(pool);

        // The guard was restored: the blocks are handed out and freed again without a report.
        KvBlock[] again = pool.Allocate(Victim, layer: 0, count: 2);
        Assert.Equal(blocks.Select(b => b.Id).Order(), again.Select(b => b.Id).Order());
        pool.Free(Victim, again);
        PoolAssert.Invariants(pool);

        // FreeAgent reports an overrun too, and still frees everything.
        KvBlock[] next = pool.Allocate(Victim, layer: 1, count: 2);
        pool.GetPointer(next[1])[300] = 7;
        Assert.Equal(BlockCorruptionKind.Overrun, Assert.Throws<BlockCorruptionException>(() => pool.FreeAgent(Victim)).Kind);
        Assert.Equal(0, pool.AllocatedBlocks);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Rolling_back_a_scope_in_diagnostics_mode_poisons_its_blocks()
    {
        using BlockPool pool = TestPools.Create(capacity: 4, clearMode: BlockClearMode.None, diagnostics: true);
        using (AllocationScope scope = pool.BeginScope(Writer))
        {
            pool.GetBlockSpan(scope.Allocate(0)).Fill(5);
        }

        Assert.Equal(-1, pool.GetBlockSpan(pool.Allocate(Writer, 0)).IndexOfAnyExcept((byte)0xDB));
    }

    [Fact]
    public void The_lifecycle_layer_surfaces_an_overrun_found_by_truncate_and_keeps_its_books_in_step()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 4, diagnostics: true);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Writer, promptTokens: 8); // 2 blocks per layer
        int[] ids = new int[2];
        pool.CopyBlockIds(Writer, layer: 1, ids);
        KvBlock tail = pool.GetAgentBlocks(Writer).GetBlock(layer: 1, index: 1);
        pool.GetPointer(tail)[pool.Spec.BytesPerBlock] = 0;

        BlockCorruptionException error = Assert.Throws<BlockCorruptionException>(() => manager.Truncate(Writer, 4));

        Assert.Equal(BlockCorruptionKind.Overrun, error.Kind);
        Assert.Equal(ids[1], error.BlockId);
        Assert.Equal(1, error.Layer);
        Assert.Equal(Writer, error.Owner);
        AgentCacheInfo info = manager.GetInfo(Writer);
        Assert.Equal(4, info.Tokens);
        Assert.Equal(1, info.BlocksPerLayer);
        Assert.Equal(4, pool.GetBlockCount(Writer));
        Assert.Equal(4, manager.TotalBlocks);
        Assert.Equal(4, manager.Release(Writer));
        Assert.Equal(0, pool.AllocatedBlocks);
    }

    [Fact]
    public void The_lifecycle_layer_surfaces_an_overrun_found_by_release_and_forgets_the_agent()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 4, diagnostics: true);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Writer, promptTokens: 8);
        KvBlock last = pool.GetAgentBlocks(Writer).GetBlock(layer: 3, index: 1);
        pool.GetPointer(last)[pool.Spec.BytesPerBlock + 63] = 1; // the last guard byte

        BlockCorruptionException error = Assert.Throws<BlockCorruptionException>(() => manager.Release(Writer));

        Assert.Equal((BlockCorruptionKind.Overrun, last.Id, 3, pool.Spec.BytesPerBlock + 63), (error.Kind, error.BlockId, error.Layer, error.ByteOffset));
        Assert.False(manager.IsAdmitted(Writer));
        Assert.Equal(0, manager.AgentCount);
        Assert.Equal(0, manager.TotalBlocks);
        Assert.Equal(0, pool.AllocatedBlocks);
        manager.Admit(Writer, promptTokens: 1); // the id is free again
    }

    [Fact]
    public void Disposing_the_manager_still_releases_an_agent_whose_block_was_overrun()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 4, diagnostics: true);
        var manager = new AgentCacheManager(pool);
        manager.Admit(Writer, promptTokens: 4);
        pool.GetPointer(pool.GetAgentBlocks(Writer).GetBlock(layer: 0, index: 0))[pool.Spec.BytesPerBlock] = 9;

        manager.Dispose(); // the pool logs the overrun; dispose must not throw, and must not leak

        Assert.Equal(4, manager.LiveAgentsAtDispose![Writer]);
        Assert.Equal(0, pool.AllocatedBlocks);
    }

    [Fact]
    public void The_lifecycle_layer_refuses_an_append_onto_a_block_written_after_free_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 4, diagnostics: true);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Victim, promptTokens: 4); // one full block per layer
        KvBlock stray = pool.Allocate(Writer, layer: 0);
        byte* kept = pool.GetPointer(stray);
        pool.Free(Writer, stray);
        kept[0] = 1;
        AgentCacheInfo before = manager.GetInfo(Victim);

        BlockCorruptionException error = Assert.Throws<BlockCorruptionException>(() => manager.Append(Victim));

        Assert.Equal(BlockCorruptionKind.WriteAfterFree, error.Kind);
        Assert.Equal(stray.Id, error.BlockId);
        Assert.Equal(Writer, error.Owner);
        Assert.Equal(before, manager.GetInfo(Victim));
        Assert.Equal(4, pool.GetBlockCount(Victim));
        Assert.Equal(1, manager.Append(Victim)); // the poison was restored
    }

    [Fact]
    public void A_leak_report_in_diagnostics_mode_names_the_code_that_allocated_the_leaked_blocks_and_keeps_at_most_16_stacks()
    {
        BlockPool pool = TestPools.Create(capacity: 40, layers: 4, diagnostics: true);
        LeakThreeBlocks(pool);
        using (AllocationScope scope = pool.BeginScope(Victim))
        {
            scope.Allocate(0);
            scope.Commit();
        }

        for (int i = 0; i < 20; i++)
        {
            AllocateFrom(pool, i, new AgentId(100 + i)); // more distinct stacks (each an owner's first allocation) than the report keeps
        }

        pool.Dispose();

        BlockLeakReport report = Assert.IsType<BlockLeakReport>(pool.LeakReport);
        Assert.Equal(24, report.TotalBlocks);
        Assert.Equal(3, report.BlocksByAgent[Writer]);
        Assert.Equal(16, report.AllocationStacks.Count);
        KeyValuePair<string, int> leaker = Assert.Single(report.AllocationStacks, s => s.Key.Contains(nameof(LeakThreeBlocks), StringComparison.Ordinal));
        Assert.Equal(3, leaker.Value);
        Assert.Contains("block(s) allocated at:", report.ToString(), StringComparison.Ordinal);
        Assert.Contains(nameof(LeakThreeBlocks), report.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_diagnostics_there_are_no_guard_bytes_no_stacks_and_no_checks()
    {
        using BlockPool plain = TestPools.Create(capacity: 8, layers: 4, clearMode: BlockClearMode.None, diagnostics: false);
        using BlockPool checkedPool = TestPools.Create(capacity: 8, layers: 4, diagnostics: true);

        Assert.False(plain.DiagnosticsEnabled);
        Assert.True(checkedPool.DiagnosticsEnabled);
        Assert.Equal((8L * 256, 8L * 320), (plain.NativeBytes, checkedPool.NativeBytes)); // 256-byte blocks: stride 256 without, 320 with the guard

        KvBlock block = plain.Allocate(Writer, layer: 0);
        byte* kept = plain.GetPointer(block);
        plain.Free(Writer, block);
        kept[0] = 0x42;
        KvBlock again = plain.Allocate(Victim, layer: 0); // not detected: the check costs nothing when off
        Assert.Equal(0x42, plain.GetBlockSpan(again)[0]);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LeakThreeBlocks(BlockPool pool) => pool.Allocate(Writer, layer: 1, count: 3);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AllocateFrom(BlockPool pool, int depth, AgentId agent)
    {
        if (depth > 0)
        {
            AllocateFrom(pool, depth - 1, agent);
            return;
        }

        pool.Allocate(agent, 0);
    }

    [Fact]
    public void Stacks_are_sampled_and_an_unsampled_block_is_reported_with_its_owners_latest_stack()
    {
        const int Interval = KvBlockPool.Scrubbing.DiagnosticScrubber.StackSamplingInterval;
        const int Blocks = (2 * Interval) + 1;
        BlockPool pool = TestPools.Create(capacity: Blocks, layers: 1, diagnostics: true);
        AdmitWriter(pool);
        for (int i = 1; i < Blocks; i++)
        {
            GrowWriter(pool);
        }

        pool.Dispose();
        BlockLeakReport report = Assert.IsType<BlockLeakReport>(pool.LeakReport);
        Assert.Equal(Blocks, report.TotalBlocks);

        // Every block is attributed: the admission's stack until a growth call was sampled, the growth after it.
        Assert.Equal(Blocks, report.AllocationStacks.Values.Sum());
        int admitted = Assert.Single(report.AllocationStacks, s => s.Key.Contains(nameof(AdmitWriter), StringComparison.Ordinal)).Value;
        int grown = Assert.Single(report.AllocationStacks, s => s.Key.Contains(nameof(GrowWriter), StringComparison.Ordinal)).Value;
        Assert.Equal(Blocks, admitted + grown);
        Assert.InRange(admitted, 1, Interval);
    }

    [Fact]
    public void A_write_after_free_deep_in_the_last_block_checked_refuses_the_allocation_and_leaves_the_other_blocks_poisoned()
    {
        // 32 KiB blocks: the check runs in 8 KiB chunks, zeroing each chunk it passed.
        using BlockPool pool = TestPools.Create(capacity: 4, spec: new KvCacheSpec(1, 4, 64, 16, KvElementType.Float32), diagnostics: true);
        KvBlock[] blocks = pool.Allocate(Writer, 0, 3);
        byte* first = pool.GetPointer(blocks[0]);
        foreach (KvBlock block in blocks)
        {
            pool.Free(Writer, block); // one at a time: blocks[0] is the third from the top of the free stack
        }

        first[20_000] = 0x42;
        BlockCorruptionException error = PoolAssert.ThrowsAndChangesNothing<BlockCorruptionException>(pool, () => pool.Allocate(Victim, 0, 3));
        Assert.Equal((blocks[0].Id, 20_000), (error.BlockId, error.ByteOffset));

        // Reported once; every block was poisoned again, so the next allocation finds nothing and gets zeroed blocks.
        KvBlock[] again = pool.Allocate(Victim, 0, 3);
        Assert.All(again, b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AdmitWriter(BlockPool pool) => pool.Allocate(Writer, 0);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void GrowWriter(BlockPool pool) => pool.Allocate(Writer, 0);
}
