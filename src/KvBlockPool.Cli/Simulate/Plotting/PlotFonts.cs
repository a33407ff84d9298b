using ScottPlot;
using SkiaSharp;

namespace KvBlockPool.Cli.Simulate.Plotting;

/// <summary>
/// The font the plots use. Skia reads fonts from the system; a machine without any draws every label as nothing,
/// silently, so that case is reported before drawing.
/// </summary>
internal static class PlotFonts
{
    /// <summary>With only DejaVu installed ScottPlot's default resolves to the serif face; the sans one reads better.</summary>
    private const string Preferred = "DejaVu Sans";

    public static bool Available => SKFontManager.Default.FontFamilyCount > 0;

    public static void UseSans()
    {
        using SKTypeface? sans = SKFontManager.Default.MatchFamily(Preferred);
        if (sans is not null && sans.FamilyName == Preferred)
        {
            Fonts.Default = Preferred;
        }
    }
}
