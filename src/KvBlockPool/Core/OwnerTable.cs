using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace KvBlockPool.Core;

/// <summary>
/// Who holds blocks: owner records (agents and open allocation scopes) in numbered slots that owner words name,
/// the agent table, the spare records kept for reuse, and the last-agent hint. Publishes the agent count through
/// <see cref="PublishedCounts"/> whenever the agent table changes.
/// </summary>
/// <remarks>Takes no lock of its own: the caller holds the pool's gate.</remarks>
internal sealed class OwnerTable
{
    /// <summary>How many retired owner records are kept for reuse (enough for the agents of a busy host).</summary>
    private const int MaxSpareRecords = 1024;

    private readonly Dictionary<AgentId, OwnerRecord> _agents = [];
    private readonly Stack<OwnerRecord> _spareRecords = new();
    private readonly PublishedCounts _counts;
    private OwnerRecord?[] _records = new OwnerRecord?[16];
    private int[] _freeSlots = new int[16];
    private int _freeSlotCount;
    private int _slotHigh;
    private int _freeEpoch;
    private int _openScopes;

    /// <summary>
    /// The agent record the last lookup found, checked before the agent table (see <see cref="TryFindAgent"/>).
    /// Only a hint: it is validated on every use, so it needs no invalidation.
    /// </summary>
    private OwnerRecord? _lastAgent;

    public OwnerTable(PublishedCounts counts) => _counts = counts;

    public int AgentCount => _agents.Count;

    /// <summary>Allocation scopes begun and neither committed nor disposed.</summary>
    public int OpenScopes => _openScopes;

    /// <summary>Slots ever used since the last reset: every registered record is in a slot below this.</summary>
    public int SlotHigh => _slotHigh;

    /// <summary>The free epoch counter (see <see cref="NextFreeEpoch"/>); settable only through the pool's test hook, to drive it across its wraparound.</summary>
    public int FreeEpoch
    {
        get => _freeEpoch;
        set => _freeEpoch = value;
    }

    /// <summary>
    /// The epoch of a new free: each layer list it touches is flagged with it (<see cref="OwnerRecord.RemoveMarked"/>)
    /// so that the list is compacted once per free.
    /// </summary>
    public int NextFreeEpoch()
    {
        int epoch = unchecked(++_freeEpoch);
        if (epoch == 0)
        {
            // 0 is what a fresh record's marks hold; skip it so a fresh record is never mistaken for compacted.
            epoch = ++_freeEpoch;
        }

        return epoch;
    }

    /// <summary>The agents and their records, for code off the hot path that wants LINQ.</summary>
    public IEnumerable<KeyValuePair<AgentId, OwnerRecord>> Agents => _agents;

    /// <summary>The agents and their records, for views and reports.</summary>
    public Dictionary<AgentId, OwnerRecord>.Enumerator GetEnumerator() => _agents.GetEnumerator();

    /// <summary>The record registered in <paramref name="slot"/>, or null.</summary>
    public OwnerRecord? RecordAt(int slot) => (uint)slot < (uint)_records.Length ? _records[slot] : null;

    /// <summary>The agent's registered record, looked up in the agent table only (no hint): for calls that do not mutate.</summary>
    public bool TryGetAgent(AgentId agent, [NotNullWhen(true)] out OwnerRecord? record) => _agents.TryGetValue(agent, out record);

    /// <summary>
    /// Finds an agent's registered record: first the record the last call used (a decoding host calls for the
    /// same agent many times in a row), then the agent table.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFindAgent(AgentId agent, [NotNullWhen(true)] out OwnerRecord? record)
    {
        record = _lastAgent;
        if (IsRegisteredAgentRecord(record, agent))
        {
            return true;
        }

        if (_agents.TryGetValue(agent, out record))
        {
            _lastAgent = record;
            return true;
        }

        return false;
    }

    /// <summary>
    /// The record of <paramref name="agent"/> in <paramref name="slot"/> (a block's owner slot), or null when that
    /// slot does not hold the agent's registered record. Lets a free find the owner without the agent table.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public OwnerRecord? AgentRecordInSlot(int slot, AgentId agent)
    {
        OwnerRecord? record = slot >= 0 && slot < _records.Length ? _records[slot] : null;
        return IsRegisteredAgentRecord(record, agent) ? record : null;
    }

    /// <summary>
    /// Refuses a new owner (agent or scope) when every slot an owner word can name is taken. Unreachable in
    /// practice (each owner record takes about 20 bytes per layer, so the limit is about 32 GiB of records),
    /// but checked so that a slot can never overflow into the layer bits. Call before anything changes.
    /// </summary>
    public bool IsFull(int slotLimit) => _freeSlotCount == 0 && _slotHigh >= slotLimit;

