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
    private const int CloseOnExecLinux = 0x80000; // O_CLOEXEC on Linux (every architecture .NET runs on)

    /// <summary>
    /// Flushes <paramref name="directory"/>'s entries to the device; returns whether it did. Best effort: the file is
    /// already in place when this runs, so a failure here only loses the durability of the rename and is not an
    /// error. It runs on Linux, macOS and FreeBSD (on macOS, <c>fsync</c> reaches the drive but not through its
    /// cache); Windows, whose file system journals renames, and other systems are skipped.
    /// </summary>
    public static bool TryFlush(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return false;
        }

        try
        {
            // Not inherited by a child process started meanwhile (the flag's value is known for Linux only).
            int descriptor = Open(directory, OperatingSystem.IsLinux() ? ReadOnly | CloseOnExecLinux : ReadOnly);
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
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // a libc the runtime cannot bind: the save has succeeded all the same
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int descriptor);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);
}
