using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>Making the pool's memory resident before it serves.</content>
public sealed partial class BlockPool
{
    /// <summary>The run of slab memory one warm-up step prefaults: 32 MiB, a multiple of every huge-page size in use.</summary>
    internal const long WarmUpChunkBytes = 32L * 1024 * 1024;

    /// <summary>
    /// Makes every page of the pool's native memory resident now, on all cores, so that no later write to a block
    /// pays for a page fault. Without it, a pool whose slabs are fresh mappings (Linux and macOS) takes physical
    /// memory page by page as blocks are first written.
    /// </summary>
    /// <param name="progress">Receives the fraction of the pool's bytes done, from 0 to 1, as it goes; optional.</param>
    /// <param name="cancellationToken">Stops the warm-up between steps; the pages already made resident stay so.</param>
    /// <returns>A task that completes when every page is resident.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed (before or while it runs).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <remarks>
    /// <para>
    /// It changes no byte of the pool, so it may run at any time, while agents allocate, write and free blocks:
    /// each page is prefaulted by the kernel without a write (<c>MADV_POPULATE_WRITE</c>, Linux 5.14 and later) or,
    /// elsewhere, by one atomic write of the value already there (<see cref="Interlocked.Or(ref int, int)"/> with 0),
    /// which a concurrent write by a block's owner cannot be lost to. Every free block stays zeroed under
    /// <see cref="BlockClearMode.ZeroOnFree"/>, and diagnostics mode's poison and guards stay intact.
    /// </para>
    /// <para>
    /// <see cref="Dispose"/> waits for the step in flight (32 MiB at most), then the warm-up throws
    /// <see cref="ObjectDisposedException"/>. A <see cref="Reconfigure"/> while it runs ends it early, without an
    /// exception: the new configuration's memory is not warmed up; call again to warm it.
    /// </para>
    /// </remarks>
    public Task WarmUpAsync(IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        _guard.ThrowIfClosed();
        return Task.Run(() => WarmUp(progress, cancellationToken: cancellationToken), cancellationToken);
    }

    /// <summary>
    /// The warm-up on the calling thread (and the thread pool); <paramref name="touchOnly"/> skips
    /// <c>MADV_POPULATE_WRITE</c> (the path other systems take); tests choose small <paramref name="chunkBytes"/>.
    /// </summary>
    internal void WarmUp(IProgress<double>? progress, bool touchOnly = false, long chunkBytes = WarmUpChunkBytes, CancellationToken cancellationToken = default)
    {
        NativeSlabs slabs;
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            slabs = _table.Slabs;
        }

        (int Slab, long Offset, long Length)[] chunks = slabs.Chunks(chunkBytes);
        long total = slabs.TotalBytes;
        long done = 0;
        int stopped = 0;
        var parallel = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount };
        Parallel.For(0, chunks.Length, parallel, (i, loop) =>
        {
            if (!TryBeginWarmUpStep(slabs))
            {
                Volatile.Write(ref stopped, 1);
                loop.Stop();
                return;
            }

            try
            {
                (int slab, long offset, long length) = chunks[i];
                slabs.Prefault(slab, offset, length, touchOnly);
            }
            finally
            {
                _guard.EndAccessOutsideGate();
            }

            progress?.Report((double)Interlocked.Add(ref done, chunks[i].Length) / total);
        });

        if (Volatile.Read(ref stopped) == 0)
        {
            slabs.MarkResident();
            return;
        }

        _guard.ThrowIfClosed(); // stopped by Dispose: say so; stopped by Reconfigure: end quietly
    }

    /// <summary>Starts one warm-up step as a data access (so <c>Dispose</c> and <c>Reconfigure</c> wait before freeing the slabs); false once the pool is closed or reconfigured.</summary>
    private bool TryBeginWarmUpStep(NativeSlabs slabs)
    {
        lock (_gate)
        {
            if (_guard.IsClosed || !ReferenceEquals(_table.Slabs, slabs))
            {
                return false;
            }

            _guard.BeginAccess();
            return true;
        }
    }
}
