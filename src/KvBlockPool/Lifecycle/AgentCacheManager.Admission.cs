using System.Globalization;

namespace KvBlockPool.Lifecycle;

/// <content>Admitting an agent with its prompt: blocks on every layer in one atomic pool call.</content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Admits <paramref name="agent"/> with a prompt of <paramref name="promptTokens"/> tokens: enough blocks for
    /// the prompt on every layer, allocated in one atomic step (every layer or none). With 0 tokens the agent is
    /// admitted holding no blocks, and its first <see cref="Append"/> or <see cref="AppendToken(AgentId)"/> allocates them.
    /// The new blocks are the agent's block table (<see cref="CopyBlockIds(AgentId, int, Span{int})"/>, <see cref="CopyBlocks"/>, <see cref="Lease"/>).
    /// </summary>
    /// <param name="agent">The agent; must not be admitted already, and the pool must hold no blocks for it.</param>
    /// <param name="promptTokens">Tokens in the prompt, 0 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="promptTokens"/> is negative, or needs more blocks than the pool's whole capacity.</exception>
    /// <exception cref="ArgumentException"><paramref name="agent"/> is already admitted, or the pool holds blocks for it outside this manager.</exception>
    /// <exception cref="BlockPoolExhaustedException">Too few blocks are available now; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public void Admit(AgentId agent, int promptTokens) => AdmitCore(agent, promptTokens, throwOnExhaustion: true);

    /// <summary>Like <see cref="Admit(AgentId, int)"/>, but reports exhaustion by returning <see langword="false"/> (other errors still throw).</summary>
    /// <param name="agent">The agent; must not be admitted already, and the pool must hold no blocks for it.</param>
    /// <param name="promptTokens">Tokens in the prompt, 0 or more.</param>
    /// <returns><see langword="true"/> if the agent was admitted; <see langword="false"/> if too few blocks were available (nothing changed).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="promptTokens"/> is negative, or needs more blocks than the pool's whole capacity.</exception>
    /// <exception cref="ArgumentException"><paramref name="agent"/> is already admitted, or the pool holds blocks for it outside this manager.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public bool TryAdmit(AgentId agent, int promptTokens) => AdmitCore(agent, promptTokens, throwOnExhaustion: false);

    private bool AdmitCore(AgentId agent, int promptTokens, bool throwOnExhaustion)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(promptTokens);
        ObjectDisposedException.ThrowIf(_disposed, this);
        ObjectDisposedException.ThrowIf(_pool.IsDisposed, _pool); // a disposed pool's capacity would read as "too small"
        KvCacheSpec spec = _pool.Spec;
        int perLayer = spec.BlocksForTokens(promptTokens);
        long total = (long)perLayer * spec.Layers;
        ThrowIfNeverFits(nameof(promptTokens), promptTokens, perLayer, total, spec);
        ThrowIfAdmitted(agent);
        int held = _pool.GetBlockCount(agent);
        if (held > 0)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The pool already holds {held} block(s) for {agent}, allocated outside this cache manager. Free them (BlockPool.FreeAgent) or use another id."),
                nameof(agent));
        }

        // The record's arrays grow only once the pool has granted the blocks (none for an empty prompt).
        return AdmitReserved(agent, spec.Layers, promptTokens, total, (this, perLayer, throwOnExhaustion), static (record, state) =>
            state.perLayer == 0 || state.Item1.AllocateAllLayersInto(record, record.Agent, state.perLayer, record.LayerCount * state.perLayer, state.throwOnExhaustion) ? 0 : -1) >= 0;
    }

    /// <summary>
    /// The one admission body: reserves <paramref name="agent"/>'s id (so two admissions of one agent cannot both
    /// reach the pool), lets <paramref name="grant"/> get the blocks from the pool and fill the record (it returns
    /// the chunks hit, or -1 when the pool refused without throwing), and counts the agent in, or, if anything
    /// failed, gives the id and the record back. Returns what the grant returned.
    /// </summary>
    private int AdmitReserved<TState>(AgentId agent, int layers, int tokens, long total, TState state, Func<AgentCache, TState, int> grant)
        where TState : allows ref struct
    {
        AgentCache record = RentRecord(layers);
        bool reserved = false;
        bool admitted = false;
        Monitor.Enter(record);
        try
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_agents.ContainsKey(agent))
                {
                    ThrowAlreadyAdmitted(agent); // admitted by another thread since the caller's check
                }

                record.Agent = agent;
                _agents.Add(agent, record);
                reserved = true;
            }

            int granted = grant(record, state);
            if (granted < 0)
            {
                return granted;
            }

            record.Tokens = tokens;
            record.IsAdmitted = true;
            admitted = true;
            Interlocked.Add(ref _totalTokens, tokens);
            Interlocked.Add(ref _totalBlocks, total);
            Interlocked.Increment(ref _agentCount);
            return granted;
        }
        finally
        {
            if (!admitted)
            {
                if (reserved)
                {
                    lock (_gate)
                    {
                        _agents.Remove(agent);
                    }
                }

                record.Agent = default;
            }

            Monitor.Exit(record);
            if (!admitted)
            {
                _records.Return(record);
            }
        }
    }

    /// <summary>Refuses, before anything changes, a prompt that needs more blocks than the pool has at all: waiting would never help.</summary>
    private void ThrowIfNeverFits(string parameter, int promptTokens, int perLayer, long total, KvCacheSpec spec)
    {
        if (total > _pool.Capacity)
        {
            throw new ArgumentOutOfRangeException(
                parameter,
                promptTokens,
                string.Create(CultureInfo.InvariantCulture, $"A prompt of {promptTokens} tokens needs {perLayer} block(s) on each of {spec.Layers} layers ({total} blocks), more than the pool's capacity of {_pool.Capacity}; nothing changed. Shorten the prompt or give the pool a larger capacity."));
        }
    }

    private void ThrowIfAdmitted(AgentId agent)
    {
        lock (_gate)
        {
            if (_agents.ContainsKey(agent))
            {
                ThrowAlreadyAdmitted(agent);
            }
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowAlreadyAdmitted(AgentId agent) =>
        throw new ArgumentException($"{agent} is already admitted. Release it first, or append to it.", nameof(agent));
}
