using System.Text.Json.Nodes;
using KvBlockPool.Lifecycle;
using KvBlockPool.Samples.OnnxDecode;

namespace KvBlockPool.ModelTests;

/// <summary>The sample's command line: a short run, and every kind of bad input refused with a message, exit code 2 and nothing leaked.</summary>
public sealed class SampleCommandTests(ModelFixture fixture) : IClassFixture<ModelFixture>, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("kvblockpool-model-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void A_short_run_decodes_every_agent_reports_its_figures_and_leaves_no_block_allocated()
    {
        (int exitCode, int allocated, string output, string error) = Run("--agents", "3", "--threads", "2", "--steps", "12");
        Assert.Equal(OnnxDecodeCommand.Success, exitCode);
        Assert.Equal(0, allocated);
        Assert.Empty(error);
        Assert.Contains("tokens/s", output, StringComparison.Ordinal);
        Assert.Contains("model run", output, StringComparison.Ordinal);
        Assert.Contains("gather", output, StringComparison.Ordinal);
        Assert.Contains("scatter", output, StringComparison.Ordinal);
        Assert.Contains("pool calls", output, StringComparison.Ordinal);
        Assert.Contains("agent 2: 27 tokens", output, StringComparison.Ordinal); // 14-token prompt, 12 fed back, 1 more predicted
        Assert.Contains("0 allocated at the end", output, StringComparison.Ordinal);
    }

    [Fact]
    public void With_a_tier_a_second_host_restores_the_prompt_the_first_computed_and_reproduces_its_logits_and_tokens()
    {
        (int exitCode, int allocated, string output, string error) = Run("--agents", "2", "--steps", "6", "--tier", "embedded");

        Assert.True(exitCode == OnnxDecodeCommand.Success, error);
        Assert.Equal(0, allocated);
        Assert.Empty(error);
        // 8 chunks of 16 tokens and 1 more: the second host restores all 8 and runs the model over the last token only.
        Assert.Contains("the second host restored 128 of 129 prompt tokens from it", output, StringComparison.Ordinal);
        Assert.Contains("tier: next-token logits identical to the first host's local hit, greedy tokens identical", output, StringComparison.Ordinal);
        Assert.Contains("tier: embedded Garnet at 127.0.0.1:", output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_external_tier_nobody_listens_on_is_bad_input()
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        (int exitCode, int allocated, _, string error) = Run("--agents", "1", "--steps", "2", "--tier", $"127.0.0.1:{port}");

        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Equal(0, allocated);
        Assert.Contains("error: --tier: The KV tier", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_model_file_is_refused_with_its_path()
    {
        string path = Path.Combine(_folder, "nowhere", "past.onnx");
        (int exitCode, int allocated, _, string error) = Run("--model", path);
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Equal(0, allocated);
        Assert.Contains("Model file not found", error, StringComparison.Ordinal);
        Assert.Contains(path, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_an_onnx_model_is_refused()
    {
        string model = CopyModel(config => config);
        File.WriteAllText(model, "this is not a protobuf");
        (int exitCode, _, _, string error) = Run("--model", model);
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Contains("is not a model ONNX Runtime can load", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_without_its_config_is_refused()
    {
        string model = CopyModel(config => config);
        File.Delete(Path.Combine(_folder, "genai_config.json"));
        (int exitCode, _, _, string error) = Run("--model", model);
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Contains("No genai_config.json beside the model", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("num_key_value_heads", 8, "past_0 is Float [2, -1, 4, -1, 8]")]
    [InlineData("head_size", 16, "past_0 is Float [2, -1, 4, -1, 8]")]
    [InlineData("num_hidden_layers", 4, "has 5 past inputs, but")]
    [InlineData("num_hidden_layers", 6, "has no input 'past_5'")]
    public void A_model_whose_kv_shape_is_not_the_pools_spec_is_refused(string field, int value, string expected)
    {
        string model = CopyModel(config =>
        {
            config["model"]!["decoder"]![field] = value;
            return config;
        });
        (int exitCode, int allocated, _, string error) = Run("--model", model);
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Equal(0, allocated);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_prompt_longer_than_the_pool_can_hold_is_refused_and_every_admitted_agent_released()
    {
        // One token per block: prompts of 1, 4 and 7 tokens need 5, 20 and 35 blocks on 5 layers. Agents 0 and 1 are
        // admitted (25 of 30 blocks); agent 2's prompt could never fit, whatever the others hold.
        (int exitCode, int allocated, _, string error) = Run("--agents", "3", "--threads", "3", "--prompt-tokens", "1", "--steps", "0", "--tokens-per-block", "1", "--capacity-blocks", "30");
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Equal(0, allocated);
        Assert.Contains("Agent 2's prompt does not fit the pool", error, StringComparison.Ordinal);
        Assert.Contains("more than the pool's capacity of 30", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pool_that_runs_out_while_decoding_stops_the_run_and_releases_every_agent()
    {
        // Every prompt fits (15 blocks), but the three agents, interleaved on one thread, cannot all grow to
        // 8 + 3i + 40 tokens (55 blocks) in 30: an append finds the pool empty part-way.
        (int exitCode, int allocated, _, string error) = Run("--agents", "3", "--threads", "1", "--steps", "40", "--capacity-blocks", "30");
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Equal(0, allocated);
        Assert.Contains("The pool ran out of blocks", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_longer_than_the_model_context_is_refused()
    {
        (int exitCode, _, _, string error) = Run("--prompt-tokens", "500", "--agents", "1", "--steps", "20");
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.Contains("the model has positions for 512", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--agents", "0")]
    [InlineData("--steps", "many")]
    [InlineData("--frobnicate")]
    [InlineData("--model")]
    [InlineData("--tier", "somewhere")]
    [InlineData("--tier", "127.0.0.1:0")]
    public void A_bad_option_is_refused(params string[] args)
    {
        (int exitCode, _, _, string error) = Run(args);
        Assert.Equal(OnnxDecodeCommand.BadInput, exitCode);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failure_in_the_middle_of_a_run_releases_every_agent_and_reaches_the_caller()
    {
        using var pool = new BlockPool(new BlockPoolOptions { Spec = fixture.Model.Spec, CapacityBlocks = 200 });
        using var cache = new AgentCacheManager(pool);
        var options = new DecodeRunOptions { Agents = 4, Threads = 2, Steps = 10 };
        var failure = new InvalidOperationException("observer failed");
        InvalidOperationException thrown = Assert.Throws<InvalidOperationException>(() => MultiAgentDecode.Run(fixture.Model, cache, options, (agent, step, _) =>
        {
            if (agent == 1 && step == 5)
            {
                throw failure;
            }
        }));
        Assert.Same(failure, thrown);
        Assert.Equal(0, cache.AgentCount);
        Assert.Equal(0, pool.GetStatistics().Allocated);
    }

    private static (int ExitCode, int Allocated, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        (int exitCode, int allocated) = OnnxDecodeCommand.Execute(args, output, error);
        return (exitCode, allocated, output.ToString(), error.ToString());
    }

    /// <summary>Copies the sample's model into the test's folder, with its config changed by <paramref name="change"/>.</summary>
    private string CopyModel(Func<JsonNode, JsonNode> change)
    {
        string source = Path.GetDirectoryName(DecoderModel.DefaultPath)!;
        string model = Path.Combine(_folder, "past.onnx");
        File.Copy(Path.Combine(source, "past.onnx"), model);
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "genai_config.json")))!;
        File.WriteAllText(Path.Combine(_folder, "genai_config.json"), change(config).ToJsonString());
        return model;
    }
}
