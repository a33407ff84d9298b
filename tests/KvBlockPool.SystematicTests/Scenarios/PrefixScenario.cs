using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// The prefix cache under interleavings. In the sharing race an agent that published a prefix is released while a
/// second agent admits the same prompt (a hit) and reads the shared chunks through a lease, and a third allocates
/// under pressure, evicting what it may: the reader must only ever see the publisher's bytes, every refusal must be
/// the documented one, and the cache's counts must agree with the agents' block tables. In the publishing race two
/// agents that computed the same prompt publish at once while a third admits it and a reset runs: one copy wins each
/// key, the other stays its agent's own, and a hit always reads one whole copy. In the copy-on-write race an agent
/// sharing a prefix truncates inside a shared chunk (its copy needs a block per layer, which only an eviction can
/// give) while the publisher is released and an intruder allocates: the copy holds the publisher's bytes whole, or the
/// truncation is refused with the agent unchanged. In the copy race a reader copies an unreferenced chunk's bytes out
/// (as a tier's offload does) while an intruder's allocation evicts and overwrites what it may: the copy is the
/// publisher's bytes whole, or false because the chunk was gone before the copy began.
/// </summary>
public sealed class PrefixScenario(ITestOutputHelper output) : SystematicTest(output)
{
    internal const int Layers = 2;
    private const int Capacity = 10;
    private const byte PublisherByte = 0xA1;
    private const byte RivalByte = 0xB2;
    private const byte IntruderByte = 0xCC;

    // Two tokens per block. The publisher's 7 tokens are 3 full chunks and a partial block (4 blocks per layer); the
    // reader's prompt shares the first 2 chunks, so the publisher's third chunk is what an eviction may take.
    private static readonly int[] Prompt = [11, 12, 13, 14, 15, 16, 17];
    private static readonly int[] ReaderPrompt = [11, 12, 13, 14, 99];

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void A_hit_racing_a_release_and_an_eviction_only_ever_reads_the_published_bytes(BlockClearMode mode) =>
        AssertNoBugs($"PrefixShare.{mode}", () => RunSharingAsync(mode, PrefixMutant.None));

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Publishers_of_one_prompt_racing_an_admission_and_a_reset_keep_one_copy_per_key(BlockClearMode mode) =>
        AssertNoBugs($"PrefixPublish.{mode}", () => RunPublishingAsync(mode));

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void A_truncation_inside_a_shared_chunk_racing_a_release_and_an_eviction_copies_whole_bytes_or_changes_nothing(BlockClearMode mode) =>
        AssertNoBugs($"PrefixCopyOnWrite.{mode}", () => RunCopyOnWriteAsync(mode, PrefixMutant.None));

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void A_chunk_copied_out_while_an_allocation_evicts_is_read_whole_or_not_at_all(BlockClearMode mode) =>
        AssertNoBugs($"PrefixCopyOut.{mode}", () => RunCopyOutAsync(mode, PrefixMutant.None));

    /// <summary>One run of the copy race, with <paramref name="mutant"/> planted in the pool.</summary>
    internal static async Task RunCopyOutAsync(BlockClearMode mode, PrefixMutant mutant)
    {
        using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers, prefixCache: true);
        pool.Mutant = mutant;
        using var manager = new AgentCacheManager(pool);
        var publisher = new AgentId(1);
        var intruder = new AgentId(3);
        manager.Admit(publisher, Prompt);
        FillOwn(pool, manager, publisher, PublisherByte);
        manager.PublishComputed(publisher, Prompt.Length);
        manager.Release(publisher); // 3 chunks evictable (6 blocks), 4 blocks free
        var keys = new KvChunkKey[3];
        pool.PrefixCache!.ComputeKeys(Prompt, default, keys);

        Task<string?> copy = Task.Run(() =>
        {
            var bytes = new byte[pool.PrefixCache.ChunkBytes];
            try
            {
                // The chain's tail: the first chunk an eviction takes.
                return !pool.PrefixCache.TryCopyChunk(keys[2], bytes) || bytes.AsSpan().IndexOfAnyExcept(PublisherByte) < 0
                    ? null
                    : $"the copy of chunk 2 is not the publisher's bytes whole (byte 0x{bytes[bytes.AsSpan().IndexOfAnyExcept(PublisherByte)]:x2}).";
            }
            catch (InvalidBlockHandleException ex)
            {
                return $"the copy of chunk 2 failed halfway: {ex.Message}";
            }
        });
        Task intrude = IntrudeAsync(pool, intruder, blocksPerLayer: 3, attempts: 1); // 2 blocks more than are free: one chunk is evicted
        await Task.WhenAll(new Task[] { copy, intrude });

