using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// MUTANT, test-only and deliberately broken: the allocation path of the original incident. It checks that
/// enough blocks are free, lets go of the lock, and only then pops them — so two callers can both pass the
/// check, and the second pops an empty stack (a crash) or takes a block the first already took (two agents
/// writing one KV block). Its bookkeeping otherwise mirrors the pool's: a free stack in an int array, owners
/// per block, counts per agent and layer.
/// </summary>
internal sealed class CheckThenPopSource : IBlockSource
{
    private readonly object _gate = new();
    private readonly CheckThenPopStyle _style;
    private readonly int[] _freeStack;
    private readonly long[] _owner;
    private readonly Dictionary<(AgentId Agent, int Layer), int> _counts = [];
    private int _freeCount;

    public CheckThenPopSource(int capacity, CheckThenPopStyle style)
    {
        _style = style;
        _freeStack = new int[capacity];
        _owner = new long[capacity];
        for (int i = 0; i < capacity; i++)
        {
            _freeStack[i] = capacity - 1 - i;
        }

        _freeCount = capacity;
    }

    public int Capacity => _freeStack.Length;

    public int AvailableBlocks
    {
        get
        {
            lock (_gate)
            {
                return _freeCount;
            }
        }
    }

    public KvBlock[] Allocate(AgentId agent, int layer, int count)
    {
        lock (_gate)
        {
            if (_freeCount < count)
            {
                throw new BlockPoolExhaustedException(count, _freeCount, Capacity);
            }
        }

        // THE BUG: the lock is not held across the check above and the pops below.
        var blocks = new KvBlock[count];
        if (_style == CheckThenPopStyle.SecondLock)
        {
            lock (_gate)
            {
                Pop(agent, layer, blocks);
            }
        }
        else
        {
            Pop(agent, layer, blocks);
        }

        return blocks;
    }

    public void Free(AgentId agent, ReadOnlySpan<KvBlock> blocks)
    {
        lock (_gate)
        {
            foreach (KvBlock block in blocks)
            {
                _owner[block.Id] = 0;
                _freeStack[_freeCount++] = block.Id;
                _counts[(agent, block.Layer)]--;
            }
        }
    }

    public int GetBlockCount(AgentId agent, int layer)
    {
        lock (_gate)
        {
            return _counts.GetValueOrDefault((agent, layer));
        }
    }

    public string? FindInvariantViolation()
    {
        lock (_gate)
        {
            if (_freeCount < 0 || _freeCount > Capacity)
            {
                return $"free count {_freeCount} is outside 0..{Capacity}";
            }

            int held = _counts.Values.Sum();
            return _freeCount + held == Capacity ? null : $"available {_freeCount} + held {held} != capacity {Capacity}";
        }
    }

    private void Pop(AgentId agent, int layer, Span<KvBlock> blocks)
    {
        for (int i = 0; i < blocks.Length; i++)
        {
            int id = _freeStack[--_freeCount];
            _owner[id] = agent.Value;
            blocks[i] = new KvBlock(id, layer, 1, poolStamp: 1);
        }

        lock (_gate)
        {
            _counts[(agent, layer)] = _counts.GetValueOrDefault((agent, layer)) + blocks.Length;
        }
    }
}
