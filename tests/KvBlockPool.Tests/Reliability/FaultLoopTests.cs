using KvBlockPool.Core;
using KvBlockPool.Lifecycle;
using KvBlockPool.Persistence;
using KvBlockPool.Tests.Core;
using KvBlockPool.Tests.Persistence;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Reliability;

/// <summary>
/// Fault loops, as SQLite runs them: make the Nth native allocation (or the Nth write, read or block) fail, for
/// N = 1, 2, ... until the operation succeeds, and check after every failure that the exception is the specific
/// one, that nothing was allocated or changed, and that the pool still works. Each loop reports how many failure
/// points it covered; a loop that never failed (the operation needed no allocation) fails itself.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class FaultLoopTests(ITestOutputHelper output)
{
    private static readonly AgentId Agent = new(4);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Construction_fails_cleanly_at_every_slab_allocation(bool throwOutOfMemory)
    {
        int failures = 0;
        for (int n = 1; ; n++)
        {
            long live = BlockPool.LiveNativeBytes;
            var allocator = new FailingAllocator(throwOutOfMemory, n);
            try
            {
                using BlockPool pool = TestPools.Create(capacity: 16, blocksPerSlab: 4, allocator: allocator);
                Assert.Equal(4, allocator.Calls); // the loop reached the allocation count of a whole pool
                PoolAssert.Invariants(pool);
                break;
            }
            catch (NativeAllocationException error)
            {
                failures++;
                Assert.Contains($"slab {n} of 4", error.Message, StringComparison.Ordinal);
                Assert.Equal(0, allocator.Live);
                Assert.Equal(live, BlockPool.LiveNativeBytes);
            }
        }

        output.WriteLine($"construction: {failures} failure points (every slab)");
        Assert.Equal(4, failures);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reconfigure_fails_cleanly_at_every_slab_allocation_and_the_old_configuration_keeps_working(bool throwOutOfMemory)
    {
        int failures = 0;
        for (int n = 1; ; n++)
        {
            // Construction takes calls 1-4; the reconfigure's slab allocations are calls 5 onwards.
            var allocator = new FailingAllocator(throwOutOfMemory, 4 + n);
            using BlockPool pool = TestPools.Create(capacity: 16, blocksPerSlab: 4, allocator: allocator);
            string before = PoolAssert.Snapshot(pool);
            try
            {
                pool.Reconfigure(TestPools.Spec(layers: 3));
                Assert.Equal(3, pool.Spec.Layers);
                break;
            }
            catch (NativeAllocationException)
            {
                failures++;
                Assert.Equal(before, PoolAssert.Snapshot(pool));
                Assert.Equal(4, allocator.Live); // the old slabs only
                pool.Free(Agent, pool.Allocate(Agent, 1)); // still usable in the old spec (2 layers)
                PoolAssert.Invariants(pool);
            }
        }

        output.WriteLine($"reconfigure: {failures} failure points");
        Assert.Equal(4, failures);
    }

    [Fact]
    public void Admission_refused_at_every_shortfall_changes_nothing_until_the_pool_can_hold_it()
    {
        // The Nth block is the one missing: a pool whose free blocks stop at N - 1 refuses the admission.
        const int needed = 3 * 4; // 10 tokens at 4 per block on 4 layers
        int failures = 0;
        for (int free = 0; ; free++)
        {
            using BlockPool pool = TestPools.Create(capacity: needed, layers: 4);
            using var manager = new AgentCacheManager(pool);
            KvBlock[] held = needed - free > 0 ? pool.Allocate(new AgentId(99), 0, needed - free) : [];
            string before = $"{pool.DescribeState()}|{manager.DescribeState()}";
            try
            {
                manager.Admit(Agent, promptTokens: 10);
                Assert.Equal(needed, free);
                break;
            }
            catch (BlockPoolExhaustedException error)
            {
                failures++;
                Assert.Equal((needed, free), (error.Requested, error.Available));
                Assert.Equal(before, $"{pool.DescribeState()}|{manager.DescribeState()}");
                Assert.False(manager.TryAdmit(Agent, 10));
                PoolAssert.Invariants(pool);
            }

            Assert.NotNull(held);
        }

        output.WriteLine($"admission: {failures} failure points (0 to {needed - 1} free blocks)");
        Assert.Equal(needed, failures);
    }

    [Fact]
    public async Task A_save_failing_at_every_write_leaves_the_pool_unchanged_and_unpinned()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 5, 2, 1, 3);
        byte[] whole = await PersistenceKit.SaveAsync(pool, Agent);
        string before = PoolAssert.Snapshot(pool);
        int failures = 0;

        // Fail after every prefix length a write can end at: one byte short of each chunk the saver writes is
        // enough to reach every write call, and every 61st byte besides covers the lengths in between.
        for (long failAt = 0; failAt < whole.Length; failAt += 61)
        {
            var stream = new FailingWriteStream(failAt);
            await Assert.ThrowsAsync<IOException>(() => KvCacheWriter.SaveAsync(pool, Agent, stream));
            failures++;
            Assert.Equal(before, PoolAssert.Snapshot(pool));
            Assert.Equal(0, pool.GetPinCount(Agent));
            Assert.Equal(0, pool.DataAccessesInFlight);
        }

        var complete = new FailingWriteStream(whole.Length);
        await KvCacheWriter.SaveAsync(pool, Agent, complete);
        Assert.Equal(whole.Length, complete.Length);
        output.WriteLine($"save: {failures} failure points over {whole.Length} bytes");
        Assert.True(failures > 10);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_restore_failing_at_every_read_returns_every_block_until_it_succeeds(bool direct)
    {
        using BlockPool source = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(source, Agent, seed: 6, 3, 2, 1);
        byte[] file = await PersistenceKit.SaveAsync(source, Agent);
        byte[][] expected = PersistenceKit.Snapshot(source, Agent);

        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        int available = pool.GetStatistics().Available;
        string agents = PersistenceKit.DescribeAgents(pool);
        int failures = 0;
        for (int n = 1; ; n++)
        {
            Stream stream = direct ? new FailingMemoryStream(file, failOnRead: n) : new FailingReadStream(file, failOnRead: n);
            try
            {
                await KvCacheReader.RestoreAsync(pool, stream);
                break;
            }
            catch (IOException)
            {
                // Every block the restore took is back (with a new generation, so the handles it held are stale).
                failures++;
                Assert.Equal(available, pool.GetStatistics().Available);
                Assert.Equal(agents, PersistenceKit.DescribeAgents(pool));
                Assert.Equal(0, pool.DataAccessesInFlight);
                PoolAssert.Invariants(pool);
            }
        }

        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(pool, Agent));
        output.WriteLine($"restore ({(direct ? "memory stream, straight into the blocks" : "other stream, through a pipe")}): {failures} failure points");
        Assert.True(failures >= 2);
    }

    /// <summary>A memory stream (so a restore reads it straight into the blocks) whose Nth read fails.</summary>
    private sealed class FailingMemoryStream(byte[] data, int failOnRead) : MemoryStream(data, 0, data.Length, writable: false, publiclyVisible: true)
    {
        private int _reads;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        // Copies from the array itself: MemoryStream's own span read sends a derived type through Read(byte[], ...),
        // which would come back here.
        public override int Read(Span<byte> buffer)
        {
            if (++_reads == failOnRead)
            {
                throw new IOException($"Simulated read failure at read {_reads}.");
            }

            int count = (int)Math.Min(buffer.Length, Length - Position);
            GetBuffer().AsSpan((int)Position, count).CopyTo(buffer);
            Position += count;
            return count;
        }
    }

    /// <summary>A read-only stream that is neither a file nor memory (so a restore goes through a pipe), whose Nth read fails.</summary>
    private sealed class FailingReadStream(byte[] data, int failOnRead) : Stream
    {
        private readonly MemoryStream _inner = new(data, writable: false);
        private int _reads;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer) =>
            ++_reads == failOnRead ? throw new IOException($"Simulated read failure at read {_reads}.") : _inner.Read(buffer);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override void Flush() => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
