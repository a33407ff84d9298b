using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using KvBlockPool.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
    // _owner values that are not an owner-record slot.
    private const int NoOwner = -1;     // on the free stack
    private const int Releasing = -2;   // detached by a Free, being cleared outside the gate
    private const int Marked = -3;      // transient, inside one Free's validation

    private static int s_lastStamp;

    /// <summary>The one gate. A plain object with <c>lock</c> (Monitor), which systematic tests can control.</summary>
    private readonly object _gate = new();
    private readonly BlockPoolOptions _options;
    private readonly INativeAllocator _allocator;
    private readonly ILogger _logger;
    private readonly BlockPoolMetrics _metrics;
    private readonly bool _diagnostics;
    private readonly BlockClearMode _clearMode;
    private readonly string _name;

    private readonly Dictionary<AgentId, OwnerRecord> _agents = [];
    private readonly Stack<OwnerRecord> _spareRecords = new();
    private OwnerRecord?[] _records = new OwnerRecord?[16];
    private int[] _freeSlots = new int[16];
    private int _freeSlotCount;
    private int _slotHigh;

    // Everything below describes the current configuration and is replaced as a whole by Reconfigure.
    private KvCacheSpec _spec;
    private NativeSlabs _slabs;
    private int _stamp;
    private uint[] _generation;   // even: free; odd: allocated. A handle is live iff its generation equals this.
    private int[] _owner;         // owner word: (slot << _layerBits) | layer, or NoOwner / Releasing / Marked
    private int[] _freeStack;
    private int _freeCount;
    private BlockDiagnostics? _diag;
    private int _layerBits;       // low bits of an owner word that hold the block's layer
    private int _ownerSlotLimit;  // owner slots that fit above the layer bits of a non-negative int

    // Read without the gate: capacity in the high half, available in the low half, so one read is consistent.
    private long _counts;
    private int _highWater;
    private int _agentCount;
    private long _nativeBytes;

    private int _openScopes;
    private int _releasesInFlight;
    private int _freeEpoch;
    private volatile bool _disposed;

    /// <summary>Creates a pool and allocates all of its native memory.</summary>
    /// <param name="options">The spec, the capacity and the optional settings; validated here.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or its <see cref="BlockPoolOptions.Spec"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range; the message names it and says what to change.</exception>
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

        _options = options;
        _allocator = allocator;
        _diagnostics = options.ResolveDiagnostics();
        _clearMode = options.ClearMode;
        _name = string.IsNullOrWhiteSpace(options.Name) ? "default" : options.Name;
        BlockLayout layout = BlockLayout.Resolve(options, spec, _diagnostics);

        _spec = spec;
        _slabs = AllocateSlabs(layout);
        _stamp = NextStamp();
        (_generation, _owner, _freeStack) = CreateBlockState(layout.Capacity);
        _freeCount = layout.Capacity;
        _diag = _diagnostics ? new BlockDiagnostics(layout.Capacity) : null;
        (_layerBits, _ownerSlotLimit) = OwnerWordShape(spec.Layers);
        _nativeBytes = layout.TotalBytes;
        PublishCounts();

        _logger = options.LoggerFactory?.CreateLogger<BlockPool>() ?? (ILogger)NullLogger<BlockPool>.Instance;
        _metrics = new BlockPoolMetrics(this, options.MeterFactory, _name);
    }

    /// <summary>The pool's name, from <see cref="BlockPoolOptions.Name"/>.</summary>
    public string Name => _name;

    /// <summary>The current spec (it changes only through <see cref="Reconfigure"/>).</summary>
    public KvCacheSpec Spec => Volatile.Read(ref _spec);

    /// <summary>What happens to freed blocks' bytes.</summary>
    public BlockClearMode ClearMode => _clearMode;

    /// <summary>Whether diagnostics mode (poison, guard bytes, allocation stacks) is on.</summary>
    public bool DiagnosticsEnabled => _diagnostics;

    /// <summary>Native bytes this pool holds: every slab, with alignment padding and guard bytes.</summary>
    public long NativeBytes => Interlocked.Read(ref _nativeBytes);

    /// <summary>Native bytes held by all live pools in this process; falls back to its earlier value when every pool is disposed.</summary>
    public static long LiveNativeBytes => NativeSlabs.LiveBytes;

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>What was still allocated when the pool was disposed, or <see langword="null"/> if it was not disposed or nothing was outstanding.</summary>
    public BlockLeakReport? LeakReport { get; private set; }

    /// <summary>
    /// Frees all native memory. Idempotent. Waits for <c>Free</c> calls that are clearing blocks outside the
    /// gate and for block copies in flight (a save reading a pinned agent); reports blocks still allocated (per agent, through <see cref="LeakReport"/> and a log warning).
    /// Every later call on the pool throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <remarks>Spans and pointers obtained earlier must not be used after this: their memory is gone.</remarks>
    public void Dispose()
    {
        BlockLeakReport? report;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            while (_releasesInFlight > 0 || _dataAccessesInFlight > 0)
            {
                Monitor.Wait(_gate);
            }

            report = BuildLeakReport();
            LeakReport = report;
            _agents.Clear();
            _agentCount = 0;
            _slabs.Dispose();
            Interlocked.Exchange(ref _nativeBytes, 0);
        }

        if (report is not null)
        {
            Log.PoolDisposedWithLeaks(_logger, _name, report.TotalBlocks, report.ToString());
        }

        _metrics.Dispose();
    }

    private static int NextStamp()
    {
        int stamp;
        do
        {
            stamp = Interlocked.Increment(ref s_lastStamp);
        }
        while (stamp == 0); // 0 is the stamp of default(KvBlock)
        return stamp;
    }

    private static (uint[] Generation, int[] Owner, int[] FreeStack) CreateBlockState(int capacity)
    {
        var generation = new uint[capacity];
        var owner = new int[capacity];
        var freeStack = new int[capacity];
        Array.Fill(owner, NoOwner);

        // Lowest ids on top, so a fresh pool hands out 0, 1, 2, ... (easy to read in tests and dumps).
        for (int i = 0; i < capacity; i++)
        {
            freeStack[i] = capacity - 1 - i;
        }

        return (generation, owner, freeStack);
    }

    private NativeSlabs AllocateSlabs(BlockLayout layout)
    {
        byte? fill = _diagnostics ? BlockDiagnostics.PoisonByte : _clearMode == BlockClearMode.ZeroOnFree ? (byte)0 : null;
        return NativeSlabs.Allocate(layout, _allocator, fill, BlockDiagnostics.GuardByte);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ThrowIfDisposed()
    {
        if (_disposed)
        {
            ThrowHelper.ThrowPoolDisposed();
        }
    }

    /// <summary>Publishes capacity and available count for lock-free readers. Call under the gate after every change to <see cref="_freeCount"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PublishCounts()
    {
        int capacity = _freeStack.Length;
        int allocated = capacity - _freeCount;
        if (allocated > _highWater)
        {
            // Written before the counts so that a reader who sees the counts also sees a high-water mark at least as high.
            Volatile.Write(ref _highWater, allocated);
        }

        Volatile.Write(ref _counts, ((long)capacity << 32) | (uint)_freeCount);
    }

    /// <summary>
    /// How an owner word splits for <paramref name="layers"/> layers: the layer in the fewest low bits that hold
    /// every layer, the owner slot above them, the sign bit left for the sentinels. Packing the layer into the
    /// owner word keeps the per-block bookkeeping at 16 bytes (see docs/design.md) while letting free and data
    /// access reject a handle that names the wrong layer.
    /// </summary>
    private static (int LayerBits, int SlotLimit) OwnerWordShape(int layers)
    {
        int bits = layers == 1 ? 0 : BitOperations.Log2((uint)(layers - 1)) + 1;
        return (bits, bits == 0 ? int.MaxValue : 1 << (31 - bits));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int OwnerWord(int slot, int layer) => (slot << _layerBits) | layer;

    /// <summary>The slot of an owner word; negative for the sentinels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SlotOf(int word) => word >> _layerBits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int LayerOf(int word) => word & ((1 << _layerBits) - 1);

    /// <summary>
    /// Refuses a new owner (agent or scope) when every slot an owner word can name is taken. Unreachable in
    /// practice (each owner record takes about 20 bytes per layer, so the limit is about 32 GiB of records),
    /// but checked so that a slot can never overflow into the layer bits. Call before anything changes.
    /// </summary>
    private void ThrowIfOwnerTableFull()
    {
        if (_freeSlotCount == 0 && _slotHigh >= _ownerSlotLimit)
        {
            throw new KvBlockPoolException(string.Create(
                CultureInfo.InvariantCulture,
                $"Pool '{_name}' already has {_slotHigh} owners (agents holding blocks and open allocation scopes), the most it can track with {_spec.Layers} layers. Release agents or end scopes first. Nothing changed."));
        }
    }

    private int RegisterSlot(OwnerRecord record)
    {
        int slot;
        if (_freeSlotCount > 0)
        {
            slot = _freeSlots[--_freeSlotCount];
        }
        else
        {
            if (_slotHigh == _records.Length)
            {
                Array.Resize(ref _records, _records.Length * 2);
                Array.Resize(ref _freeSlots, _records.Length);
            }

            slot = _slotHigh++;
        }

        _records[slot] = record;
        record.Slot = slot;
        return slot;
    }

    private void UnregisterSlot(OwnerRecord record)
    {
        Debug.Assert(record.Slot >= 0 && _records[record.Slot] == record, "record is registered");
        _records[record.Slot] = null;
        _freeSlots[_freeSlotCount++] = record.Slot;
        record.Slot = -1;
    }

    private OwnerRecord RentRecord()
    {
        int layers = _spec.Layers;
        while (_spareRecords.Count > 0)
        {
            OwnerRecord spare = _spareRecords.Pop();
            if (spare.LayerCount == layers)
            {
                return spare;
            }
        }

        return new OwnerRecord(layers);
    }

    private void RecycleRecord(OwnerRecord record)
    {
        bool sameShape = record.LayerCount == _spec.Layers;
        record.Reset();
        if (sameShape && _spareRecords.Count < MaxSpareRecords)
        {
            _spareRecords.Push(record);
        }
    }

    /// <summary>How many retired owner records are kept for reuse (enough for the agents of a busy host).</summary>
    private const int MaxSpareRecords = 1024;
}
