using System.Buffers.Binary;
using System.IO.Hashing;
using KvBlockPool.Core;

namespace KvBlockPool.Persistence;

/// <summary>
/// Saves to files and memory streams, and restores from memory streams, straight from and into block memory, with
/// no pipe in between (a restore from a file goes through <see cref="FileRestore"/>, which reads layers in
/// parallel): a save
/// hashes each run of blocks contiguous in native memory (up to <see cref="ChunkBytes"/>) and writes it to the
/// stream from there in one page-aligned write, a restore reads each such run of fresh blocks from the stream in
/// one read and hashes it there. The format, the checks and their order are those of
/// <see cref="KvCacheWriter.SaveAsync(BlockPool, AgentId, Stream, long?, CancellationToken)"/> and <see cref="KvCacheReader.RestoreAsync(BlockPool, Stream, AgentId?, int, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// Each read or write runs under one of the pool's data accesses, which <see cref="BlockPool.Dispose"/> waits
/// for. That is only acceptable when a read or write cannot stall indefinitely, so this path takes regular files
/// and memory streams only (<see cref="Supports"/>); a socket or a pipe, which may wait on a peer forever, goes
/// through the pipe path, where every data access is a memory copy. One read or write covers at most
/// <see cref="ChunkBytes"/>, so Dispose waits for at most one such read or write.
/// </remarks>
internal static class DirectStream
{
    /// <summary>The most bytes one read or write moves: large enough that per-call costs vanish, small enough to keep Dispose's wait short.</summary>
    internal const int ChunkBytes = 1024 * 1024;

    /// <summary>Whether <paramref name="stream"/>'s reads and writes complete without waiting on a peer.</summary>
    public static bool Supports(Stream stream) => stream is MemoryStream or UnmanagedMemoryStream or FileStream { CanSeek: true };

    /// <summary>Saves <paramref name="agent"/>'s cache to <paramref name="destination"/> and flushes it.</summary>
    public static KvCacheHeader Save(BlockPool pool, AgentId agent, Stream destination, long? tokenCount, int[]? tokenIds, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using SaveSession session = SaveSession.Begin(pool, agent, tokenCount, tokenIds);
        AgentPin pin = session.Pin;
        var writer = new PageAlignedWriter(destination);
        writer.Write(session.Header);
        var hash = new XxHash3();
        Span<byte> checksum = stackalloc byte[KvCacheFormat.ChecksumBytes];
        int bytesPerBlock = session.Spec.BytesPerBlock;
        for (int layer = 0; layer < session.Counts.Length; layer++)
        {
            hash.Reset();
            ReadOnlySpan<KvBlock> blocks = pin.GetBlocks(layer);
            while (!blocks.IsEmpty)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (bytesPerBlock <= ChunkBytes)
                {
                    using (BlockAccess run = pin.BeginContiguousAccess(blocks, ChunkBytes))
                    {
                        HashAndWrite(run, writer, hash);
                        blocks = blocks[run.BlockCount..];
                    }

                    continue;
                }

                for (int offset = 0; offset < bytesPerBlock; offset += ChunkBytes)
                {
                    using BlockAccess part = pin.BeginAccess(blocks[0], offset, Math.Min(ChunkBytes, bytesPerBlock - offset));
                    HashAndWrite(part, writer, hash);
                }

                blocks = blocks[1..];
            }

            BinaryPrimitives.WriteUInt64LittleEndian(checksum, hash.GetCurrentHashAsUInt64());
            writer.Write(checksum);
        }

