using System.Text.RegularExpressions;
using KvBlockPool.Hosting.Tests.Shared;
using KvBlockPool.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace KvBlockPool.Hosting.Tests.QuickStart;

/// <summary>
/// Keeps the README's "Use it from a host" honest: its C# is the marked region below, run against its
/// <c>appsettings.json</c> (written to a content root of its own). Alone, because it redirects the console.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed partial class HostQuickStartTests
{
    [Fact]
    public async Task The_host_quick_start_runs_on_the_readme_settings_and_reports_a_healthy_pool()
    {
        string contentRoot = Directory.CreateTempSubdirectory("kvblockpool-host-quickstart-").FullName;
        var output = new StringWriter();
        TextWriter original = Console.Out;
        try
        {
            File.WriteAllText(Path.Combine(contentRoot, "appsettings.json"), ReadmeBlock(ReadmeSettings(), "json"));
            Console.SetOut(output);
            await RunHostQuickStart(["--contentRoot", contentRoot]);
        }
        finally
        {
            Console.SetOut(original);
            Directory.Delete(contentRoot, recursive: true);
        }

        // Llama 3 8B in 256 MiB: 4096 blocks of 64 KiB; the agent held 5 blocks on each of 32 layers when checked.
        Assert.Contains("Healthy: Block pool 'default': 160/4096 blocks in use (3.9%), 1 agent(s).", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_readme_host_quick_start_is_the_code_this_test_runs()
    {
        string source = File.ReadAllText(Path.Combine(Repository.Root(), "tests", "KvBlockPool.Hosting.Tests", "QuickStart", "HostQuickStartTests.cs"));
        Match marked = MarkedRegion().Match(source);
        Assert.True(marked.Success, "HostQuickStartTests.cs has no // <host-quickstart> region.");

        Assert.Equal(Unindent(marked.Groups["code"].Value), Unindent(ReadmeBlock(ReadmeCode(), "csharp")));
    }

    private static async Task RunHostQuickStart(string[] args)
    {
        BlockPool pool;
        // <host-quickstart>
        // The pool from appsettings.json's "KvBlockPool" section: validated when the host starts (a bad
        // value fails the start, naming its key), built then, and disposed with the host.
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
        builder.Services.AddKvBlockPool(builder.Configuration.GetSection("KvBlockPool"));
        builder.Services.AddHealthChecks().AddKvBlockPoolHealthCheck(); // Degraded from 90% full
        using IHost host = builder.Build();
        await host.StartAsync();

        // Anywhere in the host: the lifecycle layer (and the pool under it) by injection.
        var manager = host.Services.GetRequiredService<AgentCacheManager>();
        var agent = new AgentId(42);
        manager.Admit(agent, promptTokens: 64);        // 4 blocks on every layer
        KvTokenSlot slot = manager.AppendToken(agent); // decode: token 64 opens a 5th block
        using (KvCacheLease lease = manager.Lease(agent))
        {
            lease.GetKeyVector<Half>(layer: 0, token: slot.Token, head: 3).Fill(Half.One);
            lease.GetValueVector<Half>(layer: 0, token: slot.Token, head: 3).Fill(Half.NegativeOne);
        }

        HealthReport health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Console.WriteLine($"{health.Status}: {health.Entries["kvblockpool"].Description}");
        manager.Release(agent);
        await host.StopAsync();
        // </host-quickstart>
        pool = manager.Pool;
        Assert.Equal(new KvTokenSlot(64, 4, 0), slot);
        Assert.Equal(KvCacheSpec.Llama3_8B(), pool.Spec);
        Assert.Equal(0, pool.GetStatistics().Allocated);
        host.Dispose();
        Assert.True(pool.IsDisposed);
    }

    /// <summary>The body of the first fenced block of <paramref name="language"/> that the match holds.</summary>
    private static string ReadmeBlock(Match section, string language)
    {
        Assert.True(section.Success, $"README.md has no ```{language} block after the 'Use it from a host' heading.");
        return section.Groups["code"].Value;
    }

    private static Match ReadmeSettings() => ReadmeJson().Match(Readme());

    private static Match ReadmeCode() => ReadmeCSharp().Match(Readme());

    private static string Readme() => File.ReadAllText(Path.Combine(Repository.Root(), "README.md")).Replace("\r", string.Empty, StringComparison.Ordinal);

    /// <summary>The lines without their common indentation and trailing blanks, so the README's and the test's indents compare equal.</summary>
    private static string Unindent(string code)
    {
        List<string> lines = [.. code.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd())];
        int indent = lines.Where(l => l.Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join('\n', lines.Select(l => l.Length == 0 ? l : l[indent..])).Trim('\n');
    }

    [GeneratedRegex(@"## Use it from a host\n.*?```json\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex ReadmeJson();

    [GeneratedRegex(@"## Use it from a host\n.*?```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex ReadmeCSharp();

    [GeneratedRegex(@"// <host-quickstart>\r?\n(?<code>.*?)\r?\n\s*// </host-quickstart>", RegexOptions.Singleline)]
    private static partial Regex MarkedRegion();
}
