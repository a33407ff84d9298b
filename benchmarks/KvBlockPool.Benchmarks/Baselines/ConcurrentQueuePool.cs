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

    /// <summary>Rents one id per element of <paramref name="ids"/> (a dequeue each), then returns them all (an enqueue each).</summary>
    /// <returns>The first id rented.</returns>
    public int RentAndReturnMany(Span<int> ids)
    {
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = Rent();
        }

        foreach (int id in ids)
        {
            Return(id);
        }

        return ids[0];
    }
}
