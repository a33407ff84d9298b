using System.Globalization;
using KvBlockPool.Core;
using KvBlockPool.Prefix;

namespace KvBlockPool;

/// <content>Reading a cached chunk's bytes outside the gate, held so that it is neither evicted nor reused meanwhile.</content>
public sealed partial class BlockPool
{
    /// <summary>
    /// Copies the bytes of the chunk cached under <paramref name="key"/>, every layer in order, each block whole (its
    /// key half, then its value half), into <paramref name="destination"/>. The chunk is held for the copy (an
    /// unreferenced one leaves the eviction order until it is done) and each layer is copied under a data access that
    /// holds off <see cref="Dispose"/>, so the gate is held only to look the chunk up and to let it go.
    /// </summary>
    /// <returns>False, with nothing written, when no chunk is cached under the key.</returns>
    internal bool TryCopyChunk(KvChunkKey key, Span<byte> destination)
    {
        int layers, bytesPerBlock, chunk;
        Span<KvBlock> blocks;
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable table = _table;
            ChunkTable chunks = ChunksOrThrow(table);
            bytesPerBlock = table.Spec.BytesPerBlock;
            layers = table.Layers;
            long needed = (long)layers * bytesPerBlock;
            if (destination.Length < needed)
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"A chunk of pool '{Name}' is {needed} bytes ({layers} layers of {bytesPerBlock}-byte blocks); the destination holds {destination.Length}. Nothing was copied."),
                    nameof(destination));
            }

            chunk = chunks.Find(key);
            if (chunk < 0)
            {
                return false;
            }

            if (Mutant == PrefixMutant.CopyChunkWithoutHold)
            {
                chunk = -1; // the bug the scenario must catch: nothing keeps the chunk from eviction while it is read
            }
            else
            {
                chunks.AddHold(chunk);
                PublishCounts(table);
            }

            blocks = new KvBlock[layers];
            int held = chunks.Find(key);
            for (int layer = 0; layer < layers; layer++)
            {
                blocks[layer] = table.HandleOf(chunks.BlockOf(held, layer), layer);
            }
        }

        try
        {
            for (int layer = 0; layer < layers; layer++)
            {
                using BlockAccess access = BeginDataAccess(blocks[layer], 0, bytesPerBlock);
                access.Span.CopyTo(destination.Slice(layer * bytesPerBlock, bytesPerBlock));
            }
        }
        finally
        {
            if (chunk >= 0)
            {
                ReleaseChunkHold(chunk, blocks[0]);
            }
        }

        return true;
    }

    /// <summary>Lets a held chunk go; nothing to do once the pool is disposed or reconfigured (its table went with it).</summary>
    private void ReleaseChunkHold(int chunk, KvBlock first)
    {
        lock (_gate)
        {
            BlockTable table = _table;
            if (_guard.IsClosed || table.Chunks is not { } chunks || first.PoolStamp != table.Stamp)
            {
                return;
            }

            chunks.ReleaseHold(chunk);
            PublishCounts(table);
        }
    }
}
