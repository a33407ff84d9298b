using System.Diagnostics;

namespace KvBlockPool.Prefix;

/// <summary>
/// The prefix cache's state in one configuration of the pool: every cached chunk (one block per layer, a content
/// key, a reference count), the index from key to chunk, and the least-recently-used list of unreferenced chunks.
/// Block ids are the pool's; this table does not know the blocks' other state.
/// </summary>
/// <remarks>
/// Takes no lock of its own: the pool calls it under its gate. Everything is preallocated for the most chunks the
/// pool can hold (capacity / layers), so nothing here allocates after construction.
/// </remarks>
internal sealed class ChunkTable
{
    private const int None = -1;

    private readonly int _layers;
    private readonly KvChunkKey[] _key;
    private readonly KvChunkKey[] _parent;
    private readonly KvChunkKey[] _root;       // the chain's root: names the context in events
    private readonly int[] _refs;          // None: the slot holds no chunk
    private readonly int[] _priority;      // the highest priority of the agents that referenced it last
    private readonly int[] _ids;           // chunk * layers + layer
    private readonly int[] _older;         // LRU links of unreferenced chunks: towards the next victim
    private readonly int[] _newer;
    private readonly int[] _guardEpoch;    // chunks an admission is about to reference: not evicted by it
    private readonly bool[] _pinned;       // never evicted while pinned, referenced or not
    private readonly int[] _holds;         // readers copying the chunk's bytes outside the gate: not evicted meanwhile
    private readonly int[] _chunkOfBlock;  // per block id: its chunk, or None
    private readonly int[] _freeSlots;
    private readonly int[] _matched;       // the chunks of the last Match, in key order (used under the gate only)
    private readonly Dictionary<KvChunkKey, int> _index;
    private int _freeSlotCount;
    private int _oldest = None;            // the next victim
    private int _newest = None;
    private int _evictable;
    private int _pinnedCount;
    private int _epoch;

    public ChunkTable(int capacityBlocks, int layers)
    {
        int chunks = capacityBlocks / layers;
        _layers = layers;
        _key = new KvChunkKey[chunks];
        _parent = new KvChunkKey[chunks];
        _root = new KvChunkKey[chunks];
        _refs = new int[chunks];
        _priority = new int[chunks];
        _ids = new int[chunks * layers];
        _older = new int[chunks];
        _newer = new int[chunks];
        _guardEpoch = new int[chunks];
        _pinned = new bool[chunks];
        _holds = new int[chunks];
        _chunkOfBlock = new int[capacityBlocks];
        _freeSlots = new int[chunks];
        _matched = new int[chunks];
        _index = new Dictionary<KvChunkKey, int>(chunks);
        Array.Fill(_refs, None);
        Array.Fill(_chunkOfBlock, None);
        for (int i = 0; i < chunks; i++)
        {
            _freeSlots[i] = chunks - 1 - i;
        }

        _freeSlotCount = chunks;
    }

    /// <summary>Chunks cached (referenced or not).</summary>
    public int Count => _key.Length - _freeSlotCount;

    /// <summary>Blocks of every cached chunk.</summary>
    public int CachedBlocks => Count * _layers;

    /// <summary>Unreferenced chunks: what an allocation may evict.</summary>
    public int EvictableChunks => _evictable;

    /// <summary>Blocks of the unreferenced chunks.</summary>
    public int EvictableBlocks => _evictable * _layers;

    /// <summary>Pinned chunks (never evicted).</summary>
    public int PinnedChunks => _pinnedCount;

    public bool IsPinned(int chunk) => _pinned[chunk];

    /// <summary>Pins a cached chunk: an unreferenced one leaves the LRU list. Returns false when it was pinned already.</summary>
    public bool Pin(int chunk)
    {
        if (_pinned[chunk])
        {
            return false;
        }

        if (IsIdle(chunk))
        {
            Unlink(chunk);
            _evictable--;
        }

        _pinned[chunk] = true;
        _pinnedCount++;
        return true;
    }

    /// <summary>Unpins a chunk: an unreferenced one becomes evictable, the newest of its priority. Returns false when it was not pinned.</summary>
    public bool Unpin(int chunk)
    {
        if (!_pinned[chunk])
        {
            return false;
        }

        _pinned[chunk] = false;
        _pinnedCount--;
        if (IsIdle(chunk))
        {
            LinkByPriority(chunk);
            _evictable++;
        }

        return true;
    }

    /// <summary>Unpins every chunk; returns how many were pinned.</summary>
    public int UnpinAll()
    {
        int unpinned = 0;
        for (int chunk = 0; chunk < _pinned.Length && _pinnedCount > 0; chunk++)
        {
            if (_pinned[chunk] && Unpin(chunk))
            {
                unpinned++;
            }
        }

        return unpinned;
    }

