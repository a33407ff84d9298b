using System.Runtime.InteropServices;

namespace KvBlockPool.Persistence;

/// <summary>
/// Makes a rename in a directory durable on POSIX systems: <c>fsync</c> on the directory itself, which .NET has no
/// API for (it refuses to open a directory as a file). Without it a power loss right after a save may bring back
/// the previous version (never a torn file: the rename is atomic either way).
/// </summary>
internal static partial class DirectoryFlush
{
    private const int ReadOnly = 0; // O_RDONLY, the same on every POSIX system

    /// <summary>
    /// Flushes <paramref name="directory"/>'s entries to the device; returns whether it did. Best effort: the file is
    /// already in place when this runs, so a file system that cannot flush a directory (some network and FUSE file
    /// systems) only loses the durability of the rename, and Windows, whose file system journals renames, is skipped.
    /// </summary>
    public static bool TryFlush(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        int descriptor = Open(directory, ReadOnly);
        if (descriptor < 0)
        {
            return false;
        }

        try
        {
            return Fsync(descriptor) == 0;
        }
        finally
        {
            _ = Close(descriptor);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int descriptor);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);
}
