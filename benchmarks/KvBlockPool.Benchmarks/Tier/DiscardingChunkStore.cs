using System.Buffers;
using KvBlockPool.Tier;

namespace KvBlockPool.Benchmarks.Tier;

/// <summary>
/// A store with no server behind it, to split write-through's cost in <see cref="TierLifecycleBenchmarks"/>: with
/// <paramref name="alreadyStored"/> every chunk is reported as already in the tier, so the offload only drains the
/// cache's events (the hook's own cost); without it every chunk is reported missing, so the offload copies it out of
/// the pool and encodes it (a copy and an XXH3 pass over 2 MiB), and the write is accepted at once and discarded (the
/// host's side of an offload, without the network and the server).
/// </summary>
/// <param name="alreadyStored">Whether <see cref="ExistsAsync"/> answers that every chunk is stored.</param>
internal sealed class DiscardingChunkStore(bool alreadyStored) : IKvChunkStore
{
    public ValueTask<KvChunkStoreStatus> GetAsync(KvTierKey key, IBufferWriter<byte> destination, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(KvChunkStoreStatus.NotFound);

    public ValueTask<KvChunkStoreStatus> PutAsync(KvTierKey key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(KvChunkStoreStatus.Ok);

    public ValueTask<KvChunkStoreStatus> ExistsAsync(KvTierKey key, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(alreadyStored ? KvChunkStoreStatus.Ok : KvChunkStoreStatus.NotFound);

    public ValueTask<KvChunkStoreStatus> DeleteAsync(KvTierKey key, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(KvChunkStoreStatus.NotFound);
}
