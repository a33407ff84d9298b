using KvBlockPool.Samples.OnnxDecode;

namespace KvBlockPool.ModelTests;

/// <summary>
/// The paged-attention kernel reading K and V in place from the blocks, against the same kernel over a contiguous
/// copy and against a plain double-precision attention written out here.
/// </summary>
public sealed class PagedAttentionTests
{
    private const float Tolerance = 1e-5f;

    [Theory]
    [InlineData(1, 1, KvBlockLayout.HeadMajor, false)]
    [InlineData(15, 1, KvBlockLayout.HeadMajor, false)]
    [InlineData(16, 1, KvBlockLayout.HeadMajor, false)]
    [InlineData(17, 2, KvBlockLayout.HeadMajor, false)]
    [InlineData(200, 4, KvBlockLayout.HeadMajor, false)]
    [InlineData(200, 2, KvBlockLayout.TokenMajor, false)]
    [InlineData(333, 1, KvBlockLayout.HeadMajor, true)]
    public void The_kernel_over_blocks_equals_attention_over_a_contiguous_copy(int tokens, int group, KvBlockLayout layout, bool diagnostics)
    {
        var spec = new KvCacheSpec(layers: 2, kvHeads: 4, headDim: 32, tokensPerBlock: 16, KvElementType.Float32, layout);
        using var pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = 256, Diagnostics = diagnostics });
        var agent = new AgentId(1);
        var other = new AgentId(2);
        var random = new Random(tokens);
        int blocks = spec.BlocksForTokens(tokens);

        // Interleave another agent's blocks, so the agent's blocks are not adjacent in memory.
        for (int block = 0; block < blocks; block++)
        {
            pool.AllocateAllLayers(agent, 1);
            pool.AllocateAllLayers(other, 1);
        }

        int layer = 1;
        var keys = new float[spec.KvHeads * tokens * spec.HeadDim];
        var values = new float[keys.Length];
        FillRandom(random, keys);
        FillRandom(random, values);
        using (KvCacheLease lease = pool.Lease(agent))
        {
            for (int head = 0; head < spec.KvHeads; head++)
            {
                for (int token = 0; token < tokens; token++)
                {
                    int at = ((head * tokens) + token) * spec.HeadDim;
                    keys.AsSpan(at, spec.HeadDim).CopyTo(lease.GetKeyVector<float>(layer, token, head));
                    values.AsSpan(at, spec.HeadDim).CopyTo(lease.GetValueVector<float>(layer, token, head));
                }
            }
        }

        var query = new float[spec.KvHeads * group * spec.HeadDim];
        FillRandom(random, query);
        var paged = new float[query.Length];
        var contiguous = new float[query.Length];
        var scores = new float[query.Length / spec.HeadDim * tokens];
        using (KvCacheLease lease = pool.Lease(agent))
        {
            PagedAttention.Decode(lease, layer, tokens, query, paged, scores);
        }

        PagedAttention.DecodeContiguous(keys, values, spec.KvHeads, spec.HeadDim, tokens, query, contiguous, scores);
        double[] expected = PlainAttention(keys, values, spec.KvHeads, spec.HeadDim, tokens, query);
        for (int i = 0; i < query.Length; i++)
        {
            // The same arithmetic in the same order: equal within 1e-5 relative (in fact to the bit).
            float allowed = Tolerance * Math.Abs(contiguous[i]);
            Assert.True(Math.Abs(contiguous[i] - paged[i]) <= allowed, $"element {i}: paged {paged[i]:R}, contiguous {contiguous[i]:R}.");
            AssertClose((float)expected[i], paged[i], $"element {i}, paged against the plain attention");
        }

        pool.FreeAgent(agent);
        pool.FreeAgent(other);
    }

    [Fact]
    public void The_kernel_reads_what_a_block_holds_so_a_changed_value_changes_its_output()
    {
        var spec = new KvCacheSpec(layers: 1, kvHeads: 1, headDim: 8, tokensPerBlock: 16, KvElementType.Float32);
        using var pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = 4 });
        var agent = new AgentId(7);
        pool.AllocateAllLayers(agent, 2);
        float[] query = [1, 0, 0, 0, 0, 0, 0, 0];
        var before = new float[8];
        var after = new float[8];
        var scores = new float[20];
        using KvCacheLease lease = pool.Lease(agent);
        lease.GetValueVector<float>(0, 19, 0).Fill(1); // token 19: the second block
        PagedAttention.Decode(lease, 0, 20, query, before, scores);
        lease.GetValueVector<float>(0, 19, 0)[3] = 21;
        PagedAttention.Decode(lease, 0, 20, query, after, scores);

        // All 20 scores are 0 (zeroed keys): uniform weights of 1/20, so value element 3 of token 19 moves output 3 by 20/20.
        AssertClose(0.05f, before[3], "before");
        AssertClose(1.05f, after[3], "after");
        AssertClose(0.05f, after[2], "another element");
    }

    [Fact]
    public void The_kernel_refuses_more_tokens_than_the_block_table_holds()
    {
        var spec = new KvCacheSpec(layers: 1, kvHeads: 2, headDim: 4, tokensPerBlock: 16, KvElementType.Float32);
        using var pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = 4 });
        var agent = new AgentId(3);
        pool.AllocateAllLayers(agent, 1);
        using KvCacheLease lease = pool.Lease(agent);
        var output = new float[8];
        Assert.Throws<ArgumentOutOfRangeException>(() => PagedAttention.Decode(lease, 0, 17, new float[8], output, new float[34]));
        Assert.Throws<ArgumentException>(() => PagedAttention.Decode(lease, 0, 16, new float[8], output, new float[31]));
        Assert.Throws<ArgumentException>(() => PagedAttention.Decode(lease, 0, 16, new float[6], output, new float[32]));
    }

    private static double[] PlainAttention(float[] keys, float[] values, int kvHeads, int dim, int tokens, float[] query)
    {
        int queryHeads = query.Length / dim;
        int group = queryHeads / kvHeads;
        var output = new double[query.Length];
        for (int q = 0; q < queryHeads; q++)
        {
            int head = q / group;
            var scores = new double[tokens];
            for (int t = 0; t < tokens; t++)
            {
                double dot = 0;
                for (int d = 0; d < dim; d++)
                {
                    dot += (double)query[(q * dim) + d] * keys[(((head * tokens) + t) * dim) + d];
                }

                scores[t] = dot / Math.Sqrt(dim);
            }

            double max = scores.Max();
            double sum = scores.Sum(s => Math.Exp(s - max));
            for (int t = 0; t < tokens; t++)
            {
                double weight = Math.Exp(scores[t] - max) / sum;
                for (int d = 0; d < dim; d++)
                {
                    output[(q * dim) + d] += weight * values[(((head * tokens) + t) * dim) + d];
                }
            }
        }

        return output;
    }

    private static void FillRandom(Random random, Span<float> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }
    }

    /// <summary>Within 1e-5 relative, or absolute for results below 1 (a float sum of 333 terms rounds at about that).</summary>
    private static void AssertClose(float expected, float actual, string what)
    {
        float allowed = Tolerance * Math.Max(1f, Math.Abs(expected));
        Assert.True(Math.Abs(expected - actual) <= allowed, $"{what}: {actual:R}, expected {expected:R} within {allowed:G3}.");
    }
}
