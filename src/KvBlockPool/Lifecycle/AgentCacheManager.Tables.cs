using System.Globalization;

namespace KvBlockPool.Lifecycle;

/// <content>
/// What a host needs to read and write an agent's cache: the slot of a token, the block table per layer (from the
/// manager's own books, without a trip through the pool and without allocating), and a lease of the blocks.
/// </content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Appends one token to <paramref name="agent"/>'s cache (see <see cref="Append"/>) and returns where it lives: the
    /// block and slot a decode step writes the new token's K and V into.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <returns>The new token's slot; its <see cref="KvTokenSlot.Offset"/> is 0 when the append took a new block on every layer.</returns>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The cache already holds <see cref="int.MaxValue"/> tokens; nothing changed.</exception>
    /// <exception cref="BlockPoolExhaustedException">A new block was needed and too few are available; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public KvTokenSlot AppendToken(AgentId agent)
    {
        AppendCore(agent, 1, throwOnExhaustion: true, out _, out int length, out int tokensPerBlock);
        return Slot(length - 1, tokensPerBlock);
    }

    /// <summary>Where token <paramref name="token"/> of <paramref name="agent"/>'s cache lives.</summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="token">A token the cache holds: 0 to its length - 1.</param>
    /// <returns>The token's block and slot.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="token"/> is not in the cache.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public KvTokenSlot GetTokenSlot(AgentId agent, int token)
    {
        AgentCache record = Enter(agent);
        try
        {
            if ((uint)token >= (uint)record.Tokens)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(token),
                    token,
                    string.Create(CultureInfo.InvariantCulture, $"{agent} holds {record.Tokens} token(s): 0 to {record.Tokens - 1}."));
            }

            return Slot(token, _pool.Spec.TokensPerBlock); // the pool holds the agent's blocks, so its spec cannot change
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    /// <summary>
    /// Copies the ids of <paramref name="agent"/>'s blocks on <paramref name="layer"/>, in token order, into
    /// <paramref name="destination"/>: the block table of a paged-attention kernel. From the manager's books, so it
    /// does not take the pool's gate and allocates nothing.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="layer">The layer, 0 to <c>Spec.Layers - 1</c>.</param>
    /// <param name="destination">At least <see cref="AgentCacheInfo.BlocksPerLayer"/> entries.</param>
    /// <returns>How many ids were written.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short; nothing was written.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public int CopyBlockIds(AgentId agent, int layer, Span<int> destination) =>
        CopyLayer(agent, layer, destination, static (record, layer) => record.Ids(layer));

    /// <summary>
    /// Copies the ids of <paramref name="agent"/>'s blocks on every layer into <paramref name="destination"/>,
    /// layer-major (layer 0's ids in token order, then layer 1's, ...): the whole block table in one call.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="destination">At least <see cref="AgentCacheInfo.TotalBlocks"/> entries.</param>
    /// <returns>Blocks per layer: layer <c>l</c>'s ids start at <c>l</c> times this.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short; nothing was written.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public int CopyBlockIds(AgentId agent, Span<int> destination)
    {
        AgentCache record = Enter(agent);
        try
        {
            int perLayer = record.BlocksPerLayer;
            long total = (long)perLayer * record.LayerCount;
            if (destination.Length < total)
            {
                ThrowTooShort(nameof(destination), total, destination.Length);
            }

            record.CopyIdsLayerMajor(destination);
            return perLayer;
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    /// <summary>
    /// Copies the handles of <paramref name="agent"/>'s blocks on <paramref name="layer"/>, in token order, into
    /// <paramref name="destination"/>, for the pool's handle-taking methods. The blocks an <see cref="Append"/> added
    /// are the last ones. Allocates nothing.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="layer">The layer, 0 to <c>Spec.Layers - 1</c>.</param>
    /// <param name="destination">At least <see cref="AgentCacheInfo.BlocksPerLayer"/> entries.</param>
    /// <returns>How many handles were written.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short; nothing was written.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public int CopyBlocks(AgentId agent, int layer, Span<KvBlock> destination) =>
        CopyLayer(agent, layer, destination, static (record, layer) => record.Blocks(layer));

    /// <summary>
    /// Leases every layer of <paramref name="agent"/>'s blocks from the pool (see <see cref="BlockPool.Lease(AgentId)"/>):
    /// while the lease is open, <see cref="Truncate"/> and <see cref="Release"/> of the agent are refused with
    /// <see cref="AgentPinnedException"/>, nothing changed; <see cref="Append"/> works, and the lease does not see its new blocks.
    /// </summary>
    /// <param name="agent">An admitted agent; one with no blocks (admitted with 0 tokens) gets an empty lease.</param>
    /// <returns>The lease; dispose it when the step is done.</returns>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public KvCacheLease Lease(AgentId agent)
    {
        AgentCache record = Enter(agent);
        try
        {
            // Under the record's monitor: the lease sees exactly the blocks the books list, never half an append.
            return _pool.Lease(agent);
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    private static KvTokenSlot Slot(int token, int tokensPerBlock)
    {
        (int block, int offset) = Math.DivRem(token, tokensPerBlock);
        return new KvTokenSlot(token, block, offset);
    }

    /// <summary>Copies one layer of the agent's books (ids or handles, as <paramref name="select"/> picks) under the record's lock; nothing is written if the destination is short.</summary>
    private int CopyLayer<T>(AgentId agent, int layer, Span<T> destination, Func<AgentCache, int, ReadOnlySpan<T>> select)
    {
        AgentCache record = Enter(agent);
        try
        {
            ValidateLayer(record, layer);
            ReadOnlySpan<T> source = select(record, layer);
            if (destination.Length < source.Length)
            {
                ThrowTooShort(nameof(destination), source.Length, destination.Length);
            }

            source.CopyTo(destination);
            return source.Length;
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    private static void ValidateLayer(AgentCache record, int layer)
    {
        if ((uint)layer >= (uint)record.LayerCount)
        {
            throw new ArgumentOutOfRangeException(
                nameof(layer),
                layer,
                string.Create(CultureInfo.InvariantCulture, $"Layer must be between 0 and {record.LayerCount - 1} (the agent's cache has {record.LayerCount} layers)."));
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowTooShort(string parameter, long needed, int actual) => throw new ArgumentException(
        string.Create(CultureInfo.InvariantCulture, $"The destination holds {actual} entries; {needed} are needed. Nothing was written."),
        parameter);
}
