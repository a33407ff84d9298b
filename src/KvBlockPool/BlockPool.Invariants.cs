using System.Globalization;
using System.Text;
using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>Checks of the invariants in docs/design.md, for tests and systematic tests.</content>
public sealed partial class BlockPool
{
    /// <summary>
    /// Checks every invariant under the gate; O(capacity). Returns null when all hold, else a description of the
    /// first violation. Blocks being cleared by a <c>Free</c> in progress are accounted as in transit.
    /// </summary>
    internal string? FindInvariantViolation()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return null;
            }

            int capacity = _freeStack.Length;
            var seen = new byte[capacity]; // 0 unseen, 1 free stack, 2 owner list
            for (int i = 0; i < _freeCount; i++)
            {
                int id = _freeStack[i];
                if (seen[id] != 0)
                {
                    return $"block {id} is on the free stack twice";
                }

                seen[id] = 1;
                if (_owner[id] != NoOwner || (_generation[id] & 1) != 0)
                {
                    return $"free block {id} has owner {_owner[id]} and generation {_generation[id]}";
                }
            }

            int held = 0;
            int scopes = 0;
            for (int slot = 0; slot < _slotHigh; slot++)
            {
                OwnerRecord? record = _records[slot];
                if (record is null)
                {
                    continue;
                }

                if (record.Slot != slot)
                {
                    return $"record in slot {slot} thinks it is in slot {record.Slot}";
                }

                if (record.IsScope)
                {
                    scopes++;
                }

                if (!record.IsScope && (!_agents.TryGetValue(record.Agent, out OwnerRecord? registered) || registered != record))
                {
                    return $"{record.Agent} has a record that is not registered";
                }

                if (!record.IsScope && record.BlockCount == 0)
                {
                    return $"{record.Agent} is registered with no blocks";
                }

                int count = 0;
                for (int layer = 0; layer < record.LayerCount; layer++)
                {
                    foreach (int id in record.Layers[layer].AsSpan())
                    {
                        if (seen[id] != 0)
                        {
                            return $"block {id} is in two places (second: {record.Agent} layer {layer})";
                        }

                        seen[id] = 2;
                        if (_owner[id] != OwnerWord(slot, layer) || (_generation[id] & 1) != 1)
                        {
                            return $"block {id} listed for {record.Agent} has owner {_owner[id]} and generation {_generation[id]}";
                        }

                        count++;
                    }
                }

                if (count != record.BlockCount)
                {
                    return $"{record.Agent} counts {record.BlockCount} blocks but lists {count}";
                }

                held += count;
            }

            int inTransit = 0;
            for (int id = 0; id < capacity; id++)
            {
                if (seen[id] == 0)
                {
                    if (_owner[id] != Releasing)
                    {
                        return $"block {id} is nowhere (owner {_owner[id]})";
                    }

                    inTransit++;
                }
            }

            if (scopes != _openScopes)
            {
                return $"{scopes} scope records are registered but {_openScopes} scopes are counted open";
            }

            if (inTransit > 0 && _releasesInFlight == 0)
            {
                return $"{inTransit} blocks are in transit but no free is in progress";
            }

            if (_freeCount + held + inTransit != capacity)
            {
                return $"available {_freeCount} + held {held} + in transit {inTransit} != capacity {capacity}";
            }

            long counts = Volatile.Read(ref _counts);
            if ((int)(counts >> 32) != capacity || (int)(uint)counts != _freeCount)
            {
                return "the published counts differ from the free stack";
            }

            if (_highWater < capacity - _freeCount)
            {
                return $"high-water mark {_highWater} is below the allocated count {capacity - _freeCount}";
            }

            return _agents.Count != _agentCount ? "the published agent count is wrong" : null;
        }
    }

    /// <summary>How many owners (agents and open scopes) the pool tracks at most; a test hook to reach the limit cheaply.</summary>
    internal int OwnerSlotLimit
    {
        get => _ownerSlotLimit;
        set
        {
            lock (_gate)
            {
                _ownerSlotLimit = value;
            }
        }
    }

    /// <summary>A canonical text of the whole observable state, for "nothing changed" assertions in tests.</summary>
    internal string DescribeState()
    {
        lock (_gate)
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"disposed={_disposed};stamp={_stamp};spec={_spec};free={_freeCount};hwm={_highWater};scopes={_openScopes};");
            text.Append("stack=").AppendJoin(',', _freeStack.AsSpan(0, _freeCount).ToArray()).Append(';');
            text.Append("gen=").AppendJoin(',', _generation).Append(";owner=").AppendJoin(',', _owner).Append(';');
            foreach (KeyValuePair<AgentId, OwnerRecord> pair in _agents.OrderBy(p => p.Key.Value))
            {
                text.Append(pair.Key).Append('{');
                for (int layer = 0; layer < pair.Value.LayerCount; layer++)
                {
                    text.Append('[').AppendJoin(',', pair.Value.Layers[layer].AsSpan().ToArray()).Append(']');
                }

                text.Append('}');
            }

            // Open scopes, by slot: what each holds, so a refused scope call is seen to change nothing.
            for (int slot = 0; slot < _slotHigh; slot++)
            {
                if (_records[slot] is { IsScope: true } scope)
                {
                    text.Append(CultureInfo.InvariantCulture, $"scope@{slot}:{scope.Agent}{{");
                    for (int layer = 0; layer < scope.LayerCount; layer++)
                    {
                        text.Append('[').AppendJoin(',', scope.Layers[layer].AsSpan().ToArray()).Append(']');
                    }

                    text.Append('}');
                }
            }

            return text.ToString();
        }
    }
}
