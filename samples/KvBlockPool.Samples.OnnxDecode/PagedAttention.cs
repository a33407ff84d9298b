using System.Numerics.Tensors;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>
/// A reference paged-attention decode kernel: one query token, per query head, attends over an agent's cached keys
/// and values read straight from the pool's blocks through the block table and <see cref="KvBlockAddressing"/>,
/// without gathering them anywhere: <c>output[q] = softmax(scale * K q) V</c> over the first <c>tokens</c> tokens.
/// </summary>
/// <remarks>
/// <para>
/// Query head <c>q</c> reads KV head <c>q / (queryHeads / KvHeads)</c> (grouped-query attention; the query has
/// <c>queryHeads * HeadDim</c> elements, head-major). Token <c>t</c> lies in block <c>blockTable[t / TokensPerBlock]</c>
/// at slot <c>t % TokensPerBlock</c>; its vector for head <c>h</c> starts <see cref="KvCacheSpec.GetVectorOffset"/>
/// elements into the block's K half (and as many into its V half). In a head-major block a head's vectors for the
/// block's tokens are one contiguous run, so the kernel streams one run per block and head, block by block and, in
/// a block, head by head: each half is read front to back.
/// </para>
/// <para>
/// The addresses are valid only while a lease that covers the blocks is open: call it with a lease's
/// <see cref="KvCacheLease.Addressing"/> and <see cref="KvCacheLease.GetBlockIds"/>, and dispose the lease after.
/// <see cref="DecodeContiguous"/> runs the same arithmetic, in the same order, over one contiguous [head, token, dim]
/// tensor: the baseline a paged kernel is measured against.
/// </para>
/// </remarks>
public static unsafe class PagedAttention
{
    /// <summary>Attention of one query token over the first <paramref name="tokens"/> tokens of <paramref name="layer"/>, read from the lease's blocks in place.</summary>
    /// <param name="lease">An open lease covering <paramref name="layer"/>.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="tokens">How many of the agent's tokens to attend over, at most what the leased blocks hold.</param>
    /// <param name="query">The query, [query heads, head dim].</param>
    /// <param name="output">The attention output, [query heads, head dim].</param>
    /// <param name="scores">Scratch for at least query heads x <paramref name="tokens"/> scores.</param>
    public static void Decode(in KvCacheLease lease, int layer, int tokens, ReadOnlySpan<float> query, Span<float> output, Span<float> scores)
    {
        KvCacheSpec spec = lease.Spec;
        if (spec.ElementType != KvElementType.Float32)
        {
            throw new ArgumentException($"The kernel reads float32 blocks; the lease's are {spec.ElementType}.", nameof(lease));
        }

        Decode(lease.Addressing, spec, lease.GetBlockIds(layer), tokens, query, output, scores);
    }

