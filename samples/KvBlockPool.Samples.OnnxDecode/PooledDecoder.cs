using System.Diagnostics;
using KvBlockPool.Lifecycle;
using Microsoft.ML.OnnxRuntime;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>
/// One thread's decoder whose KV cache lives in the pool: every agent's K and V are in its blocks (through an
/// <see cref="AgentCacheManager"/>), and the decoder keeps nothing of them between steps. A step appends the new token
/// (its block slot), leases the agent's blocks (one trip through the pool's gate), gathers the past from the blocks
/// into the model's <c>past_i</c> tensors, runs the model, and scatters the new token's K and V from
/// <c>present_i</c> into its slot. The tensors are the decoder's own native buffers, reused by every agent it serves,
/// so a step allocates no tensor memory.
/// </summary>
/// <remarks>
/// Use one decoder per thread; several decoders may share the model and the cache manager. A step that throws
/// leaves the agent's cache holding a token whose K and V were not written: release the agent.
/// </remarks>
public sealed unsafe partial class PooledDecoder : IDisposable
{
    private readonly DecoderModel _model;
    private readonly AgentCacheManager _cache;
    private readonly KvCacheSpec _spec;
    private readonly int _maxPromptTokens;
    private readonly NativeBuffer<int> _ids;
    private readonly NativeBuffer<int> _positions;
    private readonly NativeBuffer<int> _mask;
    private readonly NativeBuffer<float> _logits;
    private readonly NativeBuffer<float>[] _past;
    private readonly NativeBuffer<float>[] _present;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly OrtValue[] _inputs;
    private readonly OrtValue[] _outputs;
    private readonly long[] _tokenShape = [1, 0];
    private readonly long[] _maskShape = [1, 0];
    private readonly long[] _logitsShape;
    private readonly long[] _pastShape;
    private readonly long[] _presentShape;
    private readonly RunOptions _runOptions = new();
    private StepTimings _timings;

