using System.Globalization;
using System.Runtime.CompilerServices;
using KvBlockPool.Core;
using KvBlockPool.Observability;
using KvBlockPool.Prefix;
using KvBlockPool.Scrubbing;
using KvBlockPool.Tier;

namespace KvBlockPool;

/// <summary>
/// A thread-safe pool of fixed-size KV blocks in native memory, handed out per layer and per agent.
/// </summary>
/// <remarks>
/// <para>
/// The pool allocates all its native slabs when it is constructed (or construction throws, having freed
/// what it took), then hands out <see cref="KvBlock"/> handles. Every state change happens under one private
/// gate and is all-or-nothing: arguments and handles are validated before anything changes, and a refused
/// call leaves the pool exactly as it was.
/// </para>
/// <para>
/// A block is always in exactly one place: the free stack, one agent's list for its layer, one open
/// <see cref="AllocationScope"/>, or (for the duration of one <c>Free</c> call, while its bytes are cleared
/// outside the gate) in transit back to the free stack, counted as allocated. See <c>docs/design.md</c>.
/// </para>
/// </remarks>
public sealed partial class BlockPool : IDisposable
{
    // The pool holds the gate and its components; each component owns its state and takes no lock of its own.

    /// <summary>The one gate. A plain object with <c>lock</c> (Monitor), which systematic tests can control.</summary>
    private readonly object _gate = new();
    private readonly BlockPoolOptions _options;
    private readonly INativeAllocator _allocator;
    private readonly PoolLog _log;
    private readonly BlockPoolMetrics _metrics;
    private readonly PublishedCounts _counts = new();
    private readonly OwnerTable _owners;
    private readonly AccessGuard _guard;
    private readonly LeaseBook _leases = new();
    private readonly PrefixCounters _prefixCounters = new();
    private readonly PrefixEvents? _prefixEvents;
    private readonly double _maxPinnedShare;

    /// <summary>The current configuration; <see cref="Reconfigure"/> swaps it (with the scrubber sized for it) as one step under the gate.</summary>
    private BlockTable _table;
    private BlockScrubber _scrubber;

    /// <summary>
    /// Creates a pool and allocates all of its native memory. On Linux and macOS the slabs are fresh anonymous
    /// mappings, which read as zeros: nothing is written at construction (in milliseconds, whatever the size), and
    /// pages become resident as blocks are first written or when <see cref="WarmUpAsync"/> runs. Elsewhere the slabs
    /// come from the heap and are zeroed (<see cref="BlockClearMode.ZeroOnFree"/>) here.
    /// </summary>
    /// <param name="options">The spec, the capacity and the optional settings; validated here.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or its <see cref="BlockPoolOptions.Spec"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// An option is out of range, or the pool is larger than the memory the machine can still give (see
    /// <see cref="BlockPoolOptions.AllowOvercommit"/>); the message names the figures and says what to change.
    /// </exception>
    /// <exception cref="NativeAllocationException">The native slabs could not be allocated; nothing is left allocated.</exception>
    public BlockPool(BlockPoolOptions options)
        : this(options, SystemNativeAllocator.Instance)
    {
    }

    internal BlockPool(BlockPoolOptions options, INativeAllocator allocator)
    {
        ArgumentNullException.ThrowIfNull(options);
        KvCacheSpec spec = options.Spec ?? throw new ArgumentNullException(nameof(options), "BlockPoolOptions.Spec is null. Give the pool a KvCacheSpec, for example KvCacheSpec.Llama3_8B().");
        if (!Enum.IsDefined(options.ClearMode))
        {
            throw new ArgumentException($"BlockPoolOptions.ClearMode {options.ClearMode} is not defined. Use ZeroOnFree or None.", nameof(options));
        }

        if (options.PrefixCache is { } prefixOptions)
        {
            ChunkKeyHasher.Validate(prefixOptions);
            if (prefixOptions.Tier is { } tierOptions)
            {
                KvTierOptions.Validate(tierOptions);
                _ = new TierCodec(spec); // refuses a spec whose chunk no tier value can hold, before any memory is taken
            }
        }

        bool diagnostics = options.ResolveDiagnostics();
        BlockLayout layout = BlockLayout.Resolve(options, spec, diagnostics);
        Name = string.IsNullOrWhiteSpace(options.Name) ? "default" : options.Name;
        ClearMode = options.ClearMode;
        DiagnosticsEnabled = diagnostics;
        _options = options;
        _allocator = allocator;

        // Everything that can fail without native memory comes first; the slabs come last, and if anything after
        // them throws they are freed before the exception leaves (not left to a finalizer).
        _log = options.LoggerFactory is { } factory ? new PoolLog(factory.CreateLogger(typeof(BlockPool).FullName!), Name) : PoolLog.Silent(Name);
        _owners = new OwnerTable(_counts);
        _guard = new AccessGuard(_gate);
        _scrubber = BlockScrubber.Create(options.ClearMode, diagnostics, layout.Capacity, _log);
        PrefixCache = options.PrefixCache is { } prefix ? new KvPrefixCache(this, new ChunkKeyHasher(prefix, spec)) : null;
        _prefixEvents = PrefixCache is null ? null : new PrefixEvents();
        _maxPinnedShare = options.PrefixCache?.MaxPinnedShare ?? 0;
        _table = CreateTable(spec, layout, _scrubber);
        try
        {
            _counts.NativeBytes = layout.TotalBytes;
            _counts.Publish(_table.Capacity, _table.AvailableCount);

            // Its offload loop starts now and reads the cache's events; the metrics observe it.
            Tier = options.PrefixCache?.Tier is { } tier ? new TierLink(PrefixCache!, spec, tier) : null;
            _metrics = new BlockPoolMetrics(this, options.MeterFactory, Name);
        }
        catch
        {
            Tier?.Dispose();
            _table.Dispose();
            throw;
        }
    }

