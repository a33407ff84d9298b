using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Diagnostics;

public sealed unsafe class DiagnosticsModeTests
{
    private static readonly AgentId Writer = new(11);
    private static readonly AgentId Victim = new(12);

    [Fact]
    public void A_write_after_free_through_a_kept_pointer_is_reported_at_the_next_allocation_with_block_owner_and_layer()
    {
        var logs = new CapturingLoggerFactory();
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 4, diagnostics: true, loggerFactory: logs);
        KvBlock block = pool.Allocate(Writer, layer: 2);
        byte* kept = pool.GetPointer(block);
        pool.Free(Writer, block);

        kept[100] = 0x42; // the bug: a kernel still writing through a pointer taken before Free

        string before = pool.DescribeState();
        BlockCorruptionException error = Assert.Throws<BlockCorruptionException>(() => pool.Allocate(Victim, layer: 0));
        Assert.Equal(BlockCorruptionKind.WriteAfterFree, error.Kind);
        Assert.Equal(block.Id, error.BlockId);
        Assert.Equal(Writer, error.Owner);
        Assert.Equal(2, error.Layer);
        Assert.Equal(100, error.ByteOffset);
        Assert.Contains($"Block {block.Id} was written after it was freed", error.Message, StringComparison.Ordinal);
        Assert.Contains("its last owner was agent 11 on layer 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, pool.DescribeState()); // the allocation was refused and nothing changed
        Assert.False(pool.ContainsAgent(Victim));
        LogEntry logged = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Contains("was written after it was freed", logged.Message, StringComparison.Ordinal);

        // Reported once: the block was poisoned again, so the retry gets it.
        KvBlock again = pool.Allocate(Victim, layer: 0);
        Assert.Equal(block.Id, again.Id);
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public void A_write_past_the_end_of_a_block_is_reported_when_it_is_freed_and_the_free_still_happens()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 4, diagnostics: true);
        KvBlock block = pool.Allocate(Writer, layer: 3);
        int size = pool.Spec.BytesPerBlock;
        byte* data = pool.GetPointer(block);
        new Span<byte>(data, size).Fill(7); // writing the whole block is fine
        data[size + 5] = 0; // one byte too far: the overrun lands in the guard

        BlockCorruptionException error = Assert.Throws<BlockCorruptionException>(() => pool.Free(Writer, block));

        Assert.Equal(BlockCorruptionKind.Overrun, error.Kind);
        Assert.Equal(block.Id, error.BlockId);
        Assert.Equal(Writer, error.Owner);
        Assert.Equal(3, error.Layer);
        Assert.Equal(size + 5, error.ByteOffset);
        Assert.Contains($"Block {block.Id} (layer 3) of agent 11 was written past its end", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.Throws<DoubleFreeException>(() => pool.Free(Writer, block));

        // The guard was restored: the block is handed out and freed again without a report.
        KvBlock again = pool.Allocate(Victim, layer: 0);
        Assert.Equal(block.Id, again.Id);
        pool.Free(Victim, again);
        Assert.Null(pool.FindInvariantViolation());
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
    public void A_leak_report_in_diagnostics_mode_names_the_code_that_allocated_the_leaked_blocks()
    {
        BlockPool pool = TestPools.Create(capacity: 16, layers: 4, diagnostics: true);
        LeakThreeBlocks(pool);
        pool.Allocate(Victim, layer: 0);

        pool.Dispose();

        BlockLeakReport report = Assert.IsType<BlockLeakReport>(pool.LeakReport);
        Assert.Equal(4, report.TotalBlocks);
        Assert.Equal(3, report.BlocksByAgent[Writer]);
        KeyValuePair<string, int> leaker = Assert.Single(report.AllocationStacks, s => s.Key.Contains(nameof(LeakThreeBlocks), StringComparison.Ordinal));
        Assert.Equal(3, leaker.Value);
        Assert.Contains(nameof(LeakThreeBlocks), report.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_diagnostics_there_are_no_guard_bytes_no_stacks_and_no_checks()
    {
        using BlockPool plain = TestPools.Create(capacity: 8, layers: 4, clearMode: BlockClearMode.None, diagnostics: false);
        using BlockPool checkedPool = TestPools.Create(capacity: 8, layers: 4, diagnostics: true);

        Assert.False(plain.DiagnosticsEnabled);
        Assert.True(checkedPool.DiagnosticsEnabled);
        Assert.True(checkedPool.NativeBytes > plain.NativeBytes); // 256-byte blocks: stride 256 without, 320 with the guard

        KvBlock block = plain.Allocate(Writer, layer: 0);
        byte* kept = plain.GetPointer(block);
        plain.Free(Writer, block);
        kept[0] = 0x42;
        KvBlock again = plain.Allocate(Victim, layer: 0); // not detected: the check costs nothing when off
        Assert.Equal(0x42, plain.GetBlockSpan(again)[0]);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LeakThreeBlocks(BlockPool pool) => pool.Allocate(Writer, layer: 1, count: 3);
}
