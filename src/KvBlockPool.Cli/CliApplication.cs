using System.CommandLine;
using System.CommandLine.Invocation;
using KvBlockPool.Cli.Commands;
using KvBlockPool.Cli.Inspect;
using KvBlockPool.Cli.Simulate;

namespace KvBlockPool.Cli;

/// <summary>
/// The command line: System.CommandLine parses, validates, writes help and completions; this class only turns a
/// parse error into exit code 2 with a hint. With no command it runs <c>simulate</c>.
/// </summary>
internal static class CliApplication
{
    /// <summary>The command's name as installed (the tool's ToolCommandName), used in hints.</summary>
    public const string CommandName = "kvblockpool";

    public static int Run(IReadOnlyList<string> args, CliConsole console)
    {
        RootCommand root = CreateRoot(console);
        ParseResult parse = root.Parse(args);
        if (parse.Action is ParseErrorAction errors)
        {
            // System.CommandLine's own words (and its "did you mean" for a misspelt option), without the full help
            // it would add: the hint says where the help is, and nothing ran, which exit code 2 says.
            // Its streams are captured to put the errors before the suggestions and drop the blank lines.
            errors.ShowHelp = false;
            var suggestions = new StringWriter();
            var problems = new StringWriter();
            parse.Invoke(new InvocationConfiguration { Output = suggestions, Error = problems });
            foreach (string text in new[] { problems.ToString(), suggestions.ToString() }.Where(t => !string.IsNullOrWhiteSpace(t)))
            {
                console.Error.WriteLine(text.Trim());
            }

            console.Error.WriteLine(UsageErrors.Hint(parse.CommandResult.Command));
            return ExitCodes.Usage;
        }

        return parse.Invoke(new InvocationConfiguration { Output = console.Out, Error = console.Error });
    }

    private static RootCommand CreateRoot(CliConsole console)
    {
        var simulate = new SimulateCommand(console);
        var root = new RootCommand("KvBlockPool command line: exercise and inspect a KV-cache block pool. With no command, runs simulate.")
        {
            // RootCommand names itself after the executable; in help the installed tool's name reads better.
            HelpName = CommandName,
        };
        simulate.ConfigureAsDefault(root);
        root.Add(simulate.Command);
        root.Add(new InspectCommand(console).Command);
        root.Add(HelpCommand.Create(root, console));
        return root;
    }
}
