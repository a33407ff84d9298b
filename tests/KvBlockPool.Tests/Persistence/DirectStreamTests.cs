using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// The direct path of <see cref="KvCacheWriter.SaveAsync"/> and <see cref="KvCacheReader.RestoreAsync"/>
/// (regular files and memory streams): block memory moves straight to and from the stream in runs of contiguous
/// blocks, with the same bytes, checks and rollback as the pipe path.
/// </summary>
public sealed class DirectStreamTests : IDisposable
{
    private static readonly AgentId Agent = new(7);
    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-direct-").FullName;

    [Fact]
    public async Task Blocks_scattered_in_memory_round_trip_through_a_file_and_match_the_pipe_path_byte_for_byte()
    {
        using BlockPool source = TestPools.Create(capacity: 64, layers: 3);
        for (int i = 0; i < 6; i++)
        {
            // Interleaved with another agent, so the agent's blocks form short runs, not one contiguous span.
            PersistenceKit.Fill(source, Agent, seed: i, 1, 2, 1);
            PersistenceKit.Fill(source, new AgentId(100), seed: 50 + i, 1, 0, 1);
        }

        byte[][] expected = PersistenceKit.Snapshot(source, Agent);
        string path = Path.Combine(_directory, "scattered.kvcache");
        await using (FileStream file = File.Create(path))
        {
            await KvCacheWriter.SaveAsync(source, Agent, file, tokenCount: 30);
        }

        var piped = new MemoryStream();
        var writer = System.IO.Pipelines.PipeWriter.Create(piped);
        await KvCacheWriter.SaveAsync(source, Agent, writer, tokenCount: 30);
        await writer.CompleteAsync();
        Assert.Equal(piped.ToArray(), await File.ReadAllBytesAsync(path));

        using BlockPool target = TestPools.Create(capacity: 64, layers: 3);
        await using (FileStream file = File.OpenRead(path))
        {
            await KvCacheReader.RestoreAsync(target, file);
        }

        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(target, Agent));
        Assert.Null(target.FindInvariantViolation());
    }

    [Fact]
    public async Task A_truncated_file_or_one_with_trailing_bytes_is_refused_at_its_offset_and_returns_every_block()
    {
        using BlockPool source = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(source, Agent, seed: 3, 4, 4, 4);
        byte[] saved = await PersistenceKit.SaveAsync(source, Agent);
        using BlockPool target = TestPools.Create(capacity: 64, layers: 3);

        string truncated = Path.Combine(_directory, "truncated.kvcache");
        await File.WriteAllBytesAsync(truncated, saved.AsSpan(0, saved.Length - 300).ToArray());
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(target, async () =>
        {
            await using FileStream file = File.OpenRead(truncated);
            await KvCacheReader.RestoreAsync(target, file);
        });
        Assert.Equal(KvCacheFormatError.Truncated, error.Reason);
        Assert.Equal(saved.Length - 300, error.Offset);

        string trailing = Path.Combine(_directory, "trailing.kvcache");
        await File.WriteAllBytesAsync(trailing, [.. saved, 1, 2, 3]);
        error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(target, async () =>
        {
            await using FileStream file = File.OpenRead(trailing);
            await KvCacheReader.RestoreAsync(target, file);
        });
        Assert.Equal(KvCacheFormatError.TrailingData, error.Reason);
        Assert.Contains("3 byte(s)", error.Message, StringComparison.Ordinal);
        Assert.False(target.ContainsAgent(Agent));
    }

    [Fact]
    public async Task Blocks_larger_than_one_write_move_in_chunks()
    {
        // 2 x 1024 tokens x 8 heads x 128 dims x 4 bytes = 8 MiB a block: more than one direct read or write.
        var spec = new KvCacheSpec(layers: 1, kvHeads: 8, headDim: 128, tokensPerBlock: 1024, KvElementType.Float32);
        using BlockPool source = TestPools.Create(capacity: 2, spec: spec);
        PersistenceKit.Fill(source, Agent, seed: 9, 2);
        byte[][] expected = PersistenceKit.Snapshot(source, Agent);
        byte[] saved = await PersistenceKit.SaveAsync(source, Agent);

        using BlockPool target = TestPools.Create(capacity: 2, spec: spec);
        await PersistenceKit.RestoreAsync(target, saved);
        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(target, Agent));
        target.FreeAgent(Agent);

        // Through a file, whose restore stages 1 MiB at a time: each block is filled in eight parts.
        string path = Path.Combine(_directory, "large-blocks.kvcache");
        await File.WriteAllBytesAsync(path, saved);
        await using (FileStream file = File.OpenRead(path))
        {
            await KvCacheReader.RestoreAsync(target, file);
        }

        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(target, Agent));
        target.FreeAgent(Agent);

        // A memory stream that ends inside the second block's third chunk.
        int cut = KvCacheFormat.HeaderLengthFor(1, tokenIds: 0) + (8 * 1024 * 1024) + (2 * 1024 * 1024) + 100;
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(
            target,
            () => PersistenceKit.RestoreAsync(target, saved.AsSpan(0, cut).ToArray()));
        Assert.Equal(KvCacheFormatError.Truncated, error.Reason);
        Assert.Equal(cut, error.Offset);
    }

    [Fact]
    public void The_page_aligned_writer_keeps_every_write_but_the_last_on_a_page_boundary()
    {
        var random = new Random(5);
        var recorder = new WriteRecorder();
        recorder.Write(new byte[100]); // a stream that does not start on a page boundary
        var writer = new PageAlignedWriter(recorder);
        var expected = new MemoryStream();
        expected.Write(new byte[100]);
        foreach (int size in new[] { 192, 65536, 8, 65536, 3, 4096, 10000, 8, 1 << 20, 7 })
        {
            byte[] piece = new byte[size];
            random.NextBytes(piece);
            writer.Write(piece);
            expected.Write(piece);
        }

        writer.Flush();
        Assert.Equal(expected.ToArray(), recorder.ToArray());
        // After the test's own write and the writer's first, which completes the page the stream started in.
        Assert.Equal(4096, recorder.WriteOffsets[2]);
        Assert.All(recorder.WriteOffsets.Skip(2).SkipLast(1), offset => Assert.Equal(0, offset % 4096));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>A memory stream that records the offset of every write.</summary>
    private sealed class WriteRecorder : MemoryStream
    {
        public List<long> WriteOffsets { get; } = [];

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            WriteOffsets.Add(Position);
            base.Write(buffer);
        }
    }
}
