
namespace KvBlockPool.Lifecycle;

/// <content>Releasing an agent: every block it holds goes back to the pool. Unknown ids are never skipped silently.</content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Releases <paramref name="agent"/>: frees every block the pool holds for it, on every layer, and forgets it.
    /// For an agent this manager does not know (never admitted, already released), logs an error and still frees
    /// whatever the pool holds for that id, so a host's bookkeeping slip can never leak a cache.
    /// </summary>
    /// <param name="agent">The agent.</param>
    /// <returns>Blocks freed (all layers); for an unknown agent, the blocks reclaimed for that id (usually 0).</returns>
    /// <exception cref="AgentPinnedException">A <see cref="KvCacheLease"/> (or a save) of the agent is open; nothing changed, the agent stays admitted.</exception>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found guard bytes overwritten; the release took effect.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public int Release(AgentId agent)
    {
        AgentCache? record;
        while ((record = TryEnter(agent)) is null)
        {
            if (TryReclaimUnknown(agent, out int reclaimed))
            {
                LifecycleLog.UnknownAgentReleased(_logger, agent, reclaimed);
                return reclaimed;
            }

            // An admission of this id reserved it since TryEnter looked: release it as a known agent once the
            // admission is done (TryEnter waits for it), or reclaim again if the admission failed.
        }

        int expected = record.BlocksPerLayer * record.LayerCount;
        int freed = -1;
        bool forgotten = false;
        try
        {
            try
            {
                freed = _pool.FreeAgent(agent);
            }
            catch (BlockCorruptionException)
            {
                // The pool released the blocks before it reported the overrun.
                Forget(record);
                forgotten = true;
                throw;
            }

            Forget(record);
            forgotten = true;
        }
        finally
        {
            Monitor.Exit(record);
            if (forgotten)
            {
                _records.Return(record);
            }
        }

        if (freed != expected)
        {
            LifecycleLog.ReleaseCountMismatch(_logger, agent, freed, expected);
        }

        return freed;
    }

    /// <summary>
    /// Frees what the pool holds for an id this manager does not know, unless an admission of that id has reserved
    /// it meanwhile. The check and the free are one step under the manager's gate: admissions reserve their id under
    /// the same gate before they allocate, so the blocks reclaimed here can never be those of an admission in flight
    /// (freeing them would leave that admission holding stale handles; the lifecycle Coyote scenario found it).
    /// The pool's free runs under the gate only on this rare path, for an id the host lost track of.
    /// </summary>
    private bool TryReclaimUnknown(AgentId agent, out int reclaimed)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_agents.ContainsKey(agent))
            {
                reclaimed = 0;
                return false;
            }

            reclaimed = _pool.FreeAgent(agent);
            return true;
        }
    }
}
