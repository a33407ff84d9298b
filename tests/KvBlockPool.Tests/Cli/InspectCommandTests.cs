using KvBlockPool.Cli;
using KvBlockPool.Tests.Persistence;

namespace KvBlockPool.Tests.Cli;

public sealed class InspectCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-inspect-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Inspect_prints_the_header_and_checksums_of_a_valid_file_and_exits_0()
    {
        string path = await SaveSampleAsync();

        (int exit, string output, string error) = Run("inspect", path);

        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Equal(string.Empty, error);
        Assert.Contains($"file: {path}", output, StringComparison.Ordinal);
        Assert.Contains("verdict: VALID", output, StringComparison.Ordinal);
        Assert.Contains("layer 0", output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("layer 2", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Inspect_reports_a_flipped_bit_and_exits_1()
    {
        string path = await SaveSampleAsync();
        byte[] bytes = await File.ReadAllBytesAsync(path);
        bytes[^20] ^= 0x10; // inside the last layer's payload
        await File.WriteAllBytesAsync(path, bytes);

        (int exit, string output, string error) = Run("inspect", path);

        Assert.Equal(ExitCodes.InvariantBroken, exit);
        Assert.Equal(string.Empty, error);
        Assert.Contains("verdict: INVALID", output, StringComparison.Ordinal);
        Assert.Contains("checksum", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Inspect_of_a_missing_file_says_so_and_exits_1()
    {
        string path = Path.Combine(_directory, "absent.kvc");

        (int exit, string output, string error) = Run("inspect", path);

        Assert.Equal(ExitCodes.InvariantBroken, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains($"cannot read '{path}'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[] { "inspect" }, "give the file to inspect")]
    [InlineData(new string[] { "inspect", "a", "b" }, "give one file, not 2")]
    [InlineData(new string[] { "inspect", "a", "--bogus" }, "unknown option '--bogus'")]
    public void Inspect_with_a_bad_command_line_exits_2_with_a_message(string[] args, string message)
    {
        (int exit, string output, string error) = Run(args);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_help_describes_the_command()
    {
        (int exit, string output, _) = Run("inspect", "--help");

        Assert.Equal(ExitCodes.Success, exit);
        Assert.Contains("Usage: KvBlockPool.Cli inspect FILE", output, StringComparison.Ordinal);
    }

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CommandLine.Run(args, new CliConsole(output, error, isTerminal: false));
        return (exit, output.ToString(), error.ToString());
    }

    private async Task<string> SaveSampleAsync()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        var agent = new AgentId(5);
        PersistenceKit.Fill(pool, agent, seed: 3, 2, 1, 3);
        string path = Path.Combine(_directory, "agent-5.kvc");
        await File.WriteAllBytesAsync(path, await PersistenceKit.SaveAsync(pool, agent));
        return path;
    }
}
