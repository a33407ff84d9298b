using System.Runtime.InteropServices;

namespace KvBlockPool.Persistence;

/// <summary>
/// Makes a rename in a directory durable on POSIX systems: <c>fsync</c> on the directory itself, which .NET has no
/// API for (it refuses to open a directory as a file). Without it a power loss right after a save may bring back
/// the previous version (never a torn file: the rename is atomic either way).
/// </summary>
internal static class DirectoryFlush
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

    // Plain DllImport with blittable arguments, not LibraryImport: its generated stubs hold extern local functions,
    // which the coverage instrumenter cannot read (it then leaves the whole assembly uninstrumented).
    [DllImport("libc", EntryPoint = "open")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern unsafe int OpenNative(byte* path, int flags);

    [DllImport("libc", EntryPoint = "fsync")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int descriptor);

    [DllImport("libc", EntryPoint = "close")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int descriptor);

    private static unsafe int Open(string path, int flags)
    {
        byte[] bytes = new byte[System.Text.Encoding.UTF8.GetMaxByteCount(path.Length) + 1]; // zero-terminated
        System.Text.Encoding.UTF8.GetBytes(path, bytes);
        fixed (byte* pointer = bytes)
        {
            return OpenNative(pointer, flags);
        }
    }
}
