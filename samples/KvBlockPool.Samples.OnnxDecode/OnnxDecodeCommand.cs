using System.Globalization;
using KvBlockPool.Lifecycle;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>
/// The sample's command line: loads the model, builds a pool for its KV cache, decodes several agents on several
/// threads, and prints what it measured. Exit codes: 0 done, 1 the run failed or left blocks allocated, 2 bad
/// arguments or input (a missing or wrong model, a model whose KV shape is not the pool's, a prompt or a run the pool
/// cannot hold).
/// </summary>
public static class OnnxDecodeCommand
{
    /// <summary>Everything went as it should.</summary>
    public const int Success = 0;

    /// <summary>The run failed, or blocks were still allocated at the end.</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments or input; the message says which.</summary>
    public const int BadInput = 2;

    private const string Usage = """
        Usage: dotnet run --project samples/KvBlockPool.Samples.OnnxDecode -c Release -- [options]

        Decodes several agents greedily, interleaved on several threads, with a real ONNX model whose KV cache lives in
        a KvBlockPool; prints tokens per second and where each step's time went.

          --model PATH            the model (default: models/tiny-random-gpt2/past.onnx beside the binaries);
                                  its genai_config.json beside it gives the KV cache's shape
          --agents N              agents (default 6)
          --threads N             threads (default 3)
          --steps N               decode steps per agent (default 100)
          --prompt-tokens N       agent i's prompt has N + 3i tokens (default 8)
          --tokens-per-block N    tokens per pool block (default 16)
          --capacity-blocks N     pool capacity (default: exactly what the run needs at its longest)
          --diagnostics           the pool's diagnostics mode (poison, guard bytes, allocation stacks)
          --seed N                seeds the prompts (default 15)
          --tier WHERE            then run two hosts sharing a KV tier: the second restores from it the prompt
                                  chunks the first computed, and must produce the same logits and tokens;
                                  WHERE is "embedded" (a Garnet server in this process, loopback) or host:port
          --help                  this text
        """;

    /// <summary>Runs the sample with <paramref name="args"/>.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Where the report goes.</param>
    /// <param name="error">Where errors go.</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args, TextWriter output, TextWriter error) => Execute(args, output, error).ExitCode;

    /// <summary>Runs the sample and reports, besides the exit code, the blocks the pool still held before it was disposed.</summary>
    internal static (int ExitCode, int BlocksAllocatedAtEnd) Execute(string[] args, TextWriter output, TextWriter error)
    {
        Settings settings;
        try
        {
            settings = Settings.Parse(args);
        }
        catch (FormatException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine("Run with --help for the options.");
            return (BadInput, 0);
        }

        if (settings.Help)
        {
            output.WriteLine(Usage);
            return (Success, 0);
        }

        int allocatedAtEnd = 0; // what the pool still held once the run was over, failed or not
        try
        {
            using DecoderModel model = DecoderModel.Load(settings.ModelPath, settings.TokensPerBlock);
            DecodeRunOptions run = settings.Run;
            int longest = run.LongestPrompt + run.Steps;
            if (longest > model.ContextLength)
            {
                throw new SampleInputException($"The longest agent would hold {longest} tokens ({run.LongestPrompt}-token prompt + {run.Steps} steps); the model has positions for {model.ContextLength}. Lower --prompt-tokens, --agents or --steps.");
            }

            int needed = 0;
            for (int agent = 0; agent < run.Agents; agent++)
            {
                needed += model.Spec.BlocksForTokens(run.PromptTokens + (3 * agent) + run.Steps) * model.Spec.Layers;
            }

            using var pool = new BlockPool(new BlockPoolOptions
            {
                Spec = model.Spec,
                CapacityBlocks = settings.CapacityBlocks ?? needed,
                Diagnostics = settings.Diagnostics,
            });
            // Make the pool's pages resident now, not at the first write of each block in the middle of a step.
            pool.WarmUpAsync().GetAwaiter().GetResult();
            DecodeRunResult result;
            using (var cache = new AgentCacheManager(pool))
            {
                output.WriteLine($"model: {Path.GetFileName(settings.ModelPath)}, {model.Spec}, vocabulary {model.VocabSize}, context {model.ContextLength}");
                output.WriteLine($"pool: {pool.Capacity} blocks ({needed} needed at the run's longest){(settings.Diagnostics ? ", diagnostics mode" : string.Empty)}");
                output.WriteLine($"run: {run.Agents} agents on {Math.Min(run.Threads, run.Agents)} threads, prompts of {run.PromptTokens} to {run.LongestPrompt} tokens, {run.Steps} greedy decode steps each");
                try
                {
                    result = MultiAgentDecode.Run(model, cache, run);
                }
                finally
                {
                    allocatedAtEnd = pool.GetStatistics().Allocated;
                }
            }

            Report(output, result, pool, allocatedAtEnd);
            if (Leaked(error, allocatedAtEnd))
            {
                return (Failed, allocatedAtEnd);
            }

            return (settings.Tier is { } tier && !ReportTier(output, error, SharedTierRun.RunAsync(model, tier == "embedded" ? null : tier, Math.Min(run.Steps, 16)).GetAwaiter().GetResult()) ? Failed : Success, allocatedAtEnd);
        }
        catch (SampleInputException e)
        {
            error.WriteLine($"error: {e.Message}");
            return (Leaked(error, allocatedAtEnd) ? Failed : BadInput, allocatedAtEnd);
        }
        catch (Redis.KvTierConnectionException e)
        {
            error.WriteLine($"error: --tier: {e.Message}");
            return (BadInput, allocatedAtEnd);
        }
        catch (Exception e) when (e is KvBlockPoolException or InvalidOperationException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            error.WriteLine($"error: the run failed: {e}");
            Leaked(error, allocatedAtEnd);
            return (Failed, allocatedAtEnd);
        }
    }

