namespace KvBlockPool.Cli.Simulate.Plotting;

/// <summary>The file <c>--plot</c> names: its extension picks the format, and it is checked before anything runs.</summary>
internal static class PlotFile
{
    /// <summary>What is wrong with <paramref name="path"/> as a plot file, or null when it will do.</summary>
    public static string? Check(string path)
    {
        string extension = Path.GetExtension(path);
        if (!IsSvg(path) && !string.Equals(extension, ".png", StringComparison.OrdinalIgnoreCase))
        {
            return $"must name a .png or an .svg file, not '{path}'.";
        }

        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        return Directory.Exists(folder) ? null : $"cannot write '{path}': the folder '{folder}' does not exist.";
    }

    public static bool IsSvg(string path) => string.Equals(Path.GetExtension(path), ".svg", StringComparison.OrdinalIgnoreCase);
}