    public int Layers => _layers;

    /// <summary>The chunk holding block <paramref name="id"/>, or -1.</summary>
    public int ChunkOf(int id) => _chunkOfBlock[id];

    public int RefsOf(int chunk) => _refs[chunk];

    public KvChunkKey KeyOf(int chunk) => _key[chunk];

    public KvChunkKey ParentOf(int chunk) => _parent[chunk];

    /// <summary>The chunk's block ids, one per layer.</summary>
    public ReadOnlySpan<int> BlocksOf(int chunk) => _ids.AsSpan(chunk * _layers, _layers);

    /// <summary>The chunk stored under <paramref name="key"/>, or -1.</summary>
    public int Find(KvChunkKey key) => _index.TryGetValue(key, out int chunk) ? chunk : None;

    /// <summary>How many of <paramref name="keys"/>, from the first, are cached (the longest cached prefix).</summary>
    public int CountHits(ReadOnlySpan<KvChunkKey> keys)
    {
        int hits = 0;
        while (hits < keys.Length && _index.ContainsKey(keys[hits]))
        {
            hits++;
        }

        return hits;
    }

    /// <summary>
    /// Finds the longest cached prefix of <paramref name="keys"/> (one index lookup per key), remembers its chunks
    /// (<see cref="Matched"/>) and guards them, so that <see cref="TryEvictOldest"/> passes them over until the next
    /// guard epoch. Returns the number of chunks hit; <paramref name="evictable"/> says how many of them are evictable.
    /// </summary>
    public int Match(ReadOnlySpan<KvChunkKey> keys, out int evictable)
    {
        int epoch = NextEpoch();
        int hits = 0;
        evictable = 0;
        int limit = Math.Min(keys.Length, _matched.Length);
        while (hits < limit && _index.TryGetValue(keys[hits], out int chunk))
        {
            _matched[hits++] = chunk;
            _guardEpoch[chunk] = epoch;
            if (IsIdle(chunk))
            {
                evictable++;
            }
        }

        return hits;
    }

    /// <summary>The chunks of the last <see cref="Match"/>.</summary>
    public ReadOnlySpan<int> Matched(int hits) => _matched.AsSpan(0, hits);

    /// <summary>The chunk's block for <paramref name="layer"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public int BlockOf(int chunk, int layer) => _ids[(chunk * _layers) + layer];

    /// <summary>Starts a new guard epoch with no chunk guarded.</summary>
    public void ClearGuards() => NextEpoch();

    /// <summary>Whether a new chunk can be stored: its key is not cached yet (a duplicate stays its agent's private copy).</summary>
    public bool CanStore(KvChunkKey key) => !_index.ContainsKey(key);

    /// <summary>Stores a chunk made of <paramref name="ids"/> (one block per layer, held by one agent): referenced once, indexed under <paramref name="key"/>. The caller checked <see cref="CanStore"/>.</summary>
    public int Store(KvChunkKey key, KvChunkKey parent, KvChunkKey root, ReadOnlySpan<int> ids, int priority)
    {
        Debug.Assert(CanStore(key) && ids.Length == _layers && _freeSlotCount > 0, "a new key, one block per layer, a free slot");
        int chunk = _freeSlots[--_freeSlotCount];
        _key[chunk] = key;
        _parent[chunk] = parent;
        _root[chunk] = root;
        _refs[chunk] = 1;
        _priority[chunk] = priority;
        ids.CopyTo(_ids.AsSpan(chunk * _layers, _layers));
        foreach (int id in ids)
        {
            _chunkOfBlock[id] = chunk;
        }

        _index.Add(key, chunk);
        return chunk;
    }

    /// <summary>One more agent references the chunk; an unreferenced chunk leaves the LRU list.</summary>
    public void AddRef(int chunk)
    {
        if (IsIdle(chunk))
        {
            Unlink(chunk);
            _evictable--;
        }

        _refs[chunk]++;
    }

    /// <summary>
    /// One agent drops its reference; a chunk no agent references becomes evictable, the newest in its priority
    /// (the list is kept ordered by priority, then by recency, so the lowest priority goes first).
    /// </summary>
    public void Release(int chunk, int priority)
    {
        Debug.Assert(_refs[chunk] > 0, "only a referenced chunk is released");
        _priority[chunk] = Math.Max(_priority[chunk], priority);
        _refs[chunk]--;
        if (IsIdle(chunk))
        {
            LinkByPriority(chunk);
            _evictable++;
        }
    }