    /// <summary>Rents a record for a new agent, not yet registered (so a failure before registration leaves no trace).</summary>
    public OwnerRecord RentAgent(AgentId agent, int layers)
    {
        OwnerRecord record = Rent(layers);
        record.Agent = agent;
        return record;
    }

    public void RegisterAgent(OwnerRecord record)
    {
        RegisterSlot(record);
        _agents.Add(record.Agent, record);
        _lastAgent = record;
        _counts.PublishAgents(_agents.Count);
    }

    public void UnregisterAgent(OwnerRecord record)
    {
        _agents.Remove(record.Agent);
        UnregisterSlot(record);
        _counts.PublishAgents(_agents.Count);
    }

    /// <summary>Rents and registers the record of a new allocation scope.</summary>
    public OwnerRecord OpenScope(AgentId agent, int layers)
    {
        OwnerRecord record = Rent(layers);
        record.Agent = agent;
        record.IsScope = true;
        RegisterSlot(record);
        _openScopes++;
        return record;
    }

    /// <summary>Unregisters a scope's record (its blocks have moved to the agent, or are being released).</summary>
    public void CloseScope(OwnerRecord record)
    {
        UnregisterSlot(record);
        _openScopes--;
    }

    /// <summary>Clears a retired record and keeps it for reuse if it still fits the spec.</summary>
    public void Recycle(OwnerRecord record, int layers)
    {
        bool sameShape = record.LayerCount == layers;
        record.Reset();
        if (sameShape && _spareRecords.Count < MaxSpareRecords)
        {
            _spareRecords.Push(record);
        }
    }

    /// <summary>Forgets every slot and spare record; only while no owner is registered (a reconfigure of an idle pool).</summary>
    public void Reset()
    {
        Debug.Assert(_agents.Count == 0 && _openScopes == 0, "no owner is registered");
        Array.Clear(_records);
        _slotHigh = 0;
        _freeSlotCount = 0;
        _spareRecords.Clear();
        _lastAgent = null;
    }

    /// <summary>Forgets every agent (the pool is being disposed).</summary>
    public void Clear()
    {
        _agents.Clear();
        _counts.PublishAgents(0);
    }

    /// <summary>Checks the table's own invariants: slots agree with their records, agents are registered exactly once, scopes are counted.</summary>
    public string? FindViolation()
    {
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
            else if (!_agents.TryGetValue(record.Agent, out OwnerRecord? registered) || registered != record)
            {
                return $"{record.Agent} has a record that is not registered";
            }
            else if (record.BlockCount == 0)
            {
                return $"{record.Agent} is registered with no blocks";
            }
        }

        if (scopes != _openScopes)
        {
            return $"{scopes} scope records are registered but {_openScopes} scopes are counted open";
        }

        return _agents.Count != _counts.Agents ? "the published agent count is wrong" : null;
    }

    /// <summary>
    /// Whether <paramref name="record"/> is <paramref name="agent"/>'s registered record. Records are recycled, so
    /// a cached or slot-found record is trusted only while it is registered in its slot, is not a scope and still
    /// names the agent; only one such record per agent exists, the one the agent table holds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsRegisteredAgentRecord([NotNullWhen(true)] OwnerRecord? record, AgentId agent) =>
        record is not null && !record.IsScope && record.Agent == agent
        && (uint)record.Slot < (uint)_records.Length && ReferenceEquals(_records[record.Slot], record);

    private OwnerRecord Rent(int layers)
    {
        while (_spareRecords.Count > 0)
        {
            OwnerRecord spare = _spareRecords.Pop();
            if (spare.LayerCount == layers)
            {
                return spare;
            }
        }

        return new OwnerRecord(layers);
    }

    private void RegisterSlot(OwnerRecord record)
    {
        int slot;
        if (_freeSlotCount > 0)
        {
            slot = _freeSlots[--_freeSlotCount];
        }
        else
        {
            if (_slotHigh == _records.Length)
            {
                Array.Resize(ref _records, _records.Length * 2);
                Array.Resize(ref _freeSlots, _records.Length);
            }

            slot = _slotHigh++;
        }

        _records[slot] = record;
        record.Slot = slot;
    }

    private void UnregisterSlot(OwnerRecord record)
    {
        Debug.Assert(record.Slot >= 0 && _records[record.Slot] == record, "record is registered");
        _records[record.Slot] = null;
        _freeSlots[_freeSlotCount++] = record.Slot;
        record.Slot = -1;
    }
}
