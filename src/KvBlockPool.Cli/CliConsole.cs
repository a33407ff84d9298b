namespace KvBlockPool.Cli;

/// <summary>Where a command writes, and whether its output is a terminal (live progress) or a log (plain lines).</summary>
internal sealed class CliConsole(TextWriter output, TextWriter error, bool isTerminal)
{
    public static CliConsole System => new(Console.Out, Console.Error, !Console.IsOutputRedirected);

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public bool IsTerminal { get; } = isTerminal;
}
