using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using KvBlockPool.Persistence;

namespace KvBlockPool.Benchmarks.Persistence;

/// <summary>
/// Issue 6: saving and restoring a 4096-token, 32-layer cache (Llama-3-8B shape: 8 KV heads x 128 dims, FP16,
/// 16 tokens per block; 256 blocks per layer, 512 MiB) to and from a file, against the floor: a plain
/// <see cref="FileStream"/> writing and reading the same number of bytes in 1 MiB chunks. Each category has its
/// floor as baseline, so the Ratio column is (our time / floor time) and throughput relative to the floor is its
/// inverse; the target is at least 0.8x the floor's throughput (Ratio at most 1.25).
/// </summary>
/// <remarks>
/// <para>
/// The 1 MiB floors reuse one cache-resident buffer, so they never touch the 512 MiB of memory a save must read
/// and a restore must fill. The <c>...NativeCache</c> floors do the same plain FileStream write and read, but from
/// and into a native buffer of the cache's size: the least a save or restore of this cache can cost. Both are
/// reported, so the share of the gap that is memory traffic (inherent) and the share that is the format's own
/// work (checksums, framing, pipe buffers) can be read off the same run.
/// </para>
/// <para>
/// Both sides go through the page cache; neither flushes to the device (the store's fsync costs the same device
/// time for any writer).
/// </para>
/// <para>
/// Every iteration is one invocation, so the restored agent is freed in <see cref="FreeRestored"/>, outside the
/// measured time: the floor frees nothing, and with the default <see cref="BlockClearMode.ZeroOnFree"/> a free
/// would zero the 512 MiB again. One 0.2-1.5 s operation per iteration is long enough to time on its own.
/// </para>
/// </remarks>
[MemoryDiagnoser]
[MedianColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[InvocationCount(1)]
public class SaveRestoreBenchmarks : IDisposable
{
    private const int Tokens = 4096;
    private const int FloorChunkBytes = 1024 * 1024;
    private static readonly AgentId Agent = new(1);

    private BlockPool _source = null!;
    private BlockPool _target = null!;
    private string _directory = string.Empty;
    private string _savedPath = string.Empty;
    private string _saveTarget = string.Empty;
    private string _floorPath = string.Empty;
    private byte[] _chunk = [];
    private long _fileBytes;
    private nint _native;

    /// <summary>Bytes of the saved cache (header, payload and checksums): what the floor writes and reads too.</summary>
    public long FileBytes => _fileBytes;

    /// <summary>Fills a source pool with the cache, saves it once for the restores, and writes the floor's file.</summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        int blocksPerLayer = spec.BlocksForTokens(Tokens);
        int blocks = blocksPerLayer * spec.Layers;
        _source = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = blocks, ClearMode = BlockClearMode.None, Name = "save-source" });
        _target = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = blocks, ClearMode = BlockClearMode.None, Name = "restore-target" });
        var random = new Random(6);
        foreach (KvBlock block in _source.AllocateAllLayers(Agent, blocksPerLayer))
        {
            random.NextBytes(_source.GetBlockSpan(block));
        }

        _directory = Directory.CreateTempSubdirectory("kvblockpool-persistence-bench-").FullName;
        _savedPath = Path.Combine(_directory, "saved.kvcache");
        _saveTarget = Path.Combine(_directory, "save-target.kvcache");
        _floorPath = Path.Combine(_directory, "floor.bin");
        using (FileStream file = File.Create(_savedPath))
        {
            KvCacheWriter.SaveAsync(_source, Agent, file, Tokens).GetAwaiter().GetResult();
        }

        _fileBytes = new FileInfo(_savedPath).Length;
        _chunk = new byte[FloorChunkBytes];
        random.NextBytes(_chunk);
        unsafe
        {
            _native = (nint)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)_fileBytes, 4096);
            System.Runtime.InteropServices.NativeMemory.Fill((void*)_native, (nuint)_fileBytes, 1); // touch every page once, as the pools' blocks are
        }

        FloorWrite();
    }

    /// <summary>The floor for saving: a plain FileStream writes the file's number of bytes, 1 MiB at a time.</summary>
    /// <returns>Bytes written.</returns>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Save")]
    public long FloorWrite()
    {
        using var file = new FileStream(_floorPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        long remaining = _fileBytes;
        while (remaining > 0)
        {
            int n = (int)Math.Min(remaining, _chunk.Length);
            file.Write(_chunk, 0, n);
            remaining -= n;
        }

        return _fileBytes;
    }

    /// <summary>The same write from a native buffer of the cache's size: the memory a save must read, nothing else.</summary>
    /// <returns>Bytes written.</returns>
    [Benchmark]
    [BenchmarkCategory("Save")]
    public unsafe long FloorWriteNativeCache()
    {
        using var file = new FileStream(_floorPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        for (long at = 0; at < _fileBytes; at += FloorChunkBytes)
        {
            file.Write(new ReadOnlySpan<byte>((byte*)_native + at, (int)Math.Min(FloorChunkBytes, _fileBytes - at)));
        }

        return _fileBytes;
    }

    /// <summary>Saves the 4096-token cache to a file through <see cref="KvCacheWriter.SaveAsync"/>.</summary>
    /// <returns>The header's payload bytes.</returns>
    [Benchmark]
    [BenchmarkCategory("Save")]
    public async Task<long> Save()
    {
        var file = new FileStream(_saveTarget, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        await using (file.ConfigureAwait(false))
        {
            KvCacheHeader header = await KvCacheWriter.SaveAsync(_source, Agent, file, Tokens).ConfigureAwait(false);
            return header.PayloadBytes;
        }
    }

    /// <summary>The floor for restoring: a plain FileStream reads the saved file's bytes, 1 MiB at a time.</summary>
    /// <returns>Bytes read.</returns>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Restore")]
    public long FloorRead()
    {
        using var file = new FileStream(_savedPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        long total = 0;
        int n;
        while ((n = file.Read(_chunk, 0, _chunk.Length)) > 0)
        {
            total += n;
        }

        return total;
    }

    /// <summary>The same read into a native buffer of the cache's size: the memory a restore must fill, nothing else.</summary>
    /// <returns>Bytes read.</returns>
    [Benchmark]
    [BenchmarkCategory("Restore")]
    public unsafe long FloorReadNativeCache()
    {
        using var file = new FileStream(_savedPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        long total = 0;
        int n;
        while ((n = file.Read(new Span<byte>((byte*)_native + total, (int)Math.Min(FloorChunkBytes, _fileBytes - total)))) > 0)
        {
            total += n;
        }

        return total;
    }

    /// <summary>
    /// Restores the saved file into fresh blocks through <see cref="KvCacheReader.RestoreAsync"/>, every
    /// checksum verified before the commit, with the default degree of parallelism
    /// (<see cref="KvCacheReader.DefaultMaxDegreeOfParallelism"/> threads).
    /// </summary>
    /// <returns>Blocks restored.</returns>
    [Benchmark]
    [BenchmarkCategory("Restore")]
    public Task<int> Restore() => RestoreFileAsync(KvCacheReader.DefaultMaxDegreeOfParallelism);

    /// <summary>
    /// The same restore kept on one thread (<c>maxDegreeOfParallelism: 1</c>): what the fused hash-and-copy gives
    /// alone, and what a host that cannot spare a second core gets.
    /// </summary>
    /// <returns>Blocks restored.</returns>
    [Benchmark]
    [BenchmarkCategory("Restore")]
    public Task<int> RestoreOneThread() => RestoreFileAsync(maxDegreeOfParallelism: 1);

    /// <summary>
    /// The same file read through a <see cref="System.IO.Pipelines.PipeReader"/> with
    /// <see cref="KvCacheReader.RestoreAsync"/>: the path for sockets, pipes and any stream that is not a file or in
    /// memory, in order on one thread, through the pipe's buffers.
    /// </summary>
    /// <returns>Blocks restored.</returns>
    [Benchmark]
    [BenchmarkCategory("Restore")]
    public async Task<int> RestoreThroughPipe()
    {
        var file = new FileStream(_savedPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        await using (file.ConfigureAwait(false))
        {
            System.IO.Pipelines.PipeReader reader = KvCacheReader.CreateReader(file);
            try
            {
                KvCacheHeader header = await KvCacheReader.RestoreAsync(_target, reader).ConfigureAwait(false);
                return header.TotalBlocks;
            }
            finally
            {
                await reader.CompleteAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Returns the restored blocks after each (single-invocation) restore iteration, outside the measurement.</summary>
    [IterationCleanup(Targets = [nameof(Restore), nameof(RestoreOneThread), nameof(RestoreThroughPipe)])]
    public void FreeRestored()
    {
        if (_target.ContainsAgent(Agent))
        {
            _target.FreeAgent(Agent);
        }
    }

    private async Task<int> RestoreFileAsync(int maxDegreeOfParallelism)
    {
        var file = new FileStream(_savedPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        await using (file.ConfigureAwait(false))
        {
            KvCacheHeader header = await KvCacheReader.RestoreAsync(_target, file, maxDegreeOfParallelism: maxDegreeOfParallelism).ConfigureAwait(false);
            return header.TotalBlocks;
        }
    }

    /// <summary>Frees the pools and deletes the files.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _source?.Dispose();
        _target?.Dispose();
        unsafe
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)_native);
        }

        _native = 0;
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        GC.SuppressFinalize(this);
    }
}
