using System.CommandLine;
using KvBlockPool.Cli.Commands;
using KvBlockPool.Persistence;
using Spectre.Console;

namespace KvBlockPool.Cli.Inspect;

/// <summary>
/// <c>inspect FILE</c>: validates a saved agent cache without a pool (header, per-layer checksums, trailing bytes)
/// and prints the header, each layer's checksum and the verdict; <c>--layers</c> adds the per-layer layout as a
/// table, <c>--json</c> writes all of it as JSON. Exit code 0 for a valid file, 1 for a damaged one (or one that
/// cannot be read), 2 for a bad command line.
/// </summary>
internal sealed class InspectCommand
{
    private readonly CliConsole _console;

    private readonly Argument<string> _file = new("FILE")
    {
        Description = "A file written by KvCacheWriter or KvCacheStore.",
    };

    private readonly Option<bool> _layers = new("--layers")
    {
        Description = "Also print the per-layer layout as a table: blocks, first block, offset, bytes, checksum, status.",
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Write the report as JSON to standard output; see docs/cli.md for the fields.",
    };

    public InspectCommand(CliConsole console)
    {
        _console = console;
        // The summary shows in the command list; the help adds what is checked (the remarks in the type's summary).
        Command = new Command("inspect", "Validate a saved agent cache file: header, per-layer checksums (and layout), verdict. Exits 1 for a damaged file.")
        {
            _file,
            _layers,
            _json,
        };
        Command.SetAction(parse => UsageErrors.Guard(console, Command, () => Run(parse)));
    }

    public Command Command { get; }

    private int Run(ParseResult parse)
    {
        string path = parse.GetValue(_file)!;
        KvCacheInspectionReport report;
        try
        {
            report = KvCacheInspector.InspectFileAsync(path).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _console.Error.WriteLine($"{CliApplication.CommandName} inspect: cannot read '{path}': {ex.Message}");
            return ExitCodes.InvariantBroken;
        }

        if (parse.GetValue(_json))
        {
            InspectJsonDocument.Write(path, report, _console.Out);
        }
        else
        {
            _console.Out.WriteLine($"file: {path}");
            _console.Out.Write(report.ToString());
            if (parse.GetValue(_layers))
            {
                IAnsiConsole ansi = _console.CreateAnsiConsole();
                ansi.WriteLine("layout:");
                ansi.Write(LayoutTable.Create(FileLayout.Rows(report), ansi.Profile.Capabilities.Ansi));
            }
        }

        return report.IsValid ? ExitCodes.Success : ExitCodes.InvariantBroken;
    }
}
