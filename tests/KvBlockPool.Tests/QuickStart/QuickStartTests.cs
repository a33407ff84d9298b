using System.Text.RegularExpressions;

namespace KvBlockPool.Tests.QuickStart;

/// <summary>Keeps the README honest: its quick start is this code, and this code runs.</summary>
public sealed partial class QuickStartTests
{
    [Fact]
    public void The_quick_start_runs_and_leaves_the_pool_empty()
    {
        var output = new StringWriter();
        TextWriter original = Console.Out;
        Console.SetOut(output);
        try
        {
            RunQuickStart();
        }
        finally
        {
            Console.SetOut(original);
        }

        Assert.Matches(@"^released \d+ blocks; (\d+)/\1 available", output.ToString());
    }

    [Fact]
    public void The_readme_quick_start_is_the_code_this_test_runs()
    {
        string root = RepositoryRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        string source = File.ReadAllText(Path.Combine(root, "tests", "KvBlockPool.Tests", "QuickStart", "QuickStartTests.cs"));

        Match fenced = ReadmeQuickStart().Match(readme);
        Assert.True(fenced.Success, "README.md has no ```csharp block after the 'Quick start' heading.");
        Match marked = SourceQuickStart().Match(source);
        Assert.True(marked.Success, "QuickStartTests.cs has no // <quickstart> region.");

        Assert.Equal(Normalize(marked.Groups["code"].Value), Normalize(fenced.Groups["code"].Value));
    }

    private static void RunQuickStart()
    {
        // <quickstart>
        // A pool for a Llama-3-8B-shaped cache (32 layers, 8 KV heads x 128 dims, FP16,
        // 16 tokens per block), capped at 256 MiB of native memory.
        using var pool = new BlockPool(new BlockPoolOptions
        {
            Spec = KvCacheSpec.Llama3_8B(),
            CapacityBytes = 256L * 1024 * 1024,
        });

        var agent = new AgentId(42);

        // Admit a 64-token prompt: 4 blocks on every layer, all layers or none.
        pool.AllocateAllLayers(agent, blocksPerLayer: 4);

        // Decode: one more block on layer 0, written through checked, typed spans (FP16: Half).
        KvBlock block = pool.Allocate(agent, layer: 0);
        pool.GetKeySpan<Half>(block).Fill(Half.One);          // K half
        pool.GetValueSpan<Half>(block).Fill(Half.NegativeOne); // V half

        // One step of a kernel: a lease resolves the agent's blocks in one lock trip, then
        // hands out block tables, spans and token vectors without locking.
        int[] table;
        using (KvCacheLease lease = pool.Lease(agent))
        {
            table = lease.GetBlockIds(layer: 0).ToArray(); // 5 ids, in token order
            Span<Half> key = lease.GetKeyVector<Half>(layer: 0, token: 64, head: 3); // 128 dims
            key[0] = (Half)0.5f;
        }

        // A multi-layer transaction: Commit publishes every layer; Dispose alone returns them all.
        using (AllocationScope scope = pool.BeginScope(agent))
        {
            for (int layer = 0; layer < pool.Spec.Layers; layer++)
            {
                scope.Allocate(layer);
            }

            scope.Commit();
        }

        pool.Free(agent, block);              // the handle goes stale, the bytes are zeroed
        int released = pool.FreeAgent(agent); // everything else, every layer
        Console.WriteLine($"released {released} blocks; {pool.GetStatistics().Available}/{pool.Capacity} available");
        // </quickstart>
        Assert.Equal(5, table.Length);
        Assert.Throws<StaleBlockHandleException>(() => pool.GetBlockSpan(block));
    }

    private static string Normalize(string code)
    {
        string[] lines = code.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', lines.Select(l => l.Trim().Length == 0 ? string.Empty : l[indent..].TrimEnd())).Trim();
    }

    internal static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BlockPool.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("BlockPool.sln not found above the test binaries.");
    }

    [GeneratedRegex(@"## Quick start.*?```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex ReadmeQuickStart();

    [GeneratedRegex(@"// <quickstart>\n(?<code>.*?)\n\s*// </quickstart>", RegexOptions.Singleline)]
    private static partial Regex SourceQuickStart();
}
