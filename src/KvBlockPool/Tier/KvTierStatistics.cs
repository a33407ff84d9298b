namespace KvBlockPool.Tier;

/// <summary>
/// What a pool's shared tier has done since the pool was built (see <see cref="BlockPool.GetTierStatistics"/>): the
/// chunks it wrote, found already there, or gave up on, and the chunks admissions restored or refused.
/// </summary>
/// <param name="Offloaded">Published chunks written to the store.</param>
/// <param name="AlreadyStored">Published chunks the store already held (another host, or an earlier run, wrote them), so not written again.</param>
/// <param name="NotOffloaded">Published chunks never written: the store failed or timed out, or the offload queue was full.</param>
/// <param name="Restored">Chunks admissions restored from the store into the pool.</param>
/// <param name="Rejected">Values the store returned that failed a check (another spec or key secret, truncated, corrupt): deleted and counted as misses.</param>
public readonly record struct KvTierStatistics(long Offloaded, long AlreadyStored, long NotOffloaded, long Restored, long Rejected);
