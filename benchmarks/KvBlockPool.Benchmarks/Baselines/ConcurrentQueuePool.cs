using System.Collections.Concurrent;

namespace KvBlockPool.Benchmarks.Baselines;

/// <summary>The pool a .NET user might write first: free block ids in a <see cref="ConcurrentQueue{T}"/>, nothing else.</summary>
internal sealed class ConcurrentQueuePool
{
    private readonly ConcurrentQueue<int> _free = new();

    public ConcurrentQueuePool(int capacity)
    {
        for (int i = 0; i < capacity; i++)
        {
            _free.Enqueue(i);
        }
    }

    public int Rent() => _free.TryDequeue(out int id) ? id : throw new InvalidOperationException("The queue pool is empty.");

    public void Return(int id) => _free.Enqueue(id);
}
