using System.IO.Pipelines;
using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

public sealed class RoundTripTests
{
    private static readonly AgentId Agent = new(7);

    [Fact]
    public async Task A_saved_cache_restores_byte_identical_into_another_pool()
    {
        using BlockPool source = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(source, Agent, seed: 1, 4, 4, 4);
        byte[][] expected = PersistenceKit.Snapshot(source, Agent);
        byte[] file = await PersistenceKit.SaveAsync(source, Agent, tokens: 14);

        using BlockPool target = TestPools.Create(capacity: 40, layers: 3);
        PersistenceKit.Fill(target, new AgentId(99), seed: 2, 1, 2, 3); // blocks already out, so ids differ from the source's
        KvCacheHeader header = await PersistenceKit.RestoreAsync(target, file);

        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(target, Agent));
        Assert.Equal(Agent, header.Agent);
        Assert.Equal(14, header.TokenCount);
        Assert.Equal([4, 4, 4], header.BlocksPerLayer);
        Assert.Equal(file.Length, header.TotalLength);
        Assert.Equal(12, target.GetBlockCount(Agent));
        Assert.Null(target.FindInvariantViolation());
    }

    [Fact]
    public async Task Uneven_layers_round_trip_and_can_be_restored_under_another_agent_id()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 3, 0, 5, 2);
        byte[][] expected = PersistenceKit.Snapshot(pool, Agent);
        byte[] file = await PersistenceKit.SaveAsync(pool, Agent);

        var copy = new AgentId(-8);
        KvCacheHeader header = await PersistenceKit.RestoreAsync(pool, file, copy);

        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(pool, copy));
        Assert.Equal(Agent, header.Agent);
        Assert.Equal(5 * PersistenceKit.Spec.TokensPerBlock, header.TokenCount); // default: the longest layer's capacity
        Assert.Equal(0, pool.GetBlockCount(copy, 0));
        Assert.Null(pool.FindInvariantViolation());
    }

    [Fact]
    public async Task A_save_through_a_pipe_streams_while_a_concurrent_reader_restores()
    {
        using BlockPool source = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(source, Agent, seed: 4, 8, 8, 8);
        byte[][] expected = PersistenceKit.Snapshot(source, Agent);
        using BlockPool target = TestPools.Create(capacity: 64, layers: 3);

        // A pipe that holds far less than the cache: the save must flush as it goes, never buffer it whole.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512, minimumSegmentSize: 256));
        Task<KvCacheHeader> restore = KvCacheReader.RestoreAsync(target, pipe.Reader);
        await KvCacheWriter.SaveAsync(source, Agent, pipe.Writer);
        await pipe.Writer.CompleteAsync();
        await restore;

        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(target, Agent));
    }

    [Fact]
    public async Task A_restore_from_a_pipe_fed_concurrently_in_small_segments_is_byte_identical()
    {
        // 1.5 MiB through 4 KiB segments that the pipe recycles while the restore reads: the reader must never look
        // at a segment it has already handed back.
        using BlockPool source = TestPools.Create(capacity: 24, spec: PersistenceKit.LargeSpec, alignment: 0);
        using BlockPool target = TestPools.Create(capacity: 24, spec: PersistenceKit.LargeSpec, alignment: 0);
        PersistenceKit.Fill(source, Agent, seed: 8, 8, 8, 8);
        byte[][] expected = PersistenceKit.Snapshot(source, Agent);
        using var saved = new MemoryStream();
        await KvCacheWriter.SaveAsync(source, Agent, saved);

        for (int round = 0; round < 5; round++)
        {
            var pipe = new Pipe(new PipeOptions(minimumSegmentSize: 4096, useSynchronizationContext: false));
            Task feed = Task.Run(async () =>
            {
                await new MemoryStream(saved.ToArray()).CopyToAsync(pipe.Writer.AsStream(leaveOpen: true));
                await pipe.Writer.CompleteAsync();
            });
            KvCacheHeader header = await KvCacheReader.RestoreAsync(target, pipe.Reader);
            await feed;

            PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(target, Agent));
            Assert.Equal(saved.Length, header.TotalLength);
            target.FreeAgent(Agent);

            // The inspector reads the same way and counts every byte: the count must be the file's length.
            pipe = new Pipe(new PipeOptions(minimumSegmentSize: 4096, useSynchronizationContext: false));
            Pipe inspected = pipe;
            feed = Task.Run(async () =>
            {
                await new MemoryStream(saved.ToArray()).CopyToAsync(inspected.Writer.AsStream(leaveOpen: true));
                await inspected.Writer.CompleteAsync();
            });
            KvCacheInspectionReport report = await KvCacheInspector.InspectAsync(pipe.Reader);
            await feed;
            Assert.True(report.IsValid, report.ToString());
            Assert.Equal(saved.Length, report.BytesRead);
        }
    }

    [Fact]
    public async Task A_cache_survives_a_process_restart_through_the_directory_store()
    {
        string directory = Path.Combine(Path.GetTempPath(), "kvcache-restart-" + Guid.NewGuid().ToString("N"));
        try
        {
            byte[][] expected;
            using (BlockPool before = TestPools.Create(capacity: 64, layers: 3))
            {
                PersistenceKit.Fill(before, Agent, seed: 5, 3, 3, 3);
                expected = PersistenceKit.Snapshot(before, Agent);
                await new KvCacheStore(directory).SaveAsync(before, Agent, tokenCount: 10);
            }

            // Nothing survives but the directory: a new store object, a new pool.
            var store = new KvCacheStore(directory);
            using BlockPool after = TestPools.Create(capacity: 64, layers: 3);
            Assert.Equal([Agent], store.List());
            KvCacheHeader header = await store.RestoreAsync(after, Agent);

            Assert.Equal(10, header.TokenCount);
            PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(after, Agent));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Saving_leaves_the_pool_unchanged_and_releases_its_pin()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 6, 2, 2, 2);
        string before = pool.DescribeState();

        await PersistenceKit.SaveAsync(pool, Agent);

        Assert.Equal(before, pool.DescribeState());
        Assert.Equal(0, pool.GetPinCount(Agent));
        Assert.Equal(6, pool.FreeAgent(Agent));
    }

    [Fact]
    public async Task A_device_failure_during_a_save_surfaces_as_the_devices_error_and_releases_the_pin()
    {
        using BlockPool pool = TestPools.Create(capacity: 24, spec: PersistenceKit.LargeSpec, alignment: 0); // 1.5 MiB: the failure comes mid-save
        PersistenceKit.Fill(pool, Agent, seed: 9, 8, 8, 8);
        string before = pool.DescribeState();

        IOException error = await Assert.ThrowsAsync<IOException>(() => KvCacheWriter.SaveAsync(pool, Agent, new FailingWriteStream(failAt: 600_000)));

        Assert.Contains("Simulated disk full", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, pool.GetPinCount(Agent));
        Assert.Equal(before, pool.DescribeState());
    }

    [Fact]
    public async Task A_save_canceled_midway_stops_promptly_and_releases_the_pin()
    {
        using BlockPool pool = TestPools.Create(capacity: 24, spec: PersistenceKit.LargeSpec, alignment: 0);
        PersistenceKit.Fill(pool, Agent, seed: 10, 8, 8, 8);
        string before = pool.DescribeState();
        using var cancel = new CancellationTokenSource();

        Task save = KvCacheWriter.SaveAsync(pool, Agent, new FailingWriteStream(600_000, cancel), cancellationToken: cancel.Token);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => save.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, pool.GetPinCount(Agent));
        Assert.Equal(before, pool.DescribeState());
    }

    [Fact]
    public async Task Saving_an_agent_the_pool_does_not_hold_or_a_wrong_token_count_is_refused_and_pins_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 7, 1, 1, 1);
        using var stream = new MemoryStream();

        await Assert.ThrowsAsync<ArgumentException>(() => KvCacheWriter.SaveAsync(pool, new AgentId(1234), stream));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => KvCacheWriter.SaveAsync(pool, Agent, stream, tokenCount: 5));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => KvCacheWriter.SaveAsync(pool, Agent, stream, tokenCount: -1));

        Assert.Equal(0, stream.Length);
        Assert.Equal(0, pool.GetPinCount(Agent));
    }
}
