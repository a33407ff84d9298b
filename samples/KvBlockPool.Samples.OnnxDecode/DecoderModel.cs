using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>
/// A GPT-2-style ONNX decoder with past/present KV inputs (<c>input_ids</c>, <c>position_ids</c>,
/// <c>attention_mask</c>, <c>past_i</c> [2, batch, heads, past, dim] in; <c>logits</c>, <c>present_i</c> out), and the
/// KV cache spec a host pools for it. The spec comes from the <c>genai_config.json</c> beside the model, as an ONNX
/// Runtime GenAI host sizes its cache; <see cref="Load"/> checks that the model's own KV inputs and outputs agree with it.
/// </summary>
public sealed class DecoderModel : IDisposable
{
    private DecoderModel(InferenceSession session, KvCacheSpec spec, int vocabSize, int contextLength, string[] pastNames, string[] presentNames)
    {
        Session = session;
        Spec = spec;
        VocabSize = vocabSize;
        ContextLength = contextLength;
        PastNames = pastNames;
        PresentNames = presentNames;
    }

    /// <summary>The session; <c>Run</c> may be called from several threads at once.</summary>
    public InferenceSession Session { get; }

    /// <summary>The KV cache shape: layers, KV heads, head dim from the config; float32, head-major (the order of a <c>past</c> tensor).</summary>
    public KvCacheSpec Spec { get; }

    /// <summary>Logits per token.</summary>
    public int VocabSize { get; }

    /// <summary>The longest sequence (prompt and generated tokens) the model has positions for.</summary>
    public int ContextLength { get; }

    /// <summary>The <c>past_i</c> input of each layer.</summary>
    public IReadOnlyList<string> PastNames { get; }

    /// <summary>The <c>present_i</c> output of each layer.</summary>
    public IReadOnlyList<string> PresentNames { get; }

    /// <summary>The model that ships with the sample, beside its binaries.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "models", "tiny-random-gpt2", "past.onnx");

