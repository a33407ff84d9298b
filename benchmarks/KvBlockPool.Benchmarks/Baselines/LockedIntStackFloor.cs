namespace KvBlockPool.Benchmarks.Baselines;

/// <summary>
/// The floor no locked pool can beat: a <c>lock</c> on a private object around an <c>int</c> stack pop or
/// push and one state write per block. No validation, no owners, no handles.
/// </summary>
internal sealed class LockedIntStackFloor
{
    private readonly object _gate = new();
    private readonly int[] _stack;
    private readonly byte[] _state;
    private int _count;

    public LockedIntStackFloor(int capacity)
    {
        _stack = new int[capacity];
        _state = new byte[capacity];
        for (int i = 0; i < capacity; i++)
        {
            _stack[i] = capacity - 1 - i;
        }

        _count = capacity;
    }

    public int Pop()
    {
        lock (_gate)
        {
            int id = _stack[--_count];
            _state[id] = 1;
            return id;
        }
    }

    public void Push(int id)
    {
        lock (_gate)
        {
            _state[id] = 0;
            _stack[_count++] = id;
        }
    }

    public void PopMany(Span<int> ids)
    {
        lock (_gate)
        {
            for (int i = 0; i < ids.Length; i++)
            {
                int id = _stack[--_count];
                _state[id] = 1;
                ids[i] = id;
            }
        }
    }

    public void PushMany(ReadOnlySpan<int> ids)
    {
        lock (_gate)
        {
            foreach (int id in ids)
            {
                _state[id] = 0;
                _stack[_count++] = id;
            }
        }
    }
}