    /// <summary>
    /// Attention of one query token over the first <paramref name="tokens"/> tokens whose blocks are
    /// <paramref name="blockTable"/>, read in place at the addresses <paramref name="addressing"/> gives.
    /// </summary>
    /// <param name="addressing">The pool's addressing, from a lease.</param>
    /// <param name="spec">The pool's spec (float32).</param>
    /// <param name="blockTable">The agent's block ids on the layer, in token order, from an open lease.</param>
    /// <param name="tokens">How many tokens to attend over, at most <c>blockTable.Length * TokensPerBlock</c>.</param>
    /// <param name="query">The query, [query heads, head dim].</param>
    /// <param name="output">The attention output, [query heads, head dim].</param>
    /// <param name="scores">Scratch for at least query heads x <paramref name="tokens"/> scores.</param>
    public static void Decode(KvBlockAddressing addressing, KvCacheSpec spec, ReadOnlySpan<int> blockTable, int tokens, ReadOnlySpan<float> query, Span<float> output, Span<float> scores)
    {
        ArgumentNullException.ThrowIfNull(addressing);
        ArgumentNullException.ThrowIfNull(spec);
        int queryHeads = CheckShapes(spec.KvHeads, spec.HeadDim, tokens, query, output, scores);
        if (tokens > (long)blockTable.Length * spec.TokensPerBlock)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"The block table holds {blockTable.Length} blocks of {spec.TokensPerBlock} tokens.");
        }

        if (scores.Length < (long)queryHeads * tokens)
        {
            throw new ArgumentException($"The scores scratch must hold {queryHeads} x {tokens} elements.", nameof(scores));
        }

        int dim = spec.HeadDim;
        int group = queryHeads / spec.KvHeads;
        int tokensPerBlock = spec.TokensPerBlock;
        int blocks = (tokens + tokensPerBlock - 1) / tokensPerBlock;
        float scale = 1f / MathF.Sqrt(dim);

        // Block by block, and inside a block head by head: the K half (then the V half) is read front to back, each
        // head's run once for all the query heads that share it. The scores of every query head are kept, [head, token].
        for (int block = 0; block < blocks; block++)
        {
            int first = block * tokensPerBlock;
            int count = Math.Min(tokensPerBlock, tokens - first);
            nint keys = addressing.GetBlockAddress(blockTable[block]);
            for (int head = 0; head < queryHeads; head++)
            {
                float* run = (float*)(keys + (nint)((long)(head / group) * spec.HeadStride * sizeof(float)));
                Score(query.Slice(head * dim, dim), run, spec.TokenStride, scores.Slice((head * tokens) + first, count), scale);
            }
        }

        for (int head = 0; head < queryHeads; head++)
        {
            Normalize(scores.Slice(head * tokens, tokens));
        }

        output[..query.Length].Clear();
        for (int block = 0; block < blocks; block++)
        {
            int first = block * tokensPerBlock;
            int count = Math.Min(tokensPerBlock, tokens - first);
            nint values = addressing.GetBlockAddress(blockTable[block]) + addressing.BytesPerHalf;
            for (int head = 0; head < queryHeads; head++)
            {
                float* run = (float*)(values + (nint)((long)(head / group) * spec.HeadStride * sizeof(float)));
                Accumulate(scores.Slice((head * tokens) + first, count), run, spec.TokenStride, output.Slice(head * dim, dim));
            }
        }
    }

    /// <summary>The same attention over contiguous keys and values, each [KV heads, tokens, head dim]: no blocks, one run per head.</summary>
    /// <param name="keys">The keys, [kvHeads, tokens, headDim].</param>
    /// <param name="values">The values, [kvHeads, tokens, headDim].</param>
    /// <param name="kvHeads">KV heads.</param>
    /// <param name="headDim">Elements per head.</param>
    /// <param name="tokens">Tokens.</param>
    /// <param name="query">The query, [query heads, head dim].</param>
    /// <param name="output">The attention output, [query heads, head dim].</param>
    /// <param name="scores">Scratch for at least <paramref name="tokens"/> scores.</param>
    public static void DecodeContiguous(ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int kvHeads, int headDim, int tokens, ReadOnlySpan<float> query, Span<float> output, Span<float> scores)
    {
        int queryHeads = CheckShapes(kvHeads, headDim, tokens, query, output, scores);
        long elements = (long)kvHeads * tokens * headDim;
        if (keys.Length < elements || values.Length < elements)
        {
            throw new ArgumentException($"Keys and values must hold [{kvHeads}, {tokens}, {headDim}] elements each.", nameof(keys));
        }

        int group = queryHeads / kvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        fixed (float* keyBase = keys)
        fixed (float* valueBase = values)
        {
            for (int head = 0; head < queryHeads; head++)
            {
                ReadOnlySpan<float> q = query.Slice(head * headDim, headDim);
                Span<float> o = output.Slice(head * headDim, headDim);
                long headOffset = (long)(head / group) * tokens * headDim;
                Span<float> weights = scores[..tokens];
                Score(q, keyBase + headOffset, headDim, weights, scale);
                Normalize(weights);
                o.Clear();
                Accumulate(weights, valueBase + headOffset, headDim, o);
            }
        }
    }

    /// <summary>scores[t] = scale * (q . k_t) for the run of keys, one every <paramref name="tokenStride"/> elements.</summary>
    private static void Score(ReadOnlySpan<float> q, float* keys, int tokenStride, Span<float> scores, float scale)
    {
        int dim = q.Length;
        for (int t = 0; t < scores.Length; t++)
        {
            scores[t] = TensorPrimitives.Dot(q, new ReadOnlySpan<float>(keys + ((long)t * tokenStride), dim)) * scale;
        }
    }

    /// <summary>A numerically stable softmax in place.</summary>
    private static void Normalize(Span<float> scores)
    {
        float max = TensorPrimitives.Max(scores);
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Exp(scores, scores);
        TensorPrimitives.Divide(scores, TensorPrimitives.Sum(scores), scores);
    }

    /// <summary>output += sum over t of weights[t] * v_t for the run of values, one every <paramref name="tokenStride"/> elements.</summary>
    private static void Accumulate(ReadOnlySpan<float> weights, float* values, int tokenStride, Span<float> output)
    {
        int dim = output.Length;
        for (int t = 0; t < weights.Length; t++)
        {
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + ((long)t * tokenStride), dim), weights[t], output, output);
        }
    }

    private static int CheckShapes(int kvHeads, int headDim, int tokens, ReadOnlySpan<float> query, Span<float> output, Span<float> scores)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (query.Length == 0 || query.Length % headDim != 0 || (query.Length / headDim) % kvHeads != 0)
        {
            throw new ArgumentException($"The query must hold a multiple of {kvHeads} heads of {headDim} elements.", nameof(query));
        }

        if (output.Length < query.Length)
        {
            throw new ArgumentException($"The output must hold {query.Length} elements, like the query.", nameof(output));
        }

        if (scores.Length < tokens)
        {
            throw new ArgumentException($"The scores scratch must hold {tokens} elements.", nameof(scores));
        }

        return query.Length / headDim;
    }
}
