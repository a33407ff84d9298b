using System.Globalization;
using System.Text;
using KvBlockPool.Core;
using KvBlockPool.Prefix;

namespace KvBlockPool;

/// <content>
/// Test hooks: members that exist only for the unit, model-based, stress and systematic tests. None is API; each
/// takes the gate (or reads a published value) so tests see a consistent state.
/// </content>
public sealed partial class BlockPool
{
    /// <summary>Blocks on the free stack, ready to hand out (<see cref="BlockPoolStatistics.Available"/>). Read without the gate, as GetStatistics() reads it.</summary>
    internal int AvailableBlocks => _counts.Available;

    /// <summary>Blocks not available: held by agents or open scopes, or being cleared by a <c>Free</c> in progress. Read without the gate, as GetStatistics() reads it.</summary>
    internal int AllocatedBlocks => _counts.Allocated;

    /// <summary>The most blocks ever allocated at once in the current configuration. Read without the gate, as GetStatistics() reads it.</summary>
    internal int HighWaterMark => _counts.HighWater;

    /// <summary>Agents holding at least one block. Read without the gate, as GetStatistics() reads it.</summary>
    internal int AgentCount => _counts.Agents;

    /// <summary>Whether the pool holds any block for <paramref name="agent"/>.</summary>
    internal bool ContainsAgent(AgentId agent)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            return _owners.TryGetAgent(agent, out _);
        }
    }

    /// <summary>The free epoch counter, settable to drive it across its wraparound.</summary>
    internal int FreeEpoch
    {
        get => _owners.FreeEpoch;
        set => _owners.FreeEpoch = value;
    }

    /// <summary>How many owners (agents and open scopes) the pool tracks at most; settable to reach the limit cheaply.</summary>
    internal int OwnerSlotLimit
    {
        get => _table.OwnerSlotLimit;
        set
        {
            lock (_gate)
            {
                _table.OwnerSlotLimit = value;
            }
        }
    }

    /// <summary>Copies between a block and a caller's buffer that are running outside the gate.</summary>
    internal int DataAccessesInFlight
    {
        get
        {
            lock (_gate)
            {
                return _guard.AccessesInFlight;
            }
        }
    }

    /// <summary>Builds statistics from raw reads, so tests can feed it any interleaving's values.</summary>
    internal static BlockPoolStatistics ComposeStatistics(long counts, int highWater, int agents, int bytesPerBlock) =>
        PublishedCounts.Compose(counts, highWater, agents, bytesPerBlock, bytesPerBlock);

    /// <summary>Whether the current configuration's slabs have been freed (after dispose, possibly deferred to the last lease).</summary>
    internal bool SlabsFreed => Volatile.Read(ref _table).Slabs.IsFreed;

    /// <summary>Pins held on <paramref name="agent"/> (0 when none).</summary>
    internal int GetPinCount(AgentId agent)
    {
        lock (_gate)
        {
            return _guard.PinCount(agent);
        }
    }

    /// <summary>Checks the pin invariants under the gate; null when they hold.</summary>
    internal string? FindPinViolation()
    {
        lock (_gate)
        {
            return _guard.FindViolation(_owners);
        }
    }

    /// <summary>
    /// Checks every invariant of docs/design.md under the gate, O(capacity): each component's own, then the ones
    /// that tie them together (every block in exactly one place, counts adding up). Returns null when all hold,
    /// else a description of the first violation. Blocks being scrubbed by a free in progress count as in transit.
    /// </summary>
    internal string? FindInvariantViolation()
    {
        lock (_gate)
        {
            if (_guard.IsClosed)
            {
                return null;
            }

            BlockTable table = _table;
            var seen = new byte[table.Capacity]; // 0 unseen, 1 free stack, 2 owner list, 3 cached chunk
            int held = 0;
            int[] listed = table.Chunks is { } chunkTable ? new int[table.Capacity / table.Layers] : [];
            string? violation = table.FindFreeStackViolation(seen) ?? _owners.FindViolation() ?? FindListViolation(table, seen, listed, ref held);
            if (violation is not null)
            {
                return violation;
            }

            int cached = 0;
            if (table.Chunks is { } chunks)
            {
                violation = chunks.FindViolation(listed) ?? chunks.FindBlockMapViolation() ?? FindChunkBlockViolation(table, chunks, seen);
                if (violation is not null)
                {
                    return violation;
                }

                cached = chunks.CachedBlocks;
            }

            violation = table.CountInTransit(seen, out int inTransit);
            if (violation is not null)
            {
                return violation;
            }

            if (inTransit > 0 && _guard.ReleasesInFlight == 0)
            {
                return $"{inTransit} blocks are in transit but no free is in progress";
            }

            if (table.FreeCount + held + inTransit + cached != table.Capacity)
            {
                return $"free {table.FreeCount} + held {held} + in transit {inTransit} + cached {cached} != capacity {table.Capacity}";
            }

            return _counts.FindViolation(table.Capacity, table.AvailableCount) ?? FindLeaseViolation();
        }
    }

    /// <summary>Open leases never go below zero, and only a disposed pool keeps slabs for its leases.</summary>
    private string? FindLeaseViolation() =>
        _leases.Open < 0 ? $"{_leases.Open} leases open"
        : _leases.HasDeferredTable ? "an open pool keeps slabs for its leases" : null;

    /// <summary>A canonical text of the whole observable state, for "nothing changed" assertions.</summary>
    internal string DescribeState()
    {
        lock (_gate)
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"disposed={_guard.IsClosed};hwm={_counts.HighWater};scopes={_owners.OpenScopes};leases={_leases.Open};pins={_guard.DescribePins()};");
            _table.Describe(text);
            _table.Chunks?.Describe(text);
            foreach (KeyValuePair<AgentId, OwnerRecord> pair in _owners.Agents.OrderBy(p => p.Key.Value))
            {
                text.Append(pair.Key).Append('{');
                AppendLists(text, pair.Value);
                text.Append('}');
            }

            // Open scopes, by slot: what each holds, so a refused scope call is seen to change nothing.
            for (int slot = 0; slot < _owners.SlotHigh; slot++)
            {
                if (_owners.RecordAt(slot) is { IsScope: true } scope)
                {
                    text.Append(CultureInfo.InvariantCulture, $"scope@{slot}:{scope.Agent}{{");
                    AppendLists(text, scope);
                    text.Append('}');
                }
            }

            return text.ToString();
        }
    }

    private static void AppendLists(StringBuilder text, OwnerRecord record)
    {
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            text.Append('[').AppendJoin(',', record.BlocksOn(layer).ToArray()).Append(']');
        }
    }

    /// <summary>Every owner's lists: each block listed once, agreeing with its owner word and generation, counted right.</summary>
    private string? FindListViolation(BlockTable table, byte[] seen, int[] listed, ref int held)
    {
        for (int slot = 0; slot < _owners.SlotHigh; slot++)
        {
            OwnerRecord? record = _owners.RecordAt(slot);
            if (record is null)
            {
                continue;
            }

            int count = 0, shared = 0;
            for (int layer = 0; layer < record.LayerCount; layer++)
            {
                ReadOnlySpan<int> ids = record.BlocksOn(layer);
                for (int index = 0; index < ids.Length; index++)
                {
                    int id = ids[index];
                    if (table.Chunks is { } chunks && table.IsCached(id))
                    {
                        // A shared block: listed by every agent that references its chunk, at the same index on every layer.
                        string? wrong = table.CheckCached(id, layer, seen);
                        int chunk = chunks.ChunkOf(id);
                        if (wrong is null && (record.IsScope || chunk < 0 || chunks.BlocksOf(chunk)[layer] != id || (layer > 0 && chunks.ChunkOf(record.BlocksOn(0)[index]) != chunk)))
                        {
                            wrong = $"{record.Agent} lists cached block {id} on layer {layer} at index {index} out of its chunk's place";
                        }

                        if (wrong is not null)
                        {
                            return wrong;
                        }

                        if (layer == 0)
                        {
                            listed[chunk]++;
                        }

                        shared++;
                        continue;
                    }

                    if (seen[id] != 0)
                    {
                        return $"block {id} is in two places (second: {record.Agent} layer {layer})";
                    }

                    seen[id] = 2;
                    if (!table.IsHeldBy(id, slot, layer))
                    {
                        return $"block {id} listed for {record.Agent} has owner {table.OwnerOf(id)} and generation {table.GenerationOf(id)}";
                    }

                    count++;
                }
            }

            if (count + shared != record.BlockCount || shared != record.SharedBlocks)
            {
                return $"{record.Agent} counts {record.BlockCount} blocks ({record.SharedBlocks} shared) but lists {count + shared} ({shared} shared)";
            }

            held += count;
        }

        return null;
    }

    /// <summary>Every block of every cached chunk is the cache's, on its layer, and in no other place; marks the unlisted (evictable) ones seen.</summary>
    private static string? FindChunkBlockViolation(BlockTable table, ChunkTable chunks, byte[] seen)
    {
        for (int id = 0; id < table.Capacity; id++)
        {
            int chunk = chunks.ChunkOf(id);
            if (chunk < 0)
            {
                if (table.IsCached(id))
                {
                    return $"block {id} is owned by the cache but belongs to no chunk";
                }

                continue;
            }

            int layer = chunks.BlocksOf(chunk).IndexOf(id);
            string? wrong = table.CheckCached(id, layer, seen);
            if (wrong is not null)
            {
                return wrong;
            }
        }

        return null;
    }
}