    /// <summary>
    /// Loads a model and its <c>genai_config.json</c>, and checks that every layer's <c>past</c> input and
    /// <c>present</c> output has the KV shape the config gives.
    /// </summary>
    /// <param name="modelPath">The <c>.onnx</c> file.</param>
    /// <param name="tokensPerBlock">Tokens per pool block.</param>
    /// <returns>The loaded model; dispose it.</returns>
    /// <exception cref="SampleInputException">The file or its config is missing or wrong, or the model's KV shape is not the config's.</exception>
    public static DecoderModel Load(string modelPath, int tokensPerBlock = 16)
    {
        string fullPath = Path.GetFullPath(modelPath);
        if (!File.Exists(fullPath))
        {
            throw new SampleInputException($"Model file not found: {fullPath}. Pass --model with the path of a GPT-2-style decoder exported with past/present KV (the sample's own is models/tiny-random-gpt2/past.onnx beside its binaries).");
        }

        string configPath = Path.Combine(Path.GetDirectoryName(fullPath)!, "genai_config.json");
        Config config = ReadConfig(configPath);
        KvCacheSpec spec;
        try
        {
            spec = new KvCacheSpec(config.Layers, config.KvHeads, config.HeadSize, tokensPerBlock, KvElementType.Float32);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new SampleInputException($"{configPath} describes a KV cache the pool cannot hold: {e.Message}", e);
        }

        InferenceSession session;
        try
        {
            using var options = new SessionOptions
            {
                // One thread per run: the host runs several agents at once, one per thread, and a run's result must
                // not depend on how many cores were free.
                IntraOpNumThreads = 1,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            };
            session = new InferenceSession(fullPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new SampleInputException($"{fullPath} is not a model ONNX Runtime can load: {e.Message}", e);
        }

        try
        {
            string[] pastNames = Names(config.PastPattern, config.Layers);
            string[] presentNames = Names(config.PresentPattern, config.Layers);
            Validate(session, spec, config, pastNames, presentNames, fullPath, configPath);
            return new DecoderModel(session, spec, config.VocabSize, config.ContextLength, pastNames, presentNames);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => Session.Dispose();

    private static string[] Names(string pattern, int layers)
    {
        var names = new string[layers];
        for (int layer = 0; layer < layers; layer++)
        {
            names[layer] = pattern.Replace("%d", layer.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }

        return names;
    }

    private static void Validate(InferenceSession session, KvCacheSpec spec, Config config, string[] pastNames, string[] presentNames, string modelPath, string configPath)
    {
        IReadOnlyDictionary<string, NodeMetadata> inputs = session.InputMetadata;
        IReadOnlyDictionary<string, NodeMetadata> outputs = session.OutputMetadata;
        foreach (string name in (string[])["input_ids", "position_ids", "attention_mask", .. pastNames])
        {
            if (!inputs.ContainsKey(name))
            {
                throw new SampleInputException($"{modelPath} has no input '{name}' (its inputs: {string.Join(", ", inputs.Keys)}). The sample needs a GPT-2-style decoder with past/present KV inputs, {config.Layers} layers as {configPath} says.");
            }
        }

        foreach (string name in (string[])["logits", .. presentNames])
        {
            if (!outputs.ContainsKey(name))
            {
                throw new SampleInputException($"{modelPath} has no output '{name}' (its outputs: {string.Join(", ", outputs.Keys)}). The sample needs a GPT-2-style decoder with past/present KV outputs, {config.Layers} layers as {configPath} says.");
            }
        }

        int extraLayers = inputs.Keys.Count(name => name.StartsWith(config.PastPattern.Replace("%d", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal)) - pastNames.Length;
        if (extraLayers > 0)
        {
            throw new SampleInputException($"{modelPath} has {pastNames.Length + extraLayers} past inputs, but {configPath} says {config.Layers} layers: the pool's spec ({spec}) does not match the model's KV cache.");
        }

        for (int layer = 0; layer < pastNames.Length; layer++)
        {
            CheckKvShape(inputs[pastNames[layer]], pastNames[layer], spec, modelPath, configPath);
            CheckKvShape(outputs[presentNames[layer]], presentNames[layer], spec, modelPath, configPath);
        }

        int[] logits = outputs["logits"].Dimensions;
        if (logits.Length != 3 || (logits[2] > 0 && logits[2] != config.VocabSize))
        {
            throw new SampleInputException($"{modelPath}'s logits are [{string.Join(", ", logits)}], not [batch, tokens, {config.VocabSize}] as {configPath} says.");
        }
    }

    private static void CheckKvShape(NodeMetadata metadata, string name, KvCacheSpec spec, string modelPath, string configPath)
    {
        // [2 (K, V), batch, heads, tokens, head dim]; batch and tokens are symbolic (-1).
        int[] dims = metadata.Dimensions;
        bool fits = metadata.ElementDataType == TensorElementType.Float
            && dims.Length == 5
            && dims[0] == 2
            && dims[2] == spec.KvHeads
            && dims[4] == spec.HeadDim;
        if (!fits)
        {
            throw new SampleInputException(
                $"{modelPath}'s {name} is {metadata.ElementDataType} [{string.Join(", ", dims)}], but the pool's spec from {configPath} is {spec}: "
                + $"a KV tensor must be Float [2, batch, {spec.KvHeads}, tokens, {spec.HeadDim}]. The model's KV cache does not match the pool; fix the config or use the model it describes.");
        }
    }

    private static Config ReadConfig(string path)
    {
        if (!File.Exists(path))
        {
            throw new SampleInputException($"No genai_config.json beside the model ({path}): the host sizes the pool's KV cache from its num_hidden_layers, num_key_value_heads and head_size.");
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path));
            JsonElement model = document.RootElement.GetProperty("model");
            JsonElement decoder = model.GetProperty("decoder");
            return new Config(
                decoder.GetProperty("num_hidden_layers").GetInt32(),
                decoder.GetProperty("num_key_value_heads").GetInt32(),
                decoder.GetProperty("head_size").GetInt32(),
                model.GetProperty("vocab_size").GetInt32(),
                model.GetProperty("context_length").GetInt32(),
                decoder.TryGetProperty("inputs", out JsonElement inputs) && inputs.TryGetProperty("past_names", out JsonElement past) ? past.GetString() ?? "past_%d" : "past_%d",
                decoder.TryGetProperty("outputs", out JsonElement outputs) && outputs.TryGetProperty("present_names", out JsonElement present) ? present.GetString() ?? "present_%d" : "present_%d");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new SampleInputException($"{path} is not a usable genai_config.json: {e.Message} (it needs model.vocab_size, model.context_length, model.decoder.num_hidden_layers, num_key_value_heads and head_size).", e);
        }
    }

    private sealed record Config(int Layers, int KvHeads, int HeadSize, int VocabSize, int ContextLength, string PastPattern, string PresentPattern);
}
