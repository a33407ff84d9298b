using Microsoft.ML.OnnxRuntime;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>How a <see cref="ContiguousDecoder"/> keeps its agent's KV cache between steps.</summary>
public enum PresentHandling
{
    /// <summary>
    /// ONNX Runtime allocates each step's <c>present_i</c> tensors, and the host feeds them back as the next step's
    /// <c>past_i</c>: the model's own way of decoding, the reference a pooled host must reproduce bit for bit.
    /// </summary>
    OrtAllocated,

    /// <summary>
    /// Two preallocated native buffers per layer: a step's <c>present_i</c> is written into one, and is the next
    /// step's <c>past_i</c> as it stands while the following step writes into the other. No copy and no allocation
    /// besides the tensors' headers: the fastest contiguous host.
    /// </summary>
    PingPong,
}

/// <summary>
/// A one-agent decoder that keeps the KV cache the way ONNX Runtime hands it out: contiguous tensors, the last
/// step's <c>present</c> fed back as the next <c>past</c>. The baseline and the reference for <see cref="PooledDecoder"/>.
/// </summary>
public sealed unsafe class ContiguousDecoder : IDisposable
{
    private readonly DecoderModel _model;
    private readonly PresentHandling _handling;
    private readonly int _layers;
    private readonly NativeBuffer<int> _ids;
    private readonly NativeBuffer<int> _positions;
    private readonly NativeBuffer<int> _mask;
    private readonly NativeBuffer<float> _logits;
    private readonly NativeBuffer<float>[][] _kv; // PingPong: [2][layer]
    private readonly NativeBuffer<float> _empty;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly OrtValue[] _inputs;
    private readonly OrtValue[] _outputs;
    private readonly long[] _tokenShape = [1, 0];
    private readonly long[] _maskShape = [1, 0];
    private readonly long[] _logitsShape;
    private readonly long[] _kvShape;
    private readonly RunOptions _runOptions = new();
    private IDisposableReadOnlyCollection<OrtValue>? _results; // OrtAllocated: the last step's outputs
    private IDisposableReadOnlyCollection<OrtValue>? _previous; // OrtAllocated: the step's before, for RewindLastStep
    private int _lastCount; // tokens the last step added, 0 once rewound
    private int _current; // PingPong: which buffer holds the past
    private int _length;

