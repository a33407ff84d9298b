namespace KvBlockPool.Tests.Prefix;

/// <summary>
/// The prefix cache as plainly as it can be said: a dictionary of chunks by key (the key is the prefix's tokens as
/// text) with reference counts, and eviction by the smallest (priority, time it became unreferenced). The pool's
/// linked LRU list, index and owner words must agree with this after every operation.
/// </summary>
internal sealed class PrefixReferenceModel(int capacity, int layers, int tokensPerChunk)
{
    private readonly Dictionary<string, ModelChunk> _chunks = [];
    private readonly Dictionary<int, ModelAgent> _agents = [];
    private long _clock;

    public int Free { get; private set; } = capacity;

    public int CachedChunks => _chunks.Count;

    public int EvictableChunks => _chunks.Values.Count(c => c.Refs == 0);

    public long Evicted { get; private set; }

    public bool IsAdmitted(int agent) => _agents.ContainsKey(agent);

    public int Tokens(int agent) => _agents[agent].Tokens.Count;

    public IEnumerable<int> Agents => _agents.Keys;

    /// <summary>Admits; returns the hit tokens, or -1 when free and evictable (non-hit) blocks cannot cover the rest.</summary>
    public int Admit(int agent, IReadOnlyList<int> prompt, int priority)
    {
        int perLayer = (prompt.Count + tokensPerChunk - 1) / tokensPerChunk;
        int hittable = prompt.Count == 0 ? 0 : (prompt.Count - 1) / tokensPerChunk;
        var hits = new List<string>();
        while (hits.Count < hittable && _chunks.ContainsKey(KeyOf(prompt, hits.Count)))
        {
            hits.Add(KeyOf(prompt, hits.Count));
        }

        int need = (perLayer - hits.Count) * layers;
        if (!MakeRoom(need, hits))
        {
            return -1;
        }

        var record = new ModelAgent(priority);
        record.Tokens.AddRange(prompt);
        for (int index = 0; index < hits.Count; index++)
        {
            _chunks[hits[index]].Refs++;
            record.Shared.Add(index, hits[index]);
        }

        record.Own = perLayer - hits.Count;
        record.Published = hits.Count;
        Free -= need;
        _agents.Add(agent, record);
        return hits.Count * tokensPerChunk;
    }

    /// <summary>Appends a token (a new block on every layer when the last is full), then publishes what the earlier tokens filled. False when refused.</summary>
    public bool AppendToken(int agent, int token)
    {
        ModelAgent record = _agents[agent];
        int computed = record.Tokens.Count;
        if (computed % tokensPerChunk == 0)
        {
            if (!MakeRoom(layers, []))
            {
                return false;
            }

            Free -= layers;
            record.Own++;
        }

        Publish(agent, computed);
        record.Tokens.Add(token);
        return true;
    }

    /// <summary>Publishes the agent's full chunks among its first <paramref name="computed"/> tokens; returns how many were stored.</summary>
    public int Publish(int agent, int computed)
    {
        ModelAgent record = _agents[agent];
        int full = computed / tokensPerChunk;
        int stored = 0;
        for (int index = record.Published; index < full; index++)
        {
            if (record.Shared.ContainsKey(index))
            {
                continue; // a hit: already the cache's
            }

            string key = KeyOf(record.Tokens, index);
            if (_chunks.ContainsKey(key))
            {
                continue; // another agent's copy is cached: this one stays the agent's own
            }

            _chunks.Add(key, new ModelChunk { Refs = 1, Priority = record.Priority });
            record.Shared.Add(index, key);
            record.Own--;
            stored++;
        }

        record.Published = Math.Max(record.Published, full);
        return stored;
    }

    /// <summary>Releases: references dropped tail first, own blocks freed. Returns the blocks the agent held.</summary>
    public int Release(int agent)
    {
        ModelAgent record = _agents[agent];
        foreach (string key in record.Shared.Reverse().Select(pair => pair.Value))
        {
            Unreference(key, record.Priority); // tail first
        }

        Free += record.Own * layers;
        _agents.Remove(agent);
        return (record.Own + record.Shared.Count) * layers;
    }

    /// <summary>Evicts every unreferenced chunk; returns how many.</summary>
    public int Reset()
    {
        string[] victims = [.. _chunks.Where(c => c.Value.Refs == 0).Select(c => c.Key)];
        foreach (string key in victims)
        {
            _chunks.Remove(key);
            Free += layers;
        }

        Evicted += victims.Length;
        return victims.Length;
    }

    private void Unreference(string key, int priority)
    {
        ModelChunk chunk = _chunks[key];
        chunk.Priority = Math.Max(chunk.Priority, priority);
        if (--chunk.Refs == 0)
        {
            chunk.UnreferencedAt = ++_clock;
        }
    }

    private bool MakeRoom(int need, List<string> guarded)
    {
        if (Free >= need)
        {
            return true;
        }

        List<KeyValuePair<string, ModelChunk>> evictable = [.. _chunks.Where(c => c.Value.Refs == 0 && !guarded.Contains(c.Key)).OrderBy(c => c.Value.Priority).ThenBy(c => c.Value.UnreferencedAt)];
        if (Free + (evictable.Count * layers) < need)
        {
            return false;
        }

        int chunks = (need - Free + layers - 1) / layers;
        foreach (KeyValuePair<string, ModelChunk> victim in evictable.Take(chunks))
        {
            _chunks.Remove(victim.Key);
            Free += layers;
            Evicted++;
        }

        return true;
    }

    private string KeyOf(IReadOnlyList<int> tokens, int chunk) => string.Join(',', tokens.Take((chunk + 1) * tokensPerChunk));

    private sealed class ModelChunk
    {
        public int Refs { get; set; }

        public int Priority { get; set; }

        public long UnreferencedAt { get; set; }
    }

    private sealed class ModelAgent(int priority)
    {
        public List<int> Tokens { get; } = [];

        public SortedDictionary<int, string> Shared { get; } = [];

        public int Own { get; set; }

        public int Published { get; set; }

        public int Priority { get; } = priority;
    }
}
