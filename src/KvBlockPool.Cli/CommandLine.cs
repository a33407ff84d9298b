using KvBlockPool.Cli.Commands;
using KvBlockPool.Cli.Inspect;
using KvBlockPool.Cli.Simulate;

namespace KvBlockPool.Cli;

/// <summary>The dispatcher: picks a command by its first argument (<c>simulate</c> when there is none).</summary>
internal static class CommandLine
{
    /// <summary>Every command. Adding one is one file implementing <see cref="ICliCommand"/> and one line here.</summary>
    private static readonly ICliCommand[] Commands =
    [
        new SimulateCommand(),
        new InspectCommand(),
    ];

    private static ICliCommand DefaultCommand => Commands[0];

    public static int Run(IReadOnlyList<string> args, CliConsole console)
    {
        ICliCommand command = DefaultCommand;
        IReadOnlyList<string> rest = args;
        if (args.Count > 0)
        {
            string first = args[0];
            if (first is "--help" or "-h" or "help" or "-?")
            {
                WriteHelp(console.Out, args.Count > 1 ? Find(args[1]) : null);
                return ExitCodes.Success;
            }

            if (!first.StartsWith('-'))
            {
                ICliCommand? named = Find(first);
                if (named is null)
                {
                    console.Error.WriteLine($"Unknown command '{first}'. Commands: {string.Join(", ", Commands.Select(c => c.Name))}. Run with --help for more.");
                    return ExitCodes.Usage;
                }

                command = named;
                rest = args.Skip(1).ToArray();
            }
        }

        try
        {
            return command.Run(rest, console);
        }
        catch (UsageException ex)
        {
            console.Error.WriteLine($"kvblockpool {command.Name}: {ex.Message}");
            console.Error.WriteLine($"Run 'KvBlockPool.Cli {command.Name} --help' for the options.");
            return ExitCodes.Usage;
        }
    }

    private static ICliCommand? Find(string name) =>
        Commands.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));

    private static void WriteHelp(TextWriter writer, ICliCommand? command)
    {
        if (command is not null)
        {
            command.WriteHelp(writer);
            return;
        }

        writer.WriteLine("KvBlockPool command line: exercise and inspect a KV-cache block pool.");
        writer.WriteLine();
        writer.WriteLine("Usage: KvBlockPool.Cli [command] [options]   (no command: simulate)");
        writer.WriteLine();
        writer.WriteLine("Commands:");
        foreach (ICliCommand each in Commands)
        {
            writer.WriteLine($"  {each.Name,-12} {each.Summary}");
        }

        writer.WriteLine();
        writer.WriteLine("Run 'KvBlockPool.Cli <command> --help' for a command's options.");
        writer.WriteLine();
        DefaultCommand.WriteHelp(writer);
    }
}
