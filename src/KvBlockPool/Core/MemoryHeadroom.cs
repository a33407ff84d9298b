using System.Globalization;

namespace KvBlockPool.Core;

/// <summary>
/// What the machine can still give a new pool: the least of the memory the OS says is available
/// (<c>MemAvailable</c> in <c>/proc/meminfo</c>), the room left under a container's memory limit (cgroup v2
/// <c>memory.max</c> less <c>memory.current</c>, or v1 <c>memory.limit_in_bytes</c> less
/// <c>memory.usage_in_bytes</c>), and the memory the runtime lets the process use
/// (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>) less the native memory of the process's live pools.
/// </summary>
/// <remarks>
/// Pools map their slabs lazily, so memory a pool has taken but not yet touched is not missing from the OS's
/// figures: it is subtracted from them here (<see cref="NativeSlabs.UntouchedBytesInProcess"/>), so two pools that
/// together exceed the machine are refused even before either is used. Blocks touched by their owners since count
/// twice (conservative) until the pool is warmed up or disposed.
/// </remarks>
internal readonly record struct MemoryHeadroom(long Bytes, string Explanation)
{
    /// <summary>The headroom now, crediting the memory of <paramref name="replacing"/> (a configuration about to be freed), if any.</summary>
    public static MemoryHeadroom Measure(NativeSlabs? replacing)
    {
        long untouched = Math.Max(0, NativeSlabs.UntouchedBytesInProcess - (replacing?.UntouchedBytes ?? 0));
        long live = Math.Max(0, NativeSlabs.LiveBytes - (replacing?.TotalBytes ?? 0));
        MemoryHeadroom? least = null;

        long process = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (process > 0)
        {
            least = Least(least, process - live, $"the {process} bytes this process may use (GC TotalAvailableMemoryBytes) less {live} bytes held by its other pools");
        }

        if (OperatingSystem.IsLinux())
        {
            if (ReadMemAvailable() is long available)
            {
                least = Least(least, available - untouched, $"MemAvailable {available} bytes (/proc/meminfo) less {untouched} bytes this process's pools have taken but not yet touched");
            }

            if (ReadCgroupRoom() is (long limit, long usage, string file))
            {
                least = Least(least, limit - usage - untouched, $"the container's memory limit of {limit} bytes ({file}) less {usage} bytes in use and {untouched} bytes this process's pools have taken but not yet touched");
            }
        }

        return least ?? new MemoryHeadroom(long.MaxValue, "no memory figure could be read");
    }

    private static MemoryHeadroom Least(MemoryHeadroom? least, long bytes, string explanation)
    {
        bytes = Math.Max(0, bytes);
        return least is { } current && current.Bytes <= bytes ? current : new MemoryHeadroom(bytes, explanation);
    }

    private static long? ReadMemAvailable()
    {
        string? text = TryRead("/proc/meminfo");
        if (text is null)
        {
            return null;
        }

        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
            {
                string value = line["MemAvailable:".Length..].Trim();
                if (value.EndsWith("kB", StringComparison.Ordinal))
                {
                    value = value[..^2].Trim();
                }

                return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long kib) ? kib * 1024 : null;
            }
        }

        return null;
    }

    /// <summary>The tightest cgroup memory limit of this process with its usage, or null when there is none.</summary>
    private static (long Limit, long Usage, string File)? ReadCgroupRoom()
    {
        string? v2Path = null;
        string? v1Path = null;
        foreach (string line in (TryRead("/proc/self/cgroup") ?? string.Empty).Split('\n'))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length == 3 && parts[0] == "0" && parts[1].Length == 0)
            {
                v2Path = parts[2].Trim();
            }
            else if (parts.Length == 3 && parts[1].Split(',').Contains("memory"))
            {
                v1Path = parts[2].Trim();
            }
        }

        (long, long, string)? found = null;
        foreach (string directory in Candidates("/sys/fs/cgroup", v2Path))
        {
            found = Tighter(found, directory + "/memory.max", directory + "/memory.current");
        }

        foreach (string directory in Candidates("/sys/fs/cgroup/memory", v1Path))
        {
            found = Tighter(found, directory + "/memory.limit_in_bytes", directory + "/memory.usage_in_bytes");
        }

        return found;
    }

    private static IEnumerable<string> Candidates(string root, string? path)
    {
        if (path is { Length: > 1 } && !path.Contains("..", StringComparison.Ordinal))
        {
            yield return root + path.TrimEnd('/');
        }

        yield return root;
    }

    private static (long, long, string)? Tighter((long Limit, long Usage, string File)? found, string limitFile, string usageFile)
    {
        // "max" (v2) or a value near 2^63 (v1) means no limit.
        if (ReadNumber(limitFile) is not long limit || limit >= 1L << 60 || ReadNumber(usageFile) is not long usage)
        {
            return found;
        }

        return found is { } current && current.Limit - current.Usage <= limit - usage ? current : (limit, usage, limitFile);
    }

    private static long? ReadNumber(string file) =>
        long.TryParse(TryRead(file)?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : null;

    private static string? TryRead(string file)
    {
        try
        {
            return File.Exists(file) ? File.ReadAllText(file) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
