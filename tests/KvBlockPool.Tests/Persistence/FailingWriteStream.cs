namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// A write-only stream that accepts <c>failAt</c> bytes, then fails like a full or broken device; or, given a
/// <see cref="CancellationTokenSource"/>, cancels it at that point instead (a caller giving up mid-save).
/// </summary>
internal sealed class FailingWriteStream(long failAt, CancellationTokenSource? cancelInstead = null) : Stream
{
    private long _written;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _written;

    public override long Position { get => _written; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_written + buffer.Length > failAt && cancelInstead is not null)
        {
            cancelInstead.Cancel();
        }
        else if (_written + buffer.Length > failAt)
        {
            throw new IOException($"Simulated disk full after {_written} bytes.");
        }

        _written += buffer.Length;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
