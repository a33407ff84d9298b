using System.Collections.Concurrent;
using System.Diagnostics;
using KvBlockPool.Cli.Simulate.SharedPrefix;
using KvBlockPool.Lifecycle;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// One host thread: it keeps a few agent slots busy. An empty slot admits a new agent (or, sometimes, starts a
/// prefill that is abandoned part-way); a busy slot decodes one step (one token, or a speculative draft cut back
/// to what was accepted) and releases its agent when the answer is complete. Exhaustion is met by waiting for
/// another thread to free blocks, and a decode step that waits too long preempts its agent.
/// <para>
/// In the shared-prefix workload a slot serves a conversation instead: its prompt (a system prompt, the turns so far
/// and a new user message) is admitted through the prefix cache and published once "computed", its answer is decoded
/// one token id at a time (no drafts: a draft would publish tokens that are then rejected), and a completed
/// conversation may come back later with everything so far as its next prompt.
/// </para>
/// </summary>
internal sealed class SimulationWorker
{
    private readonly AgentCacheManager _manager;
    private readonly BlockPool _pool;
    private readonly WorkloadShape _shape;
    private readonly SpaceSignal _space;
    private readonly Func<AgentId> _nextAgent;
    private readonly ConcurrentQueue<string> _failures;
    private readonly Random _random;
    private readonly Slot[] _slots;
    private readonly KvBlock[] _prefillBlocks;
    private readonly SharedPrefixWorkload? _prefix;
    private readonly bool _tiered;

    /// <summary>Conversations whose client will come back, each when this worker's admissions reach its <see cref="Conversation.ReadyAt"/>.</summary>
    private readonly List<Conversation> _returning = [];

    /// <summary>Admissions by this worker: the clock a returning conversation's client reads and replies by.</summary>
    private long _admissions;

    public SimulationWorker(AgentCacheManager manager, WorkloadShape shape, int slots, int seed, SpaceSignal space, Func<AgentId> nextAgent, ConcurrentQueue<string> failures, SharedPrefixWorkload? prefix = null)
    {
        _prefix = prefix;
        _manager = manager;
        _pool = manager.Pool;
        _shape = shape;
        _space = space;
        _nextAgent = nextAgent;
        _failures = failures;
        _random = new Random(seed);
        _slots = Enumerable.Range(0, slots).Select(_ => new Slot()).ToArray();
        _tiered = _pool.GetTierStatistics() is not null;
        _prefillBlocks = new KvBlock[_pool.Spec.BlocksForTokens(prefix?.Shape.MaxPrompt ?? shape.MaxPrompt)];
    }

    public WorkerStats Stats { get; } = new();

