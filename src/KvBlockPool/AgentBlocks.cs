namespace KvBlockPool;

/// <summary>
/// An immutable snapshot of the blocks one agent held at one instant, per layer and in logical order: the
/// block tables a paged-attention kernel reads. Taken under the pool's gate, so it is internally consistent;
/// it does not follow later changes (take a new one), and it has no way to change the pool.
/// </summary>
public sealed class AgentBlocks
{
    private readonly int[] _ids;
    private readonly uint[] _generations;
    private readonly int[] _layerStarts;
    private readonly int _stamp;

    internal AgentBlocks(AgentId agent, int[] ids, uint[] generations, int[] layerStarts, int stamp)
    {
        Agent = agent;
        _ids = ids;
        _generations = generations;
        _layerStarts = layerStarts;
        _stamp = stamp;
    }

    /// <summary>The agent.</summary>
    public AgentId Agent { get; }

    /// <summary>Number of layers (the spec's layer count when the snapshot was taken).</summary>
    public int LayerCount => _layerStarts.Length - 1;

    /// <summary>Blocks on all layers together.</summary>
    public int TotalBlocks => _ids.Length;

    /// <summary>Whether the agent held no blocks.</summary>
    public bool IsEmpty => _ids.Length == 0;

    /// <summary>Blocks the agent held on <paramref name="layer"/>.</summary>
    /// <param name="layer">The layer.</param>
    /// <returns>The count.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public int GetBlockCount(int layer)
    {
        ValidateLayer(layer);
        return _layerStarts[layer + 1] - _layerStarts[layer];
    }

    /// <summary>The block ids of <paramref name="layer"/>, in logical (token) order: a paged-attention block table.</summary>
    /// <param name="layer">The layer.</param>
    /// <returns>A read-only view of the snapshot's ids.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public ReadOnlySpan<int> GetBlockIds(int layer)
    {
        ValidateLayer(layer);
        return new ReadOnlySpan<int>(_ids, _layerStarts[layer], _layerStarts[layer + 1] - _layerStarts[layer]);
    }

    /// <summary>The handle of the <paramref name="index"/>-th block of <paramref name="layer"/>.</summary>
    /// <param name="layer">The layer.</param>
    /// <param name="index">Position in the layer's list.</param>
    /// <returns>The handle as it was when the snapshot was taken (stale if the block was freed since).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> or <paramref name="index"/> is out of range.</exception>
    public KvBlock GetBlock(int layer, int index)
    {
        int count = GetBlockCount(layer);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        int at = _layerStarts[layer] + index;
        return new KvBlock(_ids[at], layer, _generations[at], _stamp);
    }

    /// <summary>The handles of <paramref name="layer"/>'s blocks, in logical order (a new array).</summary>
    /// <param name="layer">The layer.</param>
    /// <returns>The handles.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public KvBlock[] GetBlocks(int layer)
    {
        int count = GetBlockCount(layer);
        var blocks = new KvBlock[count];
        for (int i = 0; i < count; i++)
        {
            blocks[i] = GetBlock(layer, i);
        }

        return blocks;
    }

    private void ValidateLayer(int layer)
    {
        if ((uint)layer >= (uint)LayerCount)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layer must be between 0 and {LayerCount - 1}.");
        }
    }
}
