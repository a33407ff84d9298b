namespace KvBlockPool.Benchmarks.Baselines;

/// <summary>
/// The pool's bookkeeping without its gate: the same per-block state (generation, owner slot, free stack),
/// owner records with one ordered id list per layer, the agent table, and the same checks on every call
/// (layer range, availability, handle range, generation, owner, duplicates). It is a faithful model of
/// what <see cref="BlockPool"/> does inside the gate, kept here so the suites can measure what the lock
/// costs: <c>Pool / PoolLogicWithoutLock</c> is the pool's whole overhead over its unlocked logic, and
/// <see cref="LockedPoolLogicModel"/> adds back only the lock. Not thread-safe, on purpose.
/// </summary>
internal sealed class PoolLogicModel
{
    private const int NoOwner = -1;
    private const int Marked = -3;

    private readonly int _layers;
    private readonly uint[] _generation;
    private readonly int[] _owner;
    private readonly int[] _freeStack;
    private readonly Dictionary<AgentId, Record> _agents = [];
    private readonly Stack<Record> _spare = new();
    private readonly Record?[] _records = new Record?[64];
    private readonly Stack<int> _freeSlots = new();
    private int _freeCount;
    private Record? _lastAgent;

    public PoolLogicModel(int capacity, int layers)
    {
        _layers = layers;
        _generation = new uint[capacity];
        _owner = new int[capacity];
        _freeStack = new int[capacity];
        Array.Fill(_owner, NoOwner);
        for (int i = 0; i < capacity; i++)
        {
            _freeStack[i] = capacity - 1 - i;
        }

        _freeCount = capacity;
        for (int slot = _records.Length - 1; slot >= 0; slot--)
        {
            _freeSlots.Push(slot);
        }
    }

    public void Allocate(AgentId agent, int layer, Span<ModelBlock> destination)
    {
        ValidateRequest(layer, destination.Length);
        PopInto(FindOrAddAgent(agent), layer, destination);
    }

    [System.Runtime.CompilerServices.SkipLocalsInit] // as the pool does
    public void Free(AgentId agent, ReadOnlySpan<ModelBlock> blocks)
    {
        Span<ModelBlock> detached = blocks.Length <= 32 ? stackalloc ModelBlock[32] : new ModelBlock[blocks.Length];
        detached = detached[..blocks.Length];
        Record? record = RecordThrough(blocks[0], agent);
        for (int i = 0; i < blocks.Length; i++)
        {
            ModelBlock block = blocks[i];
            if ((uint)block.Id >= (uint)_generation.Length || (uint)block.Layer >= (uint)_layers
                || _generation[block.Id] != block.Generation || record is null || _owner[block.Id] != record.Slot)
            {
                for (int j = 0; j < i; j++)
                {
                    _owner[detached[j].Id] = record!.Slot;
                }

                throw new InvalidOperationException($"Model: handle {block.Id} is not freeable.");
            }

            _owner[block.Id] = Marked;
            detached[i] = block;
        }

        Record owner = record!;
        foreach (ModelBlock block in detached)
        {
            RemoveMarked(owner.Layers[block.Layer]);
        }

        foreach (ModelBlock block in detached)
        {
            _generation[block.Id]++;
            _owner[block.Id] = NoOwner;
            _freeStack[_freeCount++] = block.Id;
        }

        owner.BlockCount -= detached.Length;
        if (owner.BlockCount == 0)
        {
            _agents.Remove(agent);
            Return(owner);
        }
    }

    public Record BeginScope(AgentId agent) => Rent(agent, isScope: true);

    public void ScopeAllocate(Record scope, int layer, Span<ModelBlock> destination)
    {
        if (!scope.IsScope)
        {
            throw new InvalidOperationException("Model: the scope has ended.");
        }

        ValidateRequest(layer, destination.Length);
        PopInto(scope, layer, destination);
    }

    public void Commit(Record scope)
    {
        if (!scope.IsScope)
        {
            throw new InvalidOperationException("Model: the scope has ended.");
        }

        Record agent = FindOrAddAgent(scope.Agent);
        for (int layer = 0; layer < _layers; layer++)
        {
            IdList source = scope.Layers[layer];
            IdList target = agent.Layers[layer];
            target.EnsureRoom(source.Count);
            for (int i = 0; i < source.Count; i++)
            {
                int id = source.Items[i];
                _owner[id] = agent.Slot;
                target.Items[target.Count++] = id;
            }
        }

        agent.BlockCount += scope.BlockCount;
        Return(scope);
    }

