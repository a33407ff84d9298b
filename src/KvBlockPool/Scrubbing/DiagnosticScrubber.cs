using System.Diagnostics;
using System.Globalization;
using KvBlockPool.Core;
using KvBlockPool.Observability;

namespace KvBlockPool.Scrubbing;

/// <summary>
/// Diagnostics mode, a runtime switch (option or environment variable) so it reaches users' builds. Freed blocks
/// are poisoned and the poison is checked when they are handed out again (a write after free is caught at the
/// next allocation, naming the last owner); guard bytes after every block are checked on free (an overrun is
/// caught when the owner frees it); and allocation stacks are kept for leak reports, sampled (see <see cref="CaptureStack"/>).
/// </summary>
internal sealed class DiagnosticScrubber : BlockScrubber
{
    public const byte PoisonByte = 0xDB;
    public const byte GuardByte = 0xFD;

    private readonly bool _zero;
    private readonly PoolLog _log;
    private readonly AgentId[] _lastOwner;
    private readonly int[] _lastLayer;
    private readonly StackTrace?[] _allocatedAt;

    public DiagnosticScrubber(bool zero, int capacity, PoolLog log)
    {
        _zero = zero;
        _log = log;
        WatchesBlocks = true;
        _lastOwner = new AgentId[capacity];
        _lastLayer = new int[capacity];
        Array.Fill(_lastLayer, -1);
        _allocatedAt = new StackTrace?[capacity];
    }

    public override bool ScrubsOnFree => true;

    public override byte? SlabFill => PoisonByte;

    public override BlockScrubber ForCapacity(int capacity) => new DiagnosticScrubber(_zero, capacity, _log);

    /// <summary>Allocation calls between two sampled stacks, besides each owner's first allocation (which is always captured).</summary>
    public const int StackSamplingInterval = 256;

    private int _allocationCalls;

    /// <summary>
    /// Captures the stack of one allocation call in <see cref="StackSamplingInterval"/>. A stack costs 15 to 40
    /// microseconds (a walk of the whole stack) — several times an agent's whole decode bookkeeping — so capturing every
    /// allocation made diagnostics mode 14 times slower than the normal mode. Each owner's first allocation is captured
    /// whatever the sample (in <see cref="RecordAllocated"/>, under the gate, once per agent lifetime), and a block
    /// allocated by a call that was not sampled is reported with its owner's most recent stack: a leak report still
    /// names the code that made the leaked agent (or scope) and, for long-lived owners, the later call sites the
    /// samples met. Measured on the lifecycle suite (<c>DiagnosticsCostBenchmarks</c>): the stacks are about half of
    /// what diagnostics mode adds; the poison written on free and checked on reuse is the other half.
    /// </summary>
    /// <remarks>The library's own frames are dropped when the stack is formatted (<see cref="CallerStack"/>).</remarks>
    protected override StackTrace? CaptureStack() =>
        Interlocked.Increment(ref _allocationCalls) % StackSamplingInterval == 0 ? new StackTrace(false) : null;

    /// <summary>Bytes checked and then zeroed at a time: small enough to stay in the first-level cache, so checking and zeroing read memory once.</summary>
    private const int CheckChunk = 8 * 1024;

    /// <summary>
    /// Checks the poison of the blocks about to be popped and zeroes them if the pool zeroes, a cache-sized chunk at
    /// a time (check, then clear the chunk while it is in cache: one pass over memory, not two). If a block fails
    /// the check, what was zeroed is poisoned again before the refusal, so nothing changed.
    /// </summary>
    protected override void CheckBeforeHandout(BlockTable table, int count)
    {
        NativeSlabs slabs = table.Slabs;
        for (int i = 1; i <= count; i++)
        {
            int id = table.PeekFree(i);
            Span<byte> data = slabs.Data(id);
            int bad = -1;
            for (int offset = 0; offset < data.Length && bad < 0; offset += CheckChunk)
            {
                Span<byte> chunk = data.Slice(offset, Math.Min(CheckChunk, data.Length - offset));
                int at = chunk.IndexOfAnyExcept(PoisonByte);
                if (at >= 0)
                {
                    bad = offset + at;
                }
                else if (_zero)
                {
                    chunk.Clear();
                }
            }

            if (bad >= 0)
            {
                byte seen = data[bad];
                data.Fill(PoisonByte); // report once; the block stays free and usable
                for (int done = 1; done < i && _zero; done++)
                {
                    slabs.Data(table.PeekFree(done)).Fill(PoisonByte); // the blocks zeroed before this one stay free: poisoned again
                }

                AgentId owner = _lastOwner[id];
                int layer = _lastLayer[id];
                string ownerText = layer < 0 ? "it has not been allocated before" : string.Create(CultureInfo.InvariantCulture, $"its last owner was {owner} on layer {layer}");
                string message = string.Create(
                    CultureInfo.InvariantCulture,
                    $"Block {id} was written after it was freed: byte {bad} is 0x{seen:X2} instead of the poison 0x{PoisonByte:X2}; {ownerText}. The allocation was refused and nothing changed; look for a span or pointer kept past Free.");
                _log.BlockCorrupted(message);
                throw new BlockCorruptionException(BlockCorruptionKind.WriteAfterFree, id, owner, layer, bad, message);
            }
        }
    }

    protected override void RecordAllocated(ReadOnlySpan<KvBlock> blocks, StackTrace? stack, OwnerRecord owner, bool firstForOwner)
    {
        if (stack is null && (firstForOwner || owner.LastAllocationStack is null))
        {
            stack = new StackTrace(false); // an owner's first allocation names where the owner came from
        }

        if (stack is null)
        {
            stack = owner.LastAllocationStack;
        }
        else
        {
            owner.LastAllocationStack = stack;
        }

        foreach (KvBlock block in blocks)
        {
            _allocatedAt[block.Id] = stack;
        }
    }

    protected override void RecordFreed(int id, AgentId owner, int layer)
    {
        _lastOwner[id] = owner;
        _lastLayer[id] = layer;
        _allocatedAt[id] = null;
    }

    public override StackTrace? AllocatedAt(int id) => _allocatedAt[id];

    /// <summary>Checks the guard (restoring it if overwritten) and poisons the data.</summary>
    public override BlockCorruptionException? Scrub(NativeSlabs slabs, int id, AgentId owner, int layer)
    {
        BlockCorruptionException? found = null;
        Span<byte> guard = slabs.Guard(id);
        int bad = guard.IndexOfAnyExcept(GuardByte);
        if (bad >= 0)
        {
            int offset = slabs.Layout.BytesPerBlock + bad;
            found = new BlockCorruptionException(
                BlockCorruptionKind.Overrun,
                id,
                owner,
                layer,
                offset,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"Block {id} (layer {layer}) of {owner} was written past its end: guard byte {bad} (block offset {offset}) is 0x{guard[bad]:X2}, expected 0x{GuardByte:X2}. The block was freed and its guard restored; look for a kernel writing more than {slabs.Layout.BytesPerBlock} bytes."));
            guard.Fill(GuardByte);
        }

        slabs.Data(id).Fill(PoisonByte);
        return found;
    }
}
