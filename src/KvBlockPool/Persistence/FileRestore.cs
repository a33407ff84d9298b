using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;

namespace KvBlockPool.Persistence;

/// <summary>
/// Restores a saved cache from a seekable <see cref="FileStream"/>: the header is read and the file's length
/// checked against it before anything is allocated, then the layers, which the header lays out at known offsets,
/// are read and checked on up to <c>maxDegreeOfParallelism</c> threads at once (the calling thread is one of
/// them), and the blocks are committed only after every layer's checksum matched.
/// </summary>
/// <remarks>
/// Every worker has ended before the allocation scope is disposed, so no block is written after a failed restore
/// has returned it. The error reported is the one a sequential read would report (see <see cref="LayerFailures"/>).
/// </remarks>
internal static class FileRestore
{
    public static KvCacheHeader Restore(BlockPool pool, FileStream source, AgentId? asAgent, int maxDegreeOfParallelism, Action<KvCacheHeader>? accept, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(pool.IsDisposed, pool);
        cancellationToken.ThrowIfCancellationRequested();
        long start = source.Position;
        KvCacheHeader header = DirectStream.ReadHeader(source);
        var layout = new KvCacheLayout(header);
        KvCacheReader.CheckRestorable(pool, header, asAgent, accept); // step 7 of format.md first, as every path reports it
        CheckLength(layout, source.Length - start);
        using AllocationScope scope = KvCacheReader.AllocateFor(pool, header, asAgent, accept: null, out KvBlock[] blocks); // accepted just above

        // The handle is taken once, here: FileStream is not thread-safe, and a buffered one rewinds on this getter.
        SafeFileHandle file = source.SafeFileHandle;
        var failures = new LayerFailures(layout.Layers);

        // Parallel.For restarts its workers now and then; each restart takes a worker (and its staging buffer) from here.
        var idle = new ConcurrentBag<LayerRestorer>();
        try
        {
            Parallel.For(
                0,
                layout.Layers,
                new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism },
                () => idle.TryTake(out LayerRestorer? restorer) ? restorer : new LayerRestorer(pool, file, start, layout, blocks, failures, cancellationToken),
                (layer, _, restorer) =>
                {
                    restorer.Run(layer);
                    return restorer;
                },
                idle.Add);
        }
        finally
        {
            foreach (LayerRestorer restorer in idle)
            {
                restorer.Dispose();
            }
        }

        failures.ThrowIfAny();
        source.Seek(start + header.TotalLength, SeekOrigin.Begin);
        pool.CommitIntoAbsentAgent(scope);
        return header;
    }

    /// <summary>Refuses a file shorter or longer than its header says, before anything is allocated.</summary>
    private static void CheckLength(KvCacheLayout layout, long available)
    {
        long expected = layout.Header.TotalLength;
        if (available < expected)
        {
            throw KvCacheFrameReader.Truncated(available, layout.Describe(available));
        }

        if (available > expected)
        {
            throw DirectStream.TrailingData(expected, available - expected);
        }
    }
}
