using KvBlockPool.Lifecycle;
using System.Collections.Concurrent;
using System.Diagnostics;

namespace KvBlockPool.Cli.Simulate;

/// <summary>
/// One host thread: it keeps a few agent slots busy. An empty slot admits a new agent (or, sometimes, starts a
/// prefill that is abandoned part-way); a busy slot decodes one step (one token, or a speculative draft cut back
/// to what was accepted) and releases its agent when the answer is complete. Exhaustion is met by waiting for
/// another thread to free blocks, and a decode step that waits too long preempts its agent.
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

    public SimulationWorker(AgentCacheManager manager, WorkloadShape shape, int slots, int seed, SpaceSignal space, Func<AgentId> nextAgent, ConcurrentQueue<string> failures)
    {
        _manager = manager;
        _pool = manager.Pool;
        _shape = shape;
        _space = space;
        _nextAgent = nextAgent;
        _failures = failures;
        _random = new Random(seed);
        _slots = Enumerable.Range(0, slots).Select(_ => new Slot()).ToArray();
        _prefillBlocks = new KvBlock[_pool.Spec.BlocksForTokens(shape.MaxPrompt)];
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

        int expected = _pool.Spec.BlocksForTokens(prompt) * _pool.Spec.Layers;
        int held = _pool.GetBlockCount(agent);
        if (held != expected)
        {
            _failures.Enqueue($"{agent} was admitted with {prompt} tokens and holds {held} blocks; expected {expected}.");
        }

        slot.Agent = agent;
        slot.Active = true;
        slot.Tokens = prompt;
        slot.Remaining = _random.Next(_shape.MinDecode, _shape.MaxDecode + 1);
        slot.Speculative = _random.NextDouble() < WorkloadShape.SpeculativeProbability;
        Stats.Admitted++;
        Stats.PromptTokens += prompt;
        return true;
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
        while (true)
        {
            long started = Stopwatch.GetTimestamp();
            bool appended = _manager.TryAppend(slot.Agent, tokens);
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

    private void Release(Slot slot, bool completed)
    {
        long started = Stopwatch.GetTimestamp();
        int freed = _manager.Release(slot.Agent);
        Stats.Record(OperationKind.Release, Elapsed(started));
        int expected = _pool.Spec.BlocksForTokens(slot.Tokens) * _pool.Spec.Layers;
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
    }
}
