using System.Diagnostics;
using System.Numerics.Tensors;
using KvBlockPool.Lifecycle;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>Sees the logits of every run: <paramref name="step"/> 0 is the prefill ([prompt, vocab]), then one per decode step ([vocab]).</summary>
/// <param name="agent">The agent's index, 0 to agents - 1.</param>
/// <param name="step">The run: 0 for the prefill, then 1, 2, ...</param>
/// <param name="logits">The logits, valid during the call only.</param>
public delegate void LogitsObserver(int agent, int step, ReadOnlySpan<float> logits);

/// <summary>What a multi-agent run does.</summary>
public sealed record DecodeRunOptions
{
    /// <summary>Agents decoding at once.</summary>
    public int Agents { get; init; } = 6;

    /// <summary>Threads; agent <c>i</c> runs on thread <c>i % Threads</c>, interleaved with that thread's other agents.</summary>
    public int Threads { get; init; } = 3;

    /// <summary>Decode steps (model runs after the prefill) per agent.</summary>
    public int Steps { get; init; } = 100;

    /// <summary>The shortest prompt; agent <c>i</c>'s has <c>PromptTokens + 3 * i</c> tokens.</summary>
    public int PromptTokens { get; init; } = 8;

    /// <summary>Seeds the prompts' token ids.</summary>
    public int Seed { get; init; } = 15;

    /// <summary>Agent <paramref name="agent"/>'s prompt: deterministic token ids below <paramref name="vocabSize"/>.</summary>
    /// <param name="agent">The agent's index.</param>
    /// <param name="vocabSize">The model's vocabulary.</param>
    /// <returns>The prompt.</returns>
    public int[] Prompt(int agent, int vocabSize)
    {
        var random = new Random(Seed + agent);
        var prompt = new int[PromptTokens + (3 * agent)];
        for (int i = 0; i < prompt.Length; i++)
        {
            prompt[i] = random.Next(vocabSize);
        }

        return prompt;
    }

    /// <summary>The longest prompt of the run.</summary>
    public int LongestPrompt => PromptTokens + (3 * (Agents - 1));
}

/// <summary>What a multi-agent run did.</summary>
/// <param name="Tokens">Each agent's sequence at the end: its prompt, then the tokens it generated.</param>
/// <param name="Timings">Every thread's timed decode steps, summed: all but each agent's first, a warm-up.</param>
/// <param name="PrefillTimings">Every thread's prefills, summed.</param>
/// <param name="Elapsed">Wall-clock time of the timed decode phase, from the end of the warm-up step to the last step.</param>
/// <param name="DecodeSteps">Timed decode steps, all agents: each agent's steps but the first.</param>
public sealed record DecodeRunResult(IReadOnlyList<int[]> Tokens, StepTimings Timings, StepTimings PrefillTimings, TimeSpan Elapsed, long DecodeSteps);

