namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>The repository the tests run from, for the documents they check.</summary>
internal static class Repository
{
    /// <summary>The folder holding BlockPool.sln, above the test's binaries.</summary>
    public static string Root()
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "BlockPool.sln")))
        {
            directory = Path.GetDirectoryName(directory.TrimEnd(Path.DirectorySeparatorChar));
        }

        return directory ?? throw new InvalidOperationException("BlockPool.sln was not found above " + AppContext.BaseDirectory);
    }
}
