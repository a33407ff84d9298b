using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.IO.Pipelines;

namespace KvBlockPool.Persistence;

/// <summary>
/// Reads the parts of a saved cache from a <see cref="PipeReader"/> in order (header, each layer's payload and
/// checksum, end), keeping the byte offset for error messages. Payload bytes are handed to a sink, which copies
/// and hashes them in one pass, as they arrive (or only hashed, without a sink); nothing larger than the header is
/// buffered.
/// </summary>
internal sealed class KvCacheFrameReader(PipeReader reader, CancellationToken cancellationToken)
{
    private readonly XxHash3 _hash = new();

    /// <summary>Bytes consumed so far: the offset of the next byte in the saved cache.</summary>
    public long Position { get; private set; }

    public async ValueTask<KvCacheHeader> ReadHeaderAsync()
    {
        ReadResult result = await reader.ReadAtLeastAsync(KvCacheFormat.FixedBytes, cancellationToken).ConfigureAwait(false);
        ThrowIfCanceled(result);
        ReadOnlySequence<byte> buffer = result.Buffer;
        int headerLength;
        byte[] header;
        try
        {
            byte[] fixedPart = new byte[KvCacheFormat.FixedBytes];
            int available = (int)Math.Min(buffer.Length, KvCacheFormat.FixedBytes);
            buffer.Slice(0, available).CopyTo(fixedPart);
            KvCacheFormat.CheckMagic(fixedPart.AsSpan(0, available));
            if (available < KvCacheFormat.FixedBytes)
            {
                throw Truncated(available, "the header");
            }

            headerLength = KvCacheFormat.DecodeHeaderLength(fixedPart);
            header = new byte[headerLength];
            fixedPart.CopyTo(header, 0);
        }
        finally
        {
            // Nothing consumed or examined: the whole header is read again, from its first byte, below.
            reader.AdvanceTo(buffer.Start);
        }

        await ReadExactAsync(header, "the header").ConfigureAwait(false);
        return KvCacheFormat.DecodeHeader(header);
    }

    /// <summary>Reads <paramref name="length"/> payload bytes into <paramref name="sink"/> (if any) and returns their XxHash3 (the sink's, if it has one).</summary>
    public async ValueTask<ulong> ReadPayloadAsync(long length, IPayloadSink? sink, string what)
    {
        _hash.Reset();
        sink?.BeginLayer();
        long remaining = length;
        while (remaining > 0)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ThrowIfCanceled(result);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (buffer.IsEmpty && result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                throw Truncated(Position, what);
            }

            // Measured before AdvanceTo: once handed back, the pipe may recycle the segments (a concurrent writer
            // reuses them at once), and the sequence's length would be computed from someone else's data.
            long taken = Math.Min(buffer.Length, remaining);
            ReadOnlySequence<byte> slice = buffer.Slice(0, taken);
            try
            {
                Consume(slice, sink);
            }
            finally
            {
                reader.AdvanceTo(slice.End);
            }

            remaining -= taken;
            Position += taken;
        }

        return sink?.LayerHash ?? _hash.GetCurrentHashAsUInt64();
    }

    public async ValueTask<ulong> ReadChecksumAsync(string what)
    {
        byte[] bytes = new byte[KvCacheFormat.ChecksumBytes];
        await ReadExactAsync(bytes, what).ConfigureAwait(false);
        return BinaryPrimitives.ReadUInt64LittleEndian(bytes);
    }

    /// <summary>Requires the source to end here: a saved cache is exactly as long as its header says.</summary>
    public async ValueTask ExpectEndAsync()
    {
        ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        ThrowIfCanceled(result);
        long extra = result.Buffer.Length;
        reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        if (extra > 0)
        {
            throw new KvCacheFormatException(
                KvCacheFormatError.TrailingData,
                Position,
                KvCacheFormat.Invariant($"{(result.IsCompleted ? string.Empty : "At least ")}{extra} byte(s) follow the end of the saved cache at offset {Position}; a saved cache is exactly as long as its header says. The file is damaged or was concatenated with something else."));
        }
    }

    private void Consume(ReadOnlySequence<byte> slice, IPayloadSink? sink)
    {
        foreach (ReadOnlyMemory<byte> segment in slice)
        {
            if (sink is null)
            {
                _hash.Append(segment.Span);
            }
            else
            {
                sink.Write(segment.Span); // copied and hashed in one pass
            }
        }
    }

    /// <summary>Fills <paramref name="destination"/> with the next bytes, or throws <see cref="KvCacheFormatError.Truncated"/>.</summary>
    private async ValueTask ReadExactAsync(byte[] destination, string what)
    {
        int needed = destination.Length;
        ReadResult result = await reader.ReadAtLeastAsync(needed, cancellationToken).ConfigureAwait(false);
        ThrowIfCanceled(result);
        ReadOnlySequence<byte> buffer = result.Buffer;
        long available = buffer.Length;
        if (available < needed)
        {
            reader.AdvanceTo(buffer.End);
            Position += available;
            throw Truncated(Position, what);
        }

        buffer.Slice(0, needed).CopyTo(destination);
        reader.AdvanceTo(buffer.GetPosition(needed));
        Position += needed;
    }

    private void ThrowIfCanceled(ReadResult result)
    {
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The read of the saved cache was canceled (PipeReader.CancelPendingRead).", cancellationToken);
        }
    }

    internal static KvCacheFormatException Truncated(long offset, string what) => new(
        KvCacheFormatError.Truncated,
        offset,
        KvCacheFormat.Invariant($"The saved cache is truncated: it ends at offset {offset}, inside {what}."));
}
