using System.Buffers;
using KvBlockPool.Prefix;

namespace KvBlockPool.Tier;

/// <summary>
/// A pool's connection to its tier: the codec of the pool's spec, the store, and the write-through offload, a
/// background loop that reads the prefix cache's events and writes each stored chunk to the store. It copies a chunk
/// out with <see cref="KvPrefixCache.TryCopyChunk"/> (held, outside the pool's lock) and skips one the tier has.
/// </summary>
internal sealed class TierLink : IDisposable
{
    private readonly KvPrefixCache _cache;
    private readonly KvPrefixSubscription _events;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _offload;
    private TierCodec _codec;
    private long _offloaded;
    private long _alreadyStored;
    private long _notOffloaded;
    private long _restored;
    private long _rejected;
    private long _handledThrough; // the sequence number of the last event dealt with (a gap's lost events included)

    public TierLink(KvPrefixCache cache, KvCacheSpec spec, KvTierOptions options)
    {
        _cache = cache;
        Options = options;
        Store = options.Store!;
        _codec = new TierCodec(spec);
        _events = cache.Subscribe(options.OffloadQueueCapacity);
        _handledThrough = cache.LastEventSequence; // the subscription starts after it (nothing is published yet)
        _offload = Task.Run(OffloadAsync);
    }

    public KvTierOptions Options { get; }

    public IKvChunkStore Store { get; }

    /// <summary>The codec of the pool's current spec (a reconfiguration replaces it).</summary>
    public TierCodec Codec => Volatile.Read(ref _codec);

    /// <summary>The pool was reconfigured: values of the new spec from now on (built before the pool changed anything).</summary>
    public void Rebind(TierCodec codec) => Volatile.Write(ref _codec, codec);

    /// <summary>Chunks written to the store.</summary>
    public long Offloaded => Interlocked.Read(ref _offloaded);

    /// <summary>Chunks the store held already (another host wrote them, or this one restored them).</summary>
    public long AlreadyStored => Interlocked.Read(ref _alreadyStored);

    /// <summary>Chunks not written: the queue overflowed, the store failed, or the chunk was evicted before its turn.</summary>
    public long NotOffloaded => Interlocked.Read(ref _notOffloaded);

    /// <summary>Chunks restored from the store into admissions.</summary>
    public long Restored => Interlocked.Read(ref _restored);

    /// <summary>Values the store returned that failed a check (deleted, and counted as misses).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>
    /// Waits until the offload has dealt with every event the cache issued before the call, so every chunk published
    /// before it was written or given up on (for orderly shutdowns and tests). It compares event numbers, not counts:
    /// a gap's lost events may be removals as well as stores, so a count of chunks would be reached too early.
    /// </summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        long target = _cache.LastEventSequence;
        while (Interlocked.Read(ref _handledThrough) < target)
        {
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
    }

    public KvTierKey KeyOf(KvChunkKey chunk, KvChunkKey root) => new(Codec.SpecFingerprint, KvTierKey.GetSaltId(root), chunk);

    public void CountRestored(int chunks) => Interlocked.Add(ref _restored, chunks);

    public void CountRejected() => Interlocked.Increment(ref _rejected);

    /// <summary>Stops the offload; what is still queued is not written. Does not wait for the store, and does not dispose it.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _events.Dispose();
        _offload.ContinueWith(static (task, stop) => ((CancellationTokenSource)stop!).Dispose(), _stop, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task OffloadAsync()
    {
        byte[] value = [];
        try
        {
            await foreach (KvPrefixEvent @event in _events.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                if (@event.Kind == KvPrefixEventKind.Gap)
                {
                    // The queue overflowed: those chunks stay local (the lost events may include removals, so this over-counts them).
                    Interlocked.Add(ref _notOffloaded, @event.Lost);
                    Interlocked.Exchange(ref _handledThrough, @event.Sequence + @event.Lost - 1);
                }
                else if (@event.Kind == KvPrefixEventKind.Stored)
                {
                    try
                    {
                        TierCodec codec = Codec;
                        if (value.Length < codec.ValueLength)
                        {
                            if (value.Length > 0)
                            {
                                ArrayPool<byte>.Shared.Return(value);
                            }

                            value = ArrayPool<byte>.Shared.Rent(codec.ValueLength);
                        }

                        await OffloadOneAsync(@event, codec, value).ConfigureAwait(false);
                    }
                    finally
                    {
                        Interlocked.Exchange(ref _handledThrough, @event.Sequence);
                    }
                }
                else
                {
                    Interlocked.Exchange(ref _handledThrough, @event.Sequence); // a removal or a clear: nothing to write
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed: what is still queued stays local.
        }
        catch (ObjectDisposedException)
        {
            // The pool or the store went away under the loop.
        }
        finally
        {
            if (value.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(value);
            }
        }
    }

    private async Task OffloadOneAsync(KvPrefixEvent stored, TierCodec codec, byte[] value)
    {
        var key = new KvTierKey(codec.SpecFingerprint, KvTierKey.GetSaltId(stored.ContextKey), stored.Key);
        KvChunkStoreStatus exists = await Store.ExistsAsync(key, _stop.Token).ConfigureAwait(false);
        if (exists == KvChunkStoreStatus.Ok)
        {
            Interlocked.Increment(ref _alreadyStored);
            return;
        }

        if (!TryEncode(stored, codec, value, out int length))
        {
            Interlocked.Increment(ref _notOffloaded); // evicted before its turn
            return;
        }

        KvChunkStoreStatus put = await Store.PutAsync(key, value.AsMemory(0, length), _stop.Token).ConfigureAwait(false);
        Interlocked.Increment(ref put == KvChunkStoreStatus.Ok ? ref _offloaded : ref _notOffloaded);
    }

    private bool TryEncode(KvPrefixEvent stored, TierCodec codec, byte[] value, out int length)
    {
        TierValueWriter writer = codec.BeginWrite(value, stored.Key, stored.TokenCount);
        length = 0;
        if (writer.Payload.Length != _cache.ChunkBytes || !_cache.TryCopyChunk(stored.Key, writer.Payload))
        {
            return false;
        }

        writer.PayloadWritten();
        length = writer.Complete();
        return true;
    }
}
