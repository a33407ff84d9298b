namespace KvBlockPool.Prefix;

/// <summary>
/// A pool's prefix cache (<see cref="BlockPool.PrefixCache"/>): computes chunk keys, answers how much of a prompt is
/// cached, reports its figures and can be emptied. Agents are admitted with their prompt through
/// <see cref="Lifecycle.AgentCacheManager.Admit(AgentId, ReadOnlySpan{int}, KvPrefixContext, int)"/>. Thread-safe.
/// </summary>
/// <remarks>
/// A chunk is one full block's tokens on every layer. Its key chains its parent's key with its token ids; the chain's
/// root hashes the key secret, the spec and the <see cref="KvPrefixContext"/>. See <c>docs/prefix-cache.md</c>.
/// </remarks>
public sealed class KvPrefixCache
{
    private readonly BlockPool _pool;
    private ChunkKeyHasher _hasher;

    internal KvPrefixCache(BlockPool pool, ChunkKeyHasher hasher)
    {
        _pool = pool;
        _hasher = hasher;
    }

    /// <summary>Tokens in one chunk: the spec's tokens per block.</summary>
    public int TokensPerChunk => Hasher.TokensPerChunk;

    /// <summary>How keys are computed.</summary>
    public KvChunkHashAlgorithm HashAlgorithm => Hasher.Algorithm;

    internal ChunkKeyHasher Hasher => Volatile.Read(ref _hasher);

    /// <summary>After a reconfiguration: the same secret and algorithm, the new spec (and chunk size).</summary>
    internal void Rebind(KvCacheSpec spec) => Volatile.Write(ref _hasher, _hasher.ForSpec(spec));

    /// <summary>The largest buffer a subscription may ask for, in events.</summary>
    public const int MaxSubscriptionCapacity = 1 << 20;

    /// <summary>
    /// Subscribes to the cache's events (chunk stored, chunk removed, all cleared) from the next one on. The pool
    /// never waits for a subscriber: events that do not fit the buffer are dropped and reported to the reader as a
    /// <see cref="KvPrefixEventKind.Gap"/> with their count; <see cref="GetSnapshot"/> then resynchronises.
    /// </summary>
    /// <param name="capacity">The buffer's size in events: 1 to <see cref="MaxSubscriptionCapacity"/>.</param>
    /// <returns>The subscription; dispose it to unsubscribe.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvPrefixSubscription Subscribe(int capacity = 4096) => _pool.SubscribePrefix(capacity);

    /// <summary>The number of the last event issued (0 before the first); read without the pool's lock.</summary>
    internal long LastEventSequence => _pool.LastPrefixEventSequence;

    /// <summary>Lists every cached chunk, with the number of the last event before the list was taken.</summary>
    /// <returns>The snapshot.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvPrefixSnapshot GetSnapshot() => _pool.PrefixSnapshot();

    /// <summary>The parent key of the first chunk of every prompt admitted with <paramref name="context"/>.</summary>
    /// <param name="context">The tenant salt and adapter.</param>
    /// <returns>The root key.</returns>
    public KvChunkKey GetRootKey(KvPrefixContext context) => Hasher.Root(context);

    /// <summary>Computes the keys of the full chunks of <paramref name="tokens"/>, chained from the root of <paramref name="context"/>.</summary>
    /// <param name="tokens">Token ids from the start of the prompt.</param>
    /// <param name="context">The tenant salt and adapter.</param>
    /// <param name="destination">Receives one key per full chunk; at least <c>tokens.Length / TokensPerChunk</c> long.</param>
    /// <returns>The number of keys written.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short; nothing was written.</exception>
    public int ComputeKeys(ReadOnlySpan<int> tokens, KvPrefixContext context, Span<KvChunkKey> destination) =>
        ComputeKeys(GetRootKey(context), tokens, destination);

    /// <summary>Computes the keys of the full chunks of <paramref name="tokens"/>, chained from <paramref name="parent"/> (a root, or the key of the chunk before <paramref name="tokens"/>).</summary>
    /// <param name="parent">The key the first chunk chains from.</param>
    /// <param name="tokens">Token ids; a partial last chunk is ignored.</param>
    /// <param name="destination">Receives one key per full chunk.</param>
    /// <returns>The number of keys written.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short; nothing was written.</exception>
    public int ComputeKeys(KvChunkKey parent, ReadOnlySpan<int> tokens, Span<KvChunkKey> destination)
    {
        ChunkKeyHasher hasher = Hasher;
        int chunks = tokens.Length / hasher.TokensPerChunk;
        if (destination.Length < chunks)
        {
            throw new ArgumentException($"{tokens.Length} tokens make {chunks} full chunk(s) of {hasher.TokensPerChunk}; the destination holds {destination.Length}. Nothing was written.", nameof(destination));
        }

        return hasher.ComputeKeys(parent, tokens, destination);
    }

