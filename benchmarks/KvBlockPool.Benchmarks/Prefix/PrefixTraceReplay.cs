using System.Globalization;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;

namespace KvBlockPool.Benchmarks.Prefix;

/// <summary>
/// Replays the recorded trace through a pool with a prefix cache, one request at a time (admit with the prompt,
/// publish it, decode the reply token by token, release), and reports the hit rate beside an infinite cache's (every
/// chunk ever computed kept forever: the most any cache could hit) for pools from larger than the working set to
/// much smaller. Run with <c>-- --prefix-trace</c>; the figures are counts, not timings, so they do not vary between runs.
/// </summary>
internal static class PrefixTraceReplay
{
    /// <summary>Prints the table for docs/benchmarks.md.</summary>
    public static void Run()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Prefix", PrefixTrace.FileName);
        List<PrefixTraceRequest> trace = PrefixTrace.Read(path);
        // Hit rates depend on the chunk size, not the block bytes: a small spec keeps the largest pool under 100 MB.
        var spec = new KvCacheSpec(layers: 4, kvHeads: 1, headDim: 8, tokensPerBlock: 16, KvElementType.Float16);
        (double infinite, long queried, long workingSetChunks) = InfiniteCache(trace, spec.TokensPerBlock);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{trace.Count} requests, {queried:N0} prompt tokens, {workingSetChunks:N0} distinct chunks ({workingSetChunks * spec.Layers:N0} blocks); infinite cache: {infinite:P2}"));
        Console.WriteLine("| Pool (blocks) | Share of the working set | Hit rate | Infinite cache | Difference (points) | Evicted chunks |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        foreach (double share in new[] { 1.10, 0.50, 0.25, 0.10, 0.05, 0.02 })
        {
            int capacity = (int)(workingSetChunks * spec.Layers * share) + (8_192 / spec.TokensPerBlock * spec.Layers);
            (double hitRate, long evicted) = Replay(trace, spec, capacity);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {capacity:N0} | {share:P0} | {hitRate:P2} | {infinite:P2} | {(infinite - hitRate) * 100:F2} | {evicted:N0} |"));
        }
    }

    /// <summary>The hit rate of a cache that keeps every chunk ever published, by the same rules (full chunks, never the last token).</summary>
    private static (double HitRate, long Queried, long Chunks) InfiniteCache(List<PrefixTraceRequest> trace, int chunk)
    {
        var seen = new HashSet<ulong>();
        long queried = 0, hits = 0;
        foreach ((PrefixTraceRequest request, int[] prompt, int[] full) in Sequences(trace))
        {
            queried += prompt.Length;
            int hittable = (prompt.Length - 1) / chunk;
            ulong[] promptKeys = Keys(prompt, chunk);
            int hit = 0;
            while (hit < hittable && seen.Contains(promptKeys[hit]))
            {
                hit++;
            }

            hits += hit * chunk;

            // Published: every full chunk of the prompt and reply, except the last token's (computed, never appended after).
            ulong[] fullKeys = Keys(full, chunk);
            for (int c = 0; c < (full.Length - 1) / chunk; c++)
            {
                seen.Add(fullKeys[c]);
            }
        }

        return ((double)hits / queried, queried, seen.Count);
    }

    private static (double HitRate, long Evicted) Replay(List<PrefixTraceRequest> trace, KvCacheSpec spec, int capacity)
    {
        using var pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = capacity, ClearMode = BlockClearMode.None, PrefixCache = new KvPrefixCacheOptions() });
        using var manager = new AgentCacheManager(pool);
        var agent = new AgentId(1);
        foreach ((PrefixTraceRequest request, int[] prompt, int[] full) in Sequences(trace))
        {
            manager.Admit(agent, prompt);
            manager.PublishComputed(agent, prompt.Length);
            for (int i = prompt.Length; i < full.Length; i++)
            {
                manager.AppendToken(agent, full[i]);
            }

            manager.Release(agent);
        }

        KvPrefixCacheStatistics stats = pool.PrefixCache!.GetStatistics();
        return (stats.HitRate, stats.EvictedChunks);
    }

    /// <summary>Each request with its prompt and its whole sequence (prompt and reply).</summary>
    private static IEnumerable<(PrefixTraceRequest Request, int[] Prompt, int[] Full)> Sequences(List<PrefixTraceRequest> trace)
    {
        var turns = new Dictionary<int, List<PrefixTraceRequest>>();
        foreach (PrefixTraceRequest request in trace)
        {
            if (!turns.TryGetValue(request.Conversation, out List<PrefixTraceRequest>? earlier))
            {
                turns[request.Conversation] = earlier = [];
            }

            int[] prompt = request.Prompt(earlier);
            yield return (request, prompt, [.. prompt, .. request.Reply()]);
            earlier.Add(request);
        }
    }

    /// <summary>A chained 64-bit key per full chunk (XXH3 of the parent's key and the chunk's tokens): independent of the pool's own keys.</summary>
    private static ulong[] Keys(int[] tokens, int chunk)
    {
        var keys = new ulong[tokens.Length / chunk];
        ulong parent = 0;
        var input = new byte[8 + (chunk * sizeof(int))];
        for (int c = 0; c < keys.Length; c++)
        {
            BitConverter.TryWriteBytes(input, parent);
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan(c * chunk, chunk)).CopyTo(input.AsSpan(8));
            keys[c] = parent = System.IO.Hashing.XxHash3.HashToUInt64(input);
        }

        return keys;
    }
}
