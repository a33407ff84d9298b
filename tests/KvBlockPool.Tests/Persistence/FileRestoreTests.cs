using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// Restores from files: the length is checked against the header before anything is allocated, layers are read
/// and checked on several threads, the error reported is the first in file order whatever the threads did, and
/// any failure after the allocation returns every block.
/// </summary>
public sealed class FileRestoreTests : IDisposable
{
    private static readonly AgentId Agent = new(7);

    /// <summary>Eight layers, so two or more workers share them; 256-byte blocks.</summary>
    private static readonly KvCacheSpec EightLayers = TestPools.Spec(layers: 8);

    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-file-restore-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(16)]
    public async Task Every_degree_of_parallelism_restores_the_same_bytes(int threads)
    {
        using BlockPool source = TestPools.Create(capacity: 160, layers: 8);
        for (int round = 0; round < 5; round++)
        {
            // Interleaved with another agent, so the agent's blocks are scattered.
            PersistenceKit.Fill(source, Agent, seed: round, 3, 0, 2, 5, 1, 4, 2, 3);
            PersistenceKit.Fill(source, new AgentId(100), seed: 50 + round, 1, 1, 0, 1, 0, 1, 0, 1);
        }

        string path = await SaveAsync(source, "parallel.kvcache");
        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        await using (FileStream file = File.OpenRead(path))
        {
            KvCacheHeader header = await KvCacheReader.RestoreAsync(target, file, maxDegreeOfParallelism: threads);
            Assert.Equal(file.Length, file.Position);
            Assert.Equal(header.TotalLength, file.Length);
        }

        PersistenceKit.AssertSameBytes(PersistenceKit.Snapshot(source, Agent), PersistenceKit.Snapshot(target, Agent));
        Assert.Null(target.FindInvariantViolation());
    }

    [Fact]
    public async Task A_cache_that_starts_mid_file_is_read_from_the_stream_position_to_the_end()
    {
        using BlockPool source = TestPools.Create(capacity: 160, layers: 8);
        PersistenceKit.Fill(source, Agent, seed: 1, 2, 2, 2, 2, 2, 2, 2, 2);
        byte[] saved = await PersistenceKit.SaveAsync(source, Agent);
        string path = Path.Combine(_directory, "prefixed.kvcache");
        await File.WriteAllBytesAsync(path, [.. new byte[1000], .. saved]);

        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        await using (FileStream file = File.OpenRead(path))
        {
            file.Position = 1000;
            await KvCacheReader.RestoreAsync(target, file);
            Assert.Equal(file.Length, file.Position);
        }

        PersistenceKit.AssertSameBytes(PersistenceKit.Snapshot(source, Agent), PersistenceKit.Snapshot(target, Agent));
    }

    [Fact]
    public async Task With_two_bad_layers_the_first_in_the_file_is_reported_whichever_thread_finds_which()
    {
        (byte[] saved, KvCacheLayout layout) = await SaveInMemoryAsync(seed: 2, 4, 4, 4, 4, 4, 4, 4, 4);
        byte[] damaged = (byte[])saved.Clone();
        damaged[layout.PayloadOffset(3) + 17] ^= 0x40;
        damaged[layout.PayloadOffset(6) + 5] ^= 0x01;
        string path = Path.Combine(_directory, "two-bad-layers.kvcache");
        await File.WriteAllBytesAsync(path, damaged);

        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        for (int run = 0; run < 25; run++)
        {
            KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(target, async () =>
            {
                await using FileStream file = File.OpenRead(path);
                await KvCacheReader.RestoreAsync(target, file, maxDegreeOfParallelism: 4);
            });
            Assert.Equal(KvCacheFormatError.LayerChecksumMismatch, error.Reason);
            Assert.Contains("Layer 3's block data is corrupt", error.Message, StringComparison.Ordinal);
            Assert.Equal(layout.ChecksumOffset(3), error.Offset);
        }
    }

    [Fact]
    public async Task A_file_of_the_wrong_length_is_refused_before_anything_is_allocated_naming_where_it_ends()
    {
        (byte[] saved, _) = await SaveInMemoryAsync(seed: 3, 1, 1, 1, 1, 1, 1, 1, 1);
        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);

        // Cut inside layer 2's checksum: 3 layers of one 256-byte block and an 8-byte checksum, minus 4 bytes.
        int cut = HeaderLength + (3 * (256 + 8)) - 4;
        KvCacheFormatException error = await RefusedBeforeAllocatingAsync(target, "truncated.kvcache", saved.AsSpan(0, cut).ToArray());
        Assert.Equal(KvCacheFormatError.Truncated, error.Reason);
        Assert.Equal(cut, error.Offset);
        Assert.Contains("inside layer 2's checksum", error.Message, StringComparison.Ordinal);

        error = await RefusedBeforeAllocatingAsync(target, "trailing.kvcache", [.. saved, 9, 9]);
        Assert.Equal(KvCacheFormatError.TrailingData, error.Reason);
        Assert.Equal(saved.Length, error.Offset);
    }

    [Fact]
    public async Task The_spec_agent_and_capacity_checks_come_before_the_length_check_as_on_every_other_path()
    {
        (byte[] saved, _) = await SaveInMemoryAsync(seed: 11, 1, 1, 1, 1, 1, 1, 1, 1);
        byte[] truncated = saved.AsSpan(0, saved.Length - 10).ToArray();

        KvCacheSpec otherSpec = TestPools.Spec(layers: 8, elementType: KvElementType.BFloat16);
        using (BlockPool other = TestPools.Create(capacity: 160, spec: otherSpec))
        {
            await RefusedBeforeAllocatingAsync<KvCacheSpecMismatchException>(other, "other-spec.kvcache", truncated);
        }

        using BlockPool busy = TestPools.Create(capacity: 160, layers: 8);
        PersistenceKit.Fill(busy, Agent, seed: 12, 1, 0, 0, 0, 0, 0, 0, 0);
        await RefusedBeforeAllocatingAsync<ArgumentException>(busy, "agent-holds-blocks.kvcache", [.. saved, 1]);

        using BlockPool small = TestPools.Create(capacity: 4, layers: 8);
        await RefusedBeforeAllocatingAsync<BlockPoolExhaustedException>(small, "too-big.kvcache", truncated);
    }

    [Fact]
    public async Task A_file_that_shrinks_during_the_restore_is_refused_as_truncated_and_returns_every_block()
    {
        (byte[] saved, _) = await SaveInMemoryAsync(seed: 4, 2, 2, 2, 2, 2, 2, 2, 2);
        string path = Path.Combine(_directory, "shrinking.kvcache");
        int cut = saved.Length - 700;
        await File.WriteAllBytesAsync(path, saved.AsSpan(0, cut).ToArray());

        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(target, async () =>
        {
            // The length check sees the whole file; the reads then find it shorter, as if it shrank in between.
            await using var file = new StaleLengthFileStream(path, saved.Length);
            await KvCacheReader.RestoreAsync(target, file, maxDegreeOfParallelism: 2);
        });
        Assert.Equal(KvCacheFormatError.Truncated, error.Reason);
        Assert.Equal(cut, error.Offset);
    }

    [Fact]
    public async Task Cancellation_after_the_allocation_stops_every_worker_and_returns_every_block()
    {
        string path = await SaveToFileAsync("cancelled.kvcache", seed: 5, 3, 3, 3, 3, 3, 3, 3, 3);

        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        using var cancellation = new CancellationTokenSource();
        await PersistenceKit.AssertRefusedAsync<OperationCanceledException>(target, async () =>
        {
            // Canceled by the length check, which runs after the entry check and before the workers start.
            await using var file = new StaleLengthFileStream(path, new FileInfo(path).Length, onLength: cancellation.Cancel);
            await KvCacheReader.RestoreAsync(target, file, maxDegreeOfParallelism: 2, cancellationToken: cancellation.Token);
        });
    }

    [Fact]
    public async Task A_degree_of_parallelism_below_one_is_refused_and_changes_nothing()
    {
        string path = await SaveToFileAsync("threads.kvcache", seed: 6, 1, 1, 1, 1, 1, 1, 1, 1);
        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        ArgumentOutOfRangeException error = await PersistenceKit.AssertRefusedAsync<ArgumentOutOfRangeException>(
            target,
            async () =>
            {
                await using FileStream file = File.OpenRead(path);
                await KvCacheReader.RestoreAsync(target, file, maxDegreeOfParallelism: 0);
            },
            beforeAllocating: true);
        Assert.Equal("maxDegreeOfParallelism", error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheStore(_directory) { MaxDegreeOfParallelism = 0 });
    }

    [Fact]
    public async Task A_store_loads_on_the_threads_it_is_given()
    {
        using BlockPool source = TestPools.Create(capacity: 160, layers: 8);
        PersistenceKit.Fill(source, Agent, seed: 8, 2, 1, 2, 1, 2, 1, 2, 1);
        var store = new KvCacheStore(_directory) { MaxDegreeOfParallelism = 1 };
        Assert.Equal(KvCacheReader.DefaultMaxDegreeOfParallelism, new KvCacheStore(_directory).MaxDegreeOfParallelism);
        await store.SaveAsync(source, Agent);
        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        await store.RestoreAsync(target, Agent);
        PersistenceKit.AssertSameBytes(PersistenceKit.Snapshot(source, Agent), PersistenceKit.Snapshot(target, Agent));
    }

    [Fact]
    public async Task The_layout_names_every_part_of_a_cache_by_offset()
    {
        (byte[] saved, KvCacheLayout layout) = await SaveInMemoryAsync(seed: 9, 1, 0, 2, 1, 1, 1, 1, 1);

        Assert.Equal("the header", layout.Describe(10));
        Assert.Equal("layer 0's blocks", layout.Describe(HeaderLength));
        Assert.Equal("layer 0's checksum", layout.Describe(layout.ChecksumOffset(0)));
        Assert.Equal("layer 1's checksum", layout.Describe(layout.PayloadOffset(1))); // no blocks: its checksum follows at once
        Assert.Equal("layer 2's blocks", layout.Describe(layout.PayloadOffset(2) + 511));
        Assert.Equal("layer 7's checksum", layout.Describe(saved.Length - 1));
        Assert.Equal("the end of the cache", layout.Describe(saved.Length));
        Assert.Equal(3, layout.FirstBlock(3));
    }

    [Fact]
    public async Task A_worker_gives_up_a_layer_above_a_bad_one_without_writing_its_blocks()
    {
        using BlockPool source = TestPools.Create(capacity: 160, layers: 8);
        PersistenceKit.Fill(source, Agent, seed: 10, 2, 2, 2, 2, 2, 2, 2, 2);
        byte[][] expected = PersistenceKit.Snapshot(source, Agent);
        string path = await SaveAsync(source, "abandoned.kvcache");
        byte[] saved = await File.ReadAllBytesAsync(path);
        KvCacheHeader header = KvCacheFormat.DecodeHeader(saved.AsSpan(0, HeaderLength).ToArray());
        var layout = new KvCacheLayout(header);

        using BlockPool target = TestPools.Create(capacity: 160, layers: 8);
        using AllocationScope scope = KvCacheReader.AllocateFor(target, header, null, null, out KvBlock[] blocks);
        var failures = new LayerFailures(layout.Layers);
        failures.Record(1, new KvCacheFormatException(KvCacheFormatError.LayerChecksumMismatch, 1, "layer 1 is bad"));
        using (FileStream file = File.OpenRead(path))
        using (var restorer = new LayerRestorer(target, file.SafeFileHandle, 0, layout, blocks, failures, CancellationToken.None))
        {
            restorer.Run(2);
            restorer.Run(0);
        }

        byte[] layerTwo = [.. target.GetBlockSpan(blocks[layout.FirstBlock(2)]), .. target.GetBlockSpan(blocks[layout.FirstBlock(2) + 1])];
        Assert.False(layerTwo.AsSpan().SequenceEqual(expected[2]), "layer 2 was restored although layer 1 had failed");
        byte[] layerZero = [.. target.GetBlockSpan(blocks[0]), .. target.GetBlockSpan(blocks[1])];
        Assert.Equal(expected[0], layerZero);
        Assert.Equal("layer 1 is bad", Assert.Throws<KvCacheFormatException>(failures.ThrowIfAny).Message);
    }

    private static int HeaderLength => KvCacheFormat.HeaderLengthFor(EightLayers.Layers, tokenIds: 0);

    /// <summary>Saves an agent with the given blocks per layer (seeded bytes) to memory, with the saved cache's layout.</summary>
    private static async Task<(byte[] Saved, KvCacheLayout Layout)> SaveInMemoryAsync(int seed, params int[] blocksPerLayer)
    {
        using BlockPool source = TestPools.Create(capacity: 160, layers: 8);
        PersistenceKit.Fill(source, Agent, seed, blocksPerLayer);
        byte[] saved = await PersistenceKit.SaveAsync(source, Agent);
        return (saved, new KvCacheLayout(KvCacheFormat.DecodeHeader(saved.AsSpan(0, HeaderLength).ToArray())));
    }

    /// <summary>Writes <paramref name="contents"/> to a file and restores it, which must be refused before anything is allocated.</summary>
    private Task<KvCacheFormatException> RefusedBeforeAllocatingAsync(BlockPool target, string name, byte[] contents) =>
        RefusedBeforeAllocatingAsync<KvCacheFormatException>(target, name, contents);

    private async Task<TException> RefusedBeforeAllocatingAsync<TException>(BlockPool target, string name, byte[] contents)
        where TException : Exception
    {
        string path = Path.Combine(_directory, name);
        await File.WriteAllBytesAsync(path, contents);
        return await PersistenceKit.AssertRefusedAsync<TException>(
            target,
            async () =>
            {
                await using FileStream file = File.OpenRead(path);
                await KvCacheReader.RestoreAsync(target, file);
            },
            beforeAllocating: true);
    }

    /// <summary>Saves an agent with the given blocks per layer (seeded bytes) to a file in the test's directory.</summary>
    private async Task<string> SaveToFileAsync(string name, int seed, params int[] blocksPerLayer)
    {
        (byte[] saved, _) = await SaveInMemoryAsync(seed, blocksPerLayer);
        string path = Path.Combine(_directory, name);
        await File.WriteAllBytesAsync(path, saved);
        return path;
    }

    private async Task<string> SaveAsync(BlockPool pool, string name)
    {
        string path = Path.Combine(_directory, name);
        await using FileStream file = File.Create(path);
        await KvCacheWriter.SaveAsync(pool, Agent, file);
        return path;
    }

    /// <summary>A file whose reported length is fixed when it is opened, as a file that shrinks right after the check would report it.</summary>
    private sealed class StaleLengthFileStream(string path, long length, Action? onLength = null)
        : FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0)
    {
        public override long Length
        {
            get
            {
                onLength?.Invoke();
                return length;
            }
        }
    }
}
