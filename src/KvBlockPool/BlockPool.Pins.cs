using System.Globalization;
using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>
/// Pins, for readers that copy an agent's block memory outside the gate (a save). A pin makes <c>Free</c> and
/// <c>FreeAgent</c> of the agent refuse (<see cref="AgentPinnedException"/>, nothing changed) rather than wait, so
/// a host that saves and releases on one thread cannot deadlock; allocating more blocks for a pinned agent is
/// allowed, and the pin's snapshot does not include them. <see cref="Dispose"/> never waits for a pin, only for
/// the leases of copies in flight (<see cref="BeginDataAccess"/>).
/// </content>
public sealed partial class BlockPool
{
    /// <summary>Pins <paramref name="agent"/> and snapshots its block handles (every layer, logical order).</summary>
    /// <exception cref="ArgumentException">The pool holds no blocks for <paramref name="agent"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal AgentPin Pin(AgentId agent)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            if (!_owners.TryGetAgent(agent, out OwnerRecord? record))
            {
                throw new ArgumentException($"Pool '{Name}' holds no blocks for {agent}; there is nothing to pin.", nameof(agent));
            }

            BlockTable table = _table;
            int layers = record.LayerCount;
            var blocks = new KvBlock[record.BlockCount];
            var starts = new int[layers + 1];
            int at = 0;
            for (int layer = 0; layer < layers; layer++)
            {
                starts[layer] = at;
                foreach (int id in record.BlocksOn(layer))
                {
                    blocks[at++] = table.HandleOf(id, layer);
                }
            }

            starts[layers] = at;
            _guard.Pin(agent);
            return new AgentPin(this, agent, blocks, starts);
        }
    }

    internal void Unpin(AgentId agent)
    {
        lock (_gate)
        {
            _guard.Unpin(agent);
        }
    }

    /// <summary>
    /// Commits <paramref name="scope"/> only if its agent holds nothing, in one step under the gate, so a restore
    /// can never merge into blocks another thread gave the same agent meanwhile.
    /// </summary>
    /// <exception cref="ArgumentException">The agent holds blocks now; the scope stays open (dispose it to roll back).</exception>
    internal void CommitIntoAbsentAgent(AllocationScope scope)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            if (_owners.TryGetAgent(scope.Agent, out OwnerRecord? existing))
            {
                throw AgentHoldsBlocks(scope.Agent, existing.BlockCount);
            }

            scope.Commit(); // re-enters the gate; Monitor is reentrant
        }
    }

    internal ArgumentException AgentHoldsBlocks(AgentId agent, int blocks) => new(
        string.Create(CultureInfo.InvariantCulture, $"{agent} already holds {blocks} block(s) in pool '{Name}'; a cache is restored only into an agent that holds nothing. Free the agent first, or restore under another agent id. Nothing changed."),
        nameof(agent));
}
