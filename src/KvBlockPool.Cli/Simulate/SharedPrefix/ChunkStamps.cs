using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>
/// Stands in for the keys and values a real prefill writes: each computed chunk gets, at the start of its block on
/// every layer, a stamp derived from the token ids up to its end and the layer. An agent whose prompt hits cached
/// chunks (shared locally, or restored from the tier that another host's offload filled) must find in them exactly
/// the stamps its own prefill would have written: the right bytes, in the right blocks, on the right layers.
/// </summary>
internal static class ChunkStamps
{
    private const int StampBytes = sizeof(ulong);

    /// <summary>Writes the stamps of chunks <paramref name="first"/> to <paramref name="end"/> (exclusive), which the agent holds privately.</summary>
    public static void Write(BlockPool pool, AgentId agent, ReadOnlySpan<int> tokens, int first, int end)
    {
        if (first >= end)
        {
            return;
        }

        using KvCacheLease lease = pool.Lease(agent);
        int tokensPerBlock = pool.Spec.TokensPerBlock;
        for (int chunk = first; chunk < end; chunk++)
        {
            ulong prefix = PrefixHash(tokens, chunk, tokensPerBlock);
            for (int layer = 0; layer < lease.LayerCount; layer++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(lease.GetKeys<byte>(layer, chunk)[..StampBytes], Stamp(prefix, layer));
            }
        }
    }

    /// <summary>Checks the stamps of chunks <paramref name="first"/> to <paramref name="end"/> (exclusive); describes the first wrong one, or returns null.</summary>
    public static string? Check(BlockPool pool, AgentId agent, ReadOnlySpan<int> tokens, int first, int end)
    {
        if (first >= end)
        {
            return null;
        }

        using KvCacheLease lease = pool.Lease(agent);
        int tokensPerBlock = pool.Spec.TokensPerBlock;
        for (int chunk = first; chunk < end; chunk++)
        {
            ulong prefix = PrefixHash(tokens, chunk, tokensPerBlock);
            for (int layer = 0; layer < lease.LayerCount; layer++)
            {
                ulong found = BinaryPrimitives.ReadUInt64LittleEndian(lease.GetKeys<byte>(layer, chunk)[..StampBytes]);
                if (found != Stamp(prefix, layer))
                {
                    return $"{agent}'s cached chunk {chunk} on layer {layer} holds {found:x16}, not the {Stamp(prefix, layer):x16} its tokens' prefill writes.";
                }
            }
        }

        return null;
    }

    private static ulong PrefixHash(ReadOnlySpan<int> tokens, int chunk, int tokensPerBlock) =>
        XxHash3.HashToUInt64(MemoryMarshal.AsBytes(tokens[..((chunk + 1) * tokensPerBlock)]));

    // Mixed with an odd constant so that no two layers of one chunk share a stamp.
    private static ulong Stamp(ulong prefix, int layer) => prefix ^ ((ulong)(layer + 1) * 0x9E3779B97F4A7C15UL);
}
