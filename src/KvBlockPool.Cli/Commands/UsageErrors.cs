using System.CommandLine;

namespace KvBlockPool.Cli.Commands;

/// <summary>How a command line that cannot run is reported: the problem, then where to read the options; exit code 2.</summary>
internal static class UsageErrors
{
    public static string Hint(Command command) => command is RootCommand root
        ? $"Commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}. Run '{CliApplication.CommandName} --help' for the options."
        : $"Run '{CliApplication.CommandName} {command.Name} --help' for the options.";

    /// <summary>Writes <paramref name="message"/> and the hint to the error stream.</summary>
    /// <returns><see cref="ExitCodes.Usage"/>.</returns>
    public static int Report(CliConsole console, Command command, string message)
    {
        console.Error.WriteLine($"{CliApplication.CommandName} {command.Name}: {message}");
        console.Error.WriteLine(Hint(command));
        return ExitCodes.Usage;
    }

    /// <summary>Runs a command's work, turning a <see cref="UsageException"/> (a problem only the run could find) into exit code 2.</summary>
    public static int Guard(CliConsole console, Command command, Func<int> run)
    {
        try
        {
            return run();
        }
        catch (UsageException ex)
        {
            return Report(console, command, ex.Message);
        }
    }
}
