using System.IO.Hashing;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Persistence;

namespace KvBlockPool.Benchmarks.Persistence;

/// <summary>
/// What a file restore does with each staged megabyte, in isolation: hash it and copy it into block memory. The
/// baseline is <see cref="XxHash3"/> followed by a plain copy (two passes, what the restore did before); beside it
/// the hash alone, and the restore's fused one-pass <see cref="CopyingXxHash3"/>. The source is one 1 MiB buffer
/// that stays in cache, as a staging buffer does; the destination is 64 MiB of native memory, so the copies reach
/// DRAM as a restore's do.
/// </summary>
[MemoryDiagnoser]
public unsafe class ChecksumCopyBenchmarks : IDisposable
{
    private const int ChunkBytes = 1024 * 1024;
    private const int DestinationBytes = 64 * ChunkBytes;

    private readonly XxHash3 _hash = new();
    private readonly CopyingXxHash3 _fused = new();
    private byte* _source;
    private byte* _destination;

    /// <summary>Bytes hashed (and copied) per operation.</summary>
    public static int BytesPerOperation => DestinationBytes;

    /// <summary>Allocates and fills the buffers; every destination page is touched once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _source = (byte*)NativeMemory.AlignedAlloc(ChunkBytes, 4096);
        _destination = (byte*)NativeMemory.AlignedAlloc(DestinationBytes, 4096);
        new Random(11).NextBytes(new Span<byte>(_source, ChunkBytes));
        NativeMemory.Fill(_destination, DestinationBytes, 1);
    }

    /// <summary>XxHash3 of each megabyte, then a plain copy of it: the two passes the fused loop replaces.</summary>
    /// <returns>The hash.</returns>
    [Benchmark(Baseline = true)]
    public ulong HashThenCopy()
    {
        _hash.Reset();
        for (int at = 0; at < DestinationBytes; at += ChunkBytes)
        {
            var chunk = new ReadOnlySpan<byte>(_source, ChunkBytes);
            _hash.Append(chunk);
            chunk.CopyTo(new Span<byte>(_destination + at, ChunkBytes));
        }

        return _hash.GetCurrentHashAsUInt64();
    }

    /// <summary>XxHash3 alone: the hash's share of the two passes.</summary>
    /// <returns>The hash.</returns>
    [Benchmark]
    public ulong HashOnly()
    {
        _hash.Reset();
        for (int at = 0; at < DestinationBytes; at += ChunkBytes)
        {
            _hash.Append(new ReadOnlySpan<byte>(_source, ChunkBytes));
        }

        return _hash.GetCurrentHashAsUInt64();
    }

    /// <summary>The restore's fused hash-and-copy: one pass, non-temporal stores into the aligned destination.</summary>
    /// <returns>The hash, equal to the other methods'.</returns>
    [Benchmark]
    public ulong FusedHashAndCopy()
    {
        _fused.Reset();
        for (int at = 0; at < DestinationBytes; at += ChunkBytes)
        {
            _fused.CopyAndAppend(_source, _destination + at, ChunkBytes);
        }

        return _fused.GetCurrentHashAsUInt64();
    }

    /// <summary>Frees the buffers.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        NativeMemory.AlignedFree(_source);
        NativeMemory.AlignedFree(_destination);
        _source = null;
        _destination = null;
        GC.SuppressFinalize(this);
    }
}