    /// <summary>A reader will copy the chunk's bytes outside the gate: an unreferenced chunk leaves the LRU list until the hold goes.</summary>
    public void AddHold(int chunk)
    {
        if (IsIdle(chunk))
        {
            Unlink(chunk);
            _evictable--;
        }

        _holds[chunk]++;
    }

    /// <summary>A reader is done with the chunk; one no agent references, no pin and no other reader holds becomes evictable again.</summary>
    public void ReleaseHold(int chunk)
    {
        Debug.Assert(_holds[chunk] > 0, "only a held chunk is let go");
        _holds[chunk]--;
        if (IsIdle(chunk))
        {
            LinkByPriority(chunk);
            _evictable++;
        }
    }

    /// <summary>Readers holding the chunk now (for the checker and the tests).</summary>
    public int HoldsOf(int chunk) => _holds[chunk];

    /// <summary>Evictable: cached, and no agent, pin or reader holds it.</summary>
    private bool IsIdle(int chunk) => _refs[chunk] == 0 && _holds[chunk] == 0 && !_pinned[chunk];

    /// <summary>Whether the chunk holds a reference that <see cref="Release"/> may drop (the pool checks before it changes anything).</summary>
    public bool IsReferenced(int chunk) => _refs[chunk] > 0;

    /// <summary>
    /// Evicts the least recently used unreferenced chunk not guarded by the current epoch: its key leaves the index
    /// first, then its ids are written to <paramref name="ids"/> (one per layer) for the pool to retire. False when
    /// nothing is evictable.
    /// </summary>
    public bool TryEvictOldest(Span<int> ids, out KvChunkKey key, bool evenIfGuarded = false)
    {
        key = default;
        int chunk = _oldest;
        while (chunk != None && !evenIfGuarded && _guardEpoch[chunk] == _epoch)
        {
            chunk = _newer[chunk];
        }

        if (chunk == None)
        {
            return false;
        }

        Unlink(chunk);
        _evictable--;
        key = _key[chunk];
        Remove(chunk, ids);
        return true;
    }

    /// <summary>The oldest evictable chunk, or -1 (for the mutants and the checker).</summary>
    public int Oldest => _oldest;

    /// <summary>Forgets a chunk whatever its count (used only by the test mutants, which must be caught).</summary>
    public void RemoveUnchecked(int chunk, Span<int> ids, bool keepKey)
    {
        if (IsIdle(chunk))
        {
            Unlink(chunk);
            _evictable--;
        }

        if (keepKey)
        {
            KvChunkKey key = _key[chunk];
            Remove(chunk, ids);
            _index[key] = chunk; // the bug the scenario must catch: a key that outlives its chunk
            return;
        }

        Remove(chunk, ids);
    }

    /// <summary>
    /// Checks the table against the references the agents' lists hold (<paramref name="listed"/>: per chunk, how
    /// many agents list it): counts, the LRU list, the index and the block map agree. Null when they do.
    /// </summary>
    public string? FindViolation(int[] listed)
    {
        int live = 0, unreferenced = 0, pinned = 0;
        for (int chunk = 0; chunk < _key.Length; chunk++)
        {
            if (_refs[chunk] == None)
            {
                if (listed[chunk] != 0)
                {
                    return $"an agent lists blocks of chunk slot {chunk}, which holds no chunk";
                }

                continue;
            }

            live++;
            if (_refs[chunk] != listed[chunk])
            {
                return $"chunk {_key[chunk]} counts {_refs[chunk]} references but {listed[chunk]} agents list it";
            }

            if (_holds[chunk] < 0)
            {
                return $"chunk {_key[chunk]} counts {_holds[chunk]} readers holding it";
            }

            if (_pinned[chunk])
            {
                pinned++;
            }

            if (IsIdle(chunk))
            {
                unreferenced++;
            }

            if (!_index.TryGetValue(_key[chunk], out int indexed) || indexed != chunk)
            {
                return $"chunk {_key[chunk]} is not in the index under its key";
            }

            foreach (int id in BlocksOf(chunk))
            {
                if (_chunkOfBlock[id] != chunk)
                {
                    return $"block {id} of chunk {_key[chunk]} maps to chunk slot {_chunkOfBlock[id]}";
                }
            }
        }

        if (live != Count || _index.Count != live)
        {
            return $"{live} chunks are live, {Count} are counted and {_index.Count} keys are indexed";
        }

        if (pinned != _pinnedCount)
        {
            return $"{pinned} chunks are pinned but {_pinnedCount} are counted";
        }

        return unreferenced != _evictable ? $"{unreferenced} chunks are unreferenced, unpinned and not held but {_evictable} are counted evictable" : FindListViolation();
    }

