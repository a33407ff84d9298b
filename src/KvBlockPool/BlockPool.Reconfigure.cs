using System.Globalization;
using System.Text;
using KvBlockPool.Core;
using KvBlockPool.Scrubbing;

using KvBlockPool.Tier;

namespace KvBlockPool;

/// <content>Changing the spec of an idle pool.</content>
public sealed partial class BlockPool
{
    /// <summary>
    /// Switches the pool to <paramref name="spec"/>, only when nothing is allocated. The new slabs are allocated
    /// (and prepared) before the old ones are freed, so if anything fails the pool keeps working with its old
    /// spec. Every handle issued before becomes foreign. With a <see cref="BlockPoolOptions.CapacityBytes"/>
    /// budget the capacity is recomputed for the new block size; with <see cref="BlockPoolOptions.CapacityBlocks"/>
    /// the block count is kept.
    /// </summary>
    /// <param name="spec">The new spec.</param>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/> is null.</exception>
    /// <exception cref="ArgumentException">The pool's options do not fit the new spec (for example the byte budget holds no block).</exception>
    /// <exception cref="BlockPoolInUseException">Blocks are allocated, a scope is open or a lease is open; the message names the agents.</exception>
    /// <exception cref="NativeAllocationException">The new slabs could not be allocated; the old configuration is untouched.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <remarks>Other calls wait while the new slabs are prepared; reconfiguring is an administrative step for an idle pool.</remarks>
    public void Reconfigure(KvCacheSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        lock (_gate)
        {
            _guard.ThrowIfClosed();
            BlockTable old = _table;
            // Unreferenced cached chunks do not make a pool busy: they go with the old configuration.
            int inUse = old.Allocated - (old.Chunks?.EvictableBlocks ?? 0);
            if (inUse != 0 || _owners.OpenScopes != 0)
            {
                throw InUse(inUse);
            }

            if (_leases.Open != 0)
            {
                throw new BlockPoolInUseException(
                    string.Create(CultureInfo.InvariantCulture, $"Pool '{Name}' cannot be reconfigured while {_leases.Open} lease(s) are open: they read the current slabs. Dispose them first. Nothing changed."),
                    CountsByAgent());
            }

            BlockLayout layout = BlockLayout.Resolve(_options, spec, DiagnosticsEnabled, old.Slabs);
            BlockScrubber scrubber = _scrubber.ForCapacity(layout.Capacity);
            TierCodec? codec = Tier is null ? null : new TierCodec(spec); // may refuse the spec: before anything changes
            BlockTable table = CreateTable(spec, layout, scrubber);

            // Nothing below can fail. No owner is registered (nothing is allocated, no scope is open), so slot
            // numbering starts over and every slot fits the new owner-word shape.
            _owners.Reset();
            _scrubber = scrubber;
            Volatile.Write(ref _table, table);
            if (PrefixCache is not null)
            {
                // The old configuration's chunks went with it; keys now name the new spec.
                PrefixCache.Rebind(spec);
                _prefixEvents!.Cleared();
                Tier?.Rebind(codec!);
            }

            // The mark is per configuration: reset while nothing is allocated and before the new counts are
            // published, so a reader of the new counts never sees a mark below them.
            _counts.ResetHighWater();
            _counts.NativeBytes = layout.TotalBytes;
            PublishCounts(table);

            // A warm-up may be prefaulting the old slabs outside the gate (a data access; no other access can be in
            // flight, since nothing is allocated): it sees the new table at its next chunk and stops, and the old
            // slabs are freed only when its chunk in flight has ended.
            _guard.DrainAccesses();
            old.Dispose();
        }
    }

    private BlockPoolInUseException InUse(int allocated)
    {
        var message = new StringBuilder();
        message.Append(CultureInfo.InvariantCulture, $"Pool '{Name}' cannot be reconfigured while blocks are allocated: {allocated} block(s)");
        if (_owners.AgentCount > 0)
        {
            message.Append(" held by ");
            int shown = 0;
            foreach (KeyValuePair<AgentId, OwnerRecord> pair in _owners)
            {
                if (shown == 10)
                {
                    message.Append(CultureInfo.InvariantCulture, $", and {_owners.AgentCount - shown} more agents");
                    break;
                }

                message.Append(shown == 0 ? string.Empty : ", ").Append(CultureInfo.InvariantCulture, $"{pair.Key} ({pair.Value.BlockCount})");
                shown++;
            }
        }

        if (_owners.OpenScopes > 0)
        {
            message.Append(CultureInfo.InvariantCulture, $"; {_owners.OpenScopes} allocation scope(s) open");
        }

        if (_guard.ReleasesInFlight > 0)
        {
            message.Append(CultureInfo.InvariantCulture, $"; {_guard.ReleasesInFlight} free(s) still clearing blocks");
        }

        message.Append(". Free every agent (and end every scope) first. Nothing changed.");
        return new BlockPoolInUseException(message.ToString(), CountsByAgent());
    }
}
