using System.Buffers;
using KvBlockPool.Prefix;

namespace KvBlockPool.Tier;

/// <summary>
/// One admission's reads from the tier: the chunks of a prompt from the first one the pool lacks, in order, at most
/// <see cref="KvTierOptions.MaxReadsInFlight"/> at a time, all within <see cref="KvTierOptions.RestoreTimeout"/>. The
/// run stops at the first chunk that is missing, late, or fails a check (a failed value is deleted from the store):
/// chunks after a gap cannot be used, since a chunk's keys and values depend on every token before it. Each value
/// lands in a pooled buffer of its own, returned on <see cref="Dispose"/>.
/// </summary>
internal sealed class TierFetch : IDisposable
{
    private readonly TierLink _tier;
    private readonly TierCodec _codec;
    private readonly KvChunkKey[] _keys;
    private readonly int _first;
    private readonly KvChunkKey _root;
    private readonly ValueBuffer[] _values;

    public TierFetch(TierLink tier, TierCodec codec, KvChunkKey[] keys, int first, KvChunkKey root)
    {
        _tier = tier;
        _codec = codec;
        _keys = keys;
        _first = first;
        _root = root;
        _values = new ValueBuffer[keys.Length - first];
    }

    /// <summary>Chunks checked and ready, from <c>first</c> on without a gap.</summary>
    public int Count { get; private set; }

    /// <summary>The checked value of chunk <paramref name="chunk"/> (an index into the prompt's keys).</summary>
    public ReadOnlySpan<byte> ValueOf(int chunk) => _values[chunk - _first].Written;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_tier.Options.RestoreTimeout);
        int window = _tier.Options.MaxReadsInFlight;
        var reads = new Task<KvChunkStoreStatus>[_values.Length];
        int started = 0;
        try
        {
            for (int next = 0; next < _values.Length; next++)
            {
                while (started < _values.Length && started < next + window)
                {
                    _values[started] = new ValueBuffer(_codec.ValueLength);
                    reads[started] = _tier.Store.GetAsync(_tier.KeyOf(_keys[_first + started], _root), _values[started], deadline.Token).AsTask();
                    started++;
                }

                if (await reads[next].ConfigureAwait(false) != KvChunkStoreStatus.Ok || !Check(next))
                {
                    break;
                }

                Count = next + 1;
            }
        }
        finally
        {
            // Reads past the stop are abandoned: the store leaves a buffer untouched once its call returned a miss, and a
            // late success only writes into a buffer this fetch still owns until every read has completed.
            await deadline.CancelAsync().ConfigureAwait(false);
            for (int i = Count; i < started; i++)
            {
                await reads[i].ConfigureAwait(false);
            }
        }
    }

    public void Dispose()
    {
        foreach (ValueBuffer? value in _values)
        {
            value?.Dispose();
        }
    }

    private bool Check(int index)
    {
        KvChunkKey key = _keys[_first + index];
        if (_codec.TryRead(_values[index].Written, key, out _, out _) == TierValueError.None)
        {
            return true;
        }

        // A corrupt, truncated or foreign value is a miss, and is removed so that the next reader does not pay for it.
        _tier.CountRejected();
        _ = _tier.Store.DeleteAsync(_tier.KeyOf(key, _root), CancellationToken.None).AsTask();
        return false;
    }

    /// <summary>A pooled buffer the store writes one value into.</summary>
    private sealed class ValueBuffer(int expected) : IBufferWriter<byte>, IDisposable
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(expected);
        private int _written;

        public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _written);

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Grow(sizeHint);
            return _buffer.AsMemory(_written);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Grow(sizeHint);
            return _buffer.AsSpan(_written);
        }

        public void Dispose()
        {
            byte[] buffer = Interlocked.Exchange(ref _buffer, []);
            if (buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private void Grow(int sizeHint)
        {
            if (_buffer.Length - _written < Math.Max(sizeHint, 1))
            {
                // A value larger than this spec's is refused by its checks anyway; it still has to land somewhere first.
                byte[] larger = ArrayPool<byte>.Shared.Rent(_written + Math.Max(sizeHint, 1));
                _buffer.AsSpan(0, _written).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
        }
    }
}
