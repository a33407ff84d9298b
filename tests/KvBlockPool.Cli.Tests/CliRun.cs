using KvBlockPool.Cli;

namespace KvBlockPool.Cli.Tests;

/// <summary>Runs the command line in process, as a log would see it (not a terminal), and captures both streams.</summary>
internal static class CliRun
{
    public static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CliApplication.Run(args, new CliConsole(output, error, isTerminal: false));
        return (exit, output.ToString(), error.ToString());
    }
}
