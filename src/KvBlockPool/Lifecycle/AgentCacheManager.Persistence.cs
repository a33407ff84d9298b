using System.Globalization;
using KvBlockPool.Persistence;
using KvBlockPool.Prefix;

namespace KvBlockPool.Lifecycle;

/// <content>
/// Saving an admitted agent with its token ids, and restoring one as a newly admitted agent whose full chunks are
/// published to the prefix cache again.
/// </content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Saves <paramref name="agent"/>'s cache to <paramref name="destination"/> in the format of <c>docs/format.md</c>
    /// (version 1.2): its blocks on every layer, shared prefix blocks included (their bytes are saved like the
    /// agent's own), its token count and, when the manager knows them (the agent was admitted with its prompt's
    /// tokens and appended with <see cref="AppendToken(AgentId, int)"/>), its token ids, so that
    /// <see cref="RestoreAsync"/> can publish its chunks again. The stream is left open.
    /// </summary>
    /// <remarks>
    /// The agent's tokens are captured when the save starts; do not append to it or release it until the save
    /// completes (as with <see cref="KvCacheWriter"/>, a release meanwhile is refused with
    /// <see cref="AgentPinnedException"/>).
    /// </remarks>
    /// <param name="agent">An admitted agent holding at least one token.</param>
    /// <param name="destination">A writable stream; left open.</param>
    /// <param name="cancellationToken">Cancels the save; the stream then holds a partial cache.</param>
    /// <returns>The header that was written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="destination"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not writable, or <paramref name="agent"/> holds no tokens.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="IOException">The stream failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public Task<KvCacheHeader> SaveAsync(AgentId agent, Stream destination, CancellationToken cancellationToken = default)
    {
        KvCacheWriter.CheckWritable(destination);
        ObjectDisposedException.ThrowIf(_pool.IsDisposed, _pool);
        int tokens;
        int[]? ids = null;
        AgentCache record = Enter(agent);
        try
        {
            tokens = record.Tokens;
            if (tokens == 0)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{agent} holds no tokens, so there is no cache to save."), nameof(agent));
            }

            PrefixTrack track = record.Prefix;
            if (track.IsActive && track.TokenCount == tokens && tokens <= KvCacheFormat.MaxTokenIds)
            {
                ids = track.Tokens.ToArray();
            }
        }
        finally
        {
            Monitor.Exit(record);
        }

        return KvCacheWriter.SaveCoreAsync(_pool, agent, destination, tokens, ids, cancellationToken);
    }

    /// <summary>
    /// Restores a cache saved by <see cref="SaveAsync"/> (or by <see cref="KvCacheWriter"/>, if its layers hold
    /// equal block counts that fit its token count) as <paramref name="agent"/>, newly admitted with the saved token
    /// count: the blocks are allocated all or nothing, filled and checked as <see cref="KvCacheReader"/> does, and
    /// the agent appends from where it was saved. When the file carries token ids (format 1.2) and the pool has a
    /// prefix cache, the agent's full chunks are keyed again, with <paramref name="context"/> and this pool's key
    /// secret (never with keys from the file), and published, so other agents hit them; a chunk another agent's copy
    /// already caches stays this agent's own.
    /// </summary>
    /// <param name="agent">An agent not admitted yet, holding nothing in the pool.</param>
    /// <param name="source">A readable stream holding exactly one saved cache; left open.</param>
    /// <param name="context">The tenant salt and adapter the agent's chunks belong to: the context it was admitted with.</param>
    /// <param name="priority">Eviction priority of the agent's chunks once no agent references them: lower goes first.</param>
    /// <param name="cancellationToken">Cancels the restore; every block taken is returned.</param>
    /// <returns>The header of the restored cache.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="source"/> is not readable; <paramref name="agent"/> is already admitted or holds blocks in the
    /// pool; or the saved cache's layers do not hold the same number of blocks, the number its token count needs
    /// (restore such a cache with <see cref="KvCacheReader"/>); nothing was allocated.
    /// </exception>
    /// <exception cref="KvCacheSpecMismatchException">The cache was saved with another spec; nothing was allocated.</exception>
    /// <exception cref="KvCacheFormatException">The data is not a valid saved cache; nothing changed.</exception>
    /// <exception cref="BlockPoolExhaustedException">The pool has too few free blocks; nothing changed.</exception>
    /// <exception cref="IOException">The stream failed; nothing changed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public async Task<KvCacheHeader> RestoreAsync(AgentId agent, Stream source, KvPrefixContext context = default, int priority = 0, CancellationToken cancellationToken = default)
    {
        KvCacheReader.CheckReadable(source);
        ObjectDisposedException.ThrowIf(_disposed, this);
        ObjectDisposedException.ThrowIf(_pool.IsDisposed, _pool);
        ThrowIfAdmitted(agent);

        // The pool's restore refuses an agent that holds blocks, so a concurrent admission or restore of the same
        // agent cannot slip in between it and the books below: one of the two is refused by the pool.
        KvCacheHeader header = await KvCacheReader.RestoreCoreAsync(_pool, source, agent, KvCacheReader.DefaultMaxDegreeOfParallelism, saved => CheckTakeable(saved, nameof(source)), cancellationToken).ConfigureAwait(false);
        try
        {
            int tokens = (int)header.TokenCount;
            int perLayer = header.BlocksPerLayer[0];
            AdmitReserved(agent, header.Spec.Layers, tokens, (long)perLayer * header.Spec.Layers, (this, header, context, priority), static (record, state) =>
            {
                state.Item1.AdoptRestored(record, state.header, state.context, state.priority);
                return 0;
            });
        }
        catch
        {
            _pool.FreeAgent(agent); // the books refused the agent (the manager was disposed meanwhile): the pool lets go too
            throw;
        }

        return header;
    }

    /// <summary>
    /// Refuses, before anything is allocated, a saved cache the manager's books cannot describe: an agent here holds
    /// the same number of blocks on every layer, the number its token count needs.
    /// </summary>
    private void CheckTakeable(KvCacheHeader header, string parameter)
    {
        ReadOnlySpan<int> counts = header.BlockCounts;
        int perLayer = counts[0];
        long needed = header.TokenCount <= int.MaxValue ? _pool.Spec.BlocksForTokens((int)header.TokenCount) : -1;
        if (counts.ContainsAnyExcept(perLayer) || needed != perLayer)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The cache saved for {header.Agent} holds {header.TokenCount} tokens in {string.Join(", ", header.BlocksPerLayer)} block(s) per layer; an agent of this manager holds {needed} block(s) on every layer for that many tokens. Restore it into the pool with KvCacheReader.RestoreAsync instead. Nothing was allocated."),
                parameter);
        }
    }

    /// <summary>Fills a reserved record with the restored agent's blocks and publishes its full chunks. Caller holds the record's lock.</summary>
    private void AdoptRestored(AgentCache record, KvCacheHeader header, KvPrefixContext context, int priority)
    {
        AgentBlocks blocks = _pool.GetAgentBlocks(record.Agent);
        int perLayer = header.BlocksPerLayer[0];
        record.EnsureRoom(perLayer, perLayer * record.LayerCount);
        Span<KvBlock> layerMajor = record.Scratch.AsSpan(0, perLayer * record.LayerCount);
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            blocks.GetBlocks(layer).CopyTo(layerMajor[(layer * perLayer)..]);
        }

        record.AppendLayerMajor(layerMajor, perLayer);
        if (_pool.PrefixCache is { } cache && header.TokenIdSpan.Length > 0)
        {
            _pool.SetPrefixPriority(record.Agent, priority);
            record.Prefix.Start(cache.GetRootKey(context), header.TokenIdSpan, [], hits: 0);
            PublishUpTo(record, header.TokenIdSpan.Length); // every saved token was computed
        }
    }
}