    /// <summary>Creates a decoder for <paramref name="model"/> over the pool of <paramref name="cache"/>.</summary>
    /// <param name="model">The model; the pool's blocks must hold its layers, KV heads and head dim in float32 (any tokens per block, either layout).</param>
    /// <param name="cache">The cache manager that holds the agents' blocks.</param>
    /// <param name="maxPromptTokens">The longest prompt <see cref="Prefill"/> will be given.</param>
    public PooledDecoder(DecoderModel model, AgentCacheManager cache, int maxPromptTokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPromptTokens);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPromptTokens, model.ContextLength);
        KvCacheSpec spec = cache.Pool.Spec;
        if (spec.Layers != model.Spec.Layers || spec.KvHeads != model.Spec.KvHeads || spec.HeadDim != model.Spec.HeadDim || spec.ElementType != KvElementType.Float32)
        {
            throw new ArgumentException($"The pool's blocks ({spec}) do not hold the model's KV cache ({model.Spec}): layers, KV heads, head dim and element type must match.", nameof(cache));
        }

        _model = model;
        _cache = cache;
        _spec = spec; // tokens per block and layout are the pool's choice
        _maxPromptTokens = maxPromptTokens;
        int layers = _spec.Layers;
        int maxTokens = model.ContextLength;
        int kvElements = 2 * _spec.KvHeads * maxTokens * _spec.HeadDim; // [2, 1, heads, tokens, dim] at full context

        _ids = new NativeBuffer<int>(maxPromptTokens);
        _positions = new NativeBuffer<int>(maxPromptTokens);
        _mask = new NativeBuffer<int>(maxTokens);
        _mask.Span.Fill(1); // every token of a sequence is attended to
        _logits = new NativeBuffer<float>(maxPromptTokens * model.VocabSize);
        _past = new NativeBuffer<float>[layers];
        _present = new NativeBuffer<float>[layers];
        for (int layer = 0; layer < layers; layer++)
        {
            _past[layer] = new NativeBuffer<float>(kvElements);
            _present[layer] = new NativeBuffer<float>(kvElements);
        }

        _inputNames = ["input_ids", "position_ids", "attention_mask", .. model.PastNames];
        _outputNames = ["logits", .. model.PresentNames];
        _inputs = new OrtValue[_inputNames.Length];
        _outputs = new OrtValue[_outputNames.Length];
        _logitsShape = [1, 0, model.VocabSize];
        _pastShape = [2, 1, _spec.KvHeads, 0, _spec.HeadDim];
        _presentShape = [2, 1, _spec.KvHeads, 0, _spec.HeadDim];
    }

    /// <summary>Where this decoder's steps spent their time so far.</summary>
    public StepTimings Timings => _timings;

    /// <summary>Forgets the timings so far (after a warm-up).</summary>
    public void ResetTimings() => _timings = default;

    /// <summary>
    /// Admits <paramref name="agent"/> with <paramref name="prompt"/> through the pool's prefix cache: the tokens
    /// already cached (shared chunks of earlier agents with the same prefix) are gathered as the past, the model runs
    /// over the rest only, their K and V are scattered into the agent's own blocks, and the prompt's full chunks are
    /// published for later agents.
    /// </summary>
    /// <param name="agent">An agent the cache manager does not hold.</param>
    /// <param name="prompt">1 to the decoder's longest prompt of token ids.</param>
    /// <returns>The logits of the tokens computed (the last row is the next token's), and how many tokens were cached.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The prompt is empty or longer than the decoder's longest prompt.</exception>
    public (ReadOnlyMemory<float> Logits, int CachedTokens) PrefillCached(AgentId agent, ReadOnlySpan<int> prompt)
    {
        CheckPrompt(prompt.Length);
        int cached = _cache.Admit(agent, prompt).CachedTokens;
        return (PrefillAfter(agent, prompt, cached), cached);
    }

    private void CheckPrompt(int length)
    {
        if (length == 0 || length > _maxPromptTokens)
        {
            throw new ArgumentOutOfRangeException("prompt", length, $"A prompt must hold 1 to {_maxPromptTokens} tokens (the decoder's longest prompt).");
        }
    }

    /// <summary>Runs the model over the prompt's tokens after the <paramref name="cached"/> ones, scatters them, publishes the prompt's chunks.</summary>
    private float[] PrefillAfter(AgentId agent, ReadOnlySpan<int> prompt, int cached)
    {
        using (KvCacheLease lease = _cache.Lease(agent))
        {
            Gather(lease, past: cached);
            ReadOnlySpan<float> logits = Run(prompt[cached..], past: cached);
            Scatter(lease, first: cached, count: prompt.Length - cached);
            float[] copy = logits.ToArray();
            _cache.PublishComputed(agent, prompt.Length);
            return copy;
        }
    }

    /// <summary>
    /// Admits <paramref name="agent"/> with <paramref name="prompt"/>: blocks for every prompt token on every layer,
    /// one model run over the whole prompt (no past), and the prompt's K and V scattered into the blocks.
    /// </summary>
    /// <param name="agent">An agent the cache manager does not hold.</param>
    /// <param name="prompt">1 to the decoder's longest prompt of token ids.</param>
    /// <returns>The logits, [prompt length, vocab], valid until the decoder's next step.</returns>
    public ReadOnlySpan<float> Prefill(AgentId agent, ReadOnlySpan<int> prompt)
    {
        if (prompt.IsEmpty || prompt.Length > _maxPromptTokens)
        {
            throw new ArgumentOutOfRangeException(nameof(prompt), prompt.Length, $"A prompt must hold 1 to {_maxPromptTokens} tokens (the decoder's longest prompt).");
        }

        long start = Stopwatch.GetTimestamp();
        _cache.Admit(agent, prompt.Length);
        KvCacheLease lease = _cache.Lease(agent);
        try
        {
            long leased = Stopwatch.GetTimestamp();
            _timings.PoolTicks += leased - start;
            ReadOnlySpan<float> logits = Run(prompt, past: 0);
            long ran = Stopwatch.GetTimestamp();
            Scatter(lease, first: 0, count: prompt.Length);
            long scattered = Stopwatch.GetTimestamp();
            _timings.ModelTicks += ran - leased;
            _timings.ScatterTicks += scattered - ran;
            _timings.Runs++;
            return logits;
        }
        finally
        {
            long end = Stopwatch.GetTimestamp();
            lease.Dispose();
            _timings.PoolTicks += Stopwatch.GetTimestamp() - end;
        }
    }

    /// <summary>
    /// One decode step of <paramref name="agent"/>: appends <paramref name="token"/> to its cache, runs the model on
    /// it with the past gathered from the blocks, and writes its K and V into its slot.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="token">The token to feed (the last one generated).</param>
    /// <returns>The logits for the next token, [vocab], valid until the decoder's next step.</returns>
    public ReadOnlySpan<float> Decode(AgentId agent, int token)
    {
        long start = Stopwatch.GetTimestamp();
        KvTokenSlot slot = _cache.AppendToken(agent);
        if (slot.Token >= _model.ContextLength)
        {
            _cache.Truncate(agent, slot.Token);
            throw new InvalidOperationException($"{agent} holds {slot.Token} tokens: the model has positions for {_model.ContextLength}.");
        }

        KvCacheLease lease = _cache.Lease(agent); // after the append: it sees the new token's block
        try
        {
            long leased = Stopwatch.GetTimestamp();
            Gather(lease, past: slot.Token);
            long gathered = Stopwatch.GetTimestamp();
            ReadOnlySpan<float> logits = Run([token], past: slot.Token);
            long ran = Stopwatch.GetTimestamp();
            Scatter(lease, first: slot.Token, count: 1);
            long scattered = Stopwatch.GetTimestamp();
            _timings.PoolTicks += leased - start;
            _timings.GatherTicks += gathered - leased;
            _timings.ModelTicks += ran - gathered;
            _timings.ScatterTicks += scattered - ran;
            _timings.Runs++;
            return logits;
        }
        finally
        {
            long end = Stopwatch.GetTimestamp();
            lease.Dispose();
            _timings.PoolTicks += Stopwatch.GetTimestamp() - end;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _runOptions.Dispose();
        _ids.Dispose();
        _positions.Dispose();
        _mask.Dispose();
        _logits.Dispose();
        foreach (NativeBuffer<float> buffer in _past)
        {
            buffer.Dispose();
        }

        foreach (NativeBuffer<float> buffer in _present)
        {
            buffer.Dispose();
        }
    }

    /// <summary>
    /// Copies the agent's first <paramref name="past"/> tokens of every layer from its blocks into the
    /// <c>past_i</c> buffers, laid out [K/V, heads, past, dim]. Block <c>b</c> of a layer holds tokens
    /// <c>b * TokensPerBlock</c> onwards; in a head-major block one head's vectors for those tokens are one run, so a
    /// block is one copy per head and half. The blocks are read in place through the lease's block table and
    /// addressing (as a kernel would read them): the lease keeps them from being freed while it is open.
    /// </summary>
    private void Gather(in KvCacheLease lease, int past)
    {
        KvBlockAddressing addressing = lease.Addressing;
        int heads = _spec.KvHeads;
        int dim = _spec.HeadDim;
        int tokensPerBlock = _spec.TokensPerBlock;
        bool headMajor = _spec.TokenStride == dim;
        int blocks = (past + tokensPerBlock - 1) / tokensPerBlock;
        for (int layer = 0; layer < _spec.Layers; layer++)
        {
            ReadOnlySpan<int> table = lease.GetBlockIds(layer);
            float* keys = _past[layer].Pointer;
            float* values = keys + ((long)heads * past * dim);
            for (int block = 0; block < blocks; block++)
            {
                int first = block * tokensPerBlock;
                int count = Math.Min(tokensPerBlock, past - first);
                float* blockKeys = (float*)addressing.GetBlockAddress(table[block]);
                float* blockValues = (float*)((byte*)blockKeys + addressing.BytesPerHalf);
                for (int head = 0; head < heads; head++)
                {
                    long destination = (((long)head * past) + first) * dim;
                    long source = (long)head * _spec.HeadStride;
                    if (headMajor)
                    {
                        long bytes = (long)count * dim * sizeof(float);
                        Buffer.MemoryCopy(blockKeys + source, keys + destination, bytes, bytes);
                        Buffer.MemoryCopy(blockValues + source, values + destination, bytes, bytes);
                        continue;
                    }

                    for (int slot = 0; slot < count; slot++)
                    {
                        long vector = source + ((long)slot * _spec.TokenStride);
                        long bytes = (long)dim * sizeof(float);
                        Buffer.MemoryCopy(blockKeys + vector, keys + destination + (slot * dim), bytes, bytes);
                        Buffer.MemoryCopy(blockValues + vector, values + destination + (slot * dim), bytes, bytes);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Copies tokens <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1 of every
    /// layer's <c>present_i</c> into their block slots, through the lease's typed spans of each block's halves.
    /// </summary>
    private void Scatter(in KvCacheLease lease, int first, int count)
    {
        int heads = _spec.KvHeads;
        int dim = _spec.HeadDim;
        int tokensPerBlock = _spec.TokensPerBlock;
        int total = first + count; // present holds [K/V, heads, total, dim]
        for (int layer = 0; layer < _spec.Layers; layer++)
        {
            float* present = _present[layer].Pointer;
            for (int token = first; token < total;)
            {
                (int block, int slot) = Math.DivRem(token, tokensPerBlock);
                Span<float> keys = lease.GetKeys<float>(layer, block);
                Span<float> values = lease.GetValues<float>(layer, block);
                for (; slot < tokensPerBlock && token < total; slot++, token++)
                {
                    for (int head = 0; head < heads; head++)
                    {
                        int offset = _spec.GetVectorOffset(slot, head);
                        long key = (((long)head * total) + token) * dim;
                        long value = (((long)(heads + head) * total) + token) * dim;
                        new ReadOnlySpan<float>(present + key, dim).CopyTo(keys.Slice(offset, dim));
                        new ReadOnlySpan<float>(present + value, dim).CopyTo(values.Slice(offset, dim));
                    }
                }
            }
        }
    }

    /// <summary>Runs the model on <paramref name="tokens"/> after <paramref name="past"/> tokens already in the <c>past_i</c> buffers.</summary>
    private ReadOnlySpan<float> Run(scoped ReadOnlySpan<int> tokens, int past)
    {
        int count = tokens.Length;
        int total = past + count;
        OrtTensors.WriteTokens(tokens, past, _ids, _positions);

        _tokenShape[1] = count;
        _maskShape[1] = total;
        _logitsShape[1] = count;
        _pastShape[3] = past;
        _presentShape[3] = total;
        try
        {
            _inputs[0] = OrtTensors.Over(_ids, _tokenShape);
            _inputs[1] = OrtTensors.Over(_positions, _tokenShape);
            _inputs[2] = OrtTensors.Over(_mask, _maskShape);
            _outputs[0] = OrtTensors.Over(_logits, _logitsShape);
            for (int layer = 0; layer < _spec.Layers; layer++)
            {
                _inputs[3 + layer] = OrtTensors.Over(_past[layer], _pastShape);
                _outputs[1 + layer] = OrtTensors.Over(_present[layer], _presentShape);
            }

            _model.Session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);
            return new ReadOnlySpan<float>(_logits.Pointer, count * _model.VocabSize);
        }
        finally
        {
            DisposeAll(_inputs);
            DisposeAll(_outputs);
        }
    }

    private static void DisposeAll(OrtValue[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i]?.Dispose();
            values[i] = null!;
        }
    }
}
