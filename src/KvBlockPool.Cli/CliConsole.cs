using Spectre.Console;

namespace KvBlockPool.Cli;

/// <summary>Where a command writes, and whether its output is a terminal (live view, colour) or a log (plain lines).</summary>
internal sealed class CliConsole(TextWriter output, TextWriter error, bool isTerminal)
{
    /// <summary>Wide enough that no report table wraps in a log, where there is no terminal width to fit.</summary>
    private const int LogWidth = 160;

    public static CliConsole System => new(Console.Out, Console.Error, !Console.IsOutputRedirected);

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public bool IsTerminal { get; } = isTerminal;

    /// <summary>
    /// Spectre.Console over <see cref="Out"/>: escape codes, colour and live redrawing on a terminal only, so a file
    /// or a CI log gets plain text.
    /// </summary>
    public IAnsiConsole CreateAnsiConsole()
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = IsTerminal ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(Out),
        });
        if (!IsTerminal)
        {
            console.Profile.Width = LogWidth;
        }

        return console;
    }
}
