using System.Globalization;

namespace KvBlockPool.Lifecycle;

/// <content>Growing an agent's cache while it decodes, and cutting it back.</content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Appends <paramref name="tokens"/> tokens to <paramref name="agent"/>'s cache. Blocks are allocated (on every
    /// layer at once, all or none) only when the last block is full; the existing blocks stay where they are.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="tokens">Tokens to append, at least 1 (1 per decode step).</param>
    /// <returns>Blocks allocated on each layer: 0 when the tokens fit in the last block.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokens"/> is not positive, or the cache would exceed <see cref="int.MaxValue"/> tokens; nothing changed.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="BlockPoolExhaustedException">
    /// Too few blocks are available, or the pool could never hold the grown cache (its blocks on all layers would
    /// exceed <see cref="BlockPool.Capacity"/>: then <see cref="BlockPoolExhaustedException.Requested"/> is more than
    /// <see cref="BlockPoolExhaustedException.Capacity"/>, capped at <see cref="int.MaxValue"/>, and waiting will not
    /// help). Nothing changed and nothing was allocated.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public int Append(AgentId agent, int tokens = 1)
    {
        AppendCore(agent, tokens, throwOnExhaustion: true, out int added, out _, out _);
        return added;
    }

    /// <summary>Like <see cref="Append"/>, but reports exhaustion by returning <see langword="false"/> (other errors still throw).</summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="tokens">Tokens to append, at least 1.</param>
    /// <returns>
    /// <see langword="true"/> if the tokens were appended; <see langword="false"/> if blocks were needed and too few
    /// were available, or the pool could never hold the grown cache (more blocks on all layers than
    /// <see cref="BlockPool.Capacity"/>). Nothing changed then.
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokens"/> is not positive, or the cache would exceed <see cref="int.MaxValue"/> tokens; nothing changed.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public bool TryAppend(AgentId agent, int tokens = 1) => AppendCore(agent, tokens, throwOnExhaustion: false, out _, out _, out _);

    /// <summary>
    /// Truncates <paramref name="agent"/>'s cache to its first <paramref name="tokens"/> tokens (after a rejected
    /// speculative draft, or to roll back a turn). Blocks past the new end are freed on every layer in one call to
    /// the pool. Truncating to 0 frees every block but keeps the agent admitted. A new end inside a chunk the agent
    /// shares from the prefix cache gives the agent its own copy of that chunk's blocks (copy-on-write), so its next
    /// token is never written into a block other agents read.
    /// </summary>
    /// <param name="agent">An admitted agent.</param>
    /// <param name="tokens">The new length, from 0 to the current length.</param>
    /// <returns>Blocks freed on each layer.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokens"/> is negative or longer than the cache.</exception>
    /// <exception cref="KeyNotFoundException"><paramref name="agent"/> is not admitted.</exception>
    /// <exception cref="AgentPinnedException">Blocks had to be freed and a <see cref="KvCacheLease"/> (or a save) of the agent is open; nothing changed.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found a freed block's guard bytes overwritten; the truncation took effect.</exception>
    /// <exception cref="BlockPoolExhaustedException">The new end falls inside a shared prefix-cache chunk, and the pool has no free or evictable block per layer for the agent's own copy of it; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public int Truncate(AgentId agent, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        AgentCache record = Enter(agent);
        try
        {
            if (tokens > record.Tokens)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(tokens),
                    tokens,
                    string.Create(CultureInfo.InvariantCulture, $"Cannot truncate {agent} to {tokens} tokens: it holds only {record.Tokens}. Truncate shortens a cache; Append grows it."));
            }

            int keep = _pool.Spec.BlocksForTokens(tokens);
            int tail = record.BlocksPerLayer - keep;
            bool partial = tokens % _pool.Spec.TokensPerBlock != 0;
            if (tail == 0 && !(partial && record.Prefix.IsActive))
            {
                SetTokens(record, tokens);
                return 0;
            }

            if (record.Prefix.IsActive)
            {
                // The new end may fall inside a shared chunk: the pool gives the agent its own copy of it first.
                // The tail may hold shared chunks: the pool drops their references and frees the agent's own blocks.
                try
                {
                    record.EnsureRoom(record.BlocksPerLayer, record.LayerCount);
                    _pool.TruncateAgent(agent, keep, lastKeptIsPartial: partial, record.Scratch, out bool copied);
                    if (copied)
                    {
                        record.ReplaceAt(keep - 1, record.Scratch.AsSpan(0, record.LayerCount));
                    }
                }
                catch (BlockCorruptionException)
                {
                    DropTail(record, tail, tokens);
                    throw;
                }

                DropTail(record, tail, tokens);
                return tail;
            }

            int total = tail * record.LayerCount;
            record.EnsureRoom(record.BlocksPerLayer, total);
            Span<KvBlock> freed = record.Scratch.AsSpan(0, total);
            record.CopyTail(tail, freed);
            try
            {
                _pool.Free(agent, freed);
            }
            catch (BlockCorruptionException)
            {
                // The pool freed the blocks before it reported the overrun: keep the books in step with it.
                DropTail(record, tail, tokens);
                throw;
            }

            DropTail(record, tail, tokens);
            return tail;
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    /// <summary>Appends; reports the blocks added per layer, the new length and the tokens per block it was computed with.</summary>
    private bool AppendCore(AgentId agent, int tokens, bool throwOnExhaustion, out int added, out int length, out int tokensPerBlock)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        added = 0;
        length = 0;
        tokensPerBlock = 0;
        AgentCache record = Enter(agent);
        try
        {
            long grown = (long)record.Tokens + tokens;
            if (grown > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(tokens),
                    tokens,
                    string.Create(CultureInfo.InvariantCulture, $"{agent} holds {record.Tokens} tokens; appending {tokens} more would exceed the {int.MaxValue} tokens a cache can count. Nothing changed. Append at most {int.MaxValue - record.Tokens} tokens."));
            }

            KvCacheSpec spec = _pool.Spec;
            tokensPerBlock = spec.TokensPerBlock;
            if (spec.Layers != record.LayerCount)
            {
                throw new InvalidOperationException($"The pool was reconfigured to {spec.Layers} layers after {agent} was admitted with {record.LayerCount}. Release the agent and admit it again.");
            }

            // grown <= int.MaxValue, so the blocks per layer fit an int; the totals are longs, so nothing here can
            // overflow however large the request.
            int perLayer = spec.BlocksForTokens(grown);
            int needed = perLayer - record.BlocksPerLayer;
            if (needed > 0)
            {
                ObjectDisposedException.ThrowIf(_pool.IsDisposed, _pool); // a disposed pool's capacity would read as "never fits"
                int capacity = _pool.Capacity;
                if ((long)perLayer * record.LayerCount > capacity)
                {
                    // The pool could never hold the grown cache, even with every other agent gone: refuse as the pool
                    // would, before computing a scratch size or touching an array (a million tokens used to grow 64 MB
                    // of handle arrays here, kept after the refusal).
                    if (!throwOnExhaustion)
                    {
                        return false;
                    }

                    throw new BlockPoolExhaustedException((int)Math.Min((long)needed * record.LayerCount, int.MaxValue), _pool.GetStatistics().Available, capacity);
                }

                int total = needed * record.LayerCount; // at most the capacity
                if (!AllocateAllLayersInto(record, agent, needed, total, throwOnExhaustion))
                {
                    return false;
                }

                Interlocked.Add(ref _totalBlocks, total);
                added = needed;
            }

            length = (int)grown;
            SetTokens(record, length);
            return true;
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    private void SetTokens(AgentCache record, int tokens)
    {
        Interlocked.Add(ref _totalTokens, tokens - record.Tokens);
        record.Tokens = tokens;
    }

    private void DropTail(AgentCache record, int tail, int tokens)
    {
        record.Prefix.Truncate(tokens, _pool.Spec.TokensPerBlock);
        record.DropLast(tail);
        Interlocked.Add(ref _totalBlocks, -(long)tail * record.LayerCount);
        SetTokens(record, tokens);
    }
}
