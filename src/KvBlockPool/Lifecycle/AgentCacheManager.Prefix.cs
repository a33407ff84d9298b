using System.Buffers;
using System.Globalization;
using KvBlockPool.Prefix;

namespace KvBlockPool.Lifecycle;

/// <content>Admission with the prompt's tokens through the pool's prefix cache, and publishing the chunks an agent fills.</content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Admits <paramref name="agent"/> with its prompt's token ids through the pool's prefix cache: the longest cached
    /// prefix of full chunks (never the whole prompt) is shared into the agent's block table, read-only, and blocks
    /// for the rest are allocated, evicting unreferenced chunks least recently used first when free blocks run short.
    /// All or nothing. Run the model from <see cref="KvPrefixAdmission.CachedTokens"/>; as the agent's chunks fill and
    /// are computed (see <see cref="AppendToken(AgentId, int)"/> and <see cref="PublishComputed"/>) they are published
    /// for other agents.
    /// </summary>
    /// <param name="agent">An agent not admitted yet, holding nothing in the pool.</param>
    /// <param name="promptTokens">The prompt's token ids; the cache holds as many tokens.</param>
    /// <param name="context">The tenant salt and adapter: only agents with the same context share chunks.</param>
    /// <param name="priority">Eviction priority of the agent's chunks once no agent references them: lower goes first.</param>
    /// <returns>How much of the prompt was cached.</returns>
    /// <exception cref="ArgumentException"><paramref name="agent"/> is already admitted or holds blocks in the pool.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The prompt needs more blocks than the pool's capacity; nothing changed.</exception>
    /// <exception cref="BlockPoolExhaustedException">Free and evictable blocks cannot cover the rest of the prompt now; nothing changed.</exception>
    /// <exception cref="InvalidOperationException">The pool has no prefix cache (<see cref="BlockPoolOptions.PrefixCache"/>).</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public KvPrefixAdmission Admit(AgentId agent, ReadOnlySpan<int> promptTokens, KvPrefixContext context = default, int priority = 0)
    {
        AdmitWithPrefix(agent, promptTokens, context, priority, throwOnExhaustion: true, out KvPrefixAdmission admission);
        return admission;
    }

    /// <summary>
    /// Like <see cref="Admit(AgentId, ReadOnlySpan{int}, KvPrefixContext, int)"/>, but returns false instead of throwing
    /// when free and evictable blocks cannot cover the prompt now.
    /// </summary>
    /// <param name="agent">An agent not admitted yet, holding nothing in the pool.</param>
    /// <param name="promptTokens">The prompt's token ids.</param>
    /// <param name="admission">How much of the prompt was cached; default when refused.</param>
    /// <param name="context">The tenant salt and adapter.</param>
    /// <param name="priority">Eviction priority of the agent's chunks: lower goes first.</param>
    /// <returns>Whether the agent was admitted; nothing changed when not.</returns>
    /// <exception cref="ArgumentException"><paramref name="agent"/> is already admitted or holds blocks in the pool.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The prompt needs more blocks than the pool's capacity; nothing changed.</exception>
    /// <exception cref="InvalidOperationException">The pool has no prefix cache.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public bool TryAdmit(AgentId agent, ReadOnlySpan<int> promptTokens, out KvPrefixAdmission admission, KvPrefixContext context = default, int priority = 0) =>
        AdmitWithPrefix(agent, promptTokens, context, priority, throwOnExhaustion: false, out admission);

    /// <summary>
    /// Appends one token with its id (see <see cref="AppendToken(AgentId)"/>). Appending means every earlier token's
    /// keys and values were written, so each chunk they fill is published to the prefix cache first. For an agent
    /// admitted without its tokens, or once tokens were appended without ids, the id is not kept and nothing more is published.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="tokenId">The new token's id: 0 or more.</param>
    /// <returns>Where the new token's keys and values go.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenId"/> is negative; nothing changed.</exception>
    /// <exception cref="BlockPoolExhaustedException">A new block was needed and the pool has none free or evictable; nothing changed.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public KvTokenSlot AppendToken(AgentId agent, int tokenId)
    {
        AppendTokenCore(agent, tokenId, throwOnExhaustion: true, out KvTokenSlot slot);
        return slot;
    }

    /// <summary>
    /// Like <see cref="AppendToken(AgentId, int)"/>, but returns false instead of throwing when a new block was needed
    /// and the pool has none free or evictable (a decode loop under memory pressure then waits or preempts, without
    /// an exception per attempt).
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="tokenId">The new token's id: 0 or more.</param>
    /// <param name="slot">Where the new token's keys and values go; default when refused.</param>
    /// <returns>Whether the token was appended; nothing changed (not even a publish) when not.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenId"/> is negative; nothing changed.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public bool TryAppendToken(AgentId agent, int tokenId, out KvTokenSlot slot) => AppendTokenCore(agent, tokenId, throwOnExhaustion: false, out slot);

    private bool AppendTokenCore(AgentId agent, int tokenId, bool throwOnExhaustion, out KvTokenSlot slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokenId);
        AgentCache record = Enter(agent);
        try
        {
            PrefixTrack track = record.Prefix;
            int computed = record.Tokens;
            bool keepsIds = track.IsActive && track.TokenCount == computed;
            if (keepsIds)
            {
                track.EnsureTokens(computed + 1);
            }

            // The append first: if it is refused, nothing changed (not even a publish). The lock is re-entered on this thread.
            if (!AppendCore(agent, 1, throwOnExhaustion, out _, out int length, out int tokensPerBlock))
            {
                slot = default;
                return false;
            }

            slot = Slot(length - 1, tokensPerBlock);
            if (keepsIds)
            {
                PublishUpTo(record, computed);
                track.AddToken(tokenId);
            }

            return true;
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    /// <summary>
    /// Says that the keys and values of <paramref name="agent"/>'s first <paramref name="computedTokens"/> tokens are
    /// written (after a prefill, say), so its full chunks among them are published now rather than at the next
    /// <see cref="AppendToken(AgentId, int)"/>. A chunk whose key another agent's copy already caches stays this
    /// agent's own. Does nothing for an agent admitted without its tokens.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="computedTokens">0 to the agent's token count.</param>
    /// <returns>The number of chunks published.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="computedTokens"/> is negative or more than the agent holds; nothing changed.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public int PublishComputed(AgentId agent, int computedTokens)
    {
        AgentCache record = Enter(agent);
        try
        {
            if ((uint)computedTokens > (uint)record.Tokens)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(computedTokens),
                    computedTokens,
                    string.Create(CultureInfo.InvariantCulture, $"{agent} holds {record.Tokens} token(s); 0 to {record.Tokens} of them can be computed. Nothing was published."));
            }

            return PublishUpTo(record, computedTokens);
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    /// <summary>Publishes the full chunks of the first <paramref name="computed"/> tokens not dealt with yet. Caller holds the record's lock.</summary>
    private int PublishUpTo(AgentCache record, int computed)
    {
        PrefixTrack track = record.Prefix;
        KvPrefixCache? cache = _pool.PrefixCache;
        if (!track.IsActive || cache is null)
        {
            return 0;
        }

        int full = Math.Min(computed, track.TokenCount) / cache.TokensPerChunk;
        if (full <= track.Published)
        {
            return 0;
        }

        track.KeyUpTo(full * cache.TokensPerChunk, cache.Hasher);
        ReadOnlySpan<KvChunkKey> keys = track.Keys;
        KvChunkKey parent = track.Published == 0 ? track.Root : keys[track.Published - 1];
        int stored = _pool.PublishChunks(record.Agent, track.Published, keys[track.Published..full], parent, track.Root);
        track.Published = full;
        return stored;
    }

    private bool AdmitWithPrefix(AgentId agent, ReadOnlySpan<int> promptTokens, KvPrefixContext context, int priority, bool throwOnExhaustion, out KvPrefixAdmission admission)
    {
        admission = default;
        KvPrefixCache cache = CheckPrefixAdmission(agent, promptTokens.Length, out KvCacheSpec spec, out int perLayer, out long total);
        int length = promptTokens.Length;

        // The keys are computed once, before anything changes; the last token is never a hit (the model must
        // compute it to yield logits), so only the chunks before it are looked up.
        int full = length / cache.TokensPerChunk;
        KvChunkKey[] keys = ArrayPool<KvChunkKey>.Shared.Rent(Math.Max(full, 1));
        try
        {
            KvChunkKey root = cache.GetRootKey(context);
            cache.ComputeKeys(root, promptTokens, keys);
            var grant = new PrefixGrant(this, promptTokens, keys.AsSpan(0, full), root, perLayer, priority, throwOnExhaustion);
            int hits = AdmitReserved(agent, spec.Layers, length, total, grant, static (record, grant) => grant.Manager.GrantWithPrefix(record, grant));
            if (hits < 0)
            {
                return false;
            }

            admission = new KvPrefixAdmission(length, hits * spec.TokensPerBlock, spec.TokensPerBlock);
            return true;
        }
        finally
        {
            ArrayPool<KvChunkKey>.Shared.Return(keys);
        }
    }

    /// <summary>
    /// The checks every admission with the prompt's tokens makes before anything changes (and before a tier is asked):
    /// nothing disposed, a prefix cache, a prompt the pool could ever hold, an agent not admitted yet.
    /// </summary>
    private KvPrefixCache CheckPrefixAdmission(AgentId agent, int promptTokens, out KvCacheSpec spec, out int perLayer, out long total)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ObjectDisposedException.ThrowIf(_pool.IsDisposed, _pool);
        KvPrefixCache cache = _pool.PrefixCache ?? throw new InvalidOperationException($"Pool '{_pool.Name}' has no prefix cache, so a prompt's tokens cannot be looked up. Set BlockPoolOptions.PrefixCache, or admit with the token count.");
        spec = _pool.Spec;
        perLayer = spec.BlocksForTokens(promptTokens);
        total = (long)perLayer * spec.Layers;
        ThrowIfNeverFits(nameof(promptTokens), promptTokens, perLayer, total, spec);
        ThrowIfAdmitted(agent);
        return cache;
    }

    /// <summary>The pool's prefix admission for a reserved record: the hits referenced, the rest allocated, the record filled. Returns the hits, or -1 when refused without throwing.</summary>
    private int GrantWithPrefix(AgentCache record, PrefixGrant grant)
    {
        int hits = 0;
        if (grant.PerLayer > 0)
        {
            int total = grant.PerLayer * record.LayerCount;
            int hittable = (grant.Prompt.Length - 1) / _pool.PrefixCache!.TokensPerChunk;
            KvBlock[] blocks = ArrayPool<KvBlock>.Shared.Rent(total);
            try
            {
                Span<KvBlock> granted = blocks.AsSpan(0, total);
                hits = _pool.AdmitWithPrefix(record.Agent, grant.Keys[..hittable], grant.PerLayer, grant.Priority, grant.Prompt.Length, granted, grant.ThrowOnExhaustion);
                if (hits < 0)
                {
                    return hits;
                }

                try
                {
                    record.EnsureRoom(grant.PerLayer, total);
                    record.Prefix.Start(grant.Root, grant.Prompt, grant.Keys, hits);
                }
                catch
                {
                    // Out of memory growing the record: give everything back, so the pool and the books agree.
                    _pool.FreeAgent(record.Agent);
                    throw;
                }

                record.AppendLayerMajor(granted, grant.PerLayer);
            }
            finally
            {
                ArrayPool<KvBlock>.Shared.Return(blocks);
            }
        }
        else
        {
            record.Prefix.Start(grant.Root, grant.Prompt, [], 0);
        }

        return hits;
    }

    /// <summary>What a prefix admission hands its grant: the prompt and its keys (spans, so a ref struct).</summary>
    private readonly ref struct PrefixGrant(AgentCacheManager manager, ReadOnlySpan<int> prompt, ReadOnlySpan<KvChunkKey> keys, KvChunkKey root, int perLayer, int priority, bool throwOnExhaustion)
    {
        public AgentCacheManager Manager { get; } = manager;

        public ReadOnlySpan<int> Prompt { get; } = prompt;

        public ReadOnlySpan<KvChunkKey> Keys { get; } = keys;

        public KvChunkKey Root { get; } = root;

        public int PerLayer { get; } = perLayer;

        public int Priority { get; } = priority;

        public bool ThrowOnExhaustion { get; } = throwOnExhaustion;
    }
}
