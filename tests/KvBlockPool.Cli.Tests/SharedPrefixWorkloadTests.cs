using System.Text.Json;
using System.Text.RegularExpressions;
using KvBlockPool.Cli.Simulate;
using KvBlockPool.Cli.Simulate.Progress;
using KvBlockPool.Cli.Simulate.SharedPrefix;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;

namespace KvBlockPool.Cli.Tests;

/// <summary><c>simulate --workload shared-prefix</c>: conversations on shared system prompts, through the prefix cache.</summary>
public sealed class SharedPrefixWorkloadTests
{
    // TinyLlama in 64 MiB: 4,096 blocks of 22 layers, so one agent may hold 368 tokens and the default system prompt
    // is 176 of them, 11 shareable chunks. A second is enough for hundreds of turns.
    private static readonly string[] SmallRun = ["simulate", "--workload", "shared-prefix", "--duration", "1", "--preset", "tinyllama", "--capacity-mib", "64", "--json"];

    [Fact]
    public void Agents_sharing_system_prompts_hit_the_cache_skip_prefill_and_save_memory()
    {
        JsonElement root = CliRun.RunJson(SmallRun);

        Assert.Equal("shared-prefix", root.GetProperty("run").GetProperty("workload").GetString());
        JsonElement prefix = root.GetProperty("prefixCache");
        Assert.Equal(4, prefix.GetProperty("systemPrompts").GetInt32());
        Assert.Equal(176, prefix.GetProperty("systemPromptTokens").GetInt32());
        Assert.True(prefix.GetProperty("hitRate").GetDouble() > 0.3, prefix.ToString());
        Assert.True(prefix.GetProperty("prefillTokensSkipped").GetInt64() > 0, prefix.ToString());
        // Skipped: the local hits, and chunks this pool evicted that its tier (an embedded Garnet by default) gave back.
        Assert.Equal(prefix.GetProperty("prefillTokensSkipped").GetInt64(), prefix.GetProperty("hitTokens").GetInt64() + root.GetProperty("tier").GetProperty("tierTokens").GetInt64());
        Assert.Equal(root.GetProperty("tokens").GetProperty("prompt").GetInt64(), prefix.GetProperty("queriedTokens").GetInt64());

        // Every turn is an admission, and conversations came back and hit their own earlier turns too.
        JsonElement first = prefix.GetProperty("firstTurns");
        JsonElement returning = prefix.GetProperty("returningTurns");
        Assert.Equal(root.GetProperty("agents").GetProperty("admitted").GetInt64(), first.GetProperty("admitted").GetInt64() + returning.GetProperty("admitted").GetInt64());
        Assert.True(returning.GetProperty("admitted").GetInt64() > 0, prefix.ToString());
        Assert.True(returning.GetProperty("hitRate").GetDouble() > 0, prefix.ToString());

        JsonElement saved = prefix.GetProperty("memorySaved");
        Assert.True(saved.GetProperty("meanBlocks").GetDouble() > 0, saved.ToString());
        Assert.InRange(saved.GetProperty("peakBlocks").GetInt64(), 1, root.GetProperty("pool").GetProperty("capacityBlocks").GetInt32() * 4L);
        Assert.Equal(saved.GetProperty("peakBlocks").GetInt64() * root.GetProperty("model").GetProperty("bytesPerBlock").GetInt32(), saved.GetProperty("peakBytes").GetInt64());
        Assert.InRange(saved.GetProperty("fraction").GetDouble(), 0.2, 1.0);
        Assert.True(saved.GetProperty("samples").GetInt32() >= 5);
    }

    [Fact]
    public void With_a_system_prompt_per_conversation_first_turns_never_hit_and_nothing_is_saved()
    {
        JsonElement shared = CliRun.RunJson(SmallRun).GetProperty("prefixCache");
        JsonElement alone = CliRun.RunJson([.. SmallRun, "--system-prompts", "0"]).GetProperty("prefixCache");

        Assert.Equal(0, alone.GetProperty("systemPrompts").GetInt32());
        Assert.Equal(0, alone.GetProperty("firstTurns").GetProperty("cachedTokens").GetInt64());
        Assert.True(alone.GetProperty("hitRate").GetDouble() < shared.GetProperty("hitRate").GetDouble() / 2, $"{alone}\n{shared}");

        // Only a returning conversation can hit, its own chunks, which no live agent shares: the ledger never
        // overstates, so nothing is saved at any sample, against a fifth or more with four shared prompts.
        Assert.Equal(0, alone.GetProperty("memorySaved").GetProperty("peakBlocks").GetInt64());
        Assert.Equal(0, alone.GetProperty("memorySaved").GetProperty("fraction").GetDouble());
        Assert.True(shared.GetProperty("memorySaved").GetProperty("fraction").GetDouble() >= 0.2, shared.ToString());
    }

