using System.Diagnostics;
using System.Globalization;
using KvBlockPool.Core;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Building a pool must not touch its memory where fresh mappings read as zeros (the kernel's zero pages stand in for
/// the construction-time clear), every block handed out must still read as zeros, and <see cref="BlockPool.WarmUpAsync"/>
/// must make every page resident without changing a byte, even while owners write.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class StartupTests(ITestOutputHelper output)
{
    private const long PoolBytes = 64L * 1024 * 1024;
    private static readonly AgentId Agent = new(13);

    [Fact]
    public void A_zeroed_pool_is_built_without_touching_its_memory_where_slabs_are_mapped()
    {
        if (!AnonymousMapping.IsSupported)
        {
            return; // the heap fallback zeroes at construction, as before
        }

        MemoryTests.Settle();
        long rssBefore = MemoryTests.ProcessMemory("VmRSS");
        var clock = Stopwatch.StartNew();
        using BlockPool pool = TestPools.Create(spec: KvCacheSpec.Llama3_8B(), capacityBytes: 4 * PoolBytes, alignment: 0);
        clock.Stop();
        long rssWith = MemoryTests.ProcessMemory("VmRSS");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"256 MiB zeroed pool built in {clock.Elapsed.TotalMilliseconds:F1} ms; RSS {rssBefore >> 20} -> {rssWith >> 20} MiB"));
        Assert.Equal(4 * PoolBytes, pool.NativeBytes);
        Assert.True(rssWith - rssBefore < PoolBytes / 4, $"building a zeroed 256 MiB pool made {(rssWith - rssBefore) >> 20} MiB resident");

        KvBlock[] blocks = pool.Allocate(Agent, 0, pool.Capacity);
        Assert.All(blocks, b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));
    }

    [Theory]
    [InlineData(BlockClearMode.ZeroOnFree, false)]
    [InlineData(BlockClearMode.ZeroOnFree, true)]
    public void Every_block_of_a_zeroing_pool_reads_as_zeros_when_handed_out_first_and_again(BlockClearMode clearMode, bool diagnostics)
    {
        using BlockPool pool = TestPools.Create(capacity: 40, blocksPerSlab: 16, clearMode: clearMode, diagnostics: diagnostics, spec: KvCacheSpec.TinyLlama_1_1B(), alignment: 0);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 40);
        Assert.All(blocks, b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));
        foreach (KvBlock block in blocks)
        {
            pool.GetBlockSpan(block).Fill(7);
        }

        pool.FreeAgent(Agent);
        Assert.All(pool.Allocate(Agent, 1, 40), b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));
    }

    [Fact]
    public void A_heap_slab_is_cleared_at_construction_and_only_a_slab_that_comes_zeroed_is_not()
    {
        using BlockPool heap = TestPools.Create(capacity: 8, blocksPerSlab: 3, allocator: new DirtyHeapAllocator(NativeMemoryOrigin.Heap));
        Assert.All(heap.Allocate(Agent, 0, 8), b => Assert.Equal(-1, heap.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));

        // The pool trusts the origin: memory reported fresh is not cleared (here it is dirty, so the skip shows).
        using BlockPool trusted = TestPools.Create(capacity: 8, blocksPerSlab: 3, allocator: new DirtyHeapAllocator(NativeMemoryOrigin.FreshMapping));
        Assert.All(trusted.Allocate(Agent, 0, 8), b => Assert.Equal(-1, trusted.GetBlockSpan(b).IndexOfAnyExcept(DirtyHeapAllocator.Dirt)));

        // Diagnostics mode poisons everything whatever the origin.
        using BlockPool diagnostics = TestPools.Create(capacity: 8, blocksPerSlab: 3, diagnostics: true, clearMode: BlockClearMode.None, allocator: new DirtyHeapAllocator(NativeMemoryOrigin.FreshMapping));
        KvBlock block = diagnostics.Allocate(Agent, 0);
        Assert.Equal(-1, diagnostics.GetBlockSpan(block).IndexOfAnyExcept(Scrubbing.DiagnosticScrubber.PoisonByte));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(4096)]
    [InlineData(64 * 1024)]
    [InlineData(1024 * 1024)]
    public unsafe void Every_block_starts_at_a_multiple_of_the_alignment(int alignment)
    {
        using BlockPool pool = TestPools.Create(capacity: 7, blocksPerSlab: 3, alignment: alignment);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 7);
        Assert.All(blocks, b => Assert.Equal(0, (long)pool.GetPointer(b) % alignment));
        Assert.Equal(7L * Math.Max(256, alignment), pool.NativeBytes); // 256-byte blocks
        PoolAssert.Invariants(pool);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Warm_up_makes_every_page_resident_and_reports_progress_up_to_one(bool touchOnly)
    {
        MemoryTests.Settle();
        long rssBefore = MemoryTests.ProcessMemory("VmRSS");
        using BlockPool pool = TestPools.Create(spec: KvCacheSpec.Llama3_8B(), capacityBytes: PoolBytes, alignment: 0);
        var reports = new List<double>();
        var progress = new SynchronousProgress(reports);
        var clock = Stopwatch.StartNew();
        if (touchOnly)
        {
            pool.WarmUp(progress, touchOnly: true, chunkBytes: 4 * 1024 * 1024);
        }
        else
        {
            await pool.WarmUpAsync(progress);
        }

        clock.Stop();
        long rssWith = MemoryTests.ProcessMemory("VmRSS");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"64 MiB warmed up in {clock.Elapsed.TotalMilliseconds:F1} ms ({(touchOnly ? "touch" : "populate")}); RSS {rssBefore >> 20} -> {rssWith >> 20} MiB; {reports.Count} reports"));
        Assert.True(rssWith - rssBefore > PoolBytes * 9 / 10, $"warm-up left only {(rssWith - rssBefore) >> 20} MiB of a 64 MiB pool resident");
        lock (reports)
        {
            Assert.Equal(touchOnly ? 16 : 2, reports.Count);
            Assert.Equal(1.0, reports.Max());
            Assert.All(reports, r => Assert.InRange(r, 0.0, 1.0));
        }

        Assert.All(pool.Allocate(Agent, 0, pool.Capacity), b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));
    }

    [Theory]
    [InlineData(false, BlockClearMode.None, false)]
    [InlineData(true, BlockClearMode.None, false)]
    [InlineData(true, BlockClearMode.ZeroOnFree, false)]
    [InlineData(true, BlockClearMode.ZeroOnFree, true)]
    public async Task Warm_up_changes_no_byte_while_owners_write_and_free(bool touchOnly, BlockClearMode clearMode, bool diagnostics)
    {
        // 64-byte blocks, so every page holds blocks of several owners and the warm-up's touch lands on bytes that
        // an owner is writing at the same moment.
        KvCacheSpec spec = new(layers: 1, kvHeads: 1, headDim: 8, tokensPerBlock: 2, KvElementType.Float16);
        using BlockPool pool = TestPools.Create(capacity: 65_536, spec: spec, clearMode: clearMode, diagnostics: diagnostics, alignment: 16);
        KvBlock[] held = pool.Allocate(Agent, 0, 32_768);
        nint[] addresses = [.. held.Select(b => Address(pool, b))];
        using var stop = new CancellationTokenSource();
        long rounds = 0;
        Exception? failure = null;
        var writer = new Thread(() =>
        {
            try
            {
                Write();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });

        void Write()
        {
            var other = new AgentId(14);
            for (byte value = 1; !stop.IsCancellationRequested; value = (byte)(value % 250 + 1))
            {
                foreach (nint address in addresses)
                {
                    Fill(address, spec.BytesPerBlock, value); // through the pointer: the gate is left to the warm-ups
                }

                KvBlock[] churn = pool.Allocate(other, 0, 64); // diagnostics mode checks the freed blocks' poison here
                foreach (KvBlock block in churn)
                {
                    Span<byte> bytes = pool.GetBlockSpan(block);
                    Assert.True(clearMode != BlockClearMode.ZeroOnFree || bytes.IndexOfAnyExcept((byte)0) < 0, "a block handed out was not zeroed");
                    bytes.Fill(0xEE);
                }

                pool.FreeAgent(other);
                Interlocked.Increment(ref rounds);
            }
        }

        writer.Start(); // a thread of its own: a thread-pool task could wait behind the warm-ups' workers

        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 20 || (Interlocked.Read(ref rounds) < 20 && writer.IsAlive && clock.Elapsed < TimeSpan.FromSeconds(20)); i++)
        {
            pool.WarmUp(null, touchOnly, chunkBytes: 64 * 1024);
        }

        await stop.CancelAsync();
        writer.Join();
        Assert.Null(failure);
        Assert.True(Interlocked.Read(ref rounds) >= 20, "the writer hardly ran during the warm-ups: the test raced nothing");
        output.WriteLine($"{Interlocked.Read(ref rounds)} writer rounds during the warm-ups ({clock.ElapsedMilliseconds} ms)");

        byte last = pool.GetBlockSpan(held[^1])[0];
        Assert.All(held, b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept(last)));
        pool.FreeAgent(Agent);
        PoolAssert.Invariants(pool); // in diagnostics mode the next allocation checks the poison of every freed block
        Assert.Equal(pool.Capacity, pool.Allocate(new AgentId(15), 0, pool.Capacity).Length);
    }

    [Fact]
    public void Dispose_during_a_warm_up_waits_for_its_step_and_the_warm_up_says_the_pool_is_disposed()
    {
        BlockPool pool = TestPools.Create(capacity: 1024, spec: KvCacheSpec.TinyLlama_1_1B(), alignment: 0);
        long live = BlockPool.LiveNativeBytes;
        var progress = new ActionProgress(_ => pool.Dispose());
        var error = Assert.Throws<ObjectDisposedException>(() => pool.WarmUp(progress, touchOnly: false, chunkBytes: 64 * 1024));
        Assert.Contains("disposed", error.Message, StringComparison.Ordinal);
        Assert.True(pool.IsDisposed);
        Assert.Equal(live - (1024L * 16 * 1024), BlockPool.LiveNativeBytes);
        Assert.Throws<ObjectDisposedException>(() => { _ = pool.WarmUpAsync(); }); // refused before any task starts
    }

    [Fact]
    public void Reconfigure_during_a_warm_up_ends_it_quietly_and_frees_the_old_slabs_after_its_step()
    {
        using BlockPool pool = TestPools.Create(capacity: 1024, spec: KvCacheSpec.TinyLlama_1_1B(), alignment: 0);
        KvCacheSpec next = KvCacheSpec.TinyLlama_1_1B(tokensPerBlock: 32);
        int reconfigured = 0;
        var progress = new ActionProgress(_ =>
        {
            if (Interlocked.Exchange(ref reconfigured, 1) == 0)
            {
                pool.Reconfigure(next);
            }
        });
        pool.WarmUp(progress, touchOnly: false, chunkBytes: 64 * 1024);
        Assert.Equal(next, pool.Spec);
        Assert.All(pool.Allocate(Agent, 0, 16), b => Assert.Equal(-1, pool.GetBlockSpan(b).IndexOfAnyExcept((byte)0)));
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public async Task A_cancelled_warm_up_throws_and_leaves_the_pool_as_it_was()
    {
        using BlockPool pool = TestPools.Create(capacity: 64);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.WarmUpAsync(cancellationToken: cancelled.Token));
        Assert.Equal(64, pool.AvailableBlocks);
        PoolAssert.Invariants(pool);
    }

    private static unsafe nint Address(BlockPool pool, KvBlock block) => (nint)pool.GetPointer(block);

    private static unsafe void Fill(nint address, int length, byte value) => new Span<byte>((void*)address, length).Fill(value);

    private sealed class SynchronousProgress(List<double> reports) : IProgress<double>
    {
        public void Report(double value)
        {
            lock (reports)
            {
                reports.Add(value);
            }
        }
    }

    private sealed class ActionProgress(Action<double> action) : IProgress<double>
    {
        public void Report(double value) => action(value);
    }
}
