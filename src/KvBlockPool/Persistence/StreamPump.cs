using System.IO.Pipelines;
using System.Runtime.ExceptionServices;

namespace KvBlockPool.Persistence;

/// <summary>
/// Moves what is written to a <see cref="Pipe"/> into a <see cref="Stream"/> on its own task, so the stream's writes
/// overlap the format's work (copying blocks and hashing) instead of alternating with it. The pipe's thresholds bound what
/// is buffered in between. A failure of the stream itself is kept apart, so the caller can surface it unwrapped.
/// </summary>
internal sealed class StreamPump
{
    /// <summary>The most bytes held in the pipe between the stream and the format (back-pressure beyond this).</summary>
    private const int PauseBytes = 8 * 1024 * 1024;

    private const int SegmentBytes = 256 * 1024;

    private ExceptionDispatchInfo? _streamFailure;

    private StreamPump(Task completion, Pipe pipe)
    {
        Completion = completion;
        Pipe = pipe;
    }

    public Pipe Pipe { get; }

    /// <summary>Ends when the pump has stopped; it never faults (failures complete the pipe instead).</summary>
    public Task Completion { get; private set; }

    /// <summary>Starts copying what is written to the returned pump's pipe into <paramref name="destination"/>.</summary>
    public static StreamPump ToStream(Stream destination, CancellationToken cancellationToken)
    {
        var pump = new StreamPump(Task.CompletedTask, NewPipe());
        pump.Completion = pump.DrainAsync(destination, cancellationToken);
        return pump;
    }

    /// <summary>Rethrows the stream's own failure, if it had one: it is the cause of whatever the format saw.</summary>
    public void ThrowIfStreamFailed() => _streamFailure?.Throw();

    private static Pipe NewPipe() => new(new PipeOptions(
        pauseWriterThreshold: PauseBytes,
        resumeWriterThreshold: PauseBytes / 2,
        minimumSegmentSize: SegmentBytes,
        useSynchronizationContext: false));

    private async Task DrainAsync(Stream destination, CancellationToken cancellationToken)
    {
        await Task.Yield(); // run beside the producer from the start
        PipeReader reader = Pipe.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    await WriteAsync(destination, segment, cancellationToken).ConfigureAwait(false);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            if (_streamFailure is null)
            {
                await FlushAsync(destination, cancellationToken).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // the pump reports every failure through the pipe; nothing may escape its task
        catch (Exception ex)
#pragma warning restore CA1031
        {
            error = ex;
        }

        await reader.CompleteAsync(error).ConfigureAwait(false);
    }

    private async ValueTask WriteAsync(Stream destination, ReadOnlyMemory<byte> segment, CancellationToken cancellationToken)
    {
        try
        {
            await destination.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _streamFailure = ExceptionDispatchInfo.Capture(ex);
            throw;
        }
    }

    private async ValueTask FlushAsync(Stream destination, CancellationToken cancellationToken)
    {
        try
        {
            await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _streamFailure = ExceptionDispatchInfo.Capture(ex);
            throw;
        }
    }
}
