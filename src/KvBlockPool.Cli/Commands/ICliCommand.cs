namespace KvBlockPool.Cli.Commands;

/// <summary>One command of the command line: a name, a line for the command list, help, and the work.</summary>
internal interface ICliCommand
{
    string Name { get; }

    string Summary { get; }

    void WriteHelp(TextWriter writer);

    /// <summary>Runs the command with the arguments after its name.</summary>
    /// <returns>The exit code.</returns>
    /// <exception cref="UsageException">The arguments are wrong.</exception>
    int Run(IReadOnlyList<string> args, CliConsole console);
}
