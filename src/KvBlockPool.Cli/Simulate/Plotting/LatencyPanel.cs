using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace KvBlockPool.Cli.Simulate.Plotting;

/// <summary>
/// Each operation's latency by percentile, HdrHistogram style: the x axis runs to the tail in equal steps per "nine"
/// (90%, 99%, 99.9%, ...), the y axis is logarithmic, so the median and the worst case are readable side by side.
/// </summary>
internal static class LatencyPanel
{
    private const double Step = 0.02;

    private static readonly Color[] Palette = [Colors.DodgerBlue, Colors.DarkOrange, Colors.SeaGreen, Colors.Crimson, Colors.MediumPurple];

    public static void Draw(Plot plot, SimulationReport report)
    {
        double widest = 1;
        foreach (OperationKind kind in Enum.GetValues<OperationKind>())
        {
            HdrHistogram.LongHistogram histogram = report.Totals.Latency(kind);
            if (histogram.TotalCount == 0)
            {
                continue;
            }

            // Beyond 1/count of the samples a percentile is the maximum: stop the curve there.
            double nines = Math.Max(1, Math.Log10(histogram.TotalCount));
            widest = Math.Max(widest, nines);
            var xs = new List<double>();
            var ys = new List<double>();
            for (double x = 0; x <= nines + (Step / 2); x += Step)
            {
                double percentile = 100 * (1 - Math.Pow(10, -x));
                xs.Add(x);
                ys.Add(Math.Log10(Math.Max(histogram.GetValueAtPercentile(percentile), 1) / 1000.0));
            }

            var line = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), Palette[(int)kind % Palette.Length]);
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"{OperationNames.Display(kind)} ({histogram.TotalCount:N0})");
        }

        plot.Title("Latency by percentile (HdrHistogram)");
        plot.XLabel("percentile");
        plot.YLabel("latency (µs, log scale)");
        plot.Axes.Bottom.TickGenerator = PercentileTicks(widest);
        plot.Axes.Left.TickGenerator = new NumericAutomatic
        {
            IntegerTicksOnly = true,
            MinorTickGenerator = new LogMinorTickGenerator(),
            LabelFormatter = exponent => SimulationPlot.Short(Math.Pow(10, exponent)),
        };
        // A margin past the last curve, so the label of a tick at its end is not cut off by the frame.
        plot.Axes.SetLimitsX(0, widest + 0.2);
        // Every curve rises to the right, so the lower right corner stays clear of them.
        plot.ShowLegend(Alignment.LowerRight);
    }

    private static NumericManual PercentileTicks(double widest)
    {
        var ticks = new NumericManual();
        ticks.AddMajor(0, "0%");
        ticks.AddMajor(Math.Log10(2), "50%");
        string[] labels = ["90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"];
        for (int nines = 1; nines <= Math.Min(labels.Length, (int)Math.Floor(widest)); nines++)
        {
            ticks.AddMajor(nines, labels[nines - 1]);
        }

        return ticks;
    }
}