    /// <summary>How many of <paramref name="keys"/>, from the first, are cached now; references nothing, changes nothing.</summary>
    /// <param name="keys">A prompt's chunk keys, in order.</param>
    /// <returns>The length of the longest cached prefix, in chunks.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int CountCachedChunks(ReadOnlySpan<KvChunkKey> keys) => _pool.CountCachedChunks(keys);

    /// <summary>The bytes of one chunk: one block on every layer (what <see cref="TryCopyChunk"/> writes).</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public long ChunkBytes => (long)_pool.Spec.Layers * _pool.Spec.BytesPerBlock;

    /// <summary>
    /// Copies the bytes of the chunk cached under <paramref name="key"/> into <paramref name="destination"/>: every
    /// layer in order, each block whole (its key half, then its value half, as <c>docs/format.md</c> lays a block
    /// out). For a host's own tier or a transfer to another device. The chunk is held while it is copied, so it is
    /// neither evicted nor reused meanwhile, and the pool's lock is not held during the copy.
    /// </summary>
    /// <param name="key">A chunk key, from <see cref="ComputeKeys(ReadOnlySpan{int}, KvPrefixContext, Span{KvChunkKey})"/>, an event or a snapshot.</param>
    /// <param name="destination">At least <see cref="ChunkBytes"/> bytes.</param>
    /// <returns>False, with nothing written, when no chunk is cached under <paramref name="key"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="ChunkBytes"/>; nothing was copied.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed (before or during the copy).</exception>
    public bool TryCopyChunk(KvChunkKey key, Span<byte> destination) => _pool.TryCopyChunk(key, destination);

    /// <summary>
    /// Pins the cached full chunks of <paramref name="tokens"/> (a system prompt, say): they are never evicted, even
    /// when no agent references them, until unpinned. Chunks not cached yet are not pinned: pin after the prompt was
    /// published. Pinned chunks may hold at most <see cref="KvPrefixCacheOptions.MaxPinnedShare"/> of the pool.
    /// </summary>
    /// <param name="tokens">The prefix's token ids, from its start.</param>
    /// <param name="context">The context it was admitted with.</param>
    /// <returns>The chunks pinned by this call (chunks pinned already are not counted).</returns>
    /// <exception cref="InvalidOperationException">The pinned share would exceed the cap; nothing was pinned.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int Pin(ReadOnlySpan<int> tokens, KvPrefixContext context = default) => WithKeys(tokens, context, static (pool, keys) => pool.PinPrefix(keys));

    /// <summary>Unpins the cached full chunks of <paramref name="tokens"/>; unreferenced ones become evictable again.</summary>
    /// <param name="tokens">The prefix's token ids, from its start.</param>
    /// <param name="context">The context it was pinned with.</param>
    /// <returns>The chunks unpinned.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int Unpin(ReadOnlySpan<int> tokens, KvPrefixContext context = default) => WithKeys(tokens, context, static (pool, keys) => pool.UnpinPrefix(keys));

    /// <summary>Unpins every pinned chunk.</summary>
    /// <returns>The chunks unpinned.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int UnpinAll() => _pool.UnpinAllPrefixes();

    /// <summary>Evicts every chunk no agent references (their blocks are cleared by the pool's clear mode and become free); referenced chunks stay.</summary>
    /// <returns>The number of chunks evicted.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int Reset() => _pool.ResetPrefixCache();

    /// <summary>The cache's current figures.</summary>
    /// <returns>A snapshot.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public KvPrefixCacheStatistics GetStatistics() => _pool.ReadPrefixStatistics();

    private int WithKeys(ReadOnlySpan<int> tokens, KvPrefixContext context, Func<BlockPool, ReadOnlySpan<KvChunkKey>, int> action)
    {
        ChunkKeyHasher hasher = Hasher;
        KvChunkKey[] keys = System.Buffers.ArrayPool<KvChunkKey>.Shared.Rent(Math.Max(1, tokens.Length / hasher.TokensPerChunk));
        try
        {
            int count = hasher.ComputeKeys(hasher.Root(context), tokens, keys);
            return action(_pool, keys.AsSpan(0, count));
        }
        finally
        {
            System.Buffers.ArrayPool<KvChunkKey>.Shared.Return(keys);
        }
    }
}