        Check.That(copy.Result is null, copy.Result ?? string.Empty);
        Check.Invariants(pool, "after the copy race");
        Check.That(pool.GetStatistics().Allocated == 0, $"{pool.GetStatistics().Allocated} blocks are still in use after the copy and the intruder are done.");
    }

    /// <summary>One run of the sharing race, with <paramref name="mutant"/> planted in the pool.</summary>
    internal static async Task RunSharingAsync(BlockClearMode mode, PrefixMutant mutant)
    {
        using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers, prefixCache: true);
        pool.Mutant = mutant;
        using var manager = new AgentCacheManager(pool);
        var publisher = new AgentId(1);
        var reader = new AgentId(2);
        var intruder = new AgentId(3);
        manager.Admit(publisher, Prompt); // 8 of the 10 blocks
        FillOwn(pool, manager, publisher, PublisherByte);
        manager.PublishComputed(publisher, Prompt.Length); // chunks 0 to 2 are cached, referenced by the publisher

        Task release = Task.Run(() => manager.Release(publisher));
        Task<string?> read = Task.Run(async () =>
        {
            for (int attempt = 0; attempt < 2; attempt++)
            {
                if (manager.TryAdmit(reader, ReaderPrompt, out KvPrefixAdmission admission))
                {
                    string? wrong = await ReadSharedAsync(manager, reader, admission.CachedBlocksPerLayer, PublisherByte);
                    manager.Release(reader);
                    return wrong;
                }

                await Task.Yield();
            }

            return null;
        });
        Task intrude = IntrudeAsync(pool, intruder, blocksPerLayer: 2, attempts: 2); // more than the free blocks once the reader is in: an eviction
        await Task.WhenAll(new Task[] { release, read, intrude });

        Check.That(read.Result is null, read.Result ?? string.Empty);
        Check.Invariants(pool, "after the sharing race");
        Check.That(pool.GetStatistics().Allocated == 0, $"{pool.GetStatistics().Allocated} blocks are still in use after every agent left.");
    }

    private static async Task RunPublishingAsync(BlockClearMode mode)
    {
        using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers, prefixCache: true);
        using var manager = new AgentCacheManager(pool);
        var first = new AgentId(1);
        var second = new AgentId(2);
        var reader = new AgentId(3);
        manager.Admit(first, Prompt[..4]);  // 2 blocks per layer each, both cold: nothing is published yet
        manager.Admit(second, Prompt[..4]);
        FillOwn(pool, manager, first, PublisherByte);
        FillOwn(pool, manager, second, RivalByte);

        Task<int> publishFirst = Task.Run(() =>
        {
            int stored = manager.PublishComputed(first, 4);
            manager.Release(first); // its chunks, unless the second's copies won, become evictable: the reset may take them
            return stored;
        });
        Task<int> publishSecond = Task.Run(() => manager.PublishComputed(second, 4));
        Task reset = Task.Run(() => pool.PrefixCache!.Reset());
        Task<string?> read = Task.Run(async () =>
        {
            if (!manager.TryAdmit(reader, ReaderPrompt, out KvPrefixAdmission admission))
            {
                return null; // 2 blocks are free: the reader fits only with both chunks hit (or after the first's release)
            }

            string? wrong = await ReadSharedAsync(manager, reader, admission.CachedBlocksPerLayer, expected: null);
            manager.Release(reader);
            return wrong;
        });
        await Task.WhenAll(new Task[] { publishFirst, publishSecond, reset, read });

        Check.That(read.Result is null, read.Result ?? string.Empty);
        KvPrefixCacheStatistics stats = pool.PrefixCache!.GetStatistics();
        // Each key is stored once per publisher that found it missing: twice at most when the reset evicted the first copy in between.
        Check.That(stats.StoredChunks == publishFirst.Result + publishSecond.Result && stats.StoredChunks + stats.DuplicateChunks == 4 && stats.StoredChunks >= 2, $"stored {stats.StoredChunks} ({publishFirst.Result} + {publishSecond.Result}), duplicates {stats.DuplicateChunks}.");
        Check.Invariants(pool, "after the publishing race");
        manager.Release(second);
        Check.Invariants(pool, "after the publishers left");
        Check.That(pool.GetStatistics().Allocated == 0, $"{pool.GetStatistics().Allocated} blocks are still in use after every agent left.");
    }

    /// <summary>One run of the copy-on-write race, with <paramref name="mutant"/> planted in the pool.</summary>
    internal static async Task RunCopyOnWriteAsync(BlockClearMode mode, PrefixMutant mutant)
    {
        using BlockPool pool = ScenarioPools.Create(mode, Capacity, Layers, prefixCache: true);
        pool.Mutant = mutant;
        using var manager = new AgentCacheManager(pool);
        var publisher = new AgentId(1);
        var reader = new AgentId(2);
        var intruder = new AgentId(3);
        manager.Admit(publisher, Prompt); // 8 of the 10 blocks
        FillOwn(pool, manager, publisher, PublisherByte);
        manager.PublishComputed(publisher, Prompt.Length);
        manager.Admit(reader, ReaderPrompt); // 2 chunks hit, 1 block per layer of its own: the pool is full

        Task<string?> truncate = Task.Run(() =>
        {
            int before = manager.GetInfo(reader).BlocksPerLayer;
            try
            {
                manager.Truncate(reader, 3); // inside chunk 1: a copy needs a block per layer, free only after an eviction
            }
            catch (BlockPoolExhaustedException)
            {
                return manager.GetInfo(reader) is { Tokens: 5 } info && info.BlocksPerLayer == before ? null : $"a refused truncation changed {reader}: {manager.GetInfo(reader).Tokens} tokens.";
            }

            var blocks = new KvBlock[2];
            for (int layer = 0; layer < Layers; layer++)
            {
                manager.CopyBlocks(reader, layer, blocks);
                Span<byte> copy = pool.GetBlockSpan(blocks[1]); // its own now: writable
                if (copy.IndexOfAnyExcept(PublisherByte) >= 0)
                {
                    return $"{reader}'s copy of chunk 1 on layer {layer} does not hold the publisher's bytes whole (first byte 0x{copy[0]:x2}).";
                }
            }

            return manager.GetInfo(reader).Tokens == 3 ? null : $"{reader} holds {manager.GetInfo(reader).Tokens} tokens after truncating to 3.";
        });
        Task release = Task.Run(() => manager.Release(publisher));
        Task intrude = IntrudeAsync(pool, intruder, blocksPerLayer: 1, attempts: 2);
        await Task.WhenAll(new Task[] { truncate, release, intrude });

        Check.That(truncate.Result is null, truncate.Result ?? string.Empty);
        Check.Invariants(pool, "after the copy-on-write race");
        manager.Release(reader);
        Check.Invariants(pool, "after every agent left");
        Check.That(pool.GetStatistics().Allocated == 0, $"{pool.GetStatistics().Allocated} blocks are still in use after every agent left.");
    }

    /// <summary>
    /// An intruder that tries up to <paramref name="attempts"/> times (yielding between) to allocate
    /// <paramref name="blocksPerLayer"/> blocks on every layer, evicting what it may; it overwrites what it got (an
    /// evicted chunk's blocks, reused) and frees it.
    /// </summary>
    private static Task IntrudeAsync(BlockPool pool, AgentId intruder, int blocksPerLayer, int attempts) => Task.Run(async () =>
    {
        var blocks = new KvBlock[blocksPerLayer * Layers];
        for (int attempt = 0; attempt < attempts; attempt++)
        {
            if (pool.TryAllocateAllLayers(intruder, blocksPerLayer, blocks))
            {
                foreach (KvBlock block in blocks)
                {
                    pool.GetBlockSpan(block).Fill(IntruderByte);
                }

                pool.FreeAgent(intruder);
                return;
            }

            if (attempt + 1 < attempts)
            {
                await Task.Yield();
            }
        }
    });

    /// <summary>
    /// Reads the agent's first <paramref name="shared"/> blocks on every layer through a lease, with a scheduling
    /// point before each: each must hold <paramref name="expected"/> throughout, or (when null) one publisher's byte.
    /// </summary>
    private static async Task<string?> ReadSharedAsync(AgentCacheManager manager, AgentId agent, int shared, byte? expected)
    {
        using KvCacheLease lease = manager.Lease(agent);
        for (int index = 0; index < shared; index++)
        {
            for (int layer = 0; layer < Layers; layer++)
            {
                await Task.Yield(); // a kernel reads long after the admission
                ReadOnlySpan<byte> keys = lease.GetKeys<byte>(layer, index);
                byte first = expected ?? keys[0];
                if (first is not PublisherByte and not RivalByte || keys.IndexOfAnyExcept(first) >= 0 || lease.GetValues<byte>(layer, index).IndexOfAnyExcept(first) >= 0)
                {
                    return $"{agent} read shared block {lease.GetBlockIds(layer)[index]} (layer {layer}, index {index}): its bytes are not all one published copy's (first byte 0x{keys[0]:x2}, expected 0x{first:x2}).";
                }
            }
        }

        return null;
    }

    /// <summary>Writes <paramref name="value"/> into every block of the agent (all its own: nothing is shared yet).</summary>
    private static void FillOwn(BlockPool pool, AgentCacheManager manager, AgentId agent, byte value)
    {
        for (int layer = 0; layer < Layers; layer++)
        {
            var blocks = new KvBlock[manager.GetInfo(agent).BlocksPerLayer];
            manager.CopyBlocks(agent, layer, blocks);
            foreach (KvBlock block in blocks)
            {
                pool.GetBlockSpan(block).Fill(value);
            }
        }
    }
}
