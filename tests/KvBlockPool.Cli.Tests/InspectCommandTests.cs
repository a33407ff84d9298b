using System.Text.Json;
using System.Text.RegularExpressions;

namespace KvBlockPool.Cli.Tests;

public sealed partial class InspectCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-inspect-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Inspect_prints_the_header_and_checksums_of_a_valid_file_and_exits_0()
    {
        string path = await SaveSampleAsync();

        (int exit, string output, string error) = CliRun.Run("inspect", path);

        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Equal(string.Empty, error);
        Assert.Contains($"file: {path}", output, StringComparison.Ordinal);
        Assert.Contains("verdict: VALID", output, StringComparison.Ordinal);
        Assert.Contains("layer 0", output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("layer 2", output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("layout:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_reports_a_flipped_bit_and_exits_1()
    {
        string path = await SaveSampleAsync();
        await FlipALastLayerBitAsync(path);

        (int exit, string output, string error) = CliRun.Run("inspect", path);

        Assert.Equal(ExitCodes.InvariantBroken, exit);
        Assert.Equal(string.Empty, error);
        Assert.Contains("verdict: INVALID", output, StringComparison.Ordinal);
        Assert.Contains("checksum", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Inspect_of_a_missing_file_says_so_and_exits_1()
    {
        string path = Path.Combine(_directory, "absent.kvc");

        (int exit, string output, string error) = CliRun.Run("inspect", path);

        Assert.Equal(ExitCodes.InvariantBroken, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains($"cannot read '{path}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_layers_prints_the_layout_as_a_table_with_offsets_from_the_header()
    {
        string path = await SaveSampleAsync();

        (int exit, string output, string error) = CliRun.Run("inspect", path, "--layers");

        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Contains("layout:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", output, StringComparison.Ordinal); // not a terminal: no escape codes
        MatchCollection rows = LayoutRow().Matches(output);
        Assert.Equal(3, rows.Count);
        // 2, 1 and 3 blocks of 256 bytes, each layer followed by its 8-byte checksum, after an 80-byte header (1.2, no token ids).
        long[] expectedOffsets = [80, 80 + 512 + 8, 80 + 512 + 8 + 256 + 8];
        int[] expectedFirstBlocks = [0, 2, 3];
        for (int layer = 0; layer < 3; layer++)
        {
            Assert.Equal(layer, int.Parse(rows[layer].Groups["layer"].Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(expectedFirstBlocks[layer], Number(rows[layer].Groups["first"].Value));
            Assert.Equal(expectedOffsets[layer], Number(rows[layer].Groups["offset"].Value));
            Assert.Equal("ok", rows[layer].Groups["status"].Value);
        }
    }

    [Fact]
    public async Task Inspect_json_reports_the_verdict_header_and_layout_of_a_valid_file()
    {
        string path = await SaveSampleAsync();

        (int exit, string output, string error) = CliRun.Run("inspect", path, "--json");

        Assert.True(exit == ExitCodes.Success, output + error);
        using JsonDocument json = JsonDocument.Parse(output); // nothing but the JSON on standard output
        JsonElement root = json.RootElement;
        Assert.Equal("kvblockpool.inspect/1", root.GetProperty("schema").GetString());
        Assert.Equal(path, root.GetProperty("file").GetString());
        Assert.True(root.GetProperty("valid").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("error").ValueKind);
        JsonElement header = root.GetProperty("header");
        Assert.Equal(5, header.GetProperty("agent").GetInt64());
        Assert.Equal("1.2", header.GetProperty("format").GetString());
        Assert.Equal(0, header.GetProperty("tokenIds").GetInt32()); // saved by KvCacheWriter, which knows no ids
        Assert.Equal(6, header.GetProperty("totalBlocks").GetInt32());
        Assert.Equal(3, header.GetProperty("spec").GetProperty("layers").GetInt32());
        Assert.Equal(new[] { 2, 1, 3 }, header.GetProperty("blocksPerLayer").EnumerateArray().Select(e => e.GetInt32()));
        JsonElement[] layers = [.. root.GetProperty("layers").EnumerateArray()];
        Assert.Equal(3, layers.Length);
        Assert.Equal(new long[] { 80, 600, 864 }, layers.Select(l => l.GetProperty("offset").GetInt64()));
        Assert.All(layers, l => Assert.Equal(l.GetProperty("storedChecksum").GetString(), l.GetProperty("computedChecksum").GetString()));
        Assert.All(layers, l => Assert.Equal("ok", l.GetProperty("status").GetString()));
        Assert.Equal(header.GetProperty("totalBytes").GetInt64(), root.GetProperty("bytesRead").GetInt64());
    }

    [Fact]
    public async Task Inspect_json_of_a_damaged_file_names_the_error_and_the_bad_layer_and_exits_1()
    {
        string path = await SaveSampleAsync();
        await FlipALastLayerBitAsync(path);

        (int exit, string output, _) = CliRun.Run("inspect", path, "--json");

        Assert.Equal(ExitCodes.InvariantBroken, exit);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement;
        Assert.False(root.GetProperty("valid").GetBoolean());
        Assert.Equal("LayerChecksumMismatch", root.GetProperty("error").GetProperty("reason").GetString());
        Assert.Equal("MISMATCH", root.GetProperty("layers")[2].GetProperty("status").GetString());
        Assert.Equal("ok", root.GetProperty("layers")[0].GetProperty("status").GetString());
    }

    [Theory]
    [InlineData(new string[] { "inspect" }, "Required argument 'FILE' missing for command: 'inspect'")]
    [InlineData(new string[] { "inspect", "a", "b" }, "Unrecognized command or argument 'b'")]
    [InlineData(new string[] { "inspect", "a", "--bogus" }, "Unrecognized command or argument '--bogus'")]
    public void Inspect_with_a_bad_command_line_exits_2_with_the_parser_message_and_a_hint(string[] args, string message)
    {
        (int exit, string output, string error) = CliRun.Run(args);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.Contains("Run 'kvblockpool inspect --help' for the options.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_help_describes_the_command_and_its_options()
    {
        (int exit, string output, _) = CliRun.Run("inspect", "--help");

        Assert.Equal(ExitCodes.Success, exit);
        Assert.Contains("kvblockpool inspect <FILE> [options]", output, StringComparison.Ordinal);
        Assert.Contains("--layers", output, StringComparison.Ordinal);
        Assert.Contains("--json", output, StringComparison.Ordinal);
    }

    private async Task<string> SaveSampleAsync()
    {
        string path = Path.Combine(_directory, "agent-5.kvc");
        await SavedCaches.SaveAsync(path, 2, 1, 3);
        return path;
    }

    private static async Task FlipALastLayerBitAsync(string path)
    {
        byte[] bytes = await File.ReadAllBytesAsync(path);
        bytes[^20] ^= 0x10; // inside the last layer's blocks
        await File.WriteAllBytesAsync(path, bytes);
    }

    private static long Number(string text) => long.Parse(text.Replace(",", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\| +(?<layer>\d+) \| +(?<blocks>[\d,]+) \| +(?<first>[\d,]+) \| +(?<offset>[\d,]+) \| +(?<bytes>[\d,]+) \| 0x[0-9a-f]{16} +\| (?<status>\S+) +\|$", RegexOptions.Multiline)]
    private static partial Regex LayoutRow();
}
