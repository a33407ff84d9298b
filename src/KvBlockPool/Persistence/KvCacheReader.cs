using System.IO.Pipelines;

namespace KvBlockPool.Persistence;

/// <summary>
/// Restores a saved KV cache into a pool: the header is read and checked in full before anything is allocated,
/// then fresh blocks are allocated for every layer in one allocation scope, filled as the payload streams in,
/// and committed to the agent only after every checksum matched and the source ended. Any failure returns every
/// block and leaves the agent exactly as before.
/// </summary>
public static class KvCacheReader
{
    /// <summary>How many threads a file restore uses unless told otherwise: two measured at the plain-read floor on a 2-core machine (docs/format.md).</summary>
    public const int DefaultMaxDegreeOfParallelism = 2;

    /// <summary>The buffer a stream is read through: large reads, few copies.</summary>
    internal const int StreamBufferBytes = 1024 * 1024;

    /// <summary>Restores the cache that <paramref name="source"/> holds, reading it to its end.</summary>
    /// <param name="pool">The pool to restore into; its spec must equal the saved one.</param>
    /// <param name="source">The saved cache; exactly one, and nothing after it (the reader is not completed).</param>
    /// <param name="asAgent">The agent to restore as; <see langword="null"/> restores as the agent that was saved. It must hold no blocks.</param>
    /// <param name="cancellationToken">Cancels the restore; every block taken is returned.</param>
    /// <returns>The header of the restored cache.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pool"/> or <paramref name="source"/> is null.</exception>
    /// <exception cref="ArgumentException">The target agent already holds blocks.</exception>
    /// <exception cref="KvCacheSpecMismatchException">The cache was saved with another spec; nothing was allocated.</exception>
    /// <exception cref="KvCacheFormatException">The data is not a valid saved cache (see <see cref="KvCacheFormatException.Reason"/>); nothing changed.</exception>
    /// <exception cref="BlockPoolExhaustedException">The pool has too few free blocks; nothing changed.</exception>
    /// <exception cref="IOException">The source failed; nothing changed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    public static Task<KvCacheHeader> RestoreAsync(BlockPool pool, PipeReader source, AgentId? asAgent = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(source);
        return RestoreCoreAsync(pool, source, asAgent, accept: null, cancellationToken);
    }

    /// <summary>The pipe restore; <paramref name="accept"/> (the cache manager's) may refuse the header before anything is allocated.</summary>
    internal static async Task<KvCacheHeader> RestoreCoreAsync(BlockPool pool, PipeReader source, AgentId? asAgent, Action<KvCacheHeader>? accept, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(pool.IsDisposed, pool);
        cancellationToken.ThrowIfCancellationRequested();

        var frame = new KvCacheFrameReader(source, cancellationToken);
        KvCacheHeader header = await frame.ReadHeaderAsync().ConfigureAwait(false);
        using AllocationScope scope = AllocateFor(pool, header, asAgent, accept, out KvBlock[] blocks);
        KvCacheSpec spec = pool.Spec;
        var filler = new BlockFiller(pool, blocks, spec.BytesPerBlock);
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            string what = KvCacheFormat.Invariant($"layer {layer}");
            ulong computed = await frame.ReadPayloadAsync(header.GetLayerPayloadBytes(layer), filler, what + "'s blocks").ConfigureAwait(false);
            long checksumOffset = frame.Position;
            ulong stored = await frame.ReadChecksumAsync(what + "'s checksum").ConfigureAwait(false);
            CheckLayer(layer, stored, computed, checksumOffset);
        }

        await frame.ExpectEndAsync().ConfigureAwait(false);
        pool.CommitIntoAbsentAgent(scope);
        return header;
    }

    /// <summary>
    /// Restores the cache that <paramref name="source"/> holds, reading it to its end; the stream is left open. A
    /// seekable <see cref="FileStream"/> is read and checked on up to <paramref name="maxDegreeOfParallelism"/>
    /// threads at once, layer by layer.
    /// </summary>
    /// <param name="pool">The pool to restore into; its spec must equal the saved one.</param>
    /// <param name="source">A readable stream holding exactly one saved cache; left open.</param>
    /// <param name="asAgent">The agent to restore as; <see langword="null"/> restores as the agent that was saved. It must hold no blocks.</param>
    /// <param name="maxDegreeOfParallelism">
    /// How many threads may read and check layers at once when <paramref name="source"/> is a seekable
    /// <see cref="FileStream"/>; the restore runs on a thread-pool thread, which is one of them, and 1 reads every
    /// layer on it. Other streams are read in order on one thread whatever this says.
    /// </param>
    /// <param name="cancellationToken">Cancels the restore; every block taken is returned.</param>
    /// <returns>The header of the restored cache.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pool"/> or <paramref name="source"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDegreeOfParallelism"/> is less than 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="source"/> is not readable, or the target agent already holds blocks.</exception>
    /// <exception cref="KvCacheSpecMismatchException">The cache was saved with another spec; nothing was allocated.</exception>
    /// <exception cref="KvCacheFormatException">The data is not a valid saved cache; nothing changed. A file shorter or longer than its header says is refused before anything is allocated.</exception>
    /// <exception cref="BlockPoolExhaustedException">The pool has too few free blocks; nothing changed.</exception>
    /// <exception cref="IOException">The stream failed; nothing changed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    public static Task<KvCacheHeader> RestoreAsync(BlockPool pool, Stream source, AgentId? asAgent = null, int maxDegreeOfParallelism = DefaultMaxDegreeOfParallelism, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDegreeOfParallelism, 1);
        CheckReadable(source);
        return RestoreCoreAsync(pool, source, asAgent, maxDegreeOfParallelism, accept: null, cancellationToken);
    }

    /// <summary>Refuses a null or write-only source stream before anything is read.</summary>
    internal static void CheckReadable(Stream source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.CanRead)
        {
            throw new ArgumentException("The source stream is not readable.", nameof(source));
        }
    }

    /// <summary>The stream restore; <paramref name="accept"/> (the cache manager's) may refuse the header before anything is allocated.</summary>
    internal static async Task<KvCacheHeader> RestoreCoreAsync(BlockPool pool, Stream source, AgentId? asAgent, int maxDegreeOfParallelism, Action<KvCacheHeader>? accept, CancellationToken cancellationToken)
    {
        if (source is FileStream { CanSeek: true } file)
        {
            // Layers lie at offsets the header gives, so they are read and checked in parallel, each hashed as it is copied.
            return await Task.Run(() => FileRestore.Restore(pool, file, asAgent, maxDegreeOfParallelism, accept, cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        if (DirectStream.Supports(source))
        {
            // Straight from the file into the fresh blocks, hashed there: one copy fewer than through a pipe.
            return await Task.Run(() => DirectStream.Restore(pool, source, asAgent, accept, cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        // Any other stream is read in place, not pumped on a second task: measured, a pump made restores slower (a hop per segment, and
        // reads from the page cache are too quick to be worth overlapping), while it made saves faster.
        PipeReader reader = CreateReader(source);
        try
        {
            return await RestoreCoreAsync(pool, reader, asAgent, accept, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Checks that <paramref name="header"/> can be restored into <paramref name="pool"/> as the target agent, then
    /// allocates fresh blocks for every layer in one uncommitted scope (the caller disposes it: a commit keeps the
    /// blocks, anything else returns them). <paramref name="blocks"/> lists them layer by layer, in payload order.
    /// </summary>
    internal static AllocationScope AllocateFor(BlockPool pool, KvCacheHeader header, AgentId? asAgent, Action<KvCacheHeader>? accept, out KvBlock[] blocks)
    {
        CheckRestorable(pool, header, asAgent, accept);
        KvCacheSpec spec = pool.Spec;
        AgentId agent = asAgent ?? header.Agent;
        AllocationScope scope = pool.BeginScope(agent);
        try
        {
            blocks = new KvBlock[header.TotalBlocks];
            int start = 0;
            for (int layer = 0; layer < spec.Layers; layer++)
            {
                int count = header.BlocksPerLayer[layer];
                if (count > 0)
                {
                    scope.Allocate(layer, blocks.AsSpan(start, count));
                    start += count;
                }
            }

            return scope;
        }
        catch
        {
            scope.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Step 7 of a restore (docs/format.md): the pool's spec equals the saved one, the target agent holds nothing,
    /// and the cache fits the pool's capacity. Runs before anything is allocated.
    /// </summary>
    internal static void CheckRestorable(BlockPool pool, KvCacheHeader header, AgentId? asAgent, Action<KvCacheHeader>? accept = null)
    {
        KvCacheSpec spec = pool.Spec;
        if (header.Spec != spec)
        {
            throw new KvCacheSpecMismatchException(
                header.Spec,
                spec,
                $"The cache of {header.Agent} was saved with spec [{header.Spec}], but pool '{pool.Name}' has spec [{spec}]. Restore it into a pool with the saved spec. Nothing was allocated.");
        }

        AgentId agent = asAgent ?? header.Agent;
        int held = pool.GetBlockCount(agent);
        if (held != 0)
        {
            throw pool.AgentHoldsBlocks(agent, held);
        }

        accept?.Invoke(header); // the caller's own conditions (the cache manager's: even layers, a token count to match)
        if (header.TotalBlocks > pool.Capacity)
        {
            // Refused up front so a huge (but well-formed) cache never churns the pool layer by layer.
            throw new BlockPoolExhaustedException(header.TotalBlocks, pool.GetStatistics().Available, pool.Capacity);
        }
    }

    /// <summary>Throws <see cref="KvCacheFormatError.LayerChecksumMismatch"/> unless the layer's stored and computed checksums agree.</summary>
    internal static void CheckLayer(int layer, ulong stored, ulong computed, long checksumOffset)
    {
        if (stored != computed)
        {
            throw new KvCacheFormatException(
                KvCacheFormatError.LayerChecksumMismatch,
                checksumOffset,
                KvCacheFormat.Invariant($"Layer {layer}'s block data is corrupt: its checksum (at offset {checksumOffset}) is 0x{stored:x16} but the data hashes to 0x{computed:x16}. Nothing was restored."));
        }
    }

    internal static PipeReader CreateReader(Stream source) =>
        PipeReader.Create(source, new StreamPipeReaderOptions(bufferSize: StreamBufferBytes, minimumReadSize: StreamBufferBytes / 4, leaveOpen: true));
}
