using System.Buffers.Binary;
using KvBlockPool.Core;

namespace KvBlockPool.Persistence;

/// <summary>
/// What every save starts with, whichever way its bytes travel: the agent pinned, its block counts captured and
/// the header encoded. Disposing releases the pin.
/// </summary>
internal sealed class SaveSession : IDisposable
{
    private SaveSession(AgentPin pin, KvCacheSpec spec, int[] counts, long tokens, int[] tokenIds, byte[] header)
    {
        TokenIds = tokenIds;
        Pin = pin;
        Spec = spec;
        Counts = counts;
        Tokens = tokens;
        Header = header;
    }

    public AgentPin Pin { get; }

    public KvCacheSpec Spec { get; }

    /// <summary>Blocks per layer when the pin was taken.</summary>
    public int[] Counts { get; }

    public long Tokens { get; }

    /// <summary>The token ids written into the header (format 1.2); empty when the saver did not give them.</summary>
    public int[] TokenIds { get; }

    /// <summary>The encoded header, its checksum included.</summary>
    public byte[] Header { get; }

    /// <summary>
    /// Pins <paramref name="agent"/> and encodes its header. With <paramref name="tokenIds"/> (from the cache
    /// manager, which knows them) the token count is their count and the header carries them.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="agent"/> holds no blocks.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenCount"/> is negative or more than the agent's blocks hold.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public static SaveSession Begin(BlockPool pool, AgentId agent, long? tokenCount, int[]? tokenIds = null)
    {
        tokenIds ??= [];
        if (tokenIds.Length > 0)
        {
            tokenCount = tokenIds.Length; // the manager gives ids only when it holds one per token (and at most MaxTokenIds)
        }

        if (tokenCount < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, "The token count cannot be negative.");
        }

        AgentPin pin = pool.Pin(agent);
        try
        {
            // Stable for the whole save: a pinned agent holds blocks, and the pool refuses to reconfigure while any are out.
            KvCacheSpec spec = pool.Spec;
            int[] counts = new int[pin.LayerCount];
            int longest = 0;
            for (int layer = 0; layer < counts.Length; layer++)
            {
                counts[layer] = pin.GetBlockCount(layer);
                longest = Math.Max(longest, counts[layer]);
            }

            long capacity = (long)longest * spec.TokensPerBlock;
            long tokens = tokenCount ?? capacity;
            if (tokens > capacity)
            {
                throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, KvCacheFormat.Invariant($"{agent} holds at most {capacity} tokens ({longest} blocks of {spec.TokensPerBlock} tokens on its longest layer); it cannot hold {tokens}."));
            }

            return new SaveSession(pin, spec, counts, tokens, tokenIds, KvCacheFormat.EncodeHeader(spec, agent, tokens, counts, tokenIds));
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    /// <summary>The header that was written, as a reader would decode it.</summary>
    public KvCacheHeader ToHeader()
    {
        ulong checksum = BinaryPrimitives.ReadUInt64LittleEndian(Header.AsSpan(Header.Length - KvCacheFormat.ChecksumBytes));
        return new KvCacheHeader(KvCacheFormat.MajorVersion, KvCacheFormat.MinorVersion, Header.Length, Spec, Pin.Agent, Tokens, Counts, TokenIds, checksum);
    }

    public void Dispose() => Pin.Dispose();
}
