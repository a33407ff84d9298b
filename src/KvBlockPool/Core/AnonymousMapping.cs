using System.Runtime.InteropServices;

namespace KvBlockPool.Core;

/// <summary>
/// Slabs as anonymous private mappings (<c>mmap</c>) on Linux and macOS. Fresh anonymous pages read as zeros and
/// take physical memory only when first written, so a zeroed pool is built without touching its memory (the
/// kernel's zero page stands in for the construction-time clear). Where the OS offers transparent huge pages
/// (Linux, <c>enabled</c> not <c>never</c>), slabs of a huge page or more are placed on huge-page boundaries and
/// marked <c>MADV_HUGEPAGE</c>, so a first touch faults 2 MiB at once instead of 4 KiB.
/// </summary>
/// <remarks>
/// Everywhere else (Windows, other systems, a libc the runtime cannot bind, or a failed <c>mmap</c>) the caller
/// falls back to <see cref="NativeMemory.AlignedAlloc"/> and clears the memory itself, as before.
/// </remarks>
internal static unsafe class AnonymousMapping
{
    private const int ProtRead = 1;          // PROT_READ, the same on every POSIX system
    private const int ProtWrite = 2;         // PROT_WRITE
    private const int MapPrivate = 2;        // MAP_PRIVATE
    private const int MapAnonymousLinux = 0x20;   // MAP_ANONYMOUS on x86-64, arm64, arm, s390x, ppc64le, riscv64, loongarch64
    private const int MapAnonymousMacOS = 0x1000; // MAP_ANON
    private const int AdviseHugePage = 14;       // MADV_HUGEPAGE (Linux)
    private const int AdvisePopulateWrite = 23;  // MADV_POPULATE_WRITE (Linux 5.14+)
    private const int InvalidArgument = 22;      // EINVAL (Linux)

    private static readonly nuint PageSize = (nuint)Environment.SystemPageSize;
    private static readonly nuint HugePage = ReadHugePageSize();
    private static volatile bool s_unavailable = !OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS();
    private static volatile bool s_noPopulateWrite = !OperatingSystem.IsLinux();

    /// <summary>Whether slabs can be mapped here (false once binding libc failed).</summary>
    public static bool IsSupported => !s_unavailable;

    /// <summary>The transparent huge page size slabs are aligned to, or 0 where the OS offers none.</summary>
    public static nuint HugePageSize => HugePage;

    /// <summary>
    /// Maps <paramref name="bytes"/> of fresh zeroed memory whose first byte is a multiple of
    /// <paramref name="alignment"/> (a power of two); null where mapping is unsupported or failed.
    /// </summary>
    public static void* TryMap(nuint bytes, nuint alignment)
    {
        if (s_unavailable || bytes == 0)
        {
            return null;
        }

        nuint length = RoundUp(bytes, PageSize);
        bool huge = HugePage != 0 && length >= HugePage;
        nuint align = Math.Max(Math.Max(alignment, PageSize), huge ? HugePage : 0);

        // Over-map by what aligning can skip, then give back the head and the tail.
        nuint extra = align - PageSize;
        if (length < bytes || length + extra < length)
        {
            return null;
        }

        try
        {
            int flags = MapPrivate | (OperatingSystem.IsMacOS() ? MapAnonymousMacOS : MapAnonymousLinux);
            nint raw = Mmap(0, length + extra, ProtRead | ProtWrite, flags, -1, 0);
            if (raw == -1 || raw == 0)
            {
                return null;
            }

            nuint start = (nuint)raw;
            nuint aligned = RoundUp(start, align);
            nuint head = aligned - start;
            nuint tail = extra - head;
            if (head != 0)
            {
                _ = Munmap(raw, head);
            }

            if (tail != 0)
            {
                _ = Munmap((nint)(aligned + length), tail);
            }

            if (huge)
            {
                _ = Madvise((nint)aligned, length, AdviseHugePage); // advice only: refused, the pages are small
            }

            return (void*)aligned;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            s_unavailable = true;
            return null;
        }
    }

    /// <summary>Unmaps what <see cref="TryMap"/> returned for <paramref name="bytes"/>.</summary>
    public static void Unmap(void* pointer, nuint bytes) => _ = Munmap((nint)pointer, RoundUp(bytes, PageSize));

    /// <summary>
    /// Asks the kernel to make every page of the range resident and writable without changing its contents
    /// (<c>MADV_POPULATE_WRITE</c>, Linux 5.14+). Returns false where that is not offered; the caller then touches.
    /// </summary>
    public static bool TryPopulateWrite(void* start, nuint bytes)
    {
        if (s_noPopulateWrite || s_unavailable)
        {
            return false;
        }

        nuint first = (nuint)start & ~(PageSize - 1);
        nuint end = RoundUp((nuint)start + bytes, PageSize);
        try
        {
            if (Madvise((nint)first, end - first, AdvisePopulateWrite) == 0)
            {
                return true;
            }

            if (Marshal.GetLastPInvokeError() == InvalidArgument)
            {
                s_noPopulateWrite = true; // a kernel before 5.14: never ask again
            }

            return false;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            s_noPopulateWrite = true;
            return false;
        }
    }

    private static nuint RoundUp(nuint value, nuint alignment) => (value + alignment - 1) & ~(alignment - 1);

    private static nuint ReadHugePageSize()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        try
        {
            const string Root = "/sys/kernel/mm/transparent_hugepage/";
            if (!File.Exists(Root + "enabled") || File.ReadAllText(Root + "enabled").Contains("[never]", StringComparison.Ordinal))
            {
                return 0;
            }

            return ulong.TryParse(File.ReadAllText(Root + "hpage_pmd_size").Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong size)
                && size > 0 && (size & (size - 1)) == 0 && size <= 1UL << 30
                ? (nuint)size
                : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    // Plain DllImport with blittable arguments, not LibraryImport: its generated stubs hold extern local functions,
    // which the coverage instrumenter cannot read (it then leaves the whole assembly uninstrumented). The offset is
    // nint: off_t is pointer-sized for the plain mmap symbol on every platform .NET runs on.
    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint Mmap(nint address, nuint length, int protection, int flags, int descriptor, nint offset);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Munmap(nint address, nuint length);

    [DllImport("libc", EntryPoint = "madvise", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Madvise(nint address, nuint length, int advice);
}
