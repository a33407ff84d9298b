using System.IO.Pipelines;

namespace KvBlockPool.Persistence;

/// <summary>
/// Validates a saved cache without a pool: reads the header, hashes every layer's data and checks it ends where
/// the header says, and reports what it found. Corrupt data is a verdict in the report, not an exception.
/// </summary>
public static class KvCacheInspector
{
    /// <summary>Inspects the cache <paramref name="source"/> holds, reading it to its end.</summary>
    /// <param name="source">The saved cache (the reader is not completed).</param>
    /// <param name="cancellationToken">Cancels the inspection.</param>
    /// <returns>The report; <see cref="KvCacheInspectionReport.IsValid"/> is the verdict.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is null.</exception>
    /// <exception cref="IOException">The source failed (not for bad data, which the report describes).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public static async Task<KvCacheInspectionReport> InspectAsync(PipeReader source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        cancellationToken.ThrowIfCancellationRequested();
        var frame = new KvCacheFrameReader(source, cancellationToken);
        var layers = new List<KvCacheLayerReport>();
        KvCacheHeader? header = null;
        KvCacheFormatException? firstMismatch = null;
        try
        {
            header = await frame.ReadHeaderAsync().ConfigureAwait(false);
            for (int layer = 0; layer < header.Spec.Layers; layer++)
            {
                string what = KvCacheFormat.Invariant($"layer {layer}");
                long bytes = header.GetLayerPayloadBytes(layer);
                ulong computed = await frame.ReadPayloadAsync(bytes, null, what + "'s blocks").ConfigureAwait(false);
                long checksumOffset = frame.Position;
                ulong stored = await frame.ReadChecksumAsync(what + "'s checksum").ConfigureAwait(false);
                layers.Add(new KvCacheLayerReport(layer, header.BlocksPerLayer[layer], bytes, stored, computed));
                if (stored != computed)
                {
                    // Keep going: the header frames every layer, so the others can still be checked and reported.
                    firstMismatch ??= new KvCacheFormatException(
                        KvCacheFormatError.LayerChecksumMismatch,
                        checksumOffset,
                        KvCacheFormat.Invariant($"Layer {layer}'s block data is corrupt: its checksum is 0x{stored:x16} but the data hashes to 0x{computed:x16}."));
                }
            }

            await frame.ExpectEndAsync().ConfigureAwait(false);
        }
        catch (KvCacheFormatException ex)
        {
            return new KvCacheInspectionReport(header, [.. layers], firstMismatch ?? ex, frame.Position);
        }

        return new KvCacheInspectionReport(header, [.. layers], firstMismatch, frame.Position);
    }

    /// <summary>Inspects the cache <paramref name="source"/> holds, reading it to its end; the stream is left open.</summary>
    /// <param name="source">A readable stream; left open.</param>
    /// <param name="cancellationToken">Cancels the inspection.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="source"/> is not readable.</exception>
    /// <exception cref="IOException">The stream failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public static async Task<KvCacheInspectionReport> InspectAsync(Stream source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.CanRead)
        {
            throw new ArgumentException("The source stream is not readable.", nameof(source));
        }

        PipeReader reader = KvCacheReader.CreateReader(source);
        try
        {
            return await InspectAsync(reader, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Inspects the saved cache in the file at <paramref name="path"/>.</summary>
    /// <param name="path">The file.</param>
    /// <param name="cancellationToken">Cancels the inspection.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="IOException">The file could not be read.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public static async Task<KvCacheInspectionReport> InspectFileAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileStream file = KvCacheStore.OpenForRead(path);
        await using (file.ConfigureAwait(false))
        {
            return await InspectAsync(file, cancellationToken).ConfigureAwait(false);
        }
    }
}