    public void Run(Func<bool> stopping)
    {
        try
        {
            while (!stopping())
            {
                // A slot that cannot progress has already waited for space, so this loop never spins.
                foreach (Slot slot in _slots)
                {
                    _ = slot.Active ? Step(slot) : Start(slot);
                }
            }
        }
        catch (Exception ex)
        {
            _failures.Enqueue($"a worker stopped on an unexpected {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            foreach (Slot slot in _slots)
            {
                if (slot.Active)
                {
                    Release(slot, completed: true);
                }
            }
        }
    }

    private bool Start(Slot slot)
    {
        if (_prefix is not null)
        {
            return StartTurn(slot, _prefix);
        }

        AgentId agent = _nextAgent();
        int prompt = _random.Next(_shape.MinPrompt, _shape.MaxPrompt + 1);
        if (_random.NextDouble() < WorkloadShape.AbortProbability)
        {
            AbandonPrefill(agent, prompt);
            return true;
        }

        long started = Stopwatch.GetTimestamp();
        bool admitted = _manager.TryAdmit(agent, prompt);
        Stats.Record(OperationKind.Admit, Elapsed(started));
        if (!admitted)
        {
            Stats.AdmissionWaits++;
            WaitForSpace(2);
            return false;
        }

        CheckHeld(agent, prompt);
        slot.Agent = agent;
        slot.Active = true;
        slot.Tokens = prompt;
        slot.Remaining = _random.Next(_shape.MinDecode, _shape.MaxDecode + 1);
        slot.Speculative = _random.NextDouble() < WorkloadShape.SpeculativeProbability;
        Stats.Admitted++;
        Stats.PromptTokens += prompt;
        return true;
    }

    /// <summary>
    /// Admits through the prefix cache; with a shared tier, through <see cref="AgentCacheManager.AdmitAsync"/>, which
    /// restores the chunks this pool lacks from the tier first. This thread is the host's own (not the thread pool's),
    /// so it waits for the restore as a host thread would wait for its prefill.
    /// </summary>
    private bool TryAdmit(AgentId agent, Conversation conversation, out KvPrefixAdmission admission)
    {
        if (!_tiered)
        {
            return _manager.TryAdmit(agent, conversation.Tokens, out admission);
        }

        try
        {
            admission = _manager.AdmitAsync(agent, conversation.Tokens.ToArray()).GetAwaiter().GetResult();
            return true;
        }
        catch (BlockPoolExhaustedException)
        {
            admission = default;
            return false;
        }
    }

    /// <summary>
    /// Admits a conversation's next turn through the prefix cache: a returning conversation whose client is ready, or
    /// a new one. Refused for want of space, the conversation waits in its slot for the next try.
    /// </summary>
    private bool StartTurn(Slot slot, SharedPrefixWorkload prefix)
    {
        ConversationShape shape = prefix.Shape;
        AgentId agent = _nextAgent();
        Conversation conversation = slot.Waiting ?? TakeReturning() ?? prefix.Start(_random, agent.Value);
        slot.Waiting = null;
        int before = conversation.Count;
        int user = _random.Next(shape.MinUser, shape.MaxUser + 1);
        for (int i = 0; i < user; i++)
        {
            conversation.Add(TokenIds.Next(_random));
        }

        int prompt = conversation.Count;
        if (_random.NextDouble() < WorkloadShape.AbortProbability)
        {
            AbandonPrefill(agent, prompt); // the client went away: its conversation ends
            return true;
        }

        long started = Stopwatch.GetTimestamp();
        bool admitted = TryAdmit(agent, conversation, out KvPrefixAdmission admission);
        Stats.Record(OperationKind.Admit, Elapsed(started));
        if (!admitted)
        {
            conversation.CutTo(before);
            slot.Waiting = conversation;
            Stats.AdmissionWaits++;
            WaitForSpace(2);
            return false;
        }

        // Counted after the pool allocated, so that a sample never sees more sharing than there is.
        prefix.Ledger.Added((long)_pool.Spec.BlocksForTokens(prompt) * _pool.Spec.Layers);
        _admissions++;
        CheckHeld(agent, prompt);

        // The cached chunks hold what their prefill wrote; the simulated prefill of the rest is instant: it stamps
        // the prompt's remaining full chunks, and other agents (and, through the tier, other hosts) can hit them from now on.
        int tokensPerBlock = _pool.Spec.TokensPerBlock;
        int cachedChunks = admission.CachedTokens / tokensPerBlock;
        if (ChunkStamps.Check(_pool, agent, conversation.Tokens, 0, cachedChunks) is { } wrong)
        {
            _failures.Enqueue($"{wrong} ({admission.CachedTokens - admission.TierTokens} tokens were local hits, {admission.TierTokens} came from the tier)");
        }

        ChunkStamps.Write(_pool, agent, conversation.Tokens, cachedChunks, prompt / tokensPerBlock);
        _manager.PublishComputed(agent, prompt);
        (conversation.Turns == 0 ? Stats.FirstTurns : Stats.ReturningTurns).Record(prompt, admission.CachedTokens, admission.TierTokens);
        conversation.Turns++;
        slot.Agent = agent;
        slot.Active = true;
        slot.Tokens = prompt;
        slot.Remaining = _random.Next(shape.MinAnswer, shape.MaxAnswer + 1);
        slot.Speculative = false;
        slot.Conversation = conversation;
        Stats.Admitted++;
        Stats.PromptTokens += prompt;
        return true;
    }

    /// <summary>The first returning conversation whose client is ready, taken off the list; null when none is.</summary>
    private Conversation? TakeReturning()
    {
        for (int i = 0; i < _returning.Count; i++)
        {
            if (_returning[i].ReadyAt <= _admissions)
            {
                Conversation ready = _returning[i];
                _returning.RemoveAt(i);
                return ready;
            }
        }

        return null;
    }

    private void CheckHeld(AgentId agent, int tokens)
    {
        int expected = _pool.Spec.BlocksForTokens(tokens) * _pool.Spec.Layers;
        int held = _pool.GetBlockCount(agent);
        if (held != expected)
        {
            _failures.Enqueue($"{agent} was admitted with {tokens} tokens and holds {held} blocks; expected {expected}.");
        }
    }

    private bool Step(Slot slot)
    {
        if (slot.Remaining <= 0)
        {
            Release(slot, completed: true);
            return true;
        }

        int draft = slot.Speculative ? Math.Min(WorkloadShape.DraftTokens, slot.Remaining) : 1;
        if (!Append(slot, draft))
        {
            return false;
        }

        int accepted = draft;
        if (slot.Speculative)
        {
            accepted = _random.Next(1, draft + 1);
            if (accepted < draft)
            {
                long started = Stopwatch.GetTimestamp();
                int freed = _manager.Truncate(slot.Agent, slot.Tokens - (draft - accepted));
                Stats.Record(OperationKind.Truncate, Elapsed(started));
                slot.Tokens -= draft - accepted;
                if (freed > 0)
                {
                    _space.Pulse();
                }
            }
        }

        slot.Remaining -= accepted;
        Stats.DecodedTokens += accepted;
        return true;
    }

    /// <summary>Appends, waiting for space while the pool is exhausted; preempts the agent if the wait is too long.</summary>
    private bool Append(Slot slot, int tokens)
    {
        long waitStarted = 0;
        int token = slot.Conversation is null ? 0 : TokenIds.Next(_random);
        while (true)
        {
            long started = Stopwatch.GetTimestamp();
            bool appended = slot.Conversation is null ? _manager.TryAppend(slot.Agent, tokens) : TryAppendToken(slot, token);
            Stats.Record(OperationKind.Append, Elapsed(started));
            if (appended)
            {
                slot.Tokens += tokens;
                return true;
            }

            if (waitStarted == 0)
            {
                waitStarted = started;
                Stats.DecodeWaits++;
            }

            if (Stopwatch.GetElapsedTime(waitStarted).TotalMilliseconds >= WorkloadShape.DecodePatienceMilliseconds)
            {
                Release(slot, completed: false);
                return false;
            }

            WaitForSpace(2);
        }
    }

    /// <summary>
    /// Appends one token with its id, so the chunks it completes are published; false when the pool has no block for
    /// it. The lifecycle layer has no Try form of this call, so exhaustion arrives as an exception.
    /// </summary>
    private bool TryAppendToken(Slot slot, int token)
    {
        bool opensBlock = slot.Tokens % _pool.Spec.TokensPerBlock == 0;
        try
        {
            _manager.AppendToken(slot.Agent, token);
        }
        catch (BlockPoolExhaustedException)
        {
            return false;
        }

        if (opensBlock)
        {
            _prefix!.Ledger.Added(_pool.Spec.Layers);
        }

        Conversation conversation = slot.Conversation!;
        conversation.Add(token);
        if (conversation.Count % _pool.Spec.TokensPerBlock == 0)
        {
            // This token completed a chunk: its "keys and values" are written before the next append publishes it.
            int chunk = (conversation.Count / _pool.Spec.TokensPerBlock) - 1;
            ChunkStamps.Write(_pool, slot.Agent, conversation.Tokens, chunk, chunk + 1);
        }

        return true;
    }

    private void Release(Slot slot, bool completed)
    {
        int expected = _pool.Spec.BlocksForTokens(slot.Tokens) * _pool.Spec.Layers;
        Conversation? conversation = slot.Conversation;
        if (conversation is not null)
        {
            if (completed)
            {
                // The answer's last step wrote its keys and values: its chunks are worth keeping for a return.
                _manager.PublishComputed(slot.Agent, slot.Tokens);
            }

            _prefix!.Ledger.Removing(expected); // before the pool frees: a sample never sees more sharing than there is
        }

        long started = Stopwatch.GetTimestamp();
        int freed = _manager.Release(slot.Agent);
        Stats.Record(OperationKind.Release, Elapsed(started));
        if (freed != expected)
        {
            _failures.Enqueue($"releasing {slot.Agent} with {slot.Tokens} tokens freed {freed} blocks; expected {expected}.");
        }

        if (completed)
        {
            Stats.Completed++;
        }
        else
        {
            Stats.Preempted++;
        }

        slot.Active = false;
        slot.Conversation = null;
        if (conversation is not null && completed && _random.NextDouble() < _prefix!.Settings.ReturnProbability && _prefix.Shape.HasRoomForTurn(conversation.Count))
        {
            // The client reads the answer and replies while this worker admits a few other turns.
            conversation.ReadyAt = _admissions + _random.Next(1, (2 * _slots.Length) + 1);
            _returning.Add(conversation);
        }

        _space.Pulse();
    }

    /// <summary>A prefill that runs layer by layer in an allocation scope and is abandoned part-way: the scope returns every layer's blocks.</summary>
    private void AbandonPrefill(AgentId agent, int prompt)
    {
        int perLayer = _pool.Spec.BlocksForTokens(prompt);
        int abandonAt = _random.Next(1, _pool.Spec.Layers);
        long started = Stopwatch.GetTimestamp();
        using (AllocationScope scope = _pool.BeginScope(agent))
        {
            for (int layer = 0; layer < abandonAt; layer++)
            {
                if (!scope.TryAllocate(layer, _prefillBlocks.AsSpan(0, perLayer)))
                {
                    break; // exhausted part-way: the same rollback
                }
            }
        }

        Stats.Record(OperationKind.AbortedAdmission, Elapsed(started));
        Stats.RolledBack++;
        if (_pool.GetBlockCount(agent) > 0)
        {
            _failures.Enqueue($"{agent}'s abandoned prefill left blocks behind after its scope rolled back.");
        }

        _space.Pulse();
    }

    private void WaitForSpace(int milliseconds)
    {
        long started = Stopwatch.GetTimestamp();
        _space.Wait(milliseconds);
        Stats.WaitedTicks += Stopwatch.GetTimestamp() - started;
    }

    private static long Elapsed(long started) =>
        (long)((Stopwatch.GetTimestamp() - started) * (1_000_000_000.0 / Stopwatch.Frequency));

    private sealed class Slot
    {
        public AgentId Agent { get; set; }

        public bool Active { get; set; }

        public int Tokens { get; set; }

        public int Remaining { get; set; }

        public bool Speculative { get; set; }

        /// <summary>Shared-prefix workload: the conversation the agent serves.</summary>
        public Conversation? Conversation { get; set; }

        /// <summary>Shared-prefix workload: a conversation whose turn was refused for want of space, to try again.</summary>
        public Conversation? Waiting { get; set; }
    }
}
