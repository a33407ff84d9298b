namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// A read-only stream over bytes that hands out at most <c>chunk</c> bytes per read, and can fail with an
/// <see cref="IOException"/> or cancel a token once a given offset is reached: failures in the middle of a restore.
/// </summary>
internal sealed class TrickleStream(byte[] data, int chunk, long failAt = long.MaxValue, CancellationTokenSource? cancelAt = null, long cancelOffset = long.MaxValue) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= failAt)
        {
            throw new IOException($"Simulated device failure at offset {_position}.");
        }

        if (_position >= cancelOffset)
        {
            cancelAt?.Cancel();
        }

        int n = (int)Math.Min(Math.Min(buffer.Length, chunk), data.Length - _position);
        data.AsSpan((int)_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
