using System.CommandLine;
using KvBlockPool.Cli.Commands;
using KvBlockPool.Cli.Simulate.Output;
using KvBlockPool.Cli.Simulate.Plotting;
using KvBlockPool.Cli.Simulate.Progress;
using KvBlockPool.Cli.Simulate.Tier;
using Spectre.Console;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// <c>simulate</c>, the default command: a multi-agent inference host played against a real pool for a few seconds,
/// then a report (a table, or JSON with <c>--json</c>) and optionally a picture (<c>--plot</c>). Exit code 0 when every
/// invariant held and nothing leaked, 1 otherwise, 2 for a bad command line.
/// </summary>
internal sealed class SimulateCommand
{
    private const string Summary = "Run a simulated multi-agent inference host against a pool and report (the default command).";

    private readonly CliConsole _console;

    public SimulateCommand(CliConsole console)
    {
        _console = console;
        Command = new Command("simulate", Summary);
        Configure(Command);
    }

    /// <summary>The <c>simulate</c> command.</summary>
    public Command Command { get; }

    /// <summary>Gives the root command the same options and work, so that no command means <c>simulate</c>.</summary>
    public void ConfigureAsDefault(RootCommand root) => Configure(root);

    private void Configure(Command command)
    {
        var options = new SimulateOptions();
        options.AddTo(command);
        command.SetAction(parse => UsageErrors.Guard(_console, command, () => Run(options, parse)));
    }

    private int Run(SimulateOptions options, ParseResult parse)
    {
        SimulationSettings settings = options.Bind(parse);
        bool json = options.Json(parse);
        string? plot = options.Plot(parse);
        IAnsiConsole ansi = _console.CreateAnsiConsole();
        IProgressView progress = json ? new SilentProgressView()
            : _console.IsTerminal ? new LiveProgressView(ansi)
            : new PlainProgressView(_console.Out);
        // The tier outlives the first host: a second host runs on it after the first has flushed its offload.
        using TierSession? tier = settings.Tier.IsOff ? null : TierSession.Open(settings.Tier);
        SimulationReport report = Simulation.Run(settings, progress, tier);
        if (settings.Hosts == 2 && tier is not null)
        {
            if (!json)
            {
                _console.Out.WriteLine($"host 1 done; starting host 2 in a process of its own on {tier.EndPoint} ...");
            }

            report.SecondHost = SecondHostProcess.Run(settings, tier);
        }
        if (plot is not null)
        {
            if (!PlotFonts.Available)
            {
                _console.Error.WriteLine($"{CliApplication.CommandName} simulate: no fonts found, so the plot has no text; install a font (on Debian: apt-get install fonts-dejavu-core).");
            }

            SimulationPlot.Save(report, plot);
        }

        if (json)
        {
            SimulationJsonDocument.Write(report, plot, _console.Out);
        }
        else
        {
            new SimulationReportView(ansi).Write(report, plot);
        }

        return report.InvariantsHeld ? ExitCodes.Success : ExitCodes.InvariantBroken;
    }
}
