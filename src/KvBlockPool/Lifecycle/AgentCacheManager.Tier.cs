using System.Buffers;
using KvBlockPool.Prefix;
using KvBlockPool.Tier;

namespace KvBlockPool.Lifecycle;

/// <content>Admission that restores a prompt's missing chunks from the shared tier.</content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Admits <paramref name="agent"/> like <see cref="Admit(AgentId, ReadOnlySpan{int}, KvPrefixContext, int)"/>, and
    /// first asks the pool's shared tier (<see cref="KvPrefixCacheOptions.Tier"/>) for the prompt's chunks that follow
    /// the ones this pool holds: their reads are pipelined, bounded by <see cref="KvTierOptions.RestoreTimeout"/>, and
    /// each value is checked whole (spec, chunk key, every layer's checksum) before a byte of it reaches a block. The
    /// chunks that arrived, in order from the first missing one, are written into the agent's fresh blocks and
    /// published as local chunks; <see cref="KvPrefixAdmission.TierTokens"/> says how many tokens came from the tier.
    /// A store that is down, slow or returning a bad value costs at most the timeout: the rest is computed. Without a
    /// tier this is <see cref="Admit(AgentId, ReadOnlySpan{int}, KvPrefixContext, int)"/>.
    /// </summary>
    /// <param name="agent">An agent not admitted yet, holding nothing in the pool.</param>
    /// <param name="promptTokens">The prompt's token ids; not changed while the call runs.</param>
    /// <param name="context">The tenant salt and adapter.</param>
    /// <param name="priority">Eviction priority of the agent's chunks: lower goes first.</param>
    /// <param name="cancellationToken">Cancels the wait for the tier (then the admission goes on with what arrived) or an admission not begun.</param>
    /// <returns>How much of the prompt was cached, and how much of that came from the tier.</returns>
    /// <exception cref="ArgumentException"><paramref name="agent"/> is already admitted or holds blocks in the pool.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The prompt needs more blocks than the pool's capacity; nothing changed.</exception>
    /// <exception cref="BlockPoolExhaustedException">Free and evictable blocks cannot cover the rest of the prompt now; nothing changed.</exception>
    /// <exception cref="InvalidOperationException">The pool has no prefix cache.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the admission; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public async Task<KvPrefixAdmission> AdmitAsync(AgentId agent, ReadOnlyMemory<int> promptTokens, KvPrefixContext context = default, int priority = 0, CancellationToken cancellationToken = default)
    {
        KvPrefixCache cache = CheckPrefixAdmission(agent, promptTokens.Length, out KvCacheSpec spec, out _, out _);
        int length = promptTokens.Length;
        cancellationToken.ThrowIfCancellationRequested();

        int chunkTokens = cache.TokensPerChunk;
        int hittable = Math.Max(0, (length - 1) / chunkTokens); // the last token is never a hit
        if (_pool.Tier is not { } tier || hittable == 0)
        {
            return Admit(agent, promptTokens.Span, context, priority);
        }

        KvChunkKey root = cache.GetRootKey(context);
        var keys = new KvChunkKey[hittable];
        cache.ComputeKeys(root, promptTokens.Span[..(hittable * chunkTokens)], keys);
        int local = cache.CountCachedChunks(keys);
        TierCodec codec = tier.Codec;
        using var fetched = new TierFetch(tier, codec, keys, local, root);
        if (local < hittable)
        {
            await fetched.RunAsync(cancellationToken).ConfigureAwait(false);
        }

        KvPrefixAdmission admission = Admit(agent, promptTokens.Span, context, priority);
        int hits = admission.CachedBlocksPerLayer;
        if (fetched.Count == 0 || hits < local || hits >= local + fetched.Count || !ReferenceEquals(codec, tier.Codec))
        {
            // Nothing arrived, or the chunks the values follow were evicted meanwhile (a gap), or others published them.
            return admission;
        }

        int filled = local + fetched.Count - hits;
        FillFromTier(agent, fetched, codec, hits, filled);
        PublishComputed(agent, (hits + filled) * chunkTokens);
        tier.CountRestored(filled);
        return new KvPrefixAdmission(length, (hits + filled) * chunkTokens, spec.TokensPerBlock, filled * chunkTokens);
    }

    /// <summary>
    /// Warms the pool's prefix cache with <paramref name="promptTokens"/>' chunks from the shared tier ahead of the
    /// agent's admission (while it waits for a batch slot, say), so that the admission finds them in the pool and waits
    /// for no network. The chunks are restored as in <see cref="AdmitAsync"/>, under <paramref name="agent"/>'s id for
    /// the moment it takes, then left cached and unreferenced: evictable, like any released agent's, so memory pressure
    /// before the admission may still take them. Without a tier, or when the pool cannot take the prompt's chunks now,
    /// nothing is fetched.
    /// </summary>
    /// <param name="agent">The agent the prompt is for: not admitted now (admit it after this completes).</param>
    /// <param name="promptTokens">The prompt's token ids; not changed while the call runs.</param>
    /// <param name="context">The tenant salt and adapter the admission will use.</param>
    /// <param name="priority">Eviction priority of the restored chunks: lower goes first.</param>
    /// <param name="cancellationToken">Cancels the wait for the tier (what arrived is kept) or a prefetch not begun.</param>
    /// <returns>The prompt's tokens the pool holds now: what an admission right after would find cached.</returns>
    /// <exception cref="ArgumentException"><paramref name="agent"/> is admitted or holds blocks in the pool.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The prompt needs more blocks than the pool's capacity; nothing changed.</exception>
    /// <exception cref="InvalidOperationException">The pool has no prefix cache.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the prefetch; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public async Task<int> PrefetchAsync(AgentId agent, ReadOnlyMemory<int> promptTokens, KvPrefixContext context = default, int priority = 0, CancellationToken cancellationToken = default)
    {
        KvPrefixCache cache = CheckPrefixAdmission(agent, promptTokens.Length, out _, out _, out _);
        cancellationToken.ThrowIfCancellationRequested();
        int chunkTokens = cache.TokensPerChunk;
        int hittable = Math.Max(0, (promptTokens.Length - 1) / chunkTokens);
        if (_pool.Tier is not null && hittable > 0)
        {
            try
            {
                // The hittable chunks and one token more: the admission restores the chunks and computes nothing.
                KvPrefixAdmission warmed = await AdmitAsync(agent, promptTokens[..((hittable * chunkTokens) + 1)], context, priority, cancellationToken).ConfigureAwait(false);
                Release(agent);
                return warmed.CachedTokens;
            }
            catch (BlockPoolExhaustedException)
            {
                // No room for the chunks now: nothing was fetched into the pool; say what it holds.
            }
        }

        KvChunkKey root = cache.GetRootKey(context);
        var keys = new KvChunkKey[hittable];
        cache.ComputeKeys(root, promptTokens.Span[..(hittable * chunkTokens)], keys);
        return cache.CountCachedChunks(keys) * chunkTokens;
    }

    /// <summary>Writes checked tier values into the agent's own fresh blocks at chunk indexes <paramref name="first"/> onward.</summary>
    private void FillFromTier(AgentId agent, TierFetch fetched, TierCodec codec, int first, int count)
    {
        int layers = codec.Spec.Layers;
        int bytesPerBlock = codec.Spec.BytesPerBlock;
        var blocks = new KvBlock[GetInfo(agent).BlocksPerLayer];
        for (int layer = 0; layer < layers; layer++)
        {
            CopyBlocks(agent, layer, blocks);
            for (int chunk = first; chunk < first + count; chunk++)
            {
                ReadOnlySpan<byte> value = fetched.ValueOf(chunk);
                value.Slice(codec.HeaderLength + (layer * bytesPerBlock), bytesPerBlock).CopyTo(_pool.GetBlockSpan(blocks[chunk]));
            }
        }
    }
}
