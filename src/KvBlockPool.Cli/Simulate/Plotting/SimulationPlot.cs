using System.Globalization;
using ScottPlot;
using SkiaSharp;

namespace KvBlockPool.Cli.Simulate.Plotting;

/// <summary>
/// The picture of a simulation (<c>--plot</c>), four panels: pool occupancy, agents in flight and throughput over
/// time, and each operation's latency by percentile. PNG or SVG by the file's extension.
/// </summary>
internal static class SimulationPlot
{
    private const int Width = 1600;
    private const int Height = 1000;

    public static void Save(SimulationReport report, string path)
    {
        PlotFonts.UseSans();
        var figure = new Multiplot();
        figure.AddPlots(4);
        figure.Layout = new ScottPlot.MultiplotLayouts.Grid(rows: 2, columns: 2);
        TimePanels.Occupancy(figure.GetPlot(0), report);
        TimePanels.Agents(figure.GetPlot(1), report);
        TimePanels.Throughput(figure.GetPlot(2), report);
        LatencyPanel.Draw(figure.GetPlot(3), report);
        if (PlotFile.IsSvg(path))
        {
            // Multiplot saves PNG only; Skia's SVG canvas takes the same drawing (text stays text).
            using FileStream file = File.Create(path);
            using (SKCanvas canvas = SKSvgCanvas.Create(new SKRect(0, 0, Width, Height), file))
            {
                figure.Render(canvas, new PixelRect(0, Width, Height, 0));
            }
        }
        else
        {
            figure.SavePng(path, Width, Height);
        }
    }

    /// <summary>Tick labels such as 950, 12k or 1.5M: short enough for a narrow axis.</summary>
    internal static string Short(double value) => Math.Abs(value) switch
    {
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e6:0.##}M"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e3:0.##}k"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{value:0.##}"),
    };
}
