using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace KvBlockPool.Prefix;

/// <summary>
/// A subscriber's view of a pool's prefix-cache events (from <see cref="KvPrefixCache.Subscribe"/>): a bounded buffer
/// the pool writes without ever waiting, read here at the subscriber's pace. When the subscriber falls behind, the
/// events that do not fit are dropped and the reader gets a <see cref="KvPrefixEventKind.Gap"/> event with their
/// count where they were lost — never a silent hole. Read from one thread at a time. Dispose to unsubscribe.
/// </summary>
public sealed class KvPrefixSubscription : IDisposable
{
    private readonly Channel<KvPrefixEvent> _channel;
    private readonly PrefixEvents _owner;
    private long _lost;          // events the pool could not buffer (written by the pool, read here)
    private long _lostReported;  // of those, how many a Gap event has reported
    private long _expected;      // the sequence number the next event read should have
    private KvPrefixEvent? _held; // an event read past a gap, returned after the gap
    private int _disposed;

    internal KvPrefixSubscription(PrefixEvents owner, int capacity, long nextSequence)
    {
        _owner = owner;
        _expected = nextSequence;
        _channel = Channel.CreateBounded<KvPrefixEvent>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails at once: the pool counts the loss, never waits
            SingleReader = true,
            SingleWriter = false, // the pool writes under its gate, but Dispose completes from the subscriber's thread
        });
        Capacity = capacity;
    }

    /// <summary>How many events the buffer holds before further ones are dropped.</summary>
    public int Capacity { get; }

    /// <summary>Reads the next event if one is ready.</summary>
    /// <param name="event">The event; default when none.</param>
    /// <returns>Whether an event was read.</returns>
    public bool TryRead(out KvPrefixEvent @event)
    {
        if (_held is { } held)
        {
            _held = null;
            return Deliver(held, out @event);
        }

        // Read the loss count before looking at the buffer: every loss it counts happened before an empty buffer was
        // seen, so it lies after every event read and before every event not buffered yet.
        long lost = Volatile.Read(ref _lost);
        if (_channel.Reader.TryRead(out KvPrefixEvent next))
        {
            if (next.Sequence > _expected)
            {
                // Events between the last read and this one were dropped: report them first, this one next.
                _held = next;
                return Gap(next.Sequence - _expected, out @event);
            }

            return Deliver(next, out @event);
        }

        long unreported = lost - _lostReported;
        if (unreported > 0)
        {
            // Dropped after the last event that fitted, and nothing has fitted since.
            return Gap(unreported, out @event);
        }

        @event = default;
        return false;
    }

    /// <summary>Waits for the next event.</summary>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The event.</returns>
    /// <exception cref="OperationCanceledException">The wait was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The subscription was disposed, or its pool was (after every buffered event was read).</exception>
    public async ValueTask<KvPrefixEvent> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryRead(out KvPrefixEvent @event))
            {
                return @event;
            }

            if (!await _channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) && !TryRead(out _))
            {
                throw new ObjectDisposedException(nameof(KvPrefixSubscription), "The subscription ended: it was disposed, or its pool was.");
            }
        }
    }

    /// <summary>Reads events as they come until the subscription ends or <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <param name="cancellationToken">Stops the reading.</param>
    /// <returns>The events, gaps included.</returns>
    public async IAsyncEnumerable<KvPrefixEvent> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            while (TryRead(out KvPrefixEvent @event))
            {
                yield return @event;
            }

            if (!await _channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (TryRead(out KvPrefixEvent last))
                {
                    yield return last;
                }

                yield break;
            }
        }
    }

    /// <summary>Unsubscribes; events already buffered can still be read.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Remove(this);
            _channel.Writer.TryComplete();
        }
    }

    /// <summary>Called by the pool under its gate: buffers the event, or counts it lost. Never waits.</summary>
    internal void Offer(in KvPrefixEvent @event)
    {
        if (!_channel.Writer.TryWrite(@event))
        {
            Interlocked.Increment(ref _lost);
        }
    }

    /// <summary>Called when the pool is disposed: the reader drains what is buffered, then the subscription ends.</summary>
    internal void Complete() => _channel.Writer.TryComplete();

    private bool Deliver(KvPrefixEvent next, out KvPrefixEvent @event)
    {
        _expected = next.Sequence + 1;
        @event = next;
        return true;
    }

    private bool Gap(long lost, out KvPrefixEvent @event)
    {
        @event = new KvPrefixEvent(KvPrefixEventKind.Gap, _expected, lost: lost);
        _expected += lost;
        _lostReported += lost;
        return true;
    }
}
