using KvBlockPool.Core;

namespace KvBlockPool;

/// <summary>
/// A pin on one agent, from <see cref="BlockPool.Pin"/>: while it is held the pool refuses to free the agent's
/// blocks, so the snapshot of block handles taken with the pin keeps naming the agent's memory. Reads go through
/// leases (<see cref="BeginAccess"/>, <see cref="BeginContiguousAccess"/>) that hold off <see cref="BlockPool.Dispose"/>
/// for the length of one copy. Dispose once the reads are done; disposing again (or after the pool) does nothing.
/// </summary>
internal sealed class AgentPin : IDisposable
{
    private readonly BlockPool _pool;
    private readonly KvBlock[] _blocks;
    private readonly int[] _layerStarts;
    private int _released;

    public AgentPin(BlockPool pool, AgentId agent, KvBlock[] blocks, int[] layerStarts)
    {
        _pool = pool;
        Agent = agent;
        _blocks = blocks;
        _layerStarts = layerStarts;
    }

    public AgentId Agent { get; }

    public int LayerCount => _layerStarts.Length - 1;

    public int TotalBlocks => _blocks.Length;

    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>The agent's blocks on <paramref name="layer"/> when the pin was taken, in logical order.</summary>
    public ReadOnlySpan<KvBlock> GetBlocks(int layer) =>
        _blocks.AsSpan(_layerStarts[layer], _layerStarts[layer + 1] - _layerStarts[layer]);

    public int GetBlockCount(int layer) => _layerStarts[layer + 1] - _layerStarts[layer];

    public KvBlock GetBlock(int layer, int index) => _blocks[_layerStarts[layer] + index];

    /// <summary>Leases <paramref name="length"/> bytes of <paramref name="block"/> from <paramref name="offset"/>.</summary>
    /// <exception cref="ObjectDisposedException">The pin was released or the pool disposed.</exception>
    public BlockAccess BeginAccess(KvBlock block, int offset, int length)
    {
        ObjectDisposedException.ThrowIf(IsReleased, this);
        return _pool.BeginDataAccess(block, offset, length);
    }

    /// <summary>Leases a run of <paramref name="blocks"/> contiguous in memory (at most <paramref name="maxBytes"/>).</summary>
    /// <exception cref="ObjectDisposedException">The pin was released or the pool disposed.</exception>
    public BlockAccess BeginContiguousAccess(ReadOnlySpan<KvBlock> blocks, int maxBytes)
    {
        ObjectDisposedException.ThrowIf(IsReleased, this);
        return _pool.BeginContiguousAccess(blocks, maxBytes);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _pool.Unpin(Agent);
        }
    }
}
