using System.Runtime.InteropServices;
using KvBlockPool.Lifecycle;
using KvBlockPool.Samples.OnnxDecode;

namespace KvBlockPool.ModelTests;

/// <summary>
/// The pooled host against ONNX Runtime's own decoding (each step's <c>present</c> fed back as the next <c>past</c>):
/// for every run of every agent, the logits must be equal bit for bit, whatever the threads, the block size, the
/// layout or the pool's mode, and the pool must hold no block at the end.
/// </summary>
public sealed class BitExactDecodeTests(ModelFixture fixture) : IClassFixture<ModelFixture>
{
    private readonly DecoderModel _model = fixture.Model;

    [Fact]
    public void Pooled_decoding_on_one_thread_reproduces_OnnxRuntime_logits_bit_for_bit() =>
        AssertBitExact(new DecodeRunOptions { Agents = 3, Threads = 1, Steps = 40, PromptTokens = 5 }, new BlockPoolOptions());

    [Fact]
    public void Pooled_decoding_on_three_threads_reproduces_OnnxRuntime_logits_bit_for_bit() =>
        AssertBitExact(new DecodeRunOptions { Agents = 6, Threads = 3, Steps = 60, PromptTokens = 7 }, new BlockPoolOptions());

    [Fact]
    public void Pooled_decoding_in_diagnostics_mode_on_three_threads_reproduces_OnnxRuntime_logits_bit_for_bit() =>
        AssertBitExact(new DecodeRunOptions { Agents = 4, Threads = 3, Steps = 40, PromptTokens = 6, Seed = 3 }, new BlockPoolOptions { Diagnostics = true });

    [Theory]
    [InlineData(1, KvBlockLayout.HeadMajor)]
    [InlineData(5, KvBlockLayout.HeadMajor)]
    [InlineData(16, KvBlockLayout.TokenMajor)]
    public void Pooled_decoding_with_other_blocks_reproduces_OnnxRuntime_logits_bit_for_bit(int tokensPerBlock, KvBlockLayout layout) =>
        AssertBitExact(
            new DecodeRunOptions { Agents = 2, Threads = 2, Steps = 24, PromptTokens = 9 },
            new BlockPoolOptions { Spec = new KvCacheSpec(_model.Spec.Layers, _model.Spec.KvHeads, _model.Spec.HeadDim, tokensPerBlock, KvElementType.Float32, layout) });

