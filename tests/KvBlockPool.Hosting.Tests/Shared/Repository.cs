namespace KvBlockPool.Hosting.Tests.Shared;

/// <summary>Finds the repository's files from the test binaries, for tests that hold the docs to the code.</summary>
internal static class Repository
{
    public static string Root()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "BlockPool.sln")))
        {
            dir = Path.GetDirectoryName(dir.TrimEnd(Path.DirectorySeparatorChar));
        }

        return dir ?? throw new InvalidOperationException("BlockPool.sln not found above " + AppContext.BaseDirectory);
    }
}
