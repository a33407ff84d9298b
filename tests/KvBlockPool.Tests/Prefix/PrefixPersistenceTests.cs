using System.Buffers.Binary;
using KvBlockPool.Lifecycle;
using KvBlockPool.Persistence;
using KvBlockPool.Prefix;
using KvBlockPool.Tests.Core;
using KvBlockPool.Tests.Persistence;
using KvBlockPool.Tests.Shared;

namespace KvBlockPool.Tests.Prefix;

/// <summary>
/// Saving an agent through the cache manager keeps its token ids (format 1.2), and restoring it publishes its full
/// chunks again, keyed with the restoring pool's secret and the caller's context; shared blocks are saved by value;
/// every refused restore leaves the pool and the manager as they were.
/// </summary>
public sealed class PrefixPersistenceTests
{
    // The test spec: 2 layers, 4 tokens per block.
    private const int Chunk = 4;
    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);
    private static readonly AgentId Carol = new(3);
    private static readonly byte[] SecretA = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];
    private static readonly byte[] SecretB = [.. Enumerable.Range(101, 32).Select(i => (byte)i)];

    [Fact]
    public async Task A_restored_agent_publishes_its_chunks_so_another_agent_hits_them_with_the_saved_bytes()
    {
        int[] prompt = Tokens(10, seed: 1); // 2 full chunks and 2 tokens
        byte[] file;
        byte[][] saved;
        using (BlockPool source = Create(SecretA))
        using (var manager = new AgentCacheManager(source))
        {
            manager.Admit(Alice, prompt);
            FillSeeded(source, Alice, seed: 7);
            manager.AppendToken(Alice, 42); // 11 tokens: publishes the 2 full chunks first
            saved = PersistenceKit.Snapshot(source, Alice);
            (file, KvCacheHeader header) = await SaveAsync(manager, Alice);
            Assert.Equal((1, 2, 11L), (header.MajorVersion, header.MinorVersion, header.TokenCount));
            Assert.Equal([.. prompt, 42], header.TokenIds);
        }

        // Another pool with another secret: the keys are computed from the ids with this pool's secret, so they match
        // what this pool computes for the same prompt; nothing in the file is a key.
        using BlockPool target = Create(SecretB);
        using var restored = new AgentCacheManager(target);
        KvCacheHeader read = await restored.RestoreAsync(Carol, new MemoryStream(file, writable: false), priority: 3);
        Assert.Equal([.. prompt, 42], read.TokenIds);
        Assert.Equal((11, 3), (restored.GetInfo(Carol).Tokens, restored.GetInfo(Carol).BlocksPerLayer));
        PersistenceKit.AssertSameBytes(saved, PersistenceKit.Snapshot(target, Carol));
        KvPrefixCacheStatistics stats = target.PrefixCache!.GetStatistics();
        Assert.Equal((2, 2L, 0L), (stats.CachedChunks, stats.StoredChunks, stats.Lookups));

        KvPrefixAdmission hit = restored.Admit(Bob, prompt);
        Assert.Equal(8, hit.CachedTokens);
        for (int layer = 0; layer < 2; layer++)
        {
            int[] carol = new int[3], bob = new int[3];
            restored.CopyBlockIds(Carol, layer, carol);
            restored.CopyBlockIds(Bob, layer, bob);
            Assert.Equal(carol[..2], bob[..2]);
        }

        using (KvCacheLease lease = restored.Lease(Bob))
        {
            Assert.True(lease.GetKeys<byte>(1, 1).SequenceEqual(LayerBlockHalf(saved[1], block: 1, target.Spec, keys: true)));
        }

        // The restored agent decodes on: its third chunk (tokens 8 to 11) is published when the token after it is appended.
        restored.AppendToken(Carol, 43);
        Assert.Equal(2, target.PrefixCache.GetStatistics().CachedChunks);
        restored.AppendToken(Carol, 44);
        Assert.Equal(3, target.PrefixCache.GetStatistics().CachedChunks);
        PoolAssert.Invariants(target);
    }

    [Fact]
    public async Task The_restorer_gives_the_context_so_a_restore_under_another_salt_is_never_hit_by_the_first_tenant()
    {
        int[] prompt = Tokens(9, seed: 2);
        using BlockPool pool = Create(SecretA);
        using var manager = new AgentCacheManager(pool);
        var tenant = new KvPrefixContext("tenant-a");
        manager.Admit(Alice, prompt, tenant);
        manager.PublishComputed(Alice, prompt.Length);
        (byte[] file, _) = await SaveAsync(manager, Alice);
        manager.Release(Alice);
        pool.PrefixCache!.Reset();

        await manager.RestoreAsync(Bob, new MemoryStream(file, writable: false), new KvPrefixContext("tenant-b"));

        Assert.Equal(0, manager.Admit(Carol, prompt, tenant).CachedTokens);
        Assert.Equal(8, manager.Admit(new AgentId(4), prompt, new KvPrefixContext("tenant-b")).CachedTokens);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public async Task An_agent_sharing_a_prefix_is_saved_by_value_and_restores_into_a_pool_without_a_cache()
    {
        int[] prompt = Tokens(12, seed: 3);
        using BlockPool pool = Create(SecretA);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, prompt);
        FillSeeded(pool, Alice, seed: 9);
        manager.PublishComputed(Alice, prompt.Length);
        Assert.Equal(8, manager.Admit(Bob, prompt).CachedTokens); // Bob shares Alice's first 2 chunks
        byte[][] bob = PersistenceKit.Snapshot(pool, Bob);
        (byte[] file, KvCacheHeader header) = await SaveAsync(manager, Bob);
        Assert.Equal(prompt, header.TokenIds);

        using BlockPool plain = TestPools.Create(capacity: 32);
        using var plainManager = new AgentCacheManager(plain);
        await plainManager.RestoreAsync(Bob, new MemoryStream(file, writable: false));
        PersistenceKit.AssertSameBytes(bob, PersistenceKit.Snapshot(plain, Bob));
        Assert.Equal(12, plainManager.GetInfo(Bob).Tokens);
        PoolAssert.Invariants(plain);
    }

    [Fact]
    public async Task An_agent_admitted_without_its_tokens_and_a_1_1_file_restore_without_publishing()
    {
        using BlockPool pool = Create(SecretA);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 9);
        FillSeeded(pool, Alice, seed: 4);
        (byte[] file, KvCacheHeader header) = await SaveAsync(manager, Alice);
        Assert.Empty(header.TokenIds);
        Assert.Equal(9, header.TokenCount);

        // The same cache as a 1.1 file: no token id count, minor version 1, a header 4 bytes shorter.
        byte[] old = Downgrade(file, layers: 2);
        KvCacheHeader oldHeader = await manager.RestoreAsync(Bob, new MemoryStream(old, writable: false));
        Assert.Equal((1, 1), (oldHeader.MajorVersion, oldHeader.MinorVersion));
        await manager.RestoreAsync(Carol, new MemoryStream(file, writable: false));

        PersistenceKit.AssertSameBytes(PersistenceKit.Snapshot(pool, Alice), PersistenceKit.Snapshot(pool, Bob));
        PersistenceKit.AssertSameBytes(PersistenceKit.Snapshot(pool, Alice), PersistenceKit.Snapshot(pool, Carol));
        Assert.Equal(0, pool.PrefixCache!.GetStatistics().CachedChunks);
        Assert.Equal(9, manager.GetInfo(Bob).Tokens);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public async Task A_file_of_the_pool_level_writer_is_1_2_without_ids_and_restores_through_the_manager_when_its_layers_fit()
    {
        using BlockPool pool = Create(SecretA);
        using var manager = new AgentCacheManager(pool);
        PersistenceKit.Fill(pool, Alice, 5, 3, 3);
        byte[] file = await PersistenceKit.SaveAsync(pool, Alice, tokens: 10);

        KvCacheHeader header = await manager.RestoreAsync(Bob, new MemoryStream(file, writable: false));

        Assert.Equal((2, 10L), (header.MinorVersion, header.TokenCount));
        Assert.Empty(header.TokenIds);
        Assert.Equal((10, 3), (manager.GetInfo(Bob).Tokens, manager.GetInfo(Bob).BlocksPerLayer));
        PersistenceKit.AssertSameBytes(PersistenceKit.Snapshot(pool, Alice), PersistenceKit.Snapshot(pool, Bob));
    }

    [Fact]
    public async Task A_restore_the_manager_cannot_take_is_refused_and_changes_nothing()
    {
        using BlockPool pool = Create(SecretA);
        using var manager = new AgentCacheManager(pool);
        PersistenceKit.Fill(pool, new AgentId(50), 5, 3, 2);
        byte[] uneven = await PersistenceKit.SaveAsync(pool, new AgentId(50));
        PersistenceKit.Fill(pool, new AgentId(51), 6, 3, 3);
        byte[] tooFewTokens = await PersistenceKit.SaveAsync(pool, new AgentId(51), tokens: 5);
        manager.Admit(Alice, Tokens(9, seed: 5));
        manager.PublishComputed(Alice, 9);
        (byte[] good, _) = await SaveAsync(manager, Alice);
        string books = Books(manager);

        ArgumentException unevenError = await PersistenceKit.AssertRefusedAsync<ArgumentException>(pool, () => manager.RestoreAsync(Bob, new MemoryStream(uneven)), beforeAllocating: true);
        Assert.Equal("source", unevenError.ParamName);
        Assert.StartsWith("The cache saved for agent 50 holds 12 tokens in 3, 2 block(s) per layer; an agent of this manager holds 3 block(s) on every layer for that many tokens.", unevenError.Message, StringComparison.Ordinal);
        ArgumentException fewError = await PersistenceKit.AssertRefusedAsync<ArgumentException>(pool, () => manager.RestoreAsync(Bob, new MemoryStream(tooFewTokens)), beforeAllocating: true);
        Assert.Contains("holds 5 tokens in 3, 3 block(s) per layer", fewError.Message, StringComparison.Ordinal);
        await PersistenceKit.AssertRefusedAsync<ArgumentException>(pool, () => manager.RestoreAsync(Alice, new MemoryStream(good)), beforeAllocating: true);
        await PersistenceKit.AssertRefusedAsync<ArgumentException>(pool, () => manager.RestoreAsync(new AgentId(50), new MemoryStream(good)), beforeAllocating: true);
        await PersistenceKit.AssertRefusedAsync<ArgumentNullException>(pool, () => manager.RestoreAsync(Bob, null!), beforeAllocating: true);
        await PersistenceKit.AssertRefusedAsync<ArgumentException>(pool, () => manager.RestoreAsync(Bob, new WriteOnlyStream()), beforeAllocating: true);

        // A corrupt layer is found after the blocks were taken: they are all given back.
        byte[] corrupt = (byte[])good.Clone();
        corrupt[^20] ^= 0x10;
        KvCacheFormatException checksum = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(pool, () => manager.RestoreAsync(Bob, new MemoryStream(corrupt)));
        Assert.Equal(KvCacheFormatError.LayerChecksumMismatch, checksum.Reason);

        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();
        await PersistenceKit.AssertRefusedAsync<OperationCanceledException>(pool, () => manager.RestoreAsync(Bob, new MemoryStream(good), cancellationToken: canceled.Token));
        Assert.Equal(books, Books(manager));
        Assert.Equal(2, pool.PrefixCache!.GetStatistics().CachedChunks); // Alice's, and no restored chunk published
        Assert.False(manager.IsAdmitted(Bob));
    }

    [Theory]
    [InlineData("negative id")]
    [InlineData("ids for fewer tokens")]
    [InlineData("ids past the header")]
    [InlineData("absurd header length")]
    public async Task A_1_2_header_with_bad_token_ids_is_refused_before_anything_is_allocated(string tamper)
    {
        using BlockPool pool = Create(SecretA);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, Tokens(6, seed: 6));
        (byte[] file, _) = await SaveAsync(manager, Alice);
        manager.Release(Alice);
        int ids = 56 + (2 * 4); // the token id count, after the two layers' block counts
        switch (tamper)
        {
            case "negative id":
                BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(ids + 4 + 8), -3);
                break;
            case "ids for fewer tokens":
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(ids), 5);
                break;
            case "ids past the header":
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(48), 7); // 7 tokens (2 blocks hold 8), 6 ids
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(ids), 7);
                break;
            case "absurd header length":
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(12), 1 << 30); // refused before the header is read
                break;
        }

        if (tamper != "absurd header length")
        {
            PersistenceKit.RehashHeader(file);
        }

        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(pool, () => manager.RestoreAsync(Bob, new MemoryStream(file)), beforeAllocating: true);
        Assert.Equal(KvCacheFormatError.InvalidHeader, error.Reason);
        Assert.Equal(0, manager.AgentCount);
    }

    [Fact]
    public async Task Saving_refuses_what_it_cannot_save_before_touching_the_stream()
    {
        using BlockPool pool = Create(SecretA);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, 0);
        using var stream = new MemoryStream();

        await Assert.ThrowsAsync<KeyNotFoundException>(() => manager.SaveAsync(Bob, stream));
        Assert.Equal("agent", (await Assert.ThrowsAsync<ArgumentException>(() => manager.SaveAsync(Alice, stream))).ParamName);
        await Assert.ThrowsAsync<ArgumentNullException>(() => manager.SaveAsync(Alice, null!));
        Assert.Equal("destination", (await Assert.ThrowsAsync<ArgumentException>(() => manager.SaveAsync(Alice, new MemoryStream([], writable: false)))).ParamName);
        Assert.Equal(0, stream.Length);
        manager.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => manager.SaveAsync(Alice, stream));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => manager.RestoreAsync(Alice, stream));
    }

    private static async Task<(byte[] File, KvCacheHeader Header)> SaveAsync(AgentCacheManager manager, AgentId agent)
    {
        using var stream = new MemoryStream();
        KvCacheHeader header = await manager.SaveAsync(agent, stream);
        return (stream.ToArray(), header);
    }

    /// <summary>A 1.2 file without token ids rewritten as the 1.1 file of the same cache.</summary>
    private static byte[] Downgrade(byte[] file, int layers)
    {
        int ids = 56 + (layers * 4);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(ids)));
        byte[] old = [.. file[..ids], .. file[(ids + 4)..]];
        BinaryPrimitives.WriteUInt16LittleEndian(old.AsSpan(10), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(old.AsSpan(12), (uint)(ids + 8));
        PersistenceKit.RehashHeader(old);
        return old;
    }

    private static string Books(AgentCacheManager manager) =>
        string.Join(";", new[] { Alice, Bob, Carol, new AgentId(50), new AgentId(51) }.Select(a => manager.TryGetInfo(a, out AgentCacheInfo info) ? $"{a}:{info.Tokens}/{info.BlocksPerLayer}" : $"{a}:-"))
        + $"|{manager.AgentCount}|{manager.TotalTokens}";

    private static ReadOnlySpan<byte> LayerBlockHalf(byte[] layer, int block, KvCacheSpec spec, bool keys)
    {
        int half = spec.BytesPerBlock / 2;
        return layer.AsSpan((block * spec.BytesPerBlock) + (keys ? 0 : half), half);
    }

    private static void FillSeeded(BlockPool pool, AgentId agent, int seed)
    {
        var random = new Random(seed);
        AgentBlocks view = pool.GetAgentBlocks(agent);
        for (int layer = 0; layer < view.LayerCount; layer++)
        {
            foreach (KvBlock block in view.GetBlocks(layer))
            {
                random.NextBytes(pool.GetBlockSpan(block));
            }
        }
    }

    private static int[] Tokens(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => random.Next(0, 50_000))];
    }

    private static BlockPool Create(byte[] secret) =>
        TestPools.Create(capacity: 32, prefixCache: new KvPrefixCacheOptions { KeySecret = secret });

    private sealed class WriteOnlyStream : MemoryStream
    {
        public override bool CanRead => false;
    }
}
