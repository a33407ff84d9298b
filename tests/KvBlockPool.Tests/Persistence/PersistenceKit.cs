using System.Buffers.Binary;
using System.IO.Hashing;
using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>Agents filled with seeded bytes (in pools of <see cref="Spec"/>, built by <see cref="TestPools"/>), and helpers to save, compare and tamper with saved caches.</summary>
internal static class PersistenceKit
{
    /// <summary>3 layers, 256-byte blocks: small enough for thousands of restores per second.</summary>
    public static readonly KvCacheSpec Spec = TestPools.Spec(layers: 3);

    /// <summary><see cref="Spec"/> in BF16: the same shape and size, another element type.</summary>
    public static readonly KvCacheSpec OtherSpec = TestPools.Spec(layers: 3, elementType: KvElementType.BFloat16);

    /// <summary>3 layers of 64 KiB blocks: 8 blocks per layer make 1.5 MiB, more than a save writes between two flushes.</summary>
    public static readonly KvCacheSpec LargeSpec = new(layers: 3, kvHeads: 8, headDim: 128, tokensPerBlock: 16, KvElementType.Float16);

    /// <summary>A 1.2 header of <see cref="Spec"/> without token ids: the fixed part, 3 block counts, the id count, the checksum.</summary>
    public const int HeaderLength = 56 + (3 * 4) + 4 + 8;

    /// <summary>Gives <paramref name="agent"/> the given number of blocks per layer, each filled with seeded random bytes.</summary>
    public static void Fill(BlockPool pool, AgentId agent, int seed, params int[] blocksPerLayer)
    {
        var random = new Random(seed);
        for (int layer = 0; layer < blocksPerLayer.Length; layer++)
        {
            if (blocksPerLayer[layer] == 0)
            {
                continue;
            }

            foreach (KvBlock block in pool.Allocate(agent, layer, blocksPerLayer[layer]))
            {
                random.NextBytes(pool.GetBlockSpan(block));
            }
        }
    }

    /// <summary>
    /// Everything an agent holds, as bytes: layer by layer, block by block, in logical order. Read through a lease,
    /// so blocks the agent shares from the prefix cache (which refuse write access) are read too.
    /// </summary>
    public static byte[][] Snapshot(BlockPool pool, AgentId agent)
    {
        using KvCacheLease lease = pool.Lease(agent);
        var layers = new byte[pool.Spec.Layers][];
        for (int layer = 0; layer < layers.Length; layer++)
        {
            using var bytes = new MemoryStream();
            for (int index = 0; index < lease.GetBlockCount(layer); index++)
            {
                bytes.Write(BlockBytes(lease, layer, index));
            }

            layers[layer] = bytes.ToArray();
        }

        return layers;
    }

    /// <summary>One block's bytes as a save writes them: its key half, then its value half.</summary>
    public static byte[] BlockBytes(KvCacheLease lease, int layer, int index) =>
        [.. lease.GetKeys<byte>(layer, index), .. lease.GetValues<byte>(layer, index)];

    public static void AssertSameBytes(byte[][] expected, byte[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int layer = 0; layer < expected.Length; layer++)
        {
            Assert.True(expected[layer].AsSpan().SequenceEqual(actual[layer]), $"layer {layer} differs");
        }
    }

    public static async Task<byte[]> SaveAsync(BlockPool pool, AgentId agent, long? tokens = null)
    {
        using var stream = new MemoryStream();
        await KvCacheWriter.SaveAsync(pool, agent, stream, tokens);
        return stream.ToArray();
    }

    public static Task<KvCacheHeader> RestoreAsync(BlockPool pool, byte[] file, AgentId? asAgent = null, CancellationToken cancellationToken = default) =>
        KvCacheReader.RestoreAsync(pool, new MemoryStream(file, writable: false), asAgent, cancellationToken: cancellationToken);

    /// <summary>Recomputes the header checksum after a test edited header fields, so the edit itself is what is checked.</summary>
    public static void RehashHeader(byte[] file)
    {
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(12));
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(length - 8), XxHash3.HashToUInt64(file.AsSpan(0, length - 8)));
    }

    /// <summary>
    /// Runs a restore that must be refused, and proves it cost nothing: no block leaked, every invariant holds,
    /// and every agent holds exactly the blocks and bytes it held before. When the refusal must come before
    /// anything was allocated, the pool's whole state (free stack, generations, high-water mark) is as before too.
    /// </summary>
    public static async Task<TException> AssertRefusedAsync<TException>(BlockPool pool, Func<Task> restore, bool beforeAllocating = false)
        where TException : Exception
    {
        string before = pool.DescribeState();
        string agents = DescribeAgents(pool);
        int available = pool.AvailableBlocks;
        TException error = await Assert.ThrowsAnyAsync<TException>(restore);
        Assert.Equal(available, pool.AvailableBlocks);
        Assert.Null(pool.FindInvariantViolation());
        Assert.Equal(agents, DescribeAgents(pool));
        if (beforeAllocating)
        {
            Assert.Equal(before, pool.DescribeState());
        }

        return error;
    }

    /// <summary>Every agent's block tables and bytes, as text.</summary>
    public static string DescribeAgents(BlockPool pool)
    {
        var text = new System.Text.StringBuilder();
        foreach (KeyValuePair<AgentId, int> pair in pool.GetBlockCountsByAgent().OrderBy(p => p.Key.Value))
        {
            using KvCacheLease lease = pool.Lease(pair.Key);
            text.Append(pair.Key).Append(':');
            for (int layer = 0; layer < lease.LayerCount; layer++)
            {
                for (int index = 0; index < lease.GetBlockCount(layer); index++)
                {
                    text.Append(lease.GetBlock(layer, index)).Append('=').Append(XxHash3.HashToUInt64(BlockBytes(lease, layer, index))).Append(' ');
                }
            }

            text.AppendLine();
        }

        return text.ToString();
    }
}
