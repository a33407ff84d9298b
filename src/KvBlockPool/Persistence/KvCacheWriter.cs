using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.IO.Pipelines;
using KvBlockPool.Core;

namespace KvBlockPool.Persistence;

/// <summary>
/// Saves an agent's KV cache in the versioned, checksummed format of <c>docs/format.md</c>: streamed from the
/// pool's native memory straight into the destination's buffers, flushed as it goes, never held whole in managed
/// memory.
/// </summary>
/// <remarks>
/// The agent is pinned for the length of the save: a concurrent <see cref="BlockPool.Free(AgentId, KvBlock)"/> or
/// <see cref="BlockPool.FreeAgent"/> of it is refused with <see cref="AgentPinnedException"/>, so no block is freed
/// and reused while it is read. The save captures the agent's block tables when it starts; the host should not
/// write to those blocks while it runs (their bytes would be saved torn). Disposing the pool during a save is safe:
/// it waits at most for one chunk copy (or, saving to a file, one block's write), and the save then fails with
/// <see cref="ObjectDisposedException"/>.
/// </remarks>
public static class KvCacheWriter
{
    /// <summary>The most bytes copied from native memory under one data access (keeps a concurrent Dispose's wait short).</summary>
    internal const int ChunkBytes = 256 * 1024;

    /// <summary>Bytes written between flushes: enough to amortize a flush, little enough to keep back-pressure.</summary>
    internal const int FlushBytes = 1024 * 1024;

    /// <summary>Saves <paramref name="agent"/>'s cache to <paramref name="destination"/> and flushes it (the writer is not completed).</summary>
    /// <param name="pool">The pool holding the cache.</param>
    /// <param name="agent">The agent; it must hold at least one block.</param>
    /// <param name="destination">Where the bytes go.</param>
    /// <param name="tokenCount">Tokens the cache holds, recorded in the header; <see langword="null"/> records the capacity of the longest layer's blocks.</param>
    /// <param name="cancellationToken">Cancels the save between chunks; the destination then holds a partial cache.</param>
    /// <returns>The header that was written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pool"/> or <paramref name="destination"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="agent"/> holds no blocks.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenCount"/> is negative or more than the agent's blocks hold.</exception>
    /// <exception cref="IOException">The reader of <paramref name="destination"/> stopped, or the underlying stream failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed before or during the save.</exception>
    public static Task<KvCacheHeader> SaveAsync(BlockPool pool, AgentId agent, PipeWriter destination, long? tokenCount = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(destination);
        return SaveCoreAsync(pool, agent, destination, tokenCount, tokenIds: null, cancellationToken);
    }

    /// <summary>The pipe save; <paramref name="tokenIds"/>, when the cache manager gives them, go into the header.</summary>
    internal static async Task<KvCacheHeader> SaveCoreAsync(BlockPool pool, AgentId agent, PipeWriter destination, long? tokenCount, int[]? tokenIds, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using SaveSession session = SaveSession.Begin(pool, agent, tokenCount, tokenIds);
        AgentPin pin = session.Pin;
        int[] counts = session.Counts;
        destination.Write(session.Header);
        long unflushed = session.Header.Length;
        var hash = new XxHash3();
        int bytesPerBlock = session.Spec.BytesPerBlock;
        for (int layer = 0; layer < counts.Length; layer++)
        {
            hash.Reset();
            for (int index = 0; index < counts[layer]; index++)
            {
                KvBlock block = pin.GetBlock(layer, index);
                for (int offset = 0; offset < bytesPerBlock;)
                {
                    int copied = CopyChunk(pin, block, offset, bytesPerBlock - offset, destination, hash);
                    offset += copied;
                    unflushed += copied;
                    if (unflushed >= FlushBytes)
                    {
                        await FlushAsync(destination, cancellationToken).ConfigureAwait(false);
                        unflushed = 0;
                    }
                }
            }

            WriteChecksum(destination, hash.GetCurrentHashAsUInt64());
        }

        await FlushAsync(destination, cancellationToken).ConfigureAwait(false);
        return session.ToHeader();
    }

