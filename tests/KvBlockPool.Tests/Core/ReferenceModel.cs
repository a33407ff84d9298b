namespace KvBlockPool.Tests.Core;

/// <summary>
/// A deliberately simple model of what a pool should do: plain lists and dictionaries, no tricks. The model-based
/// test runs the same operations against it and the real pool and compares them after every step.
/// </summary>
internal sealed class ReferenceModel
{
    /// <summary>Who holds a block: an agent (<see cref="Scope"/> -1) or an open scope (its number).</summary>
    public readonly record struct Holder(long Agent, int Scope, int Layer);

    public ReferenceModel(int capacity, int layers, BlockClearMode clearMode, bool diagnostics)
    {
        Capacity = capacity;
        ClearMode = clearMode;
        Diagnostics = diagnostics;
        Reset(layers);
    }

    public int Capacity { get; }

    public int Layers { get; private set; }

    public BlockClearMode ClearMode { get; }

    public bool Diagnostics { get; }

    /// <summary>The free stack; the last element is handed out next.</summary>
    public List<int> Free { get; } = [];

    public uint[] Generation { get; private set; } = [];

    public Holder?[] HeldBy { get; private set; } = [];

    /// <summary>The byte every byte of the block holds (tests only ever fill whole blocks); -1 while unspecified.</summary>
    public int[] Content { get; private set; } = [];

    public SortedDictionary<long, List<int>[]> Agents { get; } = [];

    public Dictionary<int, List<int>[]> Scopes { get; } = [];

    public int HighWater { get; private set; }

    /// <summary>The stamp of the current configuration, once a handle has shown it; null before.</summary>
    public int? Stamp { get; set; }

    public int Allocated => Capacity - Free.Count;

    public KvCacheSpec Spec() => TestPools.Spec(Layers);

    /// <summary>What a freed block reads as before any write.</summary>
    public int FreedContent(int previous) => Diagnostics ? 0xDB : ClearMode == BlockClearMode.ZeroOnFree ? 0 : previous;

    public void Reset(int layers)
    {
        Layers = layers;
        Free.Clear();
        for (int id = Capacity - 1; id >= 0; id--)
        {
            Free.Add(id);
        }

        Generation = new uint[Capacity];
        HeldBy = new Holder?[Capacity];
        Content = new int[Capacity];
        Array.Fill(Content, Diagnostics ? 0xDB : ClearMode == BlockClearMode.ZeroOnFree ? 0 : -1); // ClearMode.None: whatever the allocator gave
        HighWater = 0;
        Stamp = null;
    }

    /// <summary>Pops <paramref name="count"/> blocks for a holder; the caller has checked availability.</summary>
    public List<(int Id, uint Generation)> Pop(Holder holder, int count)
    {
        var popped = new List<(int, uint)>();
        List<int> list = ListOf(holder);
        for (int i = 0; i < count; i++)
        {
            int id = Free[^1];
            Free.RemoveAt(Free.Count - 1);
            Generation[id]++;
            HeldBy[id] = holder;
            list.Add(id);
            popped.Add((id, Generation[id]));
            if (Diagnostics && ClearMode == BlockClearMode.ZeroOnFree)
            {
                Content[id] = 0; // diagnostics zeroes the poison away at hand-out
            }
        }

        HighWater = Math.Max(HighWater, Allocated);
        return popped;
    }

    public void Release(int id)
    {
        Generation[id]++;
        HeldBy[id] = null;
        Content[id] = FreedContent(Content[id]);
        Free.Add(id);
    }

    /// <summary>Frees ids already removed from their lists, in order; forgets agents left empty.</summary>
    public void ReleaseAll(IEnumerable<int> ids)
    {
        foreach (int id in ids)
        {
            Release(id);
        }

        foreach (long agent in Agents.Where(a => a.Value.All(l => l.Count == 0)).Select(a => a.Key).ToList())
        {
            Agents.Remove(agent);
        }
    }

    public List<int> ListOf(Holder holder)
    {
        if (holder.Scope >= 0)
        {
            return Scopes[holder.Scope][holder.Layer];
        }

        if (!Agents.TryGetValue(holder.Agent, out List<int>[]? lists))
        {
            lists = NewLists();
            Agents.Add(holder.Agent, lists);
        }

        return lists[holder.Layer];
    }

    public List<int>[] NewLists() => [.. Enumerable.Range(0, Layers).Select(_ => new List<int>())];

    public int BlockCount(long agent) => Agents.TryGetValue(agent, out List<int>[]? lists) ? lists.Sum(l => l.Count) : 0;

    /// <summary>The exception type the pool must throw for freeing <paramref name="handles"/> for <paramref name="agent"/>, or null if the free is valid.</summary>
    public Type? FreeOutcome(long agent, IReadOnlyList<KvBlock> handles)
    {
        var marked = new HashSet<int>();
        foreach (KvBlock h in handles)
        {
            Type? error = HandleOutcome(h, forFree: true);
            if (error is not null)
            {
                return error;
            }

            if (!marked.Add(h.Id))
            {
                return typeof(DoubleFreeException);
            }

            Holder held = HeldBy[h.Id]!.Value;
            if (held.Scope >= 0 || held.Agent != agent || held.Layer != h.Layer)
            {
                return typeof(BlockOwnershipException);
            }
        }

        return null;
    }

    /// <summary>The exception for using <paramref name="h"/> (free, when <paramref name="forFree"/>, stops short of the ownership checks).</summary>
    public Type? HandleOutcome(KvBlock h, bool forFree)
    {
        if (h.IsDefault || Stamp is null || h.PoolStamp != Stamp || (uint)h.Id >= (uint)Capacity || (uint)h.Layer >= (uint)Layers)
        {
            return typeof(ForeignBlockHandleException);
        }

        uint current = Generation[h.Id];
        if (current != h.Generation)
        {
            bool freed = current == h.Generation + 1 && HeldBy[h.Id] is null;
            return freed && forFree ? typeof(DoubleFreeException) : typeof(StaleBlockHandleException);
        }

        if (HeldBy[h.Id] is null)
        {
            return typeof(BlockOwnershipException); // a forged handle to a free block
        }

        return !forFree && HeldBy[h.Id]!.Value.Layer != h.Layer ? typeof(BlockOwnershipException) : null;
    }
}
