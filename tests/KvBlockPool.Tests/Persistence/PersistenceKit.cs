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

    public const int HeaderLength = 56 + (3 * 4) + 8;

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

    /// <summary>Everything an agent holds, as bytes: layer by layer, block by block, in logical order.</summary>
    public static byte[][] Snapshot(BlockPool pool, AgentId agent)
    {
        AgentBlocks view = pool.GetAgentBlocks(agent);
        var layers = new byte[pool.Spec.Layers][];
        for (int layer = 0; layer < layers.Length; layer++)
        {
            using var bytes = new MemoryStream();
            foreach (KvBlock block in view.GetBlocks(layer))
            {
                bytes.Write(pool.GetBlockSpan(block));
            }

            layers[layer] = bytes.ToArray();
        }

        return layers;
    }

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
            AgentBlocks view = pool.GetAgentBlocks(pair.Key);
            text.Append(pair.Key).Append(':');
            for (int layer = 0; layer < view.LayerCount; layer++)
            {
                foreach (KvBlock block in view.GetBlocks(layer))
                {
                    text.Append(block).Append('=').Append(XxHash3.HashToUInt64(pool.GetBlockSpan(block))).Append(' ');
                }
            }

            text.AppendLine();
        }

        return text.ToString();
    }
}
