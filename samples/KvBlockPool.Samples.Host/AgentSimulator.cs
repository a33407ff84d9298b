using System.Diagnostics;
using KvBlockPool.Lifecycle;
using KvBlockPool.Tier;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Samples.Host;

/// <summary>
/// Serves simulated agents from the host's pool for a while, then stops the host. Each worker keeps a batch of agents
/// in flight as a decode loop does: admit an agent with its prompt (and write the prompt's keys and values), then step
/// the batch one token at a time (<see cref="AgentCacheManager.AppendToken"/>, then the new token's vectors written
/// through a <see cref="KvCacheLease"/>), and release an agent when it has decoded its tokens, after checking that its
/// first and last tokens still hold what it wrote. An append the pool cannot serve preempts that agent; an admission
/// it cannot serve waits for the batch to shrink.
/// </summary>
internal sealed partial class AgentSimulator(
    AgentCacheManager manager,
    SimulationTotals totals,
    IOptions<SampleOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<AgentSimulator> logger) : BackgroundService
{
    private long _nextAgent;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        SampleOptions settings = options.Value;
        BlockPool pool = manager.Pool;
        Started(logger, settings.Workers, settings.AgentsPerWorker, pool.Name, pool.Spec, pool.Capacity, settings.DurationSeconds);
        using var run = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        run.CancelAfter(TimeSpan.FromSeconds(settings.DurationSeconds));
        var clock = Stopwatch.StartNew();

        Task[] workers = [.. Enumerable.Range(0, settings.Workers).Select(worker => Task.Factory.StartNew(
            () => Serve(new Random(settings.Seed + worker), settings, run.Token),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default))];
        try
        {
            await Task.WhenAll(workers);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Failed(logger, ex);
            Environment.ExitCode = 1;
        }

        double seconds = clock.Elapsed.TotalSeconds;
        if (pool.PrefixCache is { } cache)
        {
            // Every chunk published reaches the tier before the counts are read; then the cache lets go of the
            // chunks no agent holds, so "still allocated" below means held by an agent, as without a cache.
            // Bounded on its own: a host stopped early (Ctrl+C) still gets its figures and its invariant check below.
            using var flush = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await pool.FlushTierAsync(flush.Token);
            }
            catch (OperationCanceledException)
            {
                FlushTimedOut(logger);
            }

            KvTierStatistics tier = pool.GetTierStatistics() ?? default;
            Cached(logger, totals.CachedTokens, totals.PrefillTokens, totals.TierTokens, cache.GetStatistics().EvictedChunks, tier.Offloaded, tier.AlreadyStored, tier.NotOffloaded, tier.Restored, tier.Rejected);
            cache.Reset();
        }

        BlockPoolStatistics statistics = pool.GetStatistics();
        Finished(
            logger,
            seconds,
            totals.Admitted,
            totals.Completed,
            totals.Preempted,
            totals.PrefillTokens,
            totals.DecodedTokens,
            totals.DecodedTokens / seconds,
            totals.ExhaustionWaits,
            statistics.HighWaterMark,
            statistics.Capacity,
            statistics.Allocated);
        if (totals.Corrupt > 0 || statistics.Allocated != 0)
        {
            Broken(logger, totals.Corrupt, statistics.Allocated);
            Environment.ExitCode = 1;
        }

        lifetime.StopApplication();
    }

    private void Serve(Random random, SampleOptions settings, CancellationToken stop)
    {
        var batch = new List<Agent>(settings.AgentsPerWorker);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                while (batch.Count < settings.AgentsPerWorker && TryAdmit(random, settings) is { } admitted)
                {
                    batch.Add(admitted);
                }

                if (batch.Count == 0)
                {
                    totals.AddExhaustionWait();
                    Thread.Sleep(1); // the other workers' agents hold every block; they finish or get preempted
                    continue;
                }

                for (int i = batch.Count - 1; i >= 0; i--)
                {
                    if (!Step(batch[i]))
                    {
                        batch.RemoveAt(i);
                    }
                }
            }
        }
        finally
        {
            foreach (Agent agent in batch)
            {
                manager.Release(agent.Id); // still decoding when the run ended
            }
        }
    }

    private Agent? TryAdmit(Random random, SampleOptions settings)
    {
        var id = new AgentId(Interlocked.Increment(ref _nextAgent));
        int prompt = random.Next(settings.MinPromptTokens, settings.MaxPromptTokens + 1);
        int decode = random.Next(settings.MinDecodeTokens, settings.MaxDecodeTokens + 1);
        if (settings.UsesTier)
        {
            return TryAdmitThroughCache(id, random, settings, prompt, decode);
        }

        if (!manager.TryAdmit(id, prompt))
        {
            return null;
        }

        var agent = new Agent(id, Stamp(id), Stamp(id), decode);
        using (KvCacheLease lease = manager.Lease(id))
        {
            for (int token = 0; token < prompt; token++)
            {
                Write(lease, token, agent.Stamp);
            }
        }

        totals.AddAdmitted(prompt);
        return agent;
    }

    /// <summary>
    /// Admits an agent whose prompt is one of the shared system prompts followed by <paramref name="ownTokens"/> of its
    /// own, through the prefix cache and the tier: the cached chunks (local, or restored from the tier) are shared into
    /// its tables, and it writes only the positions it computes, then publishes them (and the tier gets them).
    /// </summary>
    private Agent? TryAdmitThroughCache(AgentId id, Random random, SampleOptions settings, int ownTokens, int decode)
    {
        int shared = random.Next(settings.SharedPrompts);
        int[] tokens = new int[settings.SharedPromptTokens + ownTokens];
        for (int i = 0; i < tokens.Length; i++)
        {
            // Shared prompts are the same ids for every agent; an agent's own tokens are drawn for it alone.
            tokens[i] = i < settings.SharedPromptTokens ? (shared * 1_000_000) + i : random.Next(50_000_000, int.MaxValue);
        }

        KvPrefixAdmission admission;
        try
        {
            // The worker is a thread of its own: waiting here for the tier's reads (bounded by the tier's
            // RestoreTimeout) holds no pool thread and no lock.
            admission = manager.AdmitAsync(id, tokens).GetAwaiter().GetResult();
        }
        catch (BlockPoolExhaustedException)
        {
            return null;
        }

        var agent = new Agent(id, PromptStamp(shared), Stamp(id), decode, settings.SharedPromptTokens);
        using (KvCacheLease lease = manager.Lease(id))
        {
            for (int token = admission.CachedTokens; token < tokens.Length; token++)
            {
                Write(lease, token, token < settings.SharedPromptTokens ? agent.FirstStamp : agent.Stamp);
            }
        }

        manager.PublishComputed(id, tokens.Length);
        totals.AddAdmitted(tokens.Length, admission.CachedTokens, admission.TierTokens);
        return agent;
    }

    /// <summary>Decodes one token of <paramref name="agent"/>; false once the agent is released (done or preempted).</summary>
    private bool Step(Agent agent)
    {
        KvTokenSlot slot;
        try
        {
            slot = manager.AppendToken(agent.Id);
        }
        catch (BlockPoolExhaustedException)
        {
            manager.Release(agent.Id); // preempted: a real host would requeue its request
            totals.AddPreempted();
            return false;
        }

        using (KvCacheLease lease = manager.Lease(agent.Id))
        {
            Write(lease, slot.Token, agent.Stamp);
            totals.AddDecoded();
            if (--agent.Remaining > 0)
            {
                return true;
            }

            if (!HoldsPrompt(lease, agent) || !Holds(lease, slot.Token, agent.Stamp))
            {
                totals.AddCorrupt();
                Corrupt(logger, agent.Id);
            }
        }

        manager.Release(agent.Id);
        totals.AddCompleted();
        return false;
    }

    /// <summary>Writes a token's key and value vectors on every layer and head, as the model's forward pass would.</summary>
    private static void Write(KvCacheLease lease, int token, byte stamp)
    {
        KvCacheSpec spec = lease.Spec;
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            for (int head = 0; head < spec.KvHeads; head++)
            {
                lease.GetKeyVector<byte>(layer, token, head).Fill(stamp);
                lease.GetValueVector<byte>(layer, token, head).Fill((byte)~stamp);
            }
        }
    }

    /// <summary>
    /// Whether the agent's prompt still holds what was written for it: its first token, and with a shared prompt one
    /// token of every chunk of it, the chunks another agent computed or the tier restored included.
    /// </summary>
    private static bool HoldsPrompt(KvCacheLease lease, Agent agent)
    {
        int tokensPerBlock = lease.Spec.TokensPerBlock;
        for (int token = 0; token < Math.Max(1, agent.SharedTokens); token += tokensPerBlock)
        {
            if (!Holds(lease, token, agent.FirstStamp))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Holds(KvCacheLease lease, int token, byte stamp)
    {
        KvCacheSpec spec = lease.Spec;
        int last = spec.Layers - 1;
        int head = spec.KvHeads - 1;
        return !lease.GetKeyVector<byte>(0, token, 0).ContainsAnyExcept(stamp)
            && !lease.GetValueVector<byte>(last, token, head).ContainsAnyExcept((byte)~stamp);
    }

    /// <summary>
    /// Each agent's bytes differ from its neighbours', so a block handed to two agents would show: 1 to 127, never 0
    /// (zeroed memory) and never a shared prompt's.
    /// </summary>
    private static byte Stamp(AgentId id) => (byte)((id.Value % 127) + 1);

    /// <summary>A shared prompt's bytes, the same whoever computed them (128 and up): a chunk restored or shared must hold them.</summary>
    private static byte PromptStamp(int prompt) => (byte)(128 + prompt);

    /// <summary>An agent in flight: <paramref name="firstStamp"/> is what its first token holds (a shared prompt's, or its own).</summary>
    private sealed class Agent(AgentId id, byte firstStamp, byte stamp, int decodeTokens, int sharedTokens = 0)
    {
        public AgentId Id { get; } = id;

        /// <summary>The tokens of a shared prompt at the start of the agent's prompt; 0 without one.</summary>
        public int SharedTokens { get; } = sharedTokens;

        public byte FirstStamp { get; } = firstStamp;

        public byte Stamp { get; } = stamp;

        public int Remaining { get; set; } = decodeTokens;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Serving agents: {Workers} workers x {Batch} agents in flight on pool '{Pool}' ({Spec}, {Capacity} blocks) for {Seconds} s.")]
    private static partial void Started(ILogger logger, int workers, int batch, string pool, KvCacheSpec spec, int capacity, double seconds);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Done after {Seconds:F1} s: {Admitted} agents admitted, {Completed} completed, {Preempted} preempted; {PrefillTokens} prompt tokens written, {DecodedTokens} tokens decoded ({TokensPerSecond:F0}/s); {Waits} waits for blocks; peak {Peak}/{Capacity} blocks; {Allocated} still allocated.")]
    private static partial void Finished(ILogger logger, double seconds, long admitted, long completed, long preempted, long prefillTokens, long decodedTokens, double tokensPerSecond, long waits, int peak, int capacity, int allocated);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "The tier's offload did not finish within 30 s; its figures below are partial.")]
    private static partial void FlushTimedOut(ILogger logger);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Prefix cache: {CachedTokens} of {PromptTokens} prompt tokens were cached, {TierTokens} of them restored from the tier; {Evicted} chunks evicted. Tier: {Offloaded} chunks offloaded, {AlreadyStored} already there, {NotOffloaded} not offloaded, {Restored} restored, {Rejected} values rejected.")]
    private static partial void Cached(ILogger logger, long cachedTokens, long promptTokens, long tierTokens, long evicted, long offloaded, long alreadyStored, long notOffloaded, long restored, long rejected);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Agent {Agent} did not read back what it wrote.")]
    private static partial void Corrupt(ILogger logger, AgentId agent);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "The run broke an invariant: {Corrupt} agents read back other bytes, {Allocated} blocks still allocated after every agent was released.")]
    private static partial void Broken(ILogger logger, long corrupt, int allocated);

    [LoggerMessage(EventId = 6, Level = LogLevel.Critical, Message = "A worker failed.")]
    private static partial void Failed(ILogger logger, Exception exception);
}