    [Fact]
    public void Two_agents_sharing_a_prompt_through_the_prefix_cache_reproduce_OnnxRuntime_logits_bit_for_bit()
    {
        // 4 tokens per block: the first agent prefills 8 tokens (2 chunks, published), then decodes the 9th; the
        // second agent's prompt is the same 9 tokens, so it finds 8 cached and runs the model over the 9th only, on
        // a past read from the first agent's shared blocks. Both must compute exactly what ONNX Runtime does.
        KvCacheSpec spec = new(_model.Spec.Layers, _model.Spec.KvHeads, _model.Spec.HeadDim, 4, KvElementType.Float32);
        using var pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = 512, PrefixCache = new KvBlockPool.Prefix.KvPrefixCacheOptions() });
        using var cache = new AgentCacheManager(pool);
        using var decoder = new PooledDecoder(_model, cache, maxPromptTokens: 16);
        int[] prompt = new DecodeRunOptions { PromptTokens = 9 }.Prompt(0, _model.VocabSize);
        var first = new AgentId(1);
        var second = new AgentId(2);

        List<float[]> reference = ReferenceLogits(prompt[..8], prompt[8..]);
        (ReadOnlyMemory<float> prefill, int firstCached) = decoder.PrefillCached(first, prompt[..8]);
        Assert.Equal(0, firstCached);
        AssertSameBits(reference[0], prefill.Span, "the first agent's prefill");
        AssertSameBits(reference[1], decoder.Decode(first, prompt[8]), "the first agent's 9th token");

        (ReadOnlyMemory<float> shared, int secondCached) = decoder.PrefillCached(second, prompt);
        Assert.Equal(8, secondCached);
        AssertSameBits(reference[1], shared.Span, "the second agent's 9th token on the shared past");

        // Both go on decoding the same greedy continuation from their own tails.
        int token = MultiAgentDecode.ArgMaxOfLastRow(reference[1], _model.VocabSize);
        List<float[]> onward = ReferenceLogits(prompt[..8], [prompt[8], token]);
        float[] a = decoder.Decode(first, token).ToArray();
        float[] b = decoder.Decode(second, token).ToArray();
        AssertSameBits(onward[2], a, "the first agent, a step on");
        AssertSameBits(onward[2], b, "the second agent, a step on");
        Assert.Equal(2, pool.PrefixCache!.GetStatistics().StoredChunks);
        cache.Release(first);
        cache.Release(second);
        Assert.Equal(0, pool.GetStatistics().Allocated);
    }

    [Fact]
    public void The_preallocated_contiguous_host_computes_what_OnnxRuntime_own_decoding_does()
    {
        int[] prompt = new DecodeRunOptions().Prompt(0, _model.VocabSize);
        using var reference = new ContiguousDecoder(_model, PresentHandling.OrtAllocated, prompt.Length);
        using var pingPong = new ContiguousDecoder(_model, PresentHandling.PingPong, prompt.Length);
        ReadOnlySpan<float> expected = reference.Prefill(prompt);
        AssertSameBits(expected, pingPong.Prefill(prompt), "prefill");
        for (int step = 1; step <= 30; step++)
        {
            int token = MultiAgentDecode.ArgMaxOfLastRow(expected, _model.VocabSize);
            expected = reference.Decode(token);
            AssertSameBits(expected, pingPong.Decode(token), $"run {step}");
        }

        Assert.Equal(prompt.Length + 30, pingPong.Length);
    }

    [Theory]
    [InlineData(PresentHandling.OrtAllocated)]
    [InlineData(PresentHandling.PingPong)]
    public void A_rewound_contiguous_step_runs_again_from_the_same_past(PresentHandling handling)
    {
        int[] prompt = new DecodeRunOptions().Prompt(1, _model.VocabSize);
        using var decoder = new ContiguousDecoder(_model, handling, prompt.Length);
        int token = MultiAgentDecode.ArgMaxOfLastRow(decoder.Prefill(prompt), _model.VocabSize);
        token = MultiAgentDecode.ArgMaxOfLastRow(decoder.Decode(token), _model.VocabSize);
        float[] first = decoder.Decode(token).ToArray();
        decoder.RewindLastStep();
        Assert.Equal(prompt.Length + 1, decoder.Length);
        Assert.Throws<InvalidOperationException>(decoder.RewindLastStep);
        AssertSameBits(first, decoder.Decode(token), "the step run again");
        Assert.False(SameBits(first, decoder.Decode(token)), "a step after it runs at a longer context");
    }

    [Fact]
    public void A_cached_key_with_its_sign_bit_flipped_changes_the_logits_so_the_comparison_can_fail()
    {
        using var pool = NewPool(new BlockPoolOptions());
        using var cache = new AgentCacheManager(pool);
        var options = new DecodeRunOptions { Agents = 1, Threads = 1, Steps = 6, PromptTokens = 4 };
        var pooled = new List<float[]>();
        MultiAgentDecode.Run(_model, cache, options, (agent, step, logits) =>
        {
            pooled.Add(logits.ToArray());
            if (step == 2)
            {
                // Flip the sign of one element of one cached key: the next runs read it back from the block. (Its
                // lowest mantissa bit is not enough: this model's random weights let a change that small vanish.)
                using KvCacheLease lease = cache.Lease(new AgentId(agent));
                Span<float> key = lease.GetKeyVector<float>(layer: 2, token: 1, head: 3);
                key[5] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(key[5]) ^ int.MinValue);
            }
        });

        List<float[]> reference = ReferenceLogits(options.Prompt(0, _model.VocabSize), TokensFed(options, pooled));
        for (int step = 0; step <= 2; step++)
        {
            Assert.True(SameBits(reference[step], pooled[step]), $"run {step} came before the change and must match");
        }

        Assert.Contains(Enumerable.Range(3, options.Steps - 2), step => !SameBits(reference[step], pooled[step]));
    }

    private void AssertBitExact(DecodeRunOptions options, BlockPoolOptions poolOptions)
    {
        using var pool = NewPool(poolOptions);
        using var cache = new AgentCacheManager(pool);
        var logits = new List<float[]>[options.Agents];
        for (int agent = 0; agent < options.Agents; agent++)
        {
            logits[agent] = [];
        }

        DecodeRunResult result = MultiAgentDecode.Run(_model, cache, options, (agent, step, values) =>
        {
            Assert.Equal(step, logits[agent].Count); // each agent's runs arrive in order, on its own thread
            logits[agent].Add(values.ToArray());
        });

        Assert.Equal(0, pool.GetStatistics().Allocated);
        Assert.Equal(0, cache.AgentCount);
        Assert.Equal(options.Agents * (options.Steps - 1), result.DecodeSteps); // the first step of each agent is a warm-up, not timed
        for (int agent = 0; agent < options.Agents; agent++)
        {
            int[] prompt = options.Prompt(agent, _model.VocabSize);
            int[] sequence = result.Tokens[agent];
            Assert.Equal(prompt, sequence[..prompt.Length]);
            Assert.Equal(options.Steps + 1, logits[agent].Count);

            List<float[]> reference = ReferenceLogits(prompt, sequence[prompt.Length..^1]);
            for (int step = 0; step < reference.Count; step++)
            {
                AssertSameBits(reference[step], logits[agent][step], $"agent {agent}, run {step}");
            }

            // Greedy: every token the pooled run chose is the reference's choice too.
            for (int step = 0; step < reference.Count; step++)
            {
                Assert.Equal(MultiAgentDecode.ArgMaxOfLastRow(reference[step], _model.VocabSize), sequence[prompt.Length + step]);
            }
        }
    }

    /// <summary>ONNX Runtime's own decoding: the prompt, then each of <paramref name="fed"/>, present fed back as past.</summary>
    private List<float[]> ReferenceLogits(int[] prompt, ReadOnlySpan<int> fed)
    {
        using var decoder = new ContiguousDecoder(_model, PresentHandling.OrtAllocated, prompt.Length);
        var logits = new List<float[]> { decoder.Prefill(prompt).ToArray() };
        foreach (int token in fed)
        {
            logits.Add(decoder.Decode(token).ToArray());
        }

        return logits;
    }

    private int[] TokensFed(DecodeRunOptions options, List<float[]> logits) =>
        [.. logits.Take(options.Steps).Select(l => MultiAgentDecode.ArgMaxOfLastRow(l, _model.VocabSize))];

    private BlockPool NewPool(BlockPoolOptions options) => new(new BlockPoolOptions
    {
        Spec = options.Spec ?? _model.Spec,
        CapacityBlocks = 512,
        Diagnostics = options.Diagnostics ?? false,
    });

    private static bool SameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual) =>
        MemoryMarshal.AsBytes(expected).SequenceEqual(MemoryMarshal.AsBytes(actual));

    private static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{where}: logit {i} is {actual[i]:R}, ONNX Runtime's own decoding gave {expected[i]:R}.");
            }
        }
    }
}
