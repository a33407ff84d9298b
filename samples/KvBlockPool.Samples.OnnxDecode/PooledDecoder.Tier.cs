using KvBlockPool.Lifecycle;

namespace KvBlockPool.Samples.OnnxDecode;

/// <content>The prefill through the shared tier (kept out of the unsafe part: an async method cannot be in an unsafe context).</content>
public sealed partial class PooledDecoder
{
    /// <summary>
    /// Like <see cref="PrefillCached"/>, through <see cref="AgentCacheManager.AdmitAsync"/>: with a shared tier, the
    /// prompt's chunks another host computed are restored from it first, and only the rest is computed.
    /// </summary>
    /// <param name="agent">An agent the cache manager does not hold.</param>
    /// <param name="prompt">1 to the decoder's longest prompt of token ids.</param>
    /// <param name="cancellationToken">Cancels the wait for the tier.</param>
    /// <returns>The logits of the tokens computed, and the admission (cached tokens, and how many came from the tier).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The prompt is empty or longer than the decoder's longest prompt.</exception>
    public async Task<(ReadOnlyMemory<float> Logits, KvPrefixAdmission Admission)> PrefillCachedAsync(AgentId agent, int[] prompt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        CheckPrompt(prompt.Length);
        KvPrefixAdmission admission = await _cache.AdmitAsync(agent, prompt, cancellationToken: cancellationToken).ConfigureAwait(false);
        return (PrefillAfter(agent, prompt, admission.CachedTokens), admission);
    }

}
