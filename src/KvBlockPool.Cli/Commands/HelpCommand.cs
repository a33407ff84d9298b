using System.CommandLine;
using System.CommandLine.Completions;

namespace KvBlockPool.Cli.Commands;

/// <summary><c>help [command]</c>: the same help as <c>[command] --help</c>, for those who type it the other way round.</summary>
internal static class HelpCommand
{
    public static Command Create(RootCommand root, CliConsole console)
    {
        var name = new Argument<string?>("command")
        {
            HelpName = "command",
            Description = "The command to describe; without it, the overview.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        name.CompletionSources.Add(_ => root.Subcommands.Select(c => new CompletionItem(c.Name)));
        var command = new Command("help", "Show the help of a command (the same as COMMAND --help).") { name };
        command.SetAction(parse => UsageErrors.Guard(console, command, () =>
        {
            string? wanted = parse.GetValue(name);
            if (wanted is null)
            {
                return root.Parse(["--help"]).Invoke(parse.InvocationConfiguration);
            }

            Command target = root.Subcommands.FirstOrDefault(c => string.Equals(c.Name, wanted, StringComparison.OrdinalIgnoreCase))
                ?? throw new UsageException($"there is no command '{wanted}'. Commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}.");
            return root.Parse([target.Name, "--help"]).Invoke(parse.InvocationConfiguration);
        }));
        return command;
    }
}
