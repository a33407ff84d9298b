using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using KvBlockPool.Core;

namespace KvBlockPool;

/// <summary>
/// An agent's blocks resolved once, under one trip through the pool's gate, for reading and writing without
/// further locking: typed spans of every block's K and V halves, one token's vector per head, the block ids in token
/// order and the addressing a native kernel needs. From <see cref="BlockPool.Lease(AgentId)"/> (every layer) or
/// <see cref="BlockPool.Lease(AgentId, int)"/> (one layer); dispose it when the step is done.
/// </summary>
/// <remarks>
/// <para>
/// While a lease is open its agent is pinned: <c>Free</c>, <c>FreeAgent</c> (and through them the lifecycle
/// layer's <c>Truncate</c> and <c>Release</c>) of the agent are refused with <see cref="AgentPinnedException"/>,
/// nothing changed, so no block the lease hands out can be reused by another agent under the reader. Allocating
/// more blocks for the agent is allowed; the lease does not see them (take a new lease after the append). A pool
/// with open leases cannot be reconfigured.
/// </para>
/// <para>
/// Spans and pointers are valid until the lease is disposed. Disposing the pool closes every lease (each later
/// call throws <see cref="ObjectDisposedException"/>) but does not free the native memory until the last open lease
/// is disposed, so a reader racing the pool's <c>Dispose</c> never touches freed memory. Disposing a lease is
/// idempotent, also through a copy; a copy used after any copy was disposed throws <see cref="ObjectDisposedException"/>.
/// A lease is a value for one thread at a time: its accessors take no lock, so using it while another thread
/// disposes it is a race the lease cannot police.
/// </para>
/// <para>Reading through a lease allocates nothing; leasing allocates nothing once the pool has served a lease before.</para>
/// </remarks>
public readonly struct KvCacheLease : IDisposable, IEquatable<KvCacheLease>
{
    private readonly BlockPool? _pool;
    private readonly LeaseState? _state;
    private readonly int _stamp;

    internal KvCacheLease(BlockPool pool, LeaseState state)
    {
        _pool = pool;
        _state = state;
        _stamp = state.Stamp;
    }

    /// <summary>The agent whose blocks the lease covers.</summary>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public AgentId Agent => State.Agent;

    /// <summary>The spec of the leased blocks: their sizes, element type and layout.</summary>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public KvCacheSpec Spec => State.Table.Spec;

    /// <summary>The first layer the lease covers: 0 for a lease of every layer.</summary>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public int FirstLayer => State.FirstLayer;

    /// <summary>How many layers, from <see cref="FirstLayer"/>, the lease covers.</summary>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public int LayerCount
    {
        get
        {
            LeaseState state = State;
            return state.EndLayer - state.FirstLayer;
        }
    }

    /// <summary>
    /// How a kernel turns the ids of <see cref="GetBlockIds"/> into addresses; valid, for the leased blocks, while
    /// the lease is open.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public KvBlockAddressing Addressing => State.Table.Addressing;

    /// <summary>Whether the lease is open: not disposed (through any copy), and its pool not disposed.</summary>
    public bool IsOpen => _state is not null && Volatile.Read(ref _state.Stamp) == _stamp && !_pool!.IsDisposed;

    /// <summary>How many blocks the agent held on <paramref name="layer"/> when the lease was taken.</summary>
    /// <param name="layer">A layer the lease covers.</param>
    /// <returns>The block count, 0 when the agent held none on that layer.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is not covered by the lease.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public int GetBlockCount(int layer)
    {
        LeaseState state = State;
        ValidateLayer(state, layer);
        return state.Counts[layer];
    }

    /// <summary>
    /// The ids of the agent's blocks on <paramref name="layer"/>, in token order: block <c>i</c> holds tokens
    /// <c>i * TokensPerBlock</c> to <c>(i + 1) * TokensPerBlock - 1</c>. This is the block table of a paged-attention
    /// kernel; <see cref="Addressing"/> turns an id into an address.
    /// </summary>
    /// <param name="layer">A layer the lease covers.</param>
    /// <returns>The ids, valid while the lease is open.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is not covered by the lease.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public ReadOnlySpan<int> GetBlockIds(int layer)
    {
        LeaseState state = State;
        ValidateLayer(state, layer);
        return new ReadOnlySpan<int>(state.Ids[layer], 0, state.Counts[layer]);
    }

    /// <summary>The handle of the <paramref name="index"/>-th block (in token order) on <paramref name="layer"/>.</summary>
    /// <param name="layer">A layer the lease covers.</param>
    /// <param name="index">0 to <see cref="GetBlockCount"/> - 1.</param>
    /// <returns>A live handle, usable with the pool's other methods.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The layer is not covered, or the index is not one of its blocks.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public KvBlock GetBlock(int layer, int index)
    {
        LeaseState state = State;
        return state.Table.HandleOf(IdAt(state, layer, index), layer);
    }

    /// <summary>The K half of the <paramref name="index"/>-th block on <paramref name="layer"/>, as elements of <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">An element type that fits the spec: <see cref="float"/> for Float32, <see cref="Half"/> (or <see cref="ushort"/>) for Float16, <see cref="ushort"/> for BFloat16, <see cref="sbyte"/> for Int8, <see cref="byte"/> for any.</typeparam>
    /// <param name="layer">A layer the lease covers.</param>
    /// <param name="index">0 to <see cref="GetBlockCount"/> - 1.</param>
    /// <returns>The K tensor of the block's tokens, laid out as <see cref="KvCacheSpec.Layout"/> says.</returns>
    /// <exception cref="ElementTypeMismatchException"><typeparamref name="T"/> does not fit the spec's element type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The layer is not covered, or the index is not one of its blocks.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public Span<T> GetKeys<T>(int layer, int index)
        where T : unmanaged => GetHalf<T>(layer, index, values: false);

    /// <summary>The V half of the <paramref name="index"/>-th block on <paramref name="layer"/>, as elements of <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">An element type that fits the spec (see <see cref="GetKeys{T}"/>).</typeparam>
    /// <param name="layer">A layer the lease covers.</param>
    /// <param name="index">0 to <see cref="GetBlockCount"/> - 1.</param>
    /// <returns>The V tensor of the block's tokens, laid out as <see cref="KvCacheSpec.Layout"/> says.</returns>
    /// <exception cref="ElementTypeMismatchException"><typeparamref name="T"/> does not fit the spec's element type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The layer is not covered, or the index is not one of its blocks.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public Span<T> GetValues<T>(int layer, int index)
        where T : unmanaged => GetHalf<T>(layer, index, values: true);

    /// <summary>
    /// The key vector (<see cref="KvCacheSpec.HeadDim"/> elements) of head <paramref name="head"/> for the agent's
    /// token <paramref name="token"/>, counted from the start of its sequence: it lies in block
    /// <c>token / TokensPerBlock</c>, slot <c>token % TokensPerBlock</c>.
    /// </summary>
    /// <typeparam name="T">An element type that fits the spec (see <see cref="GetKeys{T}"/>).</typeparam>
    /// <param name="layer">A layer the lease covers.</param>
    /// <param name="token">The token's position, 0 to the leased blocks' token capacity - 1.</param>
    /// <param name="head">The KV head, 0 to <see cref="KvCacheSpec.KvHeads"/> - 1.</param>
    /// <returns>The vector's elements.</returns>
    /// <exception cref="ElementTypeMismatchException"><typeparamref name="T"/> does not fit the spec's element type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The layer is not covered, the token lies past the leased blocks, or the head is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public Span<T> GetKeyVector<T>(int layer, int token, int head)
        where T : unmanaged => GetVector<T>(layer, token, head, values: false);

    /// <summary>The value vector of head <paramref name="head"/> for the agent's token <paramref name="token"/> (see <see cref="GetKeyVector{T}"/>).</summary>
    /// <typeparam name="T">An element type that fits the spec (see <see cref="GetKeys{T}"/>).</typeparam>
    /// <param name="layer">A layer the lease covers.</param>
    /// <param name="token">The token's position, 0 to the leased blocks' token capacity - 1.</param>
    /// <param name="head">The KV head, 0 to <see cref="KvCacheSpec.KvHeads"/> - 1.</param>
    /// <returns>The vector's elements.</returns>
    /// <exception cref="ElementTypeMismatchException"><typeparamref name="T"/> does not fit the spec's element type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The layer is not covered, the token lies past the leased blocks, or the head is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public Span<T> GetValueVector<T>(int layer, int token, int head)
        where T : unmanaged => GetVector<T>(layer, token, head, values: true);

    /// <summary>The first byte of the <paramref name="index"/>-th block on <paramref name="layer"/> (its K half; the V half follows <see cref="KvCacheSpec.BytesPerHalf"/> bytes later).</summary>
    /// <param name="layer">A layer the lease covers.</param>
    /// <param name="index">0 to <see cref="GetBlockCount"/> - 1.</param>
    /// <returns>A pointer valid while the lease is open.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The layer is not covered, or the index is not one of its blocks.</exception>
    /// <exception cref="ObjectDisposedException">The lease or its pool is disposed.</exception>
    public unsafe byte* GetPointer(int layer, int index)
    {
        LeaseState state = State;
        return state.Slabs.BlockAddress(IdAt(state, layer, index));
    }

    /// <summary>Ends the lease: unpins the agent. Idempotent; does nothing after the pool is disposed but release the pool's memory if this was its last lease.</summary>
    public void Dispose() => _pool?.EndLease(_state!, _stamp);

    /// <inheritdoc/>
    public bool Equals(KvCacheLease other) => ReferenceEquals(_state, other._state) && _stamp == other._stamp;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is KvCacheLease other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(RuntimeHelpers.GetHashCode(_state), _stamp);

    /// <summary>Compares two leases: equal when one is a copy of the other.</summary>
    /// <param name="left">A lease.</param>
    /// <param name="right">A lease.</param>
    /// <returns><see langword="true"/> when they are the same lease.</returns>
    public static bool operator ==(KvCacheLease left, KvCacheLease right) => left.Equals(right);

    /// <summary>Compares two leases.</summary>
    /// <param name="left">A lease.</param>
    /// <param name="right">A lease.</param>
    /// <returns><see langword="true"/> when they are different leases.</returns>
    public static bool operator !=(KvCacheLease left, KvCacheLease right) => !left.Equals(right);

    /// <summary>The state, after checking that the lease is open; the stamp moves when any copy is disposed.</summary>
    private LeaseState State
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            LeaseState? state = _state;
            if (state is null || Volatile.Read(ref state.Stamp) != _stamp)
            {
                ThrowEnded();
            }

            if (state.Guard.IsClosed)
            {
                ThrowHelper.ThrowPoolDisposed();
            }

            return state;
        }
    }

    private unsafe Span<T> GetHalf<T>(int layer, int index, bool values)
        where T : unmanaged
    {
        LeaseState state = State;
        ElementTypes.ThrowIfMismatch<T>(state.ElementType);
        byte* block = state.Slabs.BlockAddress(IdAt(state, layer, index));
        int half = state.BytesPerHalf;
        return new Span<T>(values ? block + half : block, half / sizeof(T));
    }

    private unsafe Span<T> GetVector<T>(int layer, int token, int head, bool values)
        where T : unmanaged
    {
        LeaseState state = State;
        KvCacheSpec spec = state.Table.Spec;
        ElementTypes.ThrowIfMismatch<T>(spec.ElementType);
        ValidateLayer(state, layer);
        if (token < 0 || token / spec.TokensPerBlock >= state.Counts[layer])
        {
            ThrowTokenOutOfRange(token, state.Counts[layer], spec.TokensPerBlock);
        }

        (int index, int slot) = Math.DivRem(token, spec.TokensPerBlock);
        int offset = spec.GetVectorOffset(slot, head) * spec.ElementSize;
        byte* block = state.Slabs.BlockAddress(state.Ids[layer][index]);
        return new Span<T>(block + (values ? spec.BytesPerHalf : 0) + offset, spec.HeadDim * spec.ElementSize / sizeof(T));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int IdAt(LeaseState state, int layer, int index)
    {
        ValidateLayer(state, layer);
        if ((uint)index >= (uint)state.Counts[layer])
        {
            ThrowIndexOutOfRange(index, layer, state.Counts[layer]);
        }

        return state.Ids[layer][index];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ValidateLayer(LeaseState state, int layer)
    {
        if (layer < state.FirstLayer || layer >= state.EndLayer)
        {
            ThrowLayerNotLeased(state, layer);
        }
    }

    [DoesNotReturn]
    private static void ThrowEnded() =>
        throw new ObjectDisposedException(nameof(KvCacheLease), "The lease has been disposed (or was never taken: default(KvCacheLease)); take a new one from the pool.");

    private static void ThrowLayerNotLeased(LeaseState state, int layer) => throw new ArgumentOutOfRangeException(
        nameof(layer),
        layer,
        state.EndLayer - state.FirstLayer == 1
            ? string.Create(CultureInfo.InvariantCulture, $"The lease covers layer {state.FirstLayer} only.")
            : string.Create(CultureInfo.InvariantCulture, $"The lease covers layers {state.FirstLayer} to {state.EndLayer - 1}."));

    private static void ThrowIndexOutOfRange(int index, int layer, int count) => throw new ArgumentOutOfRangeException(
        nameof(index),
        index,
        string.Create(CultureInfo.InvariantCulture, $"The lease holds {count} block(s) on layer {layer}; the index must be 0 to {count - 1}."));

    private static void ThrowTokenOutOfRange(int token, int blocks, int tokensPerBlock) => throw new ArgumentOutOfRangeException(
        nameof(token),
        token,
        string.Create(CultureInfo.InvariantCulture, $"The lease holds {blocks} block(s) of {tokensPerBlock} tokens on this layer: tokens 0 to {((long)blocks * tokensPerBlock) - 1}. Take a new lease after appending."));
}