    /// <summary>The connection to the shared tier, or null (see <see cref="KvPrefixCacheOptions.Tier"/>).</summary>
    internal TierLink? Tier { get; }

    /// <summary>The pool's name, from <see cref="BlockPoolOptions.Name"/>.</summary>
    public string Name { get; }

    /// <summary>The current spec (it changes only through <see cref="Reconfigure"/>).</summary>
    public KvCacheSpec Spec => Volatile.Read(ref _table).Spec;

    /// <summary>What happens to freed blocks' bytes.</summary>
    public BlockClearMode ClearMode { get; }

    /// <summary>Whether diagnostics mode (poison, guard bytes, allocation stacks) is on.</summary>
    public bool DiagnosticsEnabled { get; }

    /// <summary>Native bytes this pool holds: every slab, with alignment padding and guard bytes; 0 once disposed.</summary>
    public long NativeBytes => _counts.NativeBytes;

    /// <summary>Native bytes held by all live pools in this process.</summary>
    public static long LiveNativeBytes => NativeSlabs.LiveBytes;

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _guard.IsClosed;

    /// <summary>
    /// The prefix cache, or <see langword="null"/> when <see cref="BlockPoolOptions.PrefixCache"/> was not set. Blocks
    /// of cached chunks no agent references count as available (an allocation evicts them when it must).
    /// </summary>
    public KvPrefixCache? PrefixCache { get; }

    /// <summary>What was still allocated when the pool was disposed, or <see langword="null"/> if it was not disposed or nothing was outstanding.</summary>
    public BlockLeakReport? LeakReport { get; private set; }

    /// <summary>
    /// Frees all native memory. Idempotent. Waits for <c>Free</c> calls that are clearing blocks outside the
    /// gate and for block copies in flight (a save reading a pinned agent); reports blocks still allocated (per agent, through <see cref="LeakReport"/> and a log warning).
    /// Every later call on the pool throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <remarks>
    /// Spans and pointers obtained earlier must not be used after this: their memory is gone — except those of
    /// open <see cref="KvCacheLease"/>s, which keep the native memory until the last of them is disposed (every call
    /// on them throws <see cref="ObjectDisposedException"/> from now on).
    /// </remarks>
    public void Dispose()
    {
        BlockLeakReport? report;
        Tier?.Dispose(); // stops the offload first; it does not wait for the store
        lock (_gate)
        {
            if (_guard.IsClosed)
            {
                return;
            }

            _guard.CloseAndDrain();
            report = LeakReportBuilder.Build(Name, _table, _owners, _scrubber);
            LeakReport = report;
            _owners.Clear();

            // Open leases read the slabs without the gate: the last of them frees the slabs (EndLease).
            if (!_leases.TryDefer(_table))
            {
                _table.Dispose();
            }

            _counts.NativeBytes = 0;
            if (_prefixEvents is not null)
            {
                _prefixEvents.Cleared();
                _prefixEvents.Complete();
            }
        }

        if (report is not null)
        {
            _log.DisposedWithLeaks(report);
        }

        _metrics.Dispose();
    }

    /// <summary>Allocates the slabs of a configuration and builds its table; nothing is left allocated if it throws.</summary>
    private BlockTable CreateTable(KvCacheSpec spec, BlockLayout layout, BlockScrubber scrubber)
    {
        NativeSlabs slabs = NativeSlabs.Allocate(layout, _allocator, scrubber.SlabFill, DiagnosticScrubber.GuardByte);
        try
        {
            return new BlockTable(spec, slabs, prefixCache: PrefixCache is not null);
        }
        catch
        {
            slabs.Dispose();
            throw;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ValidateLayer(int layer, BlockTable table)
    {
        if ((uint)layer >= (uint)table.Layers)
        {
            ThrowHelper.ThrowLayerOutOfRange(layer, table.Layers);
        }
    }

    /// <summary>Publishes the counts of the current table. Call under the gate after every change to the free stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PublishCounts(BlockTable table) => _counts.Publish(table.Capacity, table.AvailableCount);

    /// <summary>Refuses a new owner (agent or scope) when every owner slot is taken; call before anything changes.</summary>
    private void ThrowIfOwnerTableFull(BlockTable table)
    {
        if (_owners.IsFull(table.OwnerSlotLimit))
        {
            throw new KvBlockPoolException(string.Create(
                CultureInfo.InvariantCulture,
                $"Pool '{Name}' already has {_owners.SlotHigh} owners (agents holding blocks and open allocation scopes), the most it can track with {table.Layers} layers. Release agents or end scopes first. Nothing changed."));
        }
    }
}
