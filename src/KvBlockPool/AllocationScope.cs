using KvBlockPool.Core;

namespace KvBlockPool;

/// <summary>
/// A multi-layer allocation in progress for one agent, from <see cref="BlockPool.BeginScope"/>. Blocks allocated
/// through the scope are invisible in the agent's view until <see cref="Commit"/> appends all of them at once;
/// <see cref="Dispose"/> without a commit returns every one of them. Use it with <c>using</c>.
/// </summary>
/// <remarks>
/// The scope is a small handle to bookkeeping the pool recycles, so opening one allocates nothing. Once it is
/// committed or disposed, every copy of the handle is dead: further calls throw <see cref="ObjectDisposedException"/>
/// (and <see cref="Dispose"/> does nothing). A scope is meant for one thread at a time, like a transaction.
/// </remarks>
public readonly struct AllocationScope : IDisposable, IEquatable<AllocationScope>
{
    private readonly BlockPool? _pool;
    private readonly OwnerRecord? _record;
    private readonly int _token;

    internal AllocationScope(BlockPool pool, OwnerRecord record, int token)
    {
        _pool = pool;
        _record = record;
        _token = token;
        Agent = record.Agent;
    }

    /// <summary>The agent the scope allocates for.</summary>
    public AgentId Agent { get; }

    /// <summary>Whether the scope can still allocate and commit (not committed, not disposed, pool alive).</summary>
    public bool IsOpen => _pool is not null && _pool.ScopeIsOpen(_record!, _token);

    /// <summary>Blocks allocated through the scope so far (0 once it has ended).</summary>
    public int BlockCount => _pool is null ? 0 : _pool.ScopeBlockCount(_record!, _token);

    /// <summary>Allocates one block on <paramref name="layer"/>.</summary>
    /// <param name="layer">The layer.</param>
    /// <returns>The handle; live at once (its memory may be written), published to the agent on commit.</returns>
    /// <exception cref="BlockPoolExhaustedException">No block is available; the scope keeps what it has.</exception>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public KvBlock Allocate(int layer)
    {
        KvBlock block = default;
        Pool.ScopeAllocate(_record!, _token, LayerChoice.One(layer), 1, new Span<KvBlock>(ref block), throwOnExhaustion: true);
        return block;
    }

    /// <summary>Allocates <paramref name="count"/> blocks on <paramref name="layer"/>: all or none.</summary>
    /// <param name="layer">The layer.</param>
    /// <param name="count">How many, at least 1.</param>
    /// <returns>The handles.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> or <paramref name="layer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Too few blocks are available; the scope keeps what it has.</exception>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public KvBlock[] Allocate(int layer, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return Pool.AllocateArray(Agent, _record, _token, LayerChoice.One(layer), count);
    }

    /// <summary>Allocates <c>destination.Length</c> blocks on <paramref name="layer"/> into a caller-supplied buffer: all or none.</summary>
    /// <param name="layer">The layer.</param>
    /// <param name="destination">Receives the handles; its length is the count (at least 1).</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is empty.</exception>
    /// <exception cref="BlockPoolExhaustedException">Too few blocks are available; the scope keeps what it has.</exception>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public void Allocate(int layer, Span<KvBlock> destination) =>
        Pool.ScopeAllocate(_record!, _token, LayerChoice.One(layer), destination.Length, destination, throwOnExhaustion: true);

    /// <summary>Like <see cref="Allocate(int, Span{KvBlock})"/>, but returns <see langword="false"/> on exhaustion.</summary>
    /// <param name="layer">The layer.</param>
    /// <param name="destination">Receives the handles; its length is the count (at least 1).</param>
    /// <returns><see langword="true"/> if all were allocated; <see langword="false"/> if too few were available.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is empty.</exception>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public bool TryAllocate(int layer, Span<KvBlock> destination) =>
        Pool.ScopeAllocate(_record!, _token, LayerChoice.One(layer), destination.Length, destination, throwOnExhaustion: false);

    /// <summary>
    /// Allocates <paramref name="blocksPerLayer"/> blocks on every layer in one atomic step: every layer or none.
    /// Cheaper than one <see cref="Allocate(int, Span{KvBlock})"/> per layer, which takes the pool's gate once per call.
    /// </summary>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <returns>The handles, layer-major: layer 0's blocks first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Not enough blocks for every layer; the scope keeps what it has.</exception>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public KvBlock[] AllocateAllLayers(int blocksPerLayer)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerLayer);
        return Pool.AllocateArray(Agent, _record, _token, LayerChoice.Every, blocksPerLayer);
    }

    /// <summary>Allocates <paramref name="blocksPerLayer"/> blocks on every layer into a caller-supplied buffer, in one atomic step.</summary>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <param name="destination">Receives the handles, layer-major; its length must be <c>blocksPerLayer * Spec.Layers</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="BlockPoolExhaustedException">Not enough blocks for every layer; the scope keeps what it has.</exception>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public void AllocateAllLayers(int blocksPerLayer, Span<KvBlock> destination) =>
        Pool.ScopeAllocate(_record!, _token, LayerChoice.Every, blocksPerLayer, destination, throwOnExhaustion: true);

    /// <summary>Like <see cref="AllocateAllLayers(int, Span{KvBlock})"/>, but returns <see langword="false"/> on exhaustion.</summary>
    /// <param name="blocksPerLayer">Blocks per layer, at least 1.</param>
    /// <param name="destination">Receives the handles, layer-major; its length must be <c>blocksPerLayer * Spec.Layers</c>.</param>
    /// <returns><see langword="true"/> if every layer got its blocks; <see langword="false"/> if too few were available (nothing changed).</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="blocksPerLayer"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public bool TryAllocateAllLayers(int blocksPerLayer, Span<KvBlock> destination) =>
        Pool.ScopeAllocate(_record!, _token, LayerChoice.Every, blocksPerLayer, destination, throwOnExhaustion: false);

    /// <summary>Appends every block of the scope to the agent's lists in one atomic step, and ends the scope.</summary>
    /// <exception cref="ObjectDisposedException">The scope has ended or the pool is disposed.</exception>
    public void Commit() => Pool.ScopeCommit(_record!, _token);

    /// <summary>Ends the scope; if it was not committed, returns every block it allocated, on every layer.</summary>
    public void Dispose() => _pool?.ScopeDispose(_record!, _token);

    /// <inheritdoc/>
    public bool Equals(AllocationScope other) => ReferenceEquals(_record, other._record) && _token == other._token;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is AllocationScope other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_record, _token);

    /// <summary>Compares two scope handles.</summary>
    /// <param name="left">A scope.</param>
    /// <param name="right">A scope.</param>
    /// <returns><see langword="true"/> when both name the same scope.</returns>
    public static bool operator ==(AllocationScope left, AllocationScope right) => left.Equals(right);

    /// <summary>Compares two scope handles.</summary>
    /// <param name="left">A scope.</param>
    /// <param name="right">A scope.</param>
    /// <returns><see langword="true"/> when they name different scopes.</returns>
    public static bool operator !=(AllocationScope left, AllocationScope right) => !left.Equals(right);

    private BlockPool Pool => _pool ?? throw new InvalidOperationException("This is default(AllocationScope). Open a scope with BlockPool.BeginScope.");
}