        writer.Flush();
        return session.ToHeader();
    }

    /// <summary>Restores the one cache <paramref name="source"/> holds from its position to its end.</summary>
    public static KvCacheHeader Restore(BlockPool pool, Stream source, AgentId? asAgent, Action<KvCacheHeader>? accept, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(pool.IsDisposed, pool);
        cancellationToken.ThrowIfCancellationRequested();
        KvCacheHeader header = ReadHeader(source);
        using AllocationScope scope = KvCacheReader.AllocateFor(pool, header, asAgent, accept, out KvBlock[] blocks);
        var hash = new XxHash3();
        Span<byte> checksum = stackalloc byte[KvCacheFormat.ChecksumBytes];
        int bytesPerBlock = pool.Spec.BytesPerBlock;
        long position = header.HeaderLength;
        int next = 0;
        for (int layer = 0; layer < header.BlocksPerLayer.Count; layer++)
        {
            hash.Reset();
            for (int end = next + header.BlocksPerLayer[layer]; next < end;)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (bytesPerBlock <= ChunkBytes)
                {
                    int taken, read;
                    using (BlockAccess run = pool.BeginContiguousAccess(blocks.AsSpan(next, end - next), ChunkBytes))
                    {
                        read = ReadAndHash(source, run, hash);
                        taken = run.BlockCount;
                    }

                    position += read;
                    if (read < taken * bytesPerBlock)
                    {
                        throw KvCacheFrameReader.Truncated(position, KvCacheFormat.Invariant($"layer {layer}'s blocks"));
                    }

                    next += taken;
                    continue;
                }

                for (int offset = 0; offset < bytesPerBlock; offset += ChunkBytes)
                {
                    int wanted = Math.Min(ChunkBytes, bytesPerBlock - offset);
                    int read;
                    using (BlockAccess part = pool.BeginDataAccess(blocks[next], offset, wanted))
                    {
                        read = ReadAndHash(source, part, hash);
                    }

                    position += read;
                    if (read < wanted)
                    {
                        throw KvCacheFrameReader.Truncated(position, KvCacheFormat.Invariant($"layer {layer}'s blocks"));
                    }
                }

                next++;
            }

            int got = source.ReadAtLeast(checksum, checksum.Length, throwOnEndOfStream: false);
            if (got < checksum.Length)
            {
                throw KvCacheFrameReader.Truncated(position + got, KvCacheFormat.Invariant($"layer {layer}'s checksum"));
            }

            KvCacheReader.CheckLayer(layer, BinaryPrimitives.ReadUInt64LittleEndian(checksum), hash.GetCurrentHashAsUInt64(), position);
            position += checksum.Length;
        }

        ExpectEnd(source, position);
        pool.CommitIntoAbsentAgent(scope);
        return header;
    }

    /// <summary>Reads and decodes the header in the order of <see cref="KvCacheFrameReader.ReadHeaderAsync"/>: magic first, on whatever bytes exist.</summary>
    internal static KvCacheHeader ReadHeader(Stream source)
    {
        byte[] fixedPart = new byte[KvCacheFormat.FixedBytes];
        int available = source.ReadAtLeast(fixedPart, fixedPart.Length, throwOnEndOfStream: false);
        KvCacheFormat.CheckMagic(fixedPart.AsSpan(0, available));
        if (available < fixedPart.Length)
        {
            throw KvCacheFrameReader.Truncated(available, "the header");
        }

        byte[] header = new byte[KvCacheFormat.DecodeHeaderLength(fixedPart)];
        fixedPart.CopyTo(header, 0);
        int rest = header.Length - fixedPart.Length;
        int got = source.ReadAtLeast(header.AsSpan(fixedPart.Length), rest, throwOnEndOfStream: false);
        if (got < rest)
        {
            throw KvCacheFrameReader.Truncated(fixedPart.Length + got, "the header");
        }

        return KvCacheFormat.DecodeHeader(header);
    }

    /// <summary>Requires the source to end here: a saved cache is exactly as long as its header says.</summary>
    private static void ExpectEnd(Stream source, long position)
    {
        long extra = source.Length - source.Position; // every supported stream can seek
        if (extra > 0)
        {
            throw TrailingData(position, extra);
        }
    }

    /// <summary>The error for <paramref name="extra"/> bytes after the cache's end at <paramref name="position"/>.</summary>
    internal static KvCacheFormatException TrailingData(long position, long extra) => new(
        KvCacheFormatError.TrailingData,
        position,
        KvCacheFormat.Invariant($"{extra} byte(s) follow the end of the saved cache at offset {position}; a saved cache is exactly as long as its header says. The file is damaged or was concatenated with something else."));

    /// <summary>
    /// Hashes leased block memory, then writes it: hashing first lets the write copy from cache rather than from
    /// memory. The lease holds off the pool's Dispose for the length of the write, so only streams whose writes
    /// cannot stall (regular files, memory) come here.
    /// </summary>
    private static void HashAndWrite(BlockAccess access, PageAlignedWriter writer, XxHash3 hash)
    {
        Span<byte> bytes = access.Span;
        hash.Append(bytes);
        writer.Write(bytes);
    }

    /// <summary>Reads straight into leased block memory and hashes what arrived while it is still in cache; returns its count (short only at the end of the source).</summary>
    private static int ReadAndHash(Stream source, BlockAccess access, XxHash3 hash)
    {
        Span<byte> bytes = access.Span;
        int read = source.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        hash.Append(bytes[..read]);
        return read;
    }
}