    public void ScopeAllocateAllLayers(Record scope, int blocksPerLayer, Span<ModelBlock> destination)
    {
        if (!scope.IsScope)
        {
            throw new InvalidOperationException("Model: the scope has ended.");
        }

        if (blocksPerLayer <= 0 || destination.Length != blocksPerLayer * _layers || destination.Length > _freeCount)
        {
            throw new InvalidOperationException("Model: bad count or exhausted.");
        }

        for (int layer = 0; layer < _layers; layer++)
        {
            PopInto(scope, layer, destination.Slice(layer * blocksPerLayer, blocksPerLayer));
        }
    }

    public int FreeAgent(AgentId agent)
    {
        if (!IsAgentRecord(_lastAgent, agent) && !_agents.TryGetValue(agent, out _lastAgent))
        {
            return 0;
        }

        Record record = _lastAgent!;
        _agents.Remove(agent);

        int count = record.BlockCount;
        for (int layer = 0; layer < _layers; layer++)
        {
            IdList list = record.Layers[layer];
            for (int i = 0; i < list.Count; i++)
            {
                int id = list.Items[i];
                _generation[id]++;
                _owner[id] = NoOwner;
                _freeStack[_freeCount++] = id;
            }
        }

        Return(record);
        return count;
    }

    private Record FindOrAddAgent(AgentId agent)
    {
        if (IsAgentRecord(_lastAgent, agent) || _agents.TryGetValue(agent, out _lastAgent))
        {
            return _lastAgent!;
        }

        Record record = Rent(agent, isScope: false);
        _agents.Add(agent, record);
        _lastAgent = record;
        return record;
    }

    private Record? RecordThrough(ModelBlock block, AgentId agent)
    {
        if ((uint)block.Id >= (uint)_owner.Length)
        {
            return null;
        }

        int slot = _owner[block.Id];
        Record? record = slot >= 0 && slot < _records.Length ? _records[slot] : null;
        return IsAgentRecord(record, agent) ? record : null;
    }

    private bool IsAgentRecord(Record? record, AgentId agent) =>
        record is not null && !record.IsScope && record.Agent == agent
        && (uint)record.Slot < (uint)_records.Length && ReferenceEquals(_records[record.Slot], record);

    private void ValidateRequest(int layer, int count)
    {
        if ((uint)layer >= (uint)_layers)
        {
            throw new ArgumentOutOfRangeException(nameof(layer));
        }

        if (count == 0 || count > _freeCount)
        {
            throw new InvalidOperationException("Model: bad count or exhausted.");
        }
    }

    private void PopInto(Record record, int layer, Span<ModelBlock> destination)
    {
        IdList list = record.Layers[layer];
        list.EnsureRoom(destination.Length);
        for (int i = 0; i < destination.Length; i++)
        {
            int id = _freeStack[--_freeCount];
            uint generation = ++_generation[id];
            _owner[id] = record.Slot;
            list.Items[list.Count++] = id;
            destination[i] = new ModelBlock(id, layer, generation, 1);
        }

        record.BlockCount += destination.Length;
    }

    private void RemoveMarked(IdList list)
    {
        int write = 0;
        for (int read = 0; read < list.Count; read++)
        {
            int id = list.Items[read];
            if (_owner[id] != Marked)
            {
                list.Items[write++] = id;
            }
        }

        list.Count = write;
    }

    private Record Rent(AgentId agent, bool isScope)
    {
        Record record = _spare.Count > 0 ? _spare.Pop() : new Record(_layers);
        record.Agent = agent;
        record.IsScope = isScope;
        record.Slot = _freeSlots.Pop();
        _records[record.Slot] = record;
        return record;
    }

    private void Return(Record record)
    {
        _records[record.Slot] = null;
        _freeSlots.Push(record.Slot);
        foreach (IdList list in record.Layers)
        {
            list.Count = 0;
        }

        record.BlockCount = 0;
        record.IsScope = false;
        record.Slot = -1;
        _spare.Push(record);
    }

    /// <summary>An owner (agent or scope) in the model.</summary>
    internal sealed class Record
    {
        public Record(int layers)
        {
            Layers = new IdList[layers];
            for (int i = 0; i < layers; i++)
            {
                Layers[i] = new IdList();
            }
        }

        public AgentId Agent { get; set; }

        public bool IsScope { get; set; }

        public int Slot { get; set; } = -1;

        public int BlockCount { get; set; }

        public IdList[] Layers { get; }
    }

    /// <summary>One layer's ordered ids.</summary>
    internal sealed class IdList
    {
        public int[] Items { get; private set; } = new int[8];

        public int Count { get; set; }

        public void EnsureRoom(int extra)
        {
            if (Count + extra > Items.Length)
            {
                int[] items = Items;
                Array.Resize(ref items, Math.Max(Items.Length * 2, Count + extra));
                Items = items;
            }
        }
    }
}
