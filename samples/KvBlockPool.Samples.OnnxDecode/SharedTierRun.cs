using System.Diagnostics;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using KvBlockPool.Garnet;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>What <see cref="SharedTierRun"/> found.</summary>
/// <param name="Where">The tier: the embedded server, or the external end point.</param>
/// <param name="PromptTokens">The prompt's length.</param>
/// <param name="TierTokens">Prompt tokens the second host restored from the tier instead of computing them.</param>
/// <param name="FirstPrefill">The first host's prefill: the model over the whole prompt, then the offload flushed.</param>
/// <param name="SecondPrefill">The second host's prefill: the restore from the tier, then the model over the rest.</param>
/// <param name="IdenticalLogits">Whether the second host's logits for the next token equal the first host's bit for bit.</param>
/// <param name="IdenticalTokens">Whether both hosts then decoded the same greedy tokens.</param>
public sealed record SharedTierResult(string Where, int PromptTokens, int TierTokens, TimeSpan FirstPrefill, TimeSpan SecondPrefill, bool IdenticalLogits, bool IdenticalTokens);

/// <summary>
/// Two hosts of the real model sharing a tier (<c>--tier</c>): the first computes a prompt's KV cache and its pool
/// offloads the chunks; the second, with a pool of its own on the same tier and key secret, restores them instead of
/// computing them, runs the model over the last token only, and must then produce the first host's logits and greedy
/// tokens exactly. With no end point the tier is a Garnet server started in this process, on the loopback address.
/// </summary>
public static class SharedTierRun
{
    /// <summary>Runs both hosts.</summary>
    /// <param name="model">The model.</param>
    /// <param name="endPoint">An external Garnet, Redis or Valkey server's <c>host:port</c>, or null for an embedded one.</param>
    /// <param name="steps">Greedy decode steps each host runs after its prefill.</param>
    /// <returns>What the second host restored, the two prefills' times, and whether the hosts agreed.</returns>
    public static async Task<SharedTierResult> RunAsync(DecoderModel model, string? endPoint, int steps)
    {
        ArgumentNullException.ThrowIfNull(model);
        int tokensPerBlock = model.Spec.TokensPerBlock;
        int length = Math.Min((8 * tokensPerBlock) + 1, model.ContextLength - steps); // whole chunks and one more token
        if (length < 2)
        {
            throw new SampleInputException($"The model's context ({model.ContextLength}) leaves no room for a prompt beside {steps} steps.");
        }

        var random = new Random(2718);
        int[] prompt = [.. Enumerable.Range(0, length).Select(_ => random.Next(model.VocabSize))];
        using EmbeddedGarnetServer? server = endPoint is null ? EmbeddedGarnetServer.Start() : null;
        var storeOptions = new RedisKvChunkStoreOptions { Name = "onnx-decode" };
        storeOptions.EndPoints.Add(server?.EndPoint ?? endPoint!);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(storeOptions).ConfigureAwait(false);
        byte[] secret = RandomNumberGenerator.GetBytes(32); // both hosts share it, as hosts sharing a tier must

        // The first host computes the prompt, and its offload puts the chunks in the tier; a second agent of the first
        // host then hits them locally. The second host restores them from the tier. Both then run the model over the
        // last token with the same past: the logits and tokens must be the same, bit for bit.
        using var first = new Host(model, store, secret, prompt.Length + steps);
        TimeSpan computed = await first.PrefillAsync(new AgentId(1), prompt).ConfigureAwait(false);
        first.Release(new AgentId(1));
        await first.PrefillAsync(new AgentId(2), prompt).ConfigureAwait(false);
        (float[] localLogits, int[] localTokens) = first.Continue(new AgentId(2), steps);

        using var second = new Host(model, store, secret, prompt.Length + steps);
        TimeSpan restored = await second.PrefillAsync(new AgentId(1), prompt).ConfigureAwait(false);
        int tierTokens = second.LastAdmission.TierTokens;
        (float[] tierLogits, int[] tierTokensGenerated) = second.Continue(new AgentId(1), steps);
        return new SharedTierResult(
            server is null ? $"external server {endPoint}" : $"embedded Garnet at {server.EndPoint}",
            length,
            tierTokens,
            computed,
            restored,
            localLogits.AsSpan().SequenceEqual(tierLogits), // float for float, NaN payloads included
            localTokens.AsSpan().SequenceEqual(tierTokensGenerated));
    }

    /// <summary>One host: a pool of its own on the shared tier, and a decoder over it.</summary>
    private sealed class Host : IDisposable
    {
        private readonly DecoderModel _model;
        private readonly BlockPool _pool;
        private readonly AgentCacheManager _cache;
        private readonly PooledDecoder _decoder;
        private ReadOnlyMemory<float> _logits;

        public Host(DecoderModel model, RedisKvChunkStore store, byte[] secret, int tokens)
        {
            _model = model;
            _pool = new BlockPool(new BlockPoolOptions
            {
                Spec = model.Spec,
                CapacityBlocks = 2 * model.Spec.BlocksForTokens(tokens) * model.Spec.Layers,
                PrefixCache = new KvPrefixCacheOptions { KeySecret = secret, Tier = new KvTierOptions { Store = store } },
            });
            _cache = new AgentCacheManager(_pool);
            _decoder = new PooledDecoder(model, _cache, tokens);
        }

        public KvPrefixAdmission LastAdmission { get; private set; }

        /// <summary>Admits <paramref name="agent"/> through the tier, runs the model over what is not cached, and flushes the offload; returns the time taken.</summary>
        public async Task<TimeSpan> PrefillAsync(AgentId agent, int[] prompt)
        {
            long started = Stopwatch.GetTimestamp();
            (_logits, KvPrefixAdmission admission) = await _decoder.PrefillCachedAsync(agent, prompt).ConfigureAwait(false);
            await _pool.FlushTierAsync().ConfigureAwait(false); // what this host computed is in the tier before it goes on
            LastAdmission = admission;
            return Stopwatch.GetElapsedTime(started);
        }

        /// <summary>The next token's logits of the last prefill, then <paramref name="steps"/> greedy tokens; releases the agent.</summary>
        public (float[] Logits, int[] Tokens) Continue(AgentId agent, int steps)
        {
            float[] next = _logits.Span[^_model.VocabSize..].ToArray();
            var generated = new int[steps];
            int token = TensorPrimitives.IndexOfMax(next);
            for (int step = 0; step < steps; step++)
            {
                generated[step] = token;
                token = TensorPrimitives.IndexOfMax(_decoder.Decode(agent, token));
            }

            Release(agent);
            return (next, generated);
        }

        public void Release(AgentId agent) => _cache.Release(agent);

        public void Dispose()
        {
            _decoder.Dispose();
            _cache.Dispose();
            _pool.Dispose();
        }
    }
}
