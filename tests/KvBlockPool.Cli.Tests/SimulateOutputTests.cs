using System.Text.Json;

namespace KvBlockPool.Cli.Tests;

/// <summary>The machine-readable report and the pictures, as a script or CI would use them.</summary>
public sealed class SimulateOutputTests : IDisposable
{
    private static readonly string[] Operations = ["admit", "append", "truncate", "release", "abortedAdmission"];
    private static readonly string[] Percentiles = ["count", "perSecond", "p50", "p90", "p99", "p999", "max"];

    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-simulate-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Json_writes_nothing_but_a_parsable_report_with_every_field()
    {
        (int exit, string output, string error) = CliRun.Run("simulate", "--duration", "0.5", "--preset", "tinyllama", "--capacity-mib", "16", "--json");

        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Equal(string.Empty, error);
        using JsonDocument json = JsonDocument.Parse(output); // no progress lines or table around it
        JsonElement root = json.RootElement;
        Assert.Equal("kvblockpool.simulate/1", root.GetProperty("schema").GetString());
        Assert.Equal("tinyllama", root.GetProperty("model").GetProperty("preset").GetString());
        Assert.Equal(22, root.GetProperty("model").GetProperty("layers").GetInt32());
        Assert.True(root.GetProperty("pool").GetProperty("capacityBlocks").GetInt32() > 0);
        Assert.Equal(0.5, root.GetProperty("run").GetProperty("durationSeconds").GetDouble());
        JsonElement latency = root.GetProperty("latencyNs");
        Assert.Equal(Operations, latency.EnumerateObject().Select(p => p.Name));
        long total = 0;
        foreach (string operation in Operations)
        {
            JsonElement figures = latency.GetProperty(operation);
            Assert.Equal(Percentiles, figures.EnumerateObject().Select(p => p.Name));
            long count = figures.GetProperty("count").GetInt64();
            total += count;
            if (count > 0)
            {
                long[] ordered = [.. new[] { "p50", "p90", "p99", "p999", "max" }.Select(p => figures.GetProperty(p).GetInt64())];
                Assert.True(ordered[0] > 0, operation);
                Assert.Equal(ordered.Order(), ordered); // percentiles never decrease
            }
        }

        Assert.Equal(total, root.GetProperty("operations").GetProperty("total").GetInt64());
        JsonElement agents = root.GetProperty("agents");
        Assert.True(agents.GetProperty("admitted").GetInt64() > 0);
        Assert.Equal(agents.GetProperty("admitted").GetInt64(), agents.GetProperty("completed").GetInt64() + agents.GetProperty("preempted").GetInt64());
        Assert.Equal(latency.GetProperty("abortedAdmission").GetProperty("count").GetInt64(), root.GetProperty("rollbacks").GetInt64());
        Assert.InRange(root.GetProperty("occupancy").GetProperty("peakFraction").GetDouble(), 0.0, 1.0);
        Assert.Equal(0, root.GetProperty("leakedBlocks").GetInt32());
        Assert.True(root.GetProperty("invariantsHeld").GetBoolean());
        Assert.Equal(0, root.GetProperty("failures").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("plot").ValueKind);
    }

    [Fact]
    public void Plot_to_png_draws_a_picture_and_the_report_names_it()
    {
        string path = Path.Combine(_directory, "run.png");

        (int exit, string output, string error) = CliRun.Run("simulate", "--duration", "0.5", "--preset", "tinyllama", "--capacity-mib", "16", "--plot", path);

        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Contains($"plot: {path}", output, StringComparison.Ordinal);
        byte[] png = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.True(png.Length > 20_000, $"{png.Length} bytes"); // four panels of lines and text, not a blank image
    }

    [Fact]
    public void Plot_to_svg_writes_the_panels_with_their_titles_as_text()
    {
        string path = Path.Combine(_directory, "run.SVG");

        (int exit, string output, string error) = CliRun.Run("simulate", "--duration", "0.5", "--preset", "tinyllama", "--capacity-mib", "16", "--plot", path, "--json");

        Assert.True(exit == ExitCodes.Success, output + error);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal(path, json.RootElement.GetProperty("plot").GetString());
        string svg = File.ReadAllText(path);
        Assert.Contains("<svg", svg, StringComparison.Ordinal);
        if (KvBlockPool.Cli.Simulate.Plotting.PlotFonts.Available)
        {
            foreach (string title in new[] { "Pool", "occupancy", "Agents", "Throughput", "Latency", "percentile" })
            {
                Assert.Contains(title, SvgText(svg), StringComparison.Ordinal);
            }
        }
    }

    /// <summary>The text of the SVG's text elements: Skia writes one element per run of text.</summary>
    private static string SvgText(string svg) =>
        string.Join(' ', System.Text.RegularExpressions.Regex.Matches(svg, "<text[^>]*>([^<]*)</text>").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)));
}
