using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace KvBlockPool.Persistence;

/// <summary>
/// One worker of a file restore: reads whole layers from the file at their offsets into its own page-aligned
/// staging buffer, then copies each staged chunk into the layer's fresh blocks while hashing it
/// (<see cref="CopyingXxHash3"/>), and checks the layer's checksum. Block memory is touched only by those copies,
/// so <see cref="BlockPool.Dispose"/> never waits on I/O.
/// </summary>
/// <remarks>
/// Staging first and copying after costs a copy, but a measured one that pays: the kernel's copy into a buffer
/// that stays in cache, plus a fused hash-and-copy that streams into the blocks, beat reading straight into the
/// blocks and hashing them afterwards (docs/format.md, "Performance").
/// </remarks>
/// <param name="pool">The pool the blocks belong to.</param>
/// <param name="file">The file; read at explicit offsets only, so workers share it.</param>
/// <param name="start">The file offset of the cache's first byte.</param>
/// <param name="layout">The cache's layout.</param>
/// <param name="blocks">The fresh blocks, layer by layer in payload order.</param>
/// <param name="failures">Shared with the other workers.</param>
/// <param name="cancellationToken">Checked before every chunk.</param>
internal sealed unsafe class LayerRestorer(
    BlockPool pool,
    SafeFileHandle file,
    long start,
    KvCacheLayout layout,
    KvBlock[] blocks,
    LayerFailures failures,
    CancellationToken cancellationToken) : IDisposable
{
    /// <summary>Bytes read per call: large enough that per-call costs vanish, small enough to stay in a core's cache.</summary>
    internal const int StagingBytes = 1024 * 1024;

    private const int PageBytes = 4096;

    private readonly BlockFiller _filler = new(pool, blocks, pool.Spec.BytesPerBlock);
    private byte* _staging;

    /// <summary>Restores one layer, recording any failure instead of throwing it.</summary>
    public void Run(int layer)
    {
        try
        {
            Restore(layer);
        }
#pragma warning disable CA1031 // every failure is recorded and rethrown, in file order, once all workers ended
        catch (Exception ex)
#pragma warning restore CA1031
        {
            failures.Record(layer, ex);
        }
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_staging);
        _staging = null;
    }

    private void Restore(int layer)
    {
        if (_staging == null)
        {
            _staging = (byte*)NativeMemory.AlignedAlloc(StagingBytes, PageBytes);
        }

        _filler.MoveTo(layout.FirstBlock(layer));
        _filler.BeginLayer();
        long offset = layout.PayloadOffset(layer);
        for (long remaining = layout.Header.GetLayerPayloadBytes(layer); remaining > 0;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (failures.ShouldAbandon(layer))
            {
                return; // another worker's failure decides the outcome; nothing here can change it
            }

            int staged = (int)Math.Min(remaining, StagingBytes);
            ReadExactly(offset, staged);
            _filler.Write(_staging, staged);
            offset += staged;
            remaining -= staged;
        }

        ReadExactly(offset, KvCacheFormat.ChecksumBytes);
        ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_staging, KvCacheFormat.ChecksumBytes));
        KvCacheReader.CheckLayer(layer, stored, _filler.LayerHash, offset);
    }

    /// <summary>Fills the first <paramref name="length"/> bytes of the staging buffer from the cache's <paramref name="offset"/>, or throws Truncated.</summary>
    private void ReadExactly(long offset, int length)
    {
        int got = 0;
        while (got < length)
        {
            int n = RandomAccess.Read(file, new Span<byte>(_staging + got, length - got), start + offset + got);
            if (n == 0)
            {
                // The file was checked long enough before anything was allocated, so it shrank during the restore.
                throw KvCacheFrameReader.Truncated(offset + got, layout.Describe(offset + got));
            }

            got += n;
        }
    }
}
