namespace KvBlockPool.Prefix;

/// <summary>
/// Numbers the prefix cache's changes and offers them to the subscribers. Written under the pool's gate (so numbers
/// follow the order of the changes); the subscriber list is copied on change, so offering takes no lock of its own
/// beyond each subscriber's buffer.
/// </summary>
internal sealed class PrefixEvents
{
    private readonly object _subscribersLock = new();
    private KvPrefixSubscription[] _subscribers = [];
    private long _sequence;

    /// <summary>The number the next event will get.</summary>
    public long NextSequence => Volatile.Read(ref _sequence) + 1;

    /// <summary>Adds a subscriber whose first event is the next one. Call under the pool's gate, so no event falls between its snapshot and its first event.</summary>
    public KvPrefixSubscription Subscribe(int capacity)
    {
        var subscription = new KvPrefixSubscription(this, capacity, NextSequence);
        lock (_subscribersLock)
        {
            _subscribers = [.. _subscribers, subscription];
        }

        return subscription;
    }

    public void Remove(KvPrefixSubscription subscription)
    {
        lock (_subscribersLock)
        {
            _subscribers = [.. _subscribers.Where(s => s != subscription)];
        }
    }

    public void Stored(KvChunkKey key, KvChunkKey parent, KvChunkKey context, int tokens) =>
        Offer(new KvPrefixEvent(KvPrefixEventKind.Stored, Next(), key, parent, context, tokens));

    public void Removed(KvChunkKey key) => Offer(new KvPrefixEvent(KvPrefixEventKind.Removed, Next(), key));

    public void Cleared() => Offer(new KvPrefixEvent(KvPrefixEventKind.AllCleared, Next()));

    /// <summary>Ends every subscription (the pool is disposed): readers drain what is buffered.</summary>
    public void Complete()
    {
        foreach (KvPrefixSubscription subscription in Volatile.Read(ref _subscribers))
        {
            subscription.Complete();
        }
    }

    private long Next() => Interlocked.Increment(ref _sequence);

    private void Offer(in KvPrefixEvent @event)
    {
        foreach (KvPrefixSubscription subscription in Volatile.Read(ref _subscribers))
        {
            subscription.Offer(@event);
        }
    }
}