    /// <summary>Every block mapped to a chunk is one of that chunk's blocks.</summary>
    public string? FindBlockMapViolation()
    {
        int mapped = 0;
        for (int id = 0; id < _chunkOfBlock.Length; id++)
        {
            int chunk = _chunkOfBlock[id];
            if (chunk == None)
            {
                continue;
            }

            mapped++;
            if (_refs[chunk] == None || !BlocksOf(chunk).Contains(id))
            {
                return $"block {id} maps to chunk slot {chunk}, which does not hold it";
            }
        }

        return mapped != CachedBlocks ? $"{mapped} blocks map to chunks but {CachedBlocks} are cached" : null;
    }

    /// <summary>Every cached chunk's key, parent and root (for a subscriber that resynchronises).</summary>
    public List<(KvChunkKey Key, KvChunkKey Parent, KvChunkKey Root)> ListKeys()
    {
        var keys = new List<(KvChunkKey, KvChunkKey, KvChunkKey)>(Count);
        for (int chunk = 0; chunk < _key.Length; chunk++)
        {
            if (_refs[chunk] != None)
            {
                keys.Add((_key[chunk], _parent[chunk], _root[chunk]));
            }
        }

        return keys;
    }

    /// <summary>A canonical text of the cache, for "nothing changed" assertions.</summary>
    public void Describe(System.Text.StringBuilder text)
    {
        text.Append("chunks=").Append(Count).Append(";evictable=").Append(_evictable).Append(";lru=");
        for (int chunk = _oldest; chunk != None; chunk = _newer[chunk])
        {
            text.Append(_key[chunk]).Append(',');
        }

        text.Append(";refs=");
        for (int chunk = 0; chunk < _key.Length; chunk++)
        {
            if (_refs[chunk] != None)
            {
                text.Append(_key[chunk]).Append(':').Append(_refs[chunk]).Append('/').Append(_priority[chunk]).Append(_pinned[chunk] ? "/pinned" : string.Empty).Append('[').AppendJoin(',', BlocksOf(chunk).ToArray()).Append("],");
            }
        }

        text.Append(';');
    }

    private string? FindListViolation()
    {
        int walked = 0;
        int previous = None;
        for (int chunk = _oldest; chunk != None; chunk = _newer[chunk])
        {
            if (_refs[chunk] != 0 || _pinned[chunk] || _older[chunk] != previous || ++walked > _evictable)
            {
                return $"the LRU list is broken at chunk slot {chunk}";
            }

            if (previous != None && _priority[previous] > _priority[chunk])
            {
                return $"the LRU list puts priority {_priority[previous]} before {_priority[chunk]}";
            }

            previous = chunk;
        }

        return previous != _newest || walked != _evictable ? "the LRU list's ends or length are wrong" : null;
    }

    private void Remove(int chunk, Span<int> ids)
    {
        _index.Remove(_key[chunk]);
        ReadOnlySpan<int> blocks = BlocksOf(chunk);
        blocks.CopyTo(ids);
        foreach (int id in blocks)
        {
            _chunkOfBlock[id] = None;
        }

        if (_pinned[chunk])
        {
            _pinned[chunk] = false; // only the mutants remove a pinned chunk
            _pinnedCount--;
        }

        _refs[chunk] = None;
        _holds[chunk] = 0;
        _key[chunk] = default;
        _parent[chunk] = default;
        _root[chunk] = default;
        _priority[chunk] = 0;
        _freeSlots[_freeSlotCount++] = chunk;
    }

    private void LinkByPriority(int chunk)
    {
        // Newest within its priority: after every chunk of the same or lower priority, before the first higher one.
        // Priorities are few and the walk starts from the newest end, so the common case (one priority) is O(1).
        int after = _newest;
        while (after != None && _priority[after] > _priority[chunk])
        {
            after = _older[after];
        }

        int before = after == None ? _oldest : _newer[after];
        _older[chunk] = after;
        _newer[chunk] = before;
        if (after == None)
        {
            _oldest = chunk;
        }
        else
        {
            _newer[after] = chunk;
        }

        if (before == None)
        {
            _newest = chunk;
        }
        else
        {
            _older[before] = chunk;
        }
    }

    private void Unlink(int chunk)
    {
        int older = _older[chunk], newer = _newer[chunk];
        if (older == None)
        {
            _oldest = newer;
        }
        else
        {
            _newer[older] = newer;
        }

        if (newer == None)
        {
            _newest = older;
        }
        else
        {
            _older[newer] = older;
        }

        _older[chunk] = None;
        _newer[chunk] = None;
    }

    private int NextEpoch()
    {
        int epoch = unchecked(++_epoch);
        if (epoch == 0)
        {
            epoch = ++_epoch; // 0 is what a fresh slot holds
        }

        return epoch;
    }
}
