using System.Buffers;

namespace KvBlockPool.Tier;

/// <summary>
/// A shared tier of KV chunks: immutable byte values (docs/tier-format.md) stored under <see cref="KvTierKey"/>s,
/// read by any host that shares the deployment's key secret and spec. What a pool needs from a store, and nothing
/// else; <c>KvBlockPool.Redis</c> implements it on Garnet, Redis or Valkey.
/// </summary>
/// <remarks>
/// <para>
/// <b>Failures are results.</b> A store that is down, slow, full or refusing returns a status other than
/// <see cref="KvChunkStoreStatus.Ok"/> (a miss), within its operation timeout or the caller's cancellation, whichever
/// comes first, and reconnects by itself. A call throws only for a caller's error (a null buffer) or after the store
/// was disposed.
/// </para>
/// <para>
/// <b>Concurrency.</b> Every member is safe to call from any number of threads at once. Calls are independent: a
/// restore starts the reads of a prompt's next chunks without awaiting each (each into its own buffer), and the store
/// pipelines them on its connection; an offload awaits its writes on a background task. No call blocks the calling
/// thread on I/O.
/// </para>
/// <para>
/// <b>Values are not checked here.</b> The store moves bytes; the reader checks each value (its header, spec, chunk
/// key and per-layer checksums) before a byte of it reaches a block, and deletes one that fails.
/// </para>
/// </remarks>
public interface IKvChunkStore
{
    /// <summary>
    /// Reads the value stored under <paramref name="key"/> and appends it to <paramref name="destination"/> (one
    /// <c>GetSpan</c>, one <c>Advance</c>), only when the whole value has arrived and only if the result is
    /// <see cref="KvChunkStoreStatus.Ok"/>: on any other result, <paramref name="destination"/> is untouched, even if
    /// the value arrives after the call has returned.
    /// </summary>
    /// <param name="key">The chunk's key.</param>
    /// <param name="destination">Where the value goes: a reused buffer (an <c>ArrayBufferWriter</c> reset between calls).</param>
    /// <param name="cancellationToken">The caller's deadline; when it fires the call returns <see cref="KvChunkStoreStatus.Canceled"/>.</param>
    /// <returns><see cref="KvChunkStoreStatus.Ok"/>, <see cref="KvChunkStoreStatus.NotFound"/>, or why the value could not be read.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="destination"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<KvChunkStoreStatus> GetAsync(KvTierKey key, IBufferWriter<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores <paramref name="value"/> under <paramref name="key"/>, replacing any value there (values are
    /// content-addressed, so a replaced value held the same bytes, or was corrupt).
    /// </summary>
    /// <param name="key">The chunk's key.</param>
    /// <param name="value">The encoded chunk. The store may read it until the returned task completes, and not after.</param>
    /// <param name="cancellationToken">Checked before the value is sent; once sent, the write ends within the store's operation timeout.</param>
    /// <returns><see cref="KvChunkStoreStatus.Ok"/> when stored, or why not.</returns>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<KvChunkStoreStatus> PutAsync(KvTierKey key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default);

    /// <summary>Whether a value is stored under <paramref name="key"/>, without reading it (an offload skips chunks the tier has).</summary>
    /// <param name="key">The chunk's key.</param>
    /// <param name="cancellationToken">The caller's deadline.</param>
    /// <returns><see cref="KvChunkStoreStatus.Ok"/> when it exists, <see cref="KvChunkStoreStatus.NotFound"/> when not, or why the store could not say.</returns>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<KvChunkStoreStatus> ExistsAsync(KvTierKey key, CancellationToken cancellationToken = default);

    /// <summary>Removes the value under <paramref name="key"/>: a reader does so with a value that failed its checks.</summary>
    /// <param name="key">The chunk's key.</param>
    /// <param name="cancellationToken">The caller's deadline.</param>
    /// <returns><see cref="KvChunkStoreStatus.Ok"/> when a value was removed, <see cref="KvChunkStoreStatus.NotFound"/> when there was none, or why the store could not say.</returns>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<KvChunkStoreStatus> DeleteAsync(KvTierKey key, CancellationToken cancellationToken = default);
}
