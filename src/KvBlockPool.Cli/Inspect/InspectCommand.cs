using KvBlockPool.Cli.Commands;
using KvBlockPool.Persistence;

namespace KvBlockPool.Cli.Inspect;

/// <summary>
/// <c>inspect FILE</c>: validates a saved agent cache without a pool (header, per-layer checksums, trailing bytes)
/// and prints the header, each layer's checksum and the verdict. Exit code 0 for a valid file, 1 for a damaged one
/// (or one that cannot be read), 2 for a bad command line.
/// </summary>
internal sealed class InspectCommand : ICliCommand
{
    private static readonly HashSet<string> ValueOptions = [];
    private static readonly HashSet<string> Flags = ["--help", "-h"];

    public string Name => "inspect";

    public string Summary => "Validate a saved agent cache file and print its header, checksums and verdict.";

    public void WriteHelp(TextWriter writer)
    {
        writer.WriteLine("Usage: KvBlockPool.Cli inspect FILE");
        writer.WriteLine();
        writer.WriteLine("Reads a file written by KvCacheWriter or KvCacheStore, checks its magic, version, header checksum,");
        writer.WriteLine("every layer's XxHash3 checksum and that nothing follows the last layer, and prints what it found.");
        writer.WriteLine("Nothing is allocated in a pool. Exits 0 for a valid file, 1 for a damaged or unreadable one,");
        writer.WriteLine("2 for a bad command line.");
    }

    public int Run(IReadOnlyList<string> args, CliConsole console)
    {
        // The file is the one positional argument; everything else goes through the option reader's checks.
        string[] positional = args.Where(a => !a.StartsWith('-')).ToArray();
        var options = new OptionReader(args.Where(a => a.StartsWith('-')).ToArray(), ValueOptions, Flags);
        if (options.Has("--help") || options.Has("-h"))
        {
            WriteHelp(console.Out);
            return ExitCodes.Success;
        }

        if (positional.Length != 1)
        {
            throw new UsageException(positional.Length == 0 ? "give the file to inspect." : $"give one file, not {positional.Length}.");
        }

        string path = positional[0];
        KvCacheInspectionReport report;
        try
        {
            report = KvCacheInspector.InspectFileAsync(path).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            console.Error.WriteLine($"kvblockpool inspect: cannot read '{path}': {ex.Message}");
            return ExitCodes.InvariantBroken;
        }

        console.Out.WriteLine($"file: {path}");
        console.Out.WriteLine(report.ToString());
        return report.IsValid ? ExitCodes.Success : ExitCodes.InvariantBroken;
    }
}