    /// <summary>Saves <paramref name="agent"/>'s cache to <paramref name="destination"/>, which is left open.</summary>
    /// <param name="pool">The pool holding the cache.</param>
    /// <param name="agent">The agent; it must hold at least one block.</param>
    /// <param name="destination">A writable stream; left open.</param>
    /// <param name="tokenCount">Tokens the cache holds, recorded in the header; <see langword="null"/> records the capacity of the longest layer's blocks.</param>
    /// <param name="cancellationToken">Cancels the save; the stream then holds a partial cache.</param>
    /// <returns>The header that was written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pool"/> or <paramref name="destination"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not writable, or <paramref name="agent"/> holds no blocks.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenCount"/> is negative or more than the agent's blocks hold.</exception>
    /// <exception cref="IOException">The stream failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed before or during the save.</exception>
    public static Task<KvCacheHeader> SaveAsync(BlockPool pool, AgentId agent, Stream destination, long? tokenCount = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        CheckWritable(destination);
        return SaveCoreAsync(pool, agent, destination, tokenCount, tokenIds: null, cancellationToken);
    }

    /// <summary>Refuses a null or read-only destination stream before anything is pinned.</summary>
    internal static void CheckWritable(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (!destination.CanWrite)
        {
            throw new ArgumentException("The destination stream is not writable.", nameof(destination));
        }
    }

    /// <summary>The stream save; <paramref name="tokenIds"/>, when the cache manager gives them, go into the header.</summary>
    internal static async Task<KvCacheHeader> SaveCoreAsync(BlockPool pool, AgentId agent, Stream destination, long? tokenCount, int[]? tokenIds, CancellationToken cancellationToken)
    {
        if (DirectStream.Supports(destination))
        {
            // Block memory goes straight to the file: one copy fewer than through a pipe's buffers. Run off the
            // caller's thread, as FileStream's own async writes on a synchronous handle would be.
            return await Task.Run(() => DirectStream.Save(pool, agent, destination, tokenCount, tokenIds, cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        // Any other stream is written on its own task, so the device works while the next blocks are copied and hashed.
        StreamPump pump = StreamPump.ToStream(destination, cancellationToken);
        PipeWriter writer = pump.Pipe.Writer;
        KvCacheHeader header;
        try
        {
            header = await SaveCoreAsync(pool, agent, writer, tokenCount, tokenIds, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await writer.CompleteAsync(ex).ConfigureAwait(false);
            await pump.Completion.ConfigureAwait(false);
            pump.ThrowIfStreamFailed(); // the device's own error is the cause of whatever the save saw
            throw;
        }

        await writer.CompleteAsync().ConfigureAwait(false);
        await pump.Completion.ConfigureAwait(false);
        pump.ThrowIfStreamFailed();
        cancellationToken.ThrowIfCancellationRequested(); // the pump stops quietly on cancellation
        return header;
    }

    /// <summary>Copies up to <paramref name="remaining"/> bytes of the block into the writer's buffer and hashes them.</summary>
    private static int CopyChunk(AgentPin pin, KvBlock block, int offset, int remaining, PipeWriter destination, XxHash3 hash)
    {
        int wanted = Math.Min(remaining, ChunkBytes);
        Span<byte> buffer = destination.GetSpan(wanted);
        Span<byte> chunk = buffer[..Math.Min(wanted, buffer.Length)];
        using (BlockAccess access = pin.BeginAccess(block, offset, chunk.Length))
        {
            access.Span.CopyTo(chunk);
        }

        hash.Append(chunk);
        destination.Advance(chunk.Length);
        return chunk.Length;
    }

    private static void WriteChecksum(PipeWriter destination, ulong checksum)
    {
        Span<byte> span = destination.GetSpan(KvCacheFormat.ChecksumBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(span, checksum);
        destination.Advance(KvCacheFormat.ChecksumBytes);
    }

    private static async ValueTask FlushAsync(PipeWriter destination, CancellationToken cancellationToken)
    {
        FlushResult result = await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The save was canceled (PipeWriter.CancelPendingFlush).", cancellationToken);
        }

        if (result.IsCompleted)
        {
            throw new IOException("The reader of the destination pipe stopped before the save finished; the saved cache is incomplete.");
        }
    }
}
