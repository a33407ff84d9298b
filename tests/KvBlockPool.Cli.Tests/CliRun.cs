using System.Text.Json;
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

    /// <summary>Runs a <c>--json</c> command line that must succeed, with nothing on the error stream and every invariant held; returns its report.</summary>
    public static JsonElement RunJson(params string[] args)
    {
        (int exit, string output, string error) = Run(args);
        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Equal(string.Empty, error);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement.Clone();
        Assert.True(root.GetProperty("invariantsHeld").GetBoolean(), root.GetProperty("failures").ToString());
        return root;
    }
}
