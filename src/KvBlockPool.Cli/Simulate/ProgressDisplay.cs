using System.Globalization;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// The live view while the simulation runs: on a terminal one line rewritten in place several times a second;
/// into a file or pipe a plain line every second, so logs stay readable.
/// </summary>
internal sealed class ProgressDisplay(CliConsole console)
{
    public TimeSpan Interval => console.IsTerminal ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(1);

    public void Show(TimeSpan elapsed, TimeSpan duration, int agents, BlockPoolStatistics stats, long operations)
    {
        string line = string.Create(
            CultureInfo.InvariantCulture,
            $"{elapsed.TotalSeconds,5:0.0}/{duration.TotalSeconds:0.0} s  agents {agents,4}  blocks {stats.Allocated,7:N0}/{stats.Capacity:N0} ({100.0 * stats.Allocated / stats.Capacity,5:0.0}%)  ops {operations,12:N0}");
        if (console.IsTerminal)
        {
            console.Out.Write('\r');
            console.Out.Write(line);
        }
        else
        {
            console.Out.WriteLine(line);
        }
    }

    public void End()
    {
        if (console.IsTerminal)
        {
            console.Out.WriteLine();
        }
    }
}
