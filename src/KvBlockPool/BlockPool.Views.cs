using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>Read-only views of what agents hold.</content>
public sealed partial class BlockPool
{
    /// <summary>Takes an immutable, internally consistent snapshot of the blocks <paramref name="agent"/> holds.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>The snapshot; empty if the pool holds nothing for the agent.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public AgentBlocks GetAgentBlocks(AgentId agent)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable table = _table;
            int layers = table.Layers;
            var starts = new int[layers + 1];
            if (!_owners.TryGetAgent(agent, out OwnerRecord? record))
            {
                return new AgentBlocks(agent, [], [], starts, table.Stamp);
            }

            var ids = new int[record.BlockCount];
            var generations = new uint[record.BlockCount];
            int at = 0;
            for (int layer = 0; layer < layers; layer++)
            {
                starts[layer] = at;
                foreach (int id in record.BlocksOn(layer))
                {
                    ids[at] = id;
                    generations[at] = table.GenerationOf(id);
                    at++;
                }
            }

            starts[layers] = at;
            return new AgentBlocks(agent, ids, generations, starts, table.Stamp);
        }
    }

    /// <summary>Copies the block ids <paramref name="agent"/> holds on <paramref name="layer"/>, in logical order, into a caller-supplied table (no managed allocation).</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="destination">The table; must hold at least <see cref="GetBlockCount(AgentId, int)"/> entries.</param>
    /// <returns>How many ids were written.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short; nothing was written.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int CopyBlockIds(AgentId agent, int layer, Span<int> destination)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            ValidateLayer(layer, _table);
            if (!_owners.TryGetAgent(agent, out OwnerRecord? record))
            {
                return 0;
            }

            ReadOnlySpan<int> ids = record.BlocksOn(layer);
            if (ids.Length > destination.Length)
            {
                ThrowHelper.ThrowDestinationTooShort(nameof(destination), ids.Length, destination.Length);
            }

            ids.CopyTo(destination);
            return ids.Length;
        }
    }

    /// <summary>Blocks <paramref name="agent"/> holds on all layers.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>The count; 0 for an agent the pool does not know.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int GetBlockCount(AgentId agent)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            return _owners.TryGetAgent(agent, out OwnerRecord? record) ? record.BlockCount : 0;
        }
    }

    /// <summary>Blocks <paramref name="agent"/> holds on <paramref name="layer"/>.</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="layer">The layer.</param>
    /// <returns>The count; 0 for an agent the pool does not know.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int GetBlockCount(AgentId agent, int layer)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            ValidateLayer(layer, _table);
            return _owners.TryGetAgent(agent, out OwnerRecord? record) ? record.BlocksOn(layer).Length : 0;
        }
    }

    /// <summary>Blocks held per agent (committed blocks only; open scopes are not agents yet).</summary>
    /// <returns>A new dictionary, consistent at one instant.</returns>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public IReadOnlyDictionary<AgentId, int> GetBlockCountsByAgent()
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            return CountsByAgent();
        }
    }

    private Dictionary<AgentId, int> CountsByAgent()
    {
        var counts = new Dictionary<AgentId, int>(_owners.AgentCount);
        foreach (KeyValuePair<AgentId, OwnerRecord> pair in _owners)
        {
            counts[pair.Key] = pair.Value.BlockCount;
        }

        return counts;
    }
}
