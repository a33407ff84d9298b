using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace KvBlockPool;

/// <summary>
/// How to build a <see cref="BlockPool"/>. Set <see cref="Spec"/> and exactly one of
/// <see cref="CapacityBlocks"/> or <see cref="CapacityBytes"/>; everything else has a sensible default.
/// The pool validates the options when it is constructed and says what to change.
/// </summary>
public sealed class BlockPoolOptions
{
    /// <summary>The environment variable that turns diagnostics mode on (<c>1</c> or <c>true</c>) when <see cref="Diagnostics"/> is not set.</summary>
    public const string DiagnosticsEnvironmentVariable = "KVBLOCKPOOL_DIAGNOSTICS";

    /// <summary>The size of the slab the pool aims for when <see cref="BlocksPerSlab"/> is 0: 128 MiB.</summary>
    public const long DefaultSlabBytes = 128L * 1024 * 1024;

    /// <summary>The shape of the KV cache; required.</summary>
    public KvCacheSpec? Spec { get; set; }

    /// <summary>The pool's hard capacity in blocks (all layers together). Set this or <see cref="CapacityBytes"/>.</summary>
    public int? CapacityBlocks { get; set; }

    /// <summary>
    /// A native-memory budget in bytes; the capacity is as many blocks (with their alignment padding) as fit.
    /// Set this or <see cref="CapacityBlocks"/>. On <see cref="BlockPool.Reconfigure"/> the budget is kept and
    /// the capacity recomputed for the new spec.
    /// </summary>
    public long? CapacityBytes { get; set; }

    /// <summary>Blocks per native slab; 0 (the default) picks the largest power of two that fits in <see cref="DefaultSlabBytes"/> (a power of two lets a block id become an address with a shift), or the capacity if smaller.</summary>
    public int BlocksPerSlab { get; set; }

    /// <summary>
    /// Alignment of every block's first byte: a power of two from 16 bytes to 1 MiB, or 0 (the default) to let the
    /// pool choose: a cache line (64 bytes), or 32 or 16 when a block's size would waste 1% or more of the memory in
    /// padding to 64. Set <see cref="Environment.SystemPageSize"/> for page-aligned blocks (a block smaller than a page
    /// then occupies a whole page: see <see cref="BlockPoolStatistics.Overhead"/>).
    /// </summary>
    public int Alignment { get; set; }

    /// <summary>What happens to a freed block's bytes; <see cref="BlockClearMode.ZeroOnFree"/> by default.</summary>
    public BlockClearMode ClearMode { get; set; } = BlockClearMode.ZeroOnFree;

    /// <summary>
    /// Diagnostics mode: poison freed blocks and check the poison when they are handed out again, keep guard
    /// bytes after every block and check them on free, and record where every outstanding block was allocated.
    /// <see langword="null"/> (the default) reads <see cref="DiagnosticsEnvironmentVariable"/>.
    /// </summary>
    public bool? Diagnostics { get; set; }

    /// <summary>Where the pool logs leaks at dispose and corruption found in diagnostics mode; optional.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Creates the pool's meter through the host's factory; optional (a shared static meter otherwise).</summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>A name for the pool in logs and metric tags; "default" when not set.</summary>
    public string? Name { get; set; }

    /// <summary>
    /// Skips the check that the machine can still give the pool its memory. By default a pool (and every
    /// <see cref="BlockPool.Reconfigure"/>) is refused with an <see cref="ArgumentException"/> when its native bytes
    /// exceed the least of: the memory the OS reports available (on Linux <c>MemAvailable</c>), the room under a
    /// container's memory limit (cgroup v2 or v1), and the memory the runtime lets the process use
    /// (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>) less the process's other pools; memory that other
    /// pools of the process have taken but not yet touched counts as used. Slabs are committed lazily (a page takes
    /// physical memory when first written), so without this check an oversized pool would be accepted and fail
    /// later, at first touch, in the OOM killer. Set this to <see langword="true"/> only when the host knows better
    /// (for example memory that will be freed before the pool fills up).
    /// </summary>
    public bool AllowOvercommit { get; set; }

    /// <summary>Test seam: the available bytes to check against instead of the machine's figures.</summary>
    /// <summary>
    /// Turns on the prefix cache (see <see cref="BlockPool.PrefixCache"/>): full blocks published under content keys,
    /// shared read-only by every agent whose prompt starts with the same tokens, and kept, evictable in least
    /// recently used order, after their last agent is released. <see langword="null"/> (the default): off.
    /// </summary>
    public Prefix.KvPrefixCacheOptions? PrefixCache { get; set; }

    internal long? AvailableMemoryOverride { get; set; }

    internal bool ResolveDiagnostics()
    {
        if (Diagnostics is bool explicitSetting)
        {
            return explicitSetting;
        }

        string? value = Environment.GetEnvironmentVariable(DiagnosticsEnvironmentVariable);
        return value is not null && (value == "1" || value.Equals("true", StringComparison.OrdinalIgnoreCase));
    }
}
