using System.Diagnostics;
using System.Globalization;
using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>
/// Diagnostics mode: a runtime switch (option or environment variable), so it reaches users' builds. Freed
/// blocks are poisoned and the poison is checked when they are handed out again (a write after free is caught
/// at the next allocation, naming the last owner); guard bytes after every block are checked on free (an
/// overrun is caught when the owner frees it); and the stack of every allocation is kept for leak reports.
/// </content>
public sealed partial class BlockPool
{
    private static BlockCorruptionException? CheckGuardAndPoison(NativeSlabs slabs, int id, AgentId owner, int layer)
    {
        BlockCorruptionException? found = null;
        Span<byte> guard = slabs.Guard(id);
        int bad = guard.IndexOfAnyExcept(BlockDiagnostics.GuardByte);
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
                    $"Block {id} (layer {layer}) of {owner} was written past its end: guard byte {bad} (block offset {offset}) is 0x{guard[bad]:X2}, expected 0x{BlockDiagnostics.GuardByte:X2}. The block was freed and its guard restored; look for a kernel writing more than {slabs.Layout.BytesPerBlock} bytes."));
            guard.Fill(BlockDiagnostics.GuardByte);
        }

        slabs.Data(id).Fill(BlockDiagnostics.PoisonByte);
        return found;
    }

    private void ReportCorruption(BlockCorruptionException? corruption)
    {
        if (corruption is not null)
        {
            Log.BlockCorrupted(_logger, _name, corruption.Message);
            throw corruption;
        }
    }

    /// <summary>Per-block history kept only in diagnostics mode. Accessed under the pool's gate.</summary>
    private sealed class BlockDiagnostics
    {
        public const byte PoisonByte = 0xDB;
        public const byte GuardByte = 0xFD;

        private readonly AgentId[] _lastOwner;
        private readonly int[] _lastLayer;
        private readonly StackTrace?[] _allocatedAt;

        public BlockDiagnostics(int capacity)
        {
            _lastOwner = new AgentId[capacity];
            _lastLayer = new int[capacity];
            Array.Fill(_lastLayer, -1);
            _allocatedAt = new StackTrace?[capacity];
        }

        /// <summary>Checks the poison of the <paramref name="count"/> blocks about to be popped; zeroes them if the pool zeroes.</summary>
        public void VerifyPoisonOnTop(BlockPool pool, int count)
        {
            NativeSlabs slabs = pool._slabs;
            for (int i = 1; i <= count; i++)
            {
                int id = pool._freeStack[pool._freeCount - i];
                Span<byte> data = slabs.Data(id);
                int bad = data.IndexOfAnyExcept(PoisonByte);
                if (bad >= 0)
                {
                    byte seen = data[bad];
                    data.Fill(PoisonByte); // report once; the block stays free and usable
                    AgentId owner = _lastOwner[id];
                    int layer = _lastLayer[id];
                    string ownerText = layer < 0 ? "it has not been allocated before" : string.Create(CultureInfo.InvariantCulture, $"its last owner was {owner} on layer {layer}");
                    string message = string.Create(
                        CultureInfo.InvariantCulture,
                        $"Block {id} was written after it was freed: byte {bad} is 0x{seen:X2} instead of the poison 0x{PoisonByte:X2}; {ownerText}. The allocation was refused and nothing changed; look for a span or pointer kept past Free.");
                    Log.BlockCorrupted(pool._logger, pool._name, message);
                    throw new BlockCorruptionException(BlockCorruptionKind.WriteAfterFree, id, owner, layer, bad, message);
                }
            }

            if (pool._clearMode == BlockClearMode.ZeroOnFree)
            {
                for (int i = 1; i <= count; i++)
                {
                    slabs.Data(pool._freeStack[pool._freeCount - i]).Clear();
                }
            }
        }

        public void OnAllocated(ReadOnlySpan<KvBlock> blocks, StackTrace? trace)
        {
            foreach (KvBlock block in blocks)
            {
                _allocatedAt[block.Id] = trace;
            }
        }

        public void OnFreed(int id, AgentId owner, int layer)
        {
            _lastOwner[id] = owner;
            _lastLayer[id] = layer;
            _allocatedAt[id] = null;
        }

        public StackTrace? AllocatedAt(int id) => _allocatedAt[id];
    }
}
