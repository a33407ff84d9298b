using System.Buffers;
using System.Globalization;
using KvBlockPool.Core;
using KvBlockPool.Prefix;

namespace KvBlockPool;

/// <content>The prefix cache's operations on the pool's state: admission with hits, publishing, eviction, truncation.</content>
public sealed partial class BlockPool
{
    /// <summary>The owner the scrubber is told about for an evicted chunk's blocks (no agent holds them): default(AgentId).</summary>
    private static AgentId CacheOwner => default;

    /// <summary>A bug planted by the systematic tests' mutants; <see cref="PrefixMutant.None"/> otherwise.</summary>
    internal PrefixMutant Mutant { get; set; }

    /// <summary>
    /// Admits <paramref name="agent"/> (which must hold nothing) with <paramref name="blocksPerLayer"/> blocks on every
    /// layer: the longest cached prefix of <paramref name="keys"/> is referenced (its blocks first, in order), the rest
    /// allocated, evicting unreferenced chunks least recently used first when the free blocks do not suffice. All or
    /// nothing: refused (nothing evicted, nothing referenced) when free and evictable blocks cannot cover the request.
    /// <paramref name="destination"/> is layer-major. Returns the number of chunks hit, or -1 when refused without throwing.
    /// </summary>
    internal int AdmitWithPrefix(AgentId agent, ReadOnlySpan<KvChunkKey> keys, int blocksPerLayer, int priority, int promptTokens, Span<KvBlock> destination, bool throwOnExhaustion)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerLayer);
        if (keys.Length > blocksPerLayer)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{keys.Length} chunk keys name more blocks than the {blocksPerLayer} per layer requested."), nameof(keys));
        }

        var stack = _scrubber.CaptureAllocationStack();
        while (true)
        {
            int requested, available, capacity;
            KvBlock[]? victims = null;
            int victimCount = 0;
            lock (_gate)
            {
                _guard.ThrowIfClosed();
                BlockTable table = _table;
                ChunkTable chunks = ChunksOrThrow(table);
                long wanted = (long)blocksPerLayer * table.Layers;
                if (destination.Length != wanted)
                {
                    ThrowHelper.ThrowDestinationLength(nameof(destination), wanted, destination.Length, blocksPerLayer, table.Layers);
                }

                if (_owners.TryFindAgent(agent, out OwnerRecord? existing))
                {
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{agent} already holds {existing.BlockCount} block(s); a prefix admission starts an agent's cache. Release it first, or use another id. Nothing changed."), nameof(agent));
                }

                ThrowIfOwnerTableFull(table);
                int hits = chunks.Match(keys, out int guarded);
                guarded *= table.Layers;
                requested = (blocksPerLayer - hits) * table.Layers;
                available = table.FreeCount;
                if (available < requested && available + chunks.EvictableBlocks - guarded >= requested)
                {
                    if (EvictUnderGate(table, chunks, requested - available, ref victims, out victimCount))
                    {
                        goto Scrub; // leaves the lock: the victims are scrubbed outside the gate, then the admission starts over
                    }

                    available = table.FreeCount;
                }

                if (available >= requested)
                {
                    ReferenceAndAllocate(agent, table, chunks, hits, blocksPerLayer, priority, destination, stack);
                    _prefixCounters.Lookup(promptTokens, hits * table.Spec.TokensPerBlock);
                    PublishCounts(table);
                    _metrics.Allocated(requested);
                    return hits;
                }

                chunks.ClearGuards();
                available = table.AvailableCount;
                capacity = table.Capacity;
            }

            _metrics.AllocationFailed();
            if (throwOnExhaustion)
            {
                throw new BlockPoolExhaustedException(requested, available, capacity);
            }

            return -1;

        Scrub:
            ScrubVictims(victims!, victimCount);
        }
    }

    /// <summary>Sets the eviction priority an agent's chunks get once unreferenced (a restored agent's, which no admission set).</summary>
    internal void SetPrefixPriority(AgentId agent, int priority)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            if (_owners.TryFindAgent(agent, out OwnerRecord? record))
            {
                record.Priority = priority;
            }
        }
    }

    /// <summary>
    /// Publishes the agent's blocks at block indexes <paramref name="firstBlock"/>, … (one chunk per key, every layer)
    /// under <paramref name="keys"/>, the first chained from <paramref name="parent"/>: each becomes a cached chunk the
    /// agent references. A block already cached is passed over; a key already cached by another agent's copy leaves
    /// this agent's block its own (both copies are kept). Returns the number of chunks stored.
    /// </summary>
    internal int PublishChunks(AgentId agent, int firstBlock, ReadOnlySpan<KvChunkKey> keys, KvChunkKey parent, KvChunkKey root)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstBlock);
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable table = _table;
            ChunkTable chunks = ChunksOrThrow(table);
            if (!_owners.TryFindAgent(agent, out OwnerRecord? record))
            {
                throw new KeyNotFoundException($"{agent} holds no blocks in pool '{Name}'; nothing was published.");
            }

            for (int layer = 0; layer < table.Layers; layer++)
            {
                if ((long)firstBlock + keys.Length > record.Layers[layer].Count)
                {
                    throw new ArgumentOutOfRangeException(
                        nameof(keys),
                        string.Create(CultureInfo.InvariantCulture, $"{agent} holds {record.Layers[layer].Count} block(s) on layer {layer}; chunks {firstBlock} to {firstBlock + keys.Length - 1} cannot be published. Nothing was published."));
                }
            }

            int stored = 0, duplicates = 0;
            Span<int> ids = table.Layers <= 256 ? stackalloc int[table.Layers] : new int[table.Layers];
            for (int i = 0; i < keys.Length; i++, parent = keys[i - 1])
            {
                int index = firstBlock + i;
                if (table.IsCached(record.Layers[0].Items[index]))
                {
                    continue;
                }

                if (!chunks.CanStore(keys[i]))
                {
                    duplicates++;
                    continue;
                }

                for (int layer = 0; layer < ids.Length; layer++)
                {
                    ids[layer] = record.Layers[layer].Items[index];
                    table.Share(ids[layer], layer);
                }

                chunks.Store(keys[i], parent, root, ids, record.Priority);
                _prefixEvents!.Stored(keys[i], parent, root, table.Spec.TokensPerBlock);
                record.SharedBlocks += ids.Length;
                stored++;
            }

            _prefixCounters.Stored(stored, duplicates);
            return stored;
        }
    }

    /// <summary>
    /// Shortens <paramref name="agent"/>'s lists to <paramref name="keepPerLayer"/> blocks on every layer: its own
    /// blocks in the tail are freed (scrubbed outside the gate), its references to cached chunks in the tail dropped.
    /// When the cache ends inside the last kept block (<paramref name="lastKeptIsPartial"/>) and that block is a shared
    /// chunk, the agent gets its own copy of it first (copy-on-write: one fresh block per layer, evicting unreferenced
    /// chunks if it must, refused with <see cref="BlockPoolExhaustedException"/> and nothing changed if it cannot), so
    /// its next token is written into a block no other agent reads; the copies' handles go to <paramref name="copies"/>
    /// (one per layer) and <paramref name="copied"/> says so. Returns the blocks removed from the agent.
    /// </summary>
    internal int TruncateAgent(AgentId agent, int keepPerLayer, bool lastKeptIsPartial, Span<KvBlock> copies, out bool copied)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keepPerLayer);
        copied = false;
        var stack = _scrubber.CaptureAllocationStack();
        while (true)
        {
            KvBlock[]? victims = null;
            int victimCount = 0;
            KvBlock[] detached;
            int freed, removed;
            bool deferred;
            lock (_gate)
            {
                _guard.ThrowIfClosed();
                if (!_owners.TryFindAgent(agent, out OwnerRecord? record))
                {
                    return 0;
                }

                _guard.ThrowIfPinned(agent);
                BlockTable table = _table;
                for (int layer = 0; layer < record.LayerCount; layer++)
                {
                    int count = record.Layers[layer].Count;
                    if (keepPerLayer > count)
                    {
                        throw new ArgumentOutOfRangeException(nameof(keepPerLayer), keepPerLayer, string.Create(CultureInfo.InvariantCulture, $"{agent} holds {count} block(s) on layer {layer}; it cannot keep {keepPerLayer}. Nothing changed."));
                    }
                }

                if (lastKeptIsPartial && keepPerLayer > 0 && table.IsCached(record.Layers[0].Items[keepPerLayer - 1]))
                {
                    int requested = table.Layers;
                    int available = table.FreeCount;
                    ChunkTable chunks = table.Chunks!;
                    if (available < requested && available + chunks.EvictableBlocks >= requested)
                    {
                        if (EvictUnderGate(table, chunks, requested - available, ref victims, out victimCount))
                        {
                            goto Scrub; // the victims are scrubbed outside the gate, then the truncation starts over
                        }

                        available = table.FreeCount;
                    }

                    if (available < requested)
                    {
                        _metrics.AllocationFailed();
                        throw new BlockPoolExhaustedException(requested, table.AvailableCount, table.Capacity);
                    }

                    if (copies.Length < table.Layers)
                    {
                        throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{copies.Length} slots for the copies' handles; {table.Layers} are needed. Nothing changed."), nameof(copies));
                    }

                    record.Reserve(0, table.Layers - 1, 1); // the copy passes through the end of each list
                    CopyOnWrite(record, table, chunks, keepPerLayer - 1, copies, stack);
                    copied = true;
                }

                removed = TruncateUnderGate(agent, record, table, keepPerLayer, out detached, out freed, out deferred);
            }

            FinishTruncation(agent, detached, freed, deferred);
            return removed;

        Scrub:
            ScrubVictims(victims!, victimCount);
        }
    }

    /// <summary>
    /// Gives the agent its own copy of the shared chunk at <paramref name="index"/> on every layer, in place, and drops
    /// its reference to the chunk. Under the gate, after the free blocks were counted: nothing here can fail. The copy
    /// is one block per layer, made under the gate: a truncation inside a shared chunk is rare, and the chunk's bytes
    /// cannot change meanwhile (a cached chunk is read-only, and the agent's reference keeps it from eviction).
    /// </summary>
    private unsafe void CopyOnWrite(OwnerRecord record, BlockTable table, ChunkTable chunks, int index, Span<KvBlock> copies, System.Diagnostics.StackTrace? stack)
    {
        _scrubber.BeforeHandout(table, table.Layers);
        int chunk = chunks.ChunkOf(record.Layers[0].Items[index]);
        int bytes = table.Spec.BytesPerBlock;
        for (int layer = 0; layer < table.Layers; layer++)
        {
            ref BlockList list = ref record.Layers[layer];
            int shared = list.Items[index];
            Span<KvBlock> fresh = copies.Slice(layer, 1);
            table.PopInto(record, layer, fresh); // appended to the list, and counted as the agent's block
            _scrubber.OnAllocated(fresh, stack, record, firstForOwner: false);
            if (Mutant != PrefixMutant.CopyOnWriteWithoutCopy)
            {
                new ReadOnlySpan<byte>((void*)table.Addressing.GetBlockAddress(shared), bytes)
                    .CopyTo(new Span<byte>((void*)table.Addressing.GetBlockAddress(fresh[0].Id), bytes));
            }

            list.Items[index] = fresh[0].Id;
            list.Count--;
        }

        // The shared blocks leave the agent's lists: the count PopInto raised goes back, the reference is dropped.
        record.BlockCount -= table.Layers;
        record.SharedBlocks -= table.Layers;
        chunks.Release(chunk, record.Priority);
        PublishCounts(table);
        _metrics.Allocated(table.Layers);
    }

    /// <summary>
    /// The truncation itself, under the gate, once every check passed: drops the tail's references and detaches its
    /// own blocks into <paramref name="detached"/> (rented; the caller returns it after finishing the release outside
    /// the gate). Returns the blocks removed from the agent.
    /// </summary>
    private int TruncateUnderGate(AgentId agent, OwnerRecord record, BlockTable table, int keepPerLayer, out KvBlock[] detached, out int freed, out bool deferred)
    {
        ChunkTable? chunks = table.Chunks;
        int tail = 0;
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            tail += record.Layers[layer].Count - keepPerLayer;
        }

        int removed = 0;
        freed = 0;
        deferred = _scrubber.ScrubsOnFree;
        detached = ArrayPool<KvBlock>.Shared.Rent(Math.Max(tail, 1));
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            ref BlockList list = ref record.Layers[layer];
            for (int index = list.Count - 1; index >= keepPerLayer; index--)
            {
                int id = list.Items[index];
                if (chunks is not null && table.IsCached(id))
                {
                    // One reference per chunk, dropped once (on its layer-0 block), tail first: LRU evicts a chain's tail before its head.
                    if (layer == 0)
                    {
                        chunks.Release(chunks.ChunkOf(id), record.Priority);
                    }

                    record.SharedBlocks--;
                }
                else
                {
                    detached[freed++] = table.HandleOf(id, layer);
                    Retire(table, id, layer, agent, deferred);
                }

                removed++;
            }

            list.Count = keepPerLayer;
        }

        record.BlockCount -= removed;
        deferred &= freed > 0;
        PublishCounts(table); // chunks whose last reference went are available now, before the scrub ends
        ForgetIfEmpty(record, table);
        EndDetach(table, deferred);
        return removed;
    }

    /// <summary>What a truncation does outside the gate: counts the freed blocks and scrubs them when the clear mode defers it.</summary>
    private void FinishTruncation(AgentId agent, KvBlock[] detached, int freed, bool deferred)
    {
        try
        {
            _metrics.Freed(freed);
            if (deferred)
            {
                FinishRelease(new ReleasedBlocks(detached.AsSpan(0, freed)), agent, recycle: null);
            }
        }
        finally
        {
            ArrayPool<KvBlock>.Shared.Return(detached);
        }
    }

    /// <summary>Evicts every unreferenced chunk; returns how many. Blocks are scrubbed outside the gate as a free's are.</summary>
    internal int ResetPrefixCache()
    {
        int evicted = 0;
        while (true)
        {
            KvBlock[]? victims = null;
            int victimCount;
            lock (_gate)
            {
                _guard.ThrowIfClosed();
                BlockTable table = _table;
                ChunkTable chunks = ChunksOrThrow(table);
                if (chunks.EvictableChunks == 0)
                {
                    return evicted;
                }

                chunks.ClearGuards();
                evicted += chunks.EvictableChunks;
                if (!EvictUnderGate(table, chunks, chunks.EvictableBlocks, ref victims, out victimCount))
                {
                    return evicted;
                }
            }

            ScrubVictims(victims!, victimCount);
        }
    }

    /// <summary>
    /// Pins the longest cached prefix of <paramref name="keys"/>: those chunks are never evicted until unpinned. All
    /// or nothing: refused when the pinned chunks would hold more than the configured share of the pool. Returns the
    /// chunks pinned now (those pinned already are not counted).
    /// </summary>
    internal int PinPrefix(ReadOnlySpan<KvChunkKey> keys)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable table = _table;
            ChunkTable chunks = ChunksOrThrow(table);
            int hits = chunks.CountHits(keys);
            int fresh = 0;
            for (int i = 0; i < hits; i++)
            {
                fresh += chunks.IsPinned(chunks.Find(keys[i])) ? 0 : 1;
            }

            long limit = (long)(_maxPinnedShare * table.Capacity);
            long wanted = (long)(chunks.PinnedChunks + fresh) * table.Layers;
            if (wanted > limit)
            {
                throw new InvalidOperationException(string.Create(
                    CultureInfo.InvariantCulture,
                    $"Pinning {fresh} more chunk(s) would make {wanted} of pool '{Name}''s {table.Capacity} blocks pinned, more than the {limit} its MaxPinnedShare of {_maxPinnedShare} allows. Unpin other prefixes first, or raise KvPrefixCacheOptions.MaxPinnedShare. Nothing was pinned."));
            }

            for (int i = 0; i < hits; i++)
            {
                chunks.Pin(chunks.Find(keys[i]));
            }

            PublishCounts(table); // pinned unreferenced chunks are no longer available
            return fresh;
        }
    }

    /// <summary>Unpins the pinned chunks of the longest cached prefix of <paramref name="keys"/>; returns how many.</summary>
    internal int UnpinPrefix(ReadOnlySpan<KvChunkKey> keys)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable table = _table;
            ChunkTable chunks = ChunksOrThrow(table);
            int hits = chunks.CountHits(keys);
            int unpinned = 0;
            for (int i = hits - 1; i >= 0; i--)
            {
                unpinned += chunks.Unpin(chunks.Find(keys[i])) ? 1 : 0; // tail first: the tail goes before the head
            }

            PublishCounts(table);
            return unpinned;
        }
    }

    /// <summary>Unpins every chunk; returns how many were pinned.</summary>
    internal int UnpinAllPrefixes()
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable table = _table;
            int unpinned = ChunksOrThrow(table).UnpinAll();
            PublishCounts(table);
            return unpinned;
        }
    }

    /// <summary>The number of the last prefix-cache event issued (0 before the first, or without a cache).</summary>
    internal long LastPrefixEventSequence => _prefixEvents is null ? 0 : _prefixEvents.NextSequence - 1;

    /// <summary>Subscribes to the cache's events from the next one on.</summary>
    internal KvPrefixSubscription SubscribePrefix(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, KvPrefixCache.MaxSubscriptionCapacity);
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            return _prefixEvents!.Subscribe(capacity);
        }
    }

    /// <summary>Every cached chunk now, with the number of the last event before now (under the gate: no event falls between).</summary>
    internal KvPrefixSnapshot PrefixSnapshot()
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            List<(KvChunkKey Key, KvChunkKey Parent, KvChunkKey Root)> keys = ChunksOrThrow(_table).ListKeys();
            int tokens = _table.Spec.TokensPerBlock;
            return new KvPrefixSnapshot(_prefixEvents!.NextSequence - 1, [.. keys.Select(k => new KvPrefixEvent(KvPrefixEventKind.Stored, 0, k.Key, k.Parent, k.Root, tokens))]);
        }
    }

    /// <summary>The longest cached prefix of <paramref name="keys"/>, in chunks, without referencing anything.</summary>
    internal int CountCachedChunks(ReadOnlySpan<KvChunkKey> keys)
    {
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            return ChunksOrThrow(_table).CountHits(keys);
        }
    }

    /// <summary>The cache's figures, read under the gate so the block counts agree with each other.</summary>
    internal KvPrefixCacheStatistics ReadPrefixStatistics()
    {
        _guard.ThrowIfClosed();
        return TryReadPrefixStatistics(out KvPrefixCacheStatistics statistics) ? statistics : throw new ObjectDisposedException(GetType().FullName);
    }

    /// <summary>The cache's figures, or false once the pool is disposed (for the metrics' callbacks, which must not throw).</summary>
    internal bool TryReadPrefixStatistics(out KvPrefixCacheStatistics statistics)
    {
        int chunkCount, evictable, pinned;
        lock (_gate)
        {
            if (_guard.IsClosed || _table.Chunks is not { } chunks)
            {
                statistics = default;
                return false;
            }

            chunkCount = chunks.Count;
            evictable = chunks.EvictableChunks;
            pinned = chunks.PinnedChunks;
        }

        PrefixCounters counters = _prefixCounters;
        statistics = new KvPrefixCacheStatistics(chunkCount, evictable, pinned, _table.Layers, counters.Lookups, counters.QueriedTokens, counters.HitTokens, counters.StoredChunks, counters.DuplicateChunks, counters.EvictedChunks);
        return true;
    }

    /// <summary>
    /// Evicts unreferenced, unguarded chunks, least recently used first, until at least <paramref name="blocks"/>
    /// blocks were freed (the caller checked there are enough). Each chunk's key leaves the index before its blocks
    /// are retired. Returns true when the blocks wait in <paramref name="victims"/> for a scrub outside the gate
    /// (call <see cref="ScrubVictims"/> after leaving it); false when they are already free.
    /// </summary>
    private bool EvictUnderGate(BlockTable table, ChunkTable chunks, int blocks, ref KvBlock[]? victims, out int victimCount)
    {
        int layers = table.Layers;
        int chunkCount = (blocks + layers - 1) / layers;
        bool later = _scrubber.ScrubsOnFree;
        victims = later ? ArrayPool<KvBlock>.Shared.Rent(chunkCount * layers) : null;
        victimCount = 0;
        Span<int> ids = layers <= 256 ? stackalloc int[layers] : new int[layers];
        int evicted = 0;
        for (; evicted < chunkCount; evicted++)
        {
            if (!EvictOne(chunks, ids, out KvChunkKey key))
            {
                break;
            }

            _prefixEvents!.Removed(key);

            for (int layer = 0; layer < layers; layer++)
            {
                Retire(table, ids[layer], layer, CacheOwner, later);
                if (later)
                {
                    victims![victimCount++] = table.HandleOf(ids[layer], layer);
                }
            }
        }

        chunks.ClearGuards();
        _prefixCounters.Evicted(evicted);
        PublishCounts(table); // the evicted blocks left the available count, whether they are free yet or in transit
        if (later && victimCount > 0)
        {
            _guard.BeginRelease();
            return true;
        }

        if (victims is not null)
        {
            ArrayPool<KvBlock>.Shared.Return(victims);
            victims = null;
        }

        return false;
    }

    /// <summary>Evicts one chunk into <paramref name="ids"/>; the mutants plant their bugs here.</summary>
    private bool EvictOne(ChunkTable chunks, Span<int> ids, out KvChunkKey key)
    {
        key = default;
        switch (Mutant)
        {
            case PrefixMutant.EvictReferenced:
                for (int id = 0; id < _table.Capacity; id++)
                {
                    int chunk = chunks.ChunkOf(id);
                    if (chunk >= 0 && chunks.IsReferenced(chunk))
                    {
                        key = chunks.KeyOf(chunk);
                        chunks.RemoveUnchecked(chunk, ids, keepKey: false);
                        return true;
                    }
                }

                break;
            case PrefixMutant.KeyLeftInIndex when chunks.Oldest >= 0:
                key = chunks.KeyOf(chunks.Oldest);
                chunks.RemoveUnchecked(chunks.Oldest, ids, keepKey: true);
                return true;
        }

        return chunks.TryEvictOldest(ids, out key);
    }

    /// <summary>Scrubs evicted blocks outside the gate and puts them on the free stack (see <see cref="FinishRelease"/>).</summary>
    private void ScrubVictims(KvBlock[] victims, int count)
    {
        try
        {
            FinishRelease(new ReleasedBlocks(victims.AsSpan(0, count)), CacheOwner, recycle: null);
        }
        finally
        {
            ArrayPool<KvBlock>.Shared.Return(victims);
        }
    }

    /// <summary>The admission's changes, after every check passed and the blocks are there: nothing here can fail.</summary>
    private void ReferenceAndAllocate(AgentId agent, BlockTable table, ChunkTable chunks, int hits, int blocksPerLayer, int priority, Span<KvBlock> destination, System.Diagnostics.StackTrace? stack)
    {
        int fresh = blocksPerLayer - hits;
        _scrubber.BeforeHandout(table, fresh * table.Layers);
        OwnerRecord record = _owners.RentAgent(agent, table.Layers);
        record.Reserve(0, table.Layers - 1, blocksPerLayer);
        record.Priority = priority;
        _owners.RegisterAgent(record);
        ReadOnlySpan<int> matched = chunks.Matched(hits);
        foreach (int chunk in matched)
        {
            chunks.AddRef(chunk);
        }

        // Layer by layer: each list and each destination run is written in order.
        for (int layer = 0; layer < table.Layers; layer++)
        {
            ref BlockList list = ref record.Layers[layer];
            Span<KvBlock> run = destination.Slice(layer * blocksPerLayer, hits);
            for (int i = 0; i < matched.Length; i++)
            {
                int id = chunks.BlockOf(matched[i], layer);
                list.AddUnchecked(id);
                run[i] = table.HandleOf(id, layer);
            }
        }

        int shared = hits * table.Layers;
        record.BlockCount += shared;
        record.SharedBlocks += shared;
        chunks.ClearGuards();
        for (int layer = 0; layer < table.Layers && fresh > 0; layer++)
        {
            Span<KvBlock> slice = destination.Slice((layer * blocksPerLayer) + hits, fresh);
            table.PopInto(record, layer, slice);
            _scrubber.OnAllocated(slice, stack, record, firstForOwner: layer == 0);
        }
    }

    /// <summary>
    /// Drops the references of a record being released (under the gate), tail first so that a chain's tail is evicted
    /// before its head, and removes the cached blocks from its lists: what is left are the agent's own blocks.
    /// </summary>
    private void DropReferences(OwnerRecord record, BlockTable table)
    {
        ChunkTable chunks = table.Chunks!;
        ReadOnlySpan<int> first = record.BlocksOn(0);
        if (Mutant == PrefixMutant.DereferenceOutsideGate)
        {
            // The bug the scenario must catch: the counts drop later, on another thread, without the gate.
            int[] late = first.ToArray();
            int priority = record.Priority;
            _ = Task.Run(() => ReleaseLate(chunks, late, priority));
            record.RemoveShared(table);
            return;
        }

        for (int index = first.Length - 1; index >= 0; index--)
        {
            int chunk = table.IsCached(first[index]) ? chunks.ChunkOf(first[index]) : -1;
            if (chunk >= 0)
            {
                chunks.Release(chunk, record.Priority);
            }
        }

        record.RemoveShared(table);
    }

    private static void ReleaseLate(ChunkTable chunks, int[] ids, int priority)
    {
        foreach (int id in ids)
        {
            int chunk = chunks.ChunkOf(id);
            if (chunk >= 0 && chunks.IsReferenced(chunk))
            {
                chunks.Release(chunk, priority);
            }
        }
    }

    private ChunkTable ChunksOrThrow(BlockTable table) =>
        table.Chunks ?? throw new InvalidOperationException($"Pool '{Name}' has no prefix cache. Set BlockPoolOptions.PrefixCache to turn it on.");
}
