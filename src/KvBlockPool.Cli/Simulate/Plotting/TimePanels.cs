using ScottPlot;
using ScottPlot.TickGenerators;

namespace KvBlockPool.Cli.Simulate.Plotting;

/// <summary>The three panels over time, from the samples taken while the workers ran.</summary>
internal static class TimePanels
{
    private const double ThroughputWindowSeconds = 0.5;

    public static void Occupancy(Plot plot, SimulationReport report)
    {
        double[] seconds = Seconds(report);
        double[] percent = report.Samples.Select(s => 100.0 * s.AllocatedBlocks / report.CapacityBlocks).ToArray();
        Line(plot, seconds, percent, Colors.DodgerBlue, "allocated");
        HorizontalLine(plot, 100.0 * report.PeakBlocks / report.CapacityBlocks, Colors.OrangeRed, $"peak {100.0 * report.PeakBlocks / report.CapacityBlocks:0.0}%");
        plot.Title($"Pool occupancy: {report.Settings.ModelTitle}, {report.CapacityBlocks:N0} blocks");
        plot.XLabel("time (s)");
        plot.YLabel("blocks allocated (% of capacity)");
        plot.Axes.SetLimitsY(0, 105);
        Finish(plot, report);
    }

    public static void Agents(Plot plot, SimulationReport report)
    {
        double[] agents = report.Samples.Select(s => (double)s.Agents).ToArray();
        Line(plot, Seconds(report), agents, Colors.SeaGreen, "admitted");
        HorizontalLine(plot, report.Settings.Agents, Colors.Gray, $"{report.Settings.Agents} slots");
        plot.Title($"Agents in flight: {report.Settings.Threads} threads, {report.Settings.Agents} slots");
        plot.XLabel("time (s)");
        plot.YLabel("agents admitted");
        plot.Axes.SetLimitsY(0, report.Settings.Agents * 1.1);
        Finish(plot, report);
    }

    public static void Throughput(Plot plot, SimulationReport report)
    {
        double[] seconds = Seconds(report);
        double[] rate = new double[seconds.Length];
        int from = 0;
        for (int i = 1; i < rate.Length; i++)
        {
            // Over the last half second or more: one 100 ms sample is noisy, and the last one may be cut short.
            while (from + 1 < i && report.Samples[i].Seconds - report.Samples[from + 1].Seconds >= ThroughputWindowSeconds)
            {
                from++;
            }

            SimulationSample start = report.Samples[from];
            SimulationSample end = report.Samples[i];
            rate[i] = (end.Operations - start.Operations) / Math.Max(end.Seconds - start.Seconds, 1e-6);
        }
        // The first sample is the start, where a rate has no interval yet.
        Line(plot, seconds[1..], rate[1..], Colors.DarkOrange, "all operations");
        HorizontalLine(plot, report.Operations / report.Seconds, Colors.Gray, $"mean {SimulationPlot.Short(report.Operations / report.Seconds)}/s");
        plot.Title($"Throughput (over {ThroughputWindowSeconds} s windows)");
        plot.XLabel("time (s)");
        plot.YLabel("operations per second");
        plot.Axes.Left.TickGenerator = new NumericAutomatic { LabelFormatter = SimulationPlot.Short };
        plot.Axes.SetLimitsY(0, Math.Max(1, rate.DefaultIfEmpty(0).Max()) * 1.15);
        Finish(plot, report);
    }

    private static double[] Seconds(SimulationReport report) => report.Samples.Select(s => s.Seconds).ToArray();

    private static void Line(Plot plot, double[] xs, double[] ys, Color color, string legend)
    {
        var line = plot.Add.Scatter(xs, ys, color);
        line.MarkerSize = 0;
        line.LineWidth = 2;
        line.LegendText = legend;
    }

    private static void HorizontalLine(Plot plot, double y, Color color, string legend)
    {
        var line = plot.Add.HorizontalLine(y, width: 1.5f, color: color, pattern: LinePattern.Dashed);
        line.LegendText = legend;
    }

    private static void Finish(Plot plot, SimulationReport report)
    {
        plot.Axes.SetLimitsX(0, Math.Max(report.Elapsed.TotalSeconds, 0.1));
        plot.ShowLegend(Alignment.LowerRight);
    }
}