    [Fact]
    public void The_text_report_has_a_prefix_cache_table_and_the_invariants_hold_in_diagnostics_mode()
    {
        (int exit, string report, string error) = CliRun.Run("simulate", "--workload", "shared-prefix", "--duration", "0.5", "--preset", "tinyllama", "--capacity-mib", "64", "--diagnostics", "--system-prompts", "2", "--return-probability", "1");

        Assert.True(exit == ExitCodes.Success, report + error);
        Assert.Contains("workload: shared-prefix: 2 shared system prompts, 100% of answered conversations come back", report, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^\| prefix cache +\| figures +\|$", report);
        Assert.Matches(@"(?m)^\| system prompts +\| 2 shared, 176 tokens each +\|$", report);
        Assert.Matches(@"(?m)^\| hit rate +\| \d+\.\d% of [\d,]+ prompt tokens \(first turns \d+\.\d%, returning turns \d+\.\d%\) +\|$", report);
        Assert.Matches(@"(?m)^\| prefill skipped +\| [\d,]+ tokens +\|$", report);
        Assert.Matches(@"(?m)^\| memory saved, peak +\| [\d,]+ blocks \([\d.,]+ MiB\) +\|$", report);
        Assert.Matches(@"(?m)^\| memory saved, mean +\| [\d,]+ blocks \([\d.,]+ MiB\), \d+\.\d% of the [\d,]+ the live agents would hold without the cache +\|$", report);
        Assert.Contains("invariants: all held", report, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_workload_reports_no_prefix_cache()
    {
        string[] run = ["simulate", "--duration", "0.3", "--preset", "tinyllama", "--capacity-mib", "16"];

        JsonElement root = CliRun.RunJson([.. run, "--json"]);
        (int exit, string report, string error) = CliRun.Run(run);

        Assert.Equal("independent", root.GetProperty("run").GetProperty("workload").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("prefixCache").ValueKind);
        Assert.True(exit == ExitCodes.Success, report + error);
        Assert.Contains("workload: independent (every prompt its own, no prefix cache)", report, StringComparison.Ordinal);
        Assert.DoesNotContain("prefix cache  ", report, StringComparison.Ordinal);
        Assert.DoesNotContain("hit rate", report, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_ends_with_the_cache_unreferenced_and_agrees_with_the_admissions()
    {
        ModelPresets.TryCreate("tinyllama", out KvCacheSpec? spec, out string title);
        var settings = new SimulationSettings
        {
            Preset = "tinyllama", ModelTitle = title, Spec = spec!, CapacityMiB = 16, Agents = 6, Threads = 3, DurationSeconds = 0.5, Seed = 5,
            SharedPrefix = new SharedPrefixSettings { SystemPrompts = 1, ReturnProbability = 0.9 },
        };
        long nativeBefore = BlockPool.LiveNativeBytes;

        SimulationReport report = Simulation.Run(settings, new SilentProgressView());

        Assert.True(report.InvariantsHeld, string.Join('\n', report.Failures));
        PrefixCacheSummary prefix = report.PrefixCache!;
        Assert.Equal(report.Totals.PromptTokens, prefix.PromptTokens);
        Assert.Equal(prefix.CachedTokens, prefix.Cache.HitTokens);
        Assert.Equal(prefix.Cache.CachedChunks, prefix.Cache.EvictableChunks); // no agent references a chunk after the run
        Assert.Equal(32, prefix.Shape.SystemPromptTokens); // 16 MiB: an agent may hold 80 tokens, half of it in whole blocks
        Assert.True(prefix.FirstTurns.HitRate > 0);
        Assert.Equal(nativeBefore, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public void The_ledger_reads_exactly_the_shared_blocks_when_nothing_is_in_flight_and_less_while_a_release_is()
    {
        ModelPresets.TryCreate("tinyllama", out KvCacheSpec? spec, out _);
        using var pool = new BlockPool(new BlockPoolOptions { Spec = spec!, CapacityBytes = 16L << 20, PrefixCache = new KvPrefixCacheOptions() });
        using var manager = new AgentCacheManager(pool);
        var ledger = new SharingLedger();
        int[] prompt = new int[40]; // 2 full chunks and 8 tokens
        TokenIds.SystemPrompt(1, 0, prompt);
        int layers = spec!.Layers;
        var alice = new AgentId(1);
        var bob = new AgentId(2);

        manager.Admit(alice, prompt);
        ledger.Added(3 * layers);
        manager.PublishComputed(alice, prompt.Length);
        KvPrefixAdmission warm = manager.Admit(bob, prompt);
        ledger.Added(3 * layers);
        ledger.Sample(pool); // Alice's 3 blocks a layer and Bob's own last one: Bob's 2 hits are saved

        ledger.Removing(3 * layers); // Alice is leaving, the pool still holds her blocks
        ledger.Sample(pool);
        manager.Release(alice);
        ledger.Sample(pool); // Bob alone holds the chunks: as much as without the cache

        Assert.Equal(2, warm.CachedBlocksPerLayer);
        Assert.Equal(3, ledger.SampleCount);
        Assert.Equal(2 * layers, ledger.PeakSavedBlocks);
        Assert.Equal(2.0 * layers / 3, ledger.MeanSavedBlocks, 6); // 2 layers' worth once, then 0 twice
        Assert.Equal(2.0 / (6 + 3 + 3), ledger.SavedFraction, 6); // 2 layers' worth saved of 6 + 3 + 3 layers' worth held
        manager.Release(bob);
        ledger.Removing(3 * layers);
        Assert.Equal(0, ledger.Outstanding);
    }

    [Fact]
    public void System_prompts_are_the_same_for_the_same_seed_and_differ_between_prompts_and_seeds()
    {
        int[] a = new int[64], again = new int[64], other = new int[64], reseeded = new int[64];

        TokenIds.SystemPrompt(42, 3, a);
        TokenIds.SystemPrompt(42, 3, again);
        TokenIds.SystemPrompt(42, 4, other);
        TokenIds.SystemPrompt(43, 3, reseeded);

        Assert.Equal(a, again);
        Assert.NotEqual(a, other);
        Assert.NotEqual(a, reseeded);
        Assert.All(a, id => Assert.InRange(id, 0, TokenIds.Vocabulary - 1));
        Assert.True(a.Distinct().Count() > 60); // not a constant or a short cycle
    }

    [Fact]
    public void Help_lists_the_workload_and_its_knobs()
    {
        (int exit, string output, _) = CliRun.Run("simulate", "--help");

        Assert.Equal(ExitCodes.Success, exit);
        foreach (string text in new[] { "--workload", "shared-prefix", "independent", "--system-prompts", "--system-prompt-tokens", "--return-probability" })
        {
            Assert.Contains(text, output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--workload 'shared' is not a known workload. Use one of: independent, shared-prefix.", "--workload", "shared")]
    [InlineData("--system-prompts must be between 0 and 65536, not 70000.", "--workload", "shared-prefix", "--system-prompts", "70000")]
    [InlineData("--system-prompt-tokens must be between 1 and 65536, not 0.", "--workload", "shared-prefix", "--system-prompt-tokens", "0")]
    [InlineData("--return-probability must be between 0 and 1, not 1.5.", "--workload", "shared-prefix", "--return-probability", "1.5")]
    [InlineData("Cannot parse argument 'often' for option '--return-probability'", "--workload", "shared-prefix", "--return-probability", "often")]
    [InlineData("--system-prompts applies only to --workload shared-prefix, not independent.", "--system-prompts", "3")]
    [InlineData("--return-probability applies only to --workload shared-prefix, not independent.", "--workload", "independent", "--return-probability", "0.2")]
    [InlineData("--system-prompt-tokens 400 leaves no room for a conversation: one agent may use 368 tokens", "--workload", "shared-prefix", "--preset", "tinyllama", "--capacity-mib", "64", "--system-prompt-tokens", "400")]
    public void Bad_knobs_exit_with_code_2_and_a_message_that_names_them(string message, params string[] options)
    {
        (int exit, string output, string error) = CliRun.Run(["simulate", .. options]);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(1, Regex.Count(error, Regex.Escape(message)));
        Assert.Contains("Run 'kvblockpool simulate --help' for the options.", error, StringComparison.Ordinal);
        Assert.DoesNotContain("operations", output, StringComparison.Ordinal); // nothing ran
    }
}