    private static bool Leaked(TextWriter error, int allocatedAtEnd)
    {
        if (allocatedAtEnd == 0)
        {
            return false;
        }

        error.WriteLine($"error: {allocatedAtEnd} blocks were still allocated after the run.");
        return true;
    }

    private static bool ReportTier(TextWriter output, TextWriter error, SharedTierResult tier)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tier: {tier.Where}; the second host restored {tier.TierTokens} of {tier.PromptTokens} prompt tokens from it: prefill {tier.SecondPrefill.TotalMilliseconds:F1} ms, against {tier.FirstPrefill.TotalMilliseconds:F1} ms for the first host, which computed them"));
        output.WriteLine($"tier: next-token logits {(tier.IdenticalLogits ? "identical" : "DIFFERENT")} to the first host's local hit, greedy tokens {(tier.IdenticalTokens ? "identical" : "DIFFERENT")}");
        bool held = tier.TierTokens > 0 && tier.IdenticalLogits && tier.IdenticalTokens;
        if (!held)
        {
            error.WriteLine("error: the second host did not restore the prompt from the tier, or did not reproduce the first host's results.");
        }

        return held;
    }

    private static void Report(TextWriter output, DecodeRunResult result, BlockPool pool, int allocatedAtEnd)
    {
        double seconds = result.Elapsed.TotalSeconds;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decode: {result.DecodeSteps} steps in {seconds * 1000:F1} ms: {result.DecodeSteps / Math.Max(seconds, 1e-9):F0} tokens/s"));
        output.WriteLine($"per decode step: {result.Timings.Describe()}");
        output.WriteLine($"per prefill (the first calls' JIT included): {result.PrefillTimings.Describe()}");
        for (int agent = 0; agent < result.Tokens.Count; agent++)
        {
            int[] tokens = result.Tokens[agent];
            int shown = Math.Min(tokens.Length, 12);
            output.WriteLine($"agent {agent}: {tokens.Length} tokens: {string.Join(' ', tokens.Take(shown))}{(tokens.Length > shown ? " ..." : string.Empty)}");
        }

        BlockPoolStatistics statistics = pool.GetStatistics();
        output.WriteLine($"pool: high-water mark {statistics.HighWaterMark} of {statistics.Capacity} blocks; {allocatedAtEnd} allocated at the end");
    }

    private sealed record Settings(string ModelPath, DecodeRunOptions Run, int TokensPerBlock, int? CapacityBlocks, bool Diagnostics, bool Help, string? Tier = null)
    {
        public static Settings Parse(string[] args)
        {
            string model = DecoderModel.DefaultPath;
            var run = new DecodeRunOptions();
            int tokensPerBlock = 16;
            int? capacity = null;
            bool diagnostics = false;
            string? tier = null;
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--help" or "-h":
                        return new Settings(model, run, tokensPerBlock, capacity, diagnostics, Help: true);
                    case "--diagnostics":
                        diagnostics = true;
                        break;
                    case "--model":
                        model = Value(args, ref i);
                        break;
                    case "--agents":
                        run = run with { Agents = Number(args, ref i, 1, 1024) };
                        break;
                    case "--threads":
                        run = run with { Threads = Number(args, ref i, 1, 256) };
                        break;
                    case "--steps":
                        run = run with { Steps = Number(args, ref i, 0, 1_000_000) };
                        break;
                    case "--prompt-tokens":
                        run = run with { PromptTokens = Number(args, ref i, 1, 1_000_000) };
                        break;
                    case "--seed":
                        run = run with { Seed = Number(args, ref i, 0, int.MaxValue) };
                        break;
                    case "--tokens-per-block":
                        tokensPerBlock = Number(args, ref i, 1, KvCacheSpec.MaxTokensPerBlock);
                        break;
                    case "--capacity-blocks":
                        capacity = Number(args, ref i, 1, int.MaxValue);
                        break;
                    case "--tier":
                        tier = Value(args, ref i);
                        if (tier != "embedded" && !KvBlockPool.Redis.RedisKvChunkStoreOptions.IsEndPoint(tier))
                        {
                            throw new FormatException($"--tier takes \"embedded\" or host:port (a port 1 to 65535), not '{tier}'.");
                        }

                        break;
                    default:
                        throw new FormatException($"unknown option '{args[i]}'.");
                }
            }

            return new Settings(model, run, tokensPerBlock, capacity, diagnostics, Help: false, tier);
        }

        private static string Value(string[] args, ref int i)
        {
            if (i + 1 >= args.Length)
            {
                throw new FormatException($"{args[i]} needs a value.");
            }

            return args[++i];
        }

        private static int Number(string[] args, ref int i, int min, int max)
        {
            string option = args[i];
            string text = Value(args, ref i);
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
            {
                throw new FormatException($"{option} takes a whole number from {min} to {max}, not '{text}'.");
            }

            return value;
        }
    }
}