    /// <summary>Creates a decoder for one agent.</summary>
    /// <param name="model">The model.</param>
    /// <param name="handling">How the KV cache is carried from step to step.</param>
    /// <param name="maxPromptTokens">The longest prompt <see cref="Prefill"/> will be given.</param>
    public ContiguousDecoder(DecoderModel model, PresentHandling handling, int maxPromptTokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPromptTokens);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPromptTokens, model.ContextLength);
        _model = model;
        _handling = handling;
        KvCacheSpec spec = model.Spec;
        _layers = spec.Layers;
        _ids = new NativeBuffer<int>(maxPromptTokens);
        _positions = new NativeBuffer<int>(maxPromptTokens);
        _mask = new NativeBuffer<int>(model.ContextLength);
        _mask.Span.Fill(1);
        _logits = new NativeBuffer<float>(maxPromptTokens * model.VocabSize);
        _empty = new NativeBuffer<float>(0);
        _kv = handling == PresentHandling.PingPong ? [NewLayers(), NewLayers()] : [];
        _inputNames = ["input_ids", "position_ids", "attention_mask", .. model.PastNames];
        _outputNames = ["logits", .. model.PresentNames];
        _inputs = new OrtValue[_inputNames.Length];
        _outputs = new OrtValue[_outputNames.Length];
        _logitsShape = [1, 0, model.VocabSize];
        _kvShape = [2, 1, spec.KvHeads, 0, spec.HeadDim];

        NativeBuffer<float>[] NewLayers()
        {
            var layers = new NativeBuffer<float>[spec.Layers];
            for (int layer = 0; layer < layers.Length; layer++)
            {
                layers[layer] = new NativeBuffer<float>(2 * spec.KvHeads * model.ContextLength * spec.HeadDim);
            }

            return layers;
        }
    }

    /// <summary>Tokens in the cache.</summary>
    public int Length => _length;

    /// <summary>Runs the model over the prompt with no past; the cache then holds the prompt.</summary>
    /// <param name="prompt">1 or more token ids.</param>
    /// <returns>The logits, [prompt length, vocab], valid until the next step.</returns>
    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> prompt)
    {
        if (_length != 0)
        {
            throw new InvalidOperationException("The decoder already holds a sequence.");
        }

        return Run(prompt);
    }

    /// <summary>One decode step: runs the model on <paramref name="token"/> after the cached sequence.</summary>
    /// <param name="token">The token to feed.</param>
    /// <returns>The logits, [vocab], valid until the next step.</returns>
    public ReadOnlySpan<float> Decode(int token) => Run([token]);

    /// <summary>
    /// Undoes the last <see cref="Decode"/>: the cache is as it was before it, so the next step runs at the same
    /// context length again (what a benchmark of one step at a fixed context needs).
    /// </summary>
    public void RewindLastStep()
    {
        if (_lastCount != 1)
        {
            throw new InvalidOperationException("Only a decode step can be rewound, and only once.");
        }

        if (_handling == PresentHandling.PingPong)
        {
            _current ^= 1; // the past is still in the buffer the step read it from
        }
        else
        {
            _results!.Dispose();
            _results = _previous;
            _previous = null;
        }

        _length -= 1;
        _lastCount = 0;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _results?.Dispose();
        _results = null;
        _previous?.Dispose();
        _previous = null;
        _runOptions.Dispose();
        _ids.Dispose();
        _positions.Dispose();
        _mask.Dispose();
        _logits.Dispose();
        _empty.Dispose();
        foreach (NativeBuffer<float>[] side in _kv)
        {
            foreach (NativeBuffer<float> buffer in side)
            {
                buffer.Dispose();
            }
        }
    }

    private ReadOnlySpan<float> Run(scoped ReadOnlySpan<int> tokens)
    {
        int count = tokens.Length;
        int past = _length;
        if (count == 0 || count > _ids.Length || past + count > _model.ContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), count, $"Cannot run {count} token(s) after {past}: at most {_ids.Length} at once and {_model.ContextLength} in all.");
        }

        OrtTensors.WriteTokens(tokens, past, _ids, _positions);

        _tokenShape[1] = count;
        _maskShape[1] = past + count;
        _kvShape[3] = past;
        int ownInputs = 3; // the tensors this call made, and so disposes
        try
        {
            _inputs[0] = OrtTensors.Over(_ids, _tokenShape);
            _inputs[1] = OrtTensors.Over(_positions, _tokenShape);
            _inputs[2] = OrtTensors.Over(_mask, _maskShape);
            return _handling == PresentHandling.PingPong ? RunPingPong(count) : RunOrtAllocated(count, out ownInputs);
        }
        finally
        {
            for (int i = 0; i < ownInputs; i++)
            {
                _inputs[i]?.Dispose();
            }

            Array.Clear(_inputs);
        }
    }

    private ReadOnlySpan<float> RunOrtAllocated(int count, out int ownInputs)
    {
        ownInputs = 3;
        if (_results is null)
        {
            ownInputs = _inputs.Length; // the empty past tensors are ours to dispose
            for (int layer = 0; layer < _layers; layer++)
            {
                _inputs[3 + layer] = OrtTensors.Over(_empty, _kvShape);
            }
        }
        else
        {
            for (int layer = 0; layer < _layers; layer++)
            {
                _inputs[3 + layer] = _results[1 + layer]; // the last present, as it came out of ONNX Runtime
            }
        }

        IDisposableReadOnlyCollection<OrtValue> results = _model.Session.Run(_runOptions, _inputNames, _inputs, _outputNames);
        _previous?.Dispose();
        _previous = _results;
        _results = results;
        _length += count;
        _lastCount = count;
        return results[0].GetTensorDataAsSpan<float>();
    }

    private ReadOnlySpan<float> RunPingPong(int count)
    {
        NativeBuffer<float>[] past = _kv[_current];
        NativeBuffer<float>[] present = _kv[_current ^ 1];
        _logitsShape[1] = count;
        try
        {
            _outputs[0] = OrtTensors.Over(_logits, _logitsShape);
            for (int layer = 0; layer < _layers; layer++)
            {
                _inputs[3 + layer] = OrtTensors.Over(past[layer], _kvShape);
            }

            _kvShape[3] = _length + count;
            for (int layer = 0; layer < _layers; layer++)
            {
                _outputs[1 + layer] = OrtTensors.Over(present[layer], _kvShape);
            }

            _model.Session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);
            _current ^= 1;
            _length += count;
            _lastCount = count;
            return new ReadOnlySpan<float>(_logits.Pointer, count * _model.VocabSize);
        }
        finally
        {
            for (int i = 3; i < _inputs.Length; i++)
            {
                _inputs[i]?.Dispose();
                _inputs[i] = null!;
            }

            for (int i = 0; i < _outputs.Length; i++)
            {
                _outputs[i]?.Dispose();
                _outputs[i] = null!;
            }
        }
    }
}