/// <summary>
/// Several agents with different prompts decoding greedily, interleaved, on several threads, each thread with its own
/// <see cref="PooledDecoder"/> over one shared model and one shared cache manager. Every agent is released when it is
/// done, and when anything fails every agent still admitted is released before the error is thrown.
/// </summary>
public static class MultiAgentDecode
{
    /// <summary>Runs the agents to the end.</summary>
    /// <param name="model">The model.</param>
    /// <param name="cache">The cache manager over a pool with the model's spec.</param>
    /// <param name="options">Agents, threads, steps and prompts.</param>
    /// <param name="observer">Sees every run's logits, on the run's thread.</param>
    /// <returns>Every agent's tokens and the timings.</returns>
    /// <exception cref="SampleInputException">A prompt is longer than the pool can hold, or the pool ran out of blocks for the agents.</exception>
    public static DecodeRunResult Run(DecoderModel model, AgentCacheManager cache, DecodeRunOptions options, LogitsObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(options);
        var prompts = new int[options.Agents][];
        var sequences = new List<int>[options.Agents];
        for (int agent = 0; agent < options.Agents; agent++)
        {
            prompts[agent] = options.Prompt(agent, model.VocabSize);
            sequences[agent] = [.. prompts[agent]];
        }

        int threads = Math.Min(options.Threads, options.Agents);
        var decoders = new PooledDecoder[threads];
        var workers = new Thread[threads];
        var errors = new Exception?[threads];
        var passedBarrier = new bool[threads];
        using var failed = new CancellationTokenSource();
        using var warmedUp = new Barrier(threads);
        long decodeStart = 0;
        try
        {
            for (int t = 0; t < threads; t++)
            {
                decoders[t] = new PooledDecoder(model, cache, options.LongestPrompt);
            }

            var prefillTimings = new StepTimings[threads];
            for (int t = 0; t < threads; t++)
            {
                int thread = t;
                workers[t] = new Thread(() =>
                {
                    try
                    {
                        RunThread(thread, decoders[thread], ref prefillTimings[thread]);
                    }
                    catch (Exception e)
                    {
                        errors[thread] = e;
                        failed.Cancel();
                        if (!passedBarrier[thread])
                        {
                            warmedUp.RemoveParticipant(); // so the others do not wait for this thread (they stop too)
                        }
                    }
                })
                { IsBackground = true, Name = $"decode {t}" };
                workers[t].Start();
            }

            foreach (Thread worker in workers)
            {
                worker.Join();
            }

            long decodeEnd = Stopwatch.GetTimestamp();
            ThrowFirst(errors, options);
            var timings = default(StepTimings);
            var prefills = default(StepTimings);
            for (int t = 0; t < threads; t++)
            {
                timings.Add(decoders[t].Timings);
                prefills.Add(prefillTimings[t]);
            }

            return new DecodeRunResult(
                [.. sequences.Select(s => s.ToArray())],
                timings,
                prefills,
                Stopwatch.GetElapsedTime(decodeStart, decodeEnd),
                (long)options.Agents * Math.Max(options.Steps - 1, 0));
        }
        finally
        {
            foreach (PooledDecoder? decoder in decoders)
            {
                decoder?.Dispose();
            }
        }

        // Each agent's first decode step is a warm-up (the JIT, the first touch of its blocks): the timed phase starts
        // after it, on every thread at once.
        void StartTimedPhase(int thread, PooledDecoder decoder)
        {
            decoder.ResetTimings();
            warmedUp.SignalAndWait(failed.Token);
            passedBarrier[thread] = true;
            Interlocked.CompareExchange(ref decodeStart, Stopwatch.GetTimestamp(), 0);
        }

        void RunThread(int thread, PooledDecoder decoder, ref StepTimings prefillTimings)
        {
            var mine = new List<int>();
            for (int agent = thread; agent < options.Agents; agent += threads)
            {
                mine.Add(agent);
            }

            var admitted = new List<int>();
            var next = new int[options.Agents];
            try
            {
                foreach (int agent in mine)
                {
                    failed.Token.ThrowIfCancellationRequested();
                    admitted.Add(agent);
                    ReadOnlySpan<float> logits = Prefill(decoder, cache, new AgentId(agent), prompts[agent]);
                    observer?.Invoke(agent, 0, logits);
                    next[agent] = ArgMaxOfLastRow(logits, model.VocabSize);
                }

                prefillTimings = decoder.Timings;
                decoder.ResetTimings();
                for (int step = 1; step <= options.Steps; step++)
                {
                    failed.Token.ThrowIfCancellationRequested();
                    if (step == 2)
                    {
                        StartTimedPhase(thread, decoder);
                    }

                    foreach (int agent in mine)
                    {
                        sequences[agent].Add(next[agent]);
                        ReadOnlySpan<float> logits = decoder.Decode(new AgentId(agent), next[agent]);
                        observer?.Invoke(agent, step, logits);
                        next[agent] = ArgMaxOfLastRow(logits, model.VocabSize);
                    }
                }

                if (options.Steps < 2)
                {
                    StartTimedPhase(thread, decoder); // nothing to time, but the other threads wait for this one
                }

                foreach (int agent in mine)
                {
                    sequences[agent].Add(next[agent]); // the last step's prediction, never fed back
                }
            }
            finally
            {
                foreach (int agent in admitted)
                {
                    if (cache.IsAdmitted(new AgentId(agent)))
                    {
                        cache.Release(new AgentId(agent));
                    }
                }
            }
        }
    }

    /// <summary>The greedy choice: the index of the largest logit of the last token.</summary>
    /// <param name="logits">[tokens, vocab] logits.</param>
    /// <param name="vocabSize">The vocabulary.</param>
    /// <returns>The next token.</returns>
    public static int ArgMaxOfLastRow(ReadOnlySpan<float> logits, int vocabSize) =>
        TensorPrimitives.IndexOfMax(logits[^vocabSize..]);

    private static ReadOnlySpan<float> Prefill(PooledDecoder decoder, AgentCacheManager cache, AgentId agent, int[] prompt)
    {
        try
        {
            return decoder.Prefill(agent, prompt);
        }
        catch (ArgumentOutOfRangeException e) when (!cache.IsAdmitted(agent))
        {
            // The manager refuses a prompt no pool of this capacity could ever hold, and says so.
            throw new SampleInputException($"Agent {agent.Value}'s prompt does not fit the pool: {e.Message}", e);
        }
    }

    private static void ThrowFirst(Exception?[] errors, DecodeRunOptions options)
    {
        // A thread that saw another fail stops with a cancellation: report the failure, not the cancellations.
        Exception? first = errors.FirstOrDefault(e => e is not null and not OperationCanceledException) ?? errors.FirstOrDefault(e => e is not null);
        switch (first)
        {
            case null:
                return;
            case BlockPoolExhaustedException exhausted:
                throw new SampleInputException(
                    $"The pool ran out of blocks: {exhausted.Message} {options.Agents} agents with prompts of {options.PromptTokens} to {options.LongestPrompt} tokens and {options.Steps} steps each need more; raise --capacity-blocks or run fewer agents or steps.",
                    exhausted);
            default:
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                return;
        }
    }
}
