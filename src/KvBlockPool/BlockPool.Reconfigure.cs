using System.Globalization;
using System.Text;
using KvBlockPool.Internal;

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
    /// <exception cref="BlockPoolInUseException">Blocks are allocated or a scope is open; the message names the agents.</exception>
    /// <exception cref="NativeAllocationException">The new slabs could not be allocated; the old configuration is untouched.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <remarks>Other calls wait while the new slabs are prepared; reconfiguring is an administrative step for an idle pool.</remarks>
    public void Reconfigure(KvCacheSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        lock (_gate)
        {
            ThrowIfDisposed();
            int allocated = _freeStack.Length - _freeCount;
            if (allocated != 0 || _openScopes != 0)
            {
                throw InUse(allocated);
            }

            BlockLayout layout = BlockLayout.Resolve(_options, spec, _diagnostics);
            NativeSlabs slabs = AllocateSlabs(layout);
            (uint[] generation, int[] owner, int[] freeStack) state;
            BlockDiagnostics? diag;
            try
            {
                state = CreateBlockState(layout.Capacity);
                diag = _diagnostics ? new BlockDiagnostics(layout.Capacity) : null;
            }
            catch
            {
                slabs.Dispose();
                throw;
            }

            // Nothing below can fail.
            NativeSlabs old = _slabs;
            _slabs = slabs;
            Volatile.Write(ref _spec, spec);
            _stamp = NextStamp();
            (_generation, _owner, _freeStack) = state;
            _freeCount = layout.Capacity;
            _diag = diag;
            (_layerBits, _ownerSlotLimit) = OwnerWordShape(spec.Layers);

            // No owner is registered (nothing is allocated, no scope is open), so slot numbering starts over and
            // every slot fits the new owner-word shape.
            Array.Clear(_records);
            _slotHigh = 0;
            _freeSlotCount = 0;
            _spareRecords.Clear();

            // The mark is per configuration. It is reset while nothing is allocated and before the new counts are
            // published, so a reader of the new counts never sees a mark below them.
            Volatile.Write(ref _highWater, 0);
            Interlocked.Exchange(ref _nativeBytes, layout.TotalBytes);
            PublishCounts();
            old.Dispose();
        }
    }

    private BlockPoolInUseException InUse(int allocated)
    {
        var message = new StringBuilder();
        message.Append(CultureInfo.InvariantCulture, $"Pool '{_name}' cannot be reconfigured while blocks are allocated: {allocated} block(s)");
        if (_agents.Count > 0)
        {
            message.Append(" held by ");
            int shown = 0;
            foreach (KeyValuePair<AgentId, OwnerRecord> pair in _agents)
            {
                if (shown == 10)
                {
                    message.Append(CultureInfo.InvariantCulture, $", and {_agents.Count - shown} more agents");
                    break;
                }

                message.Append(shown == 0 ? string.Empty : ", ").Append(CultureInfo.InvariantCulture, $"{pair.Key} ({pair.Value.BlockCount})");
                shown++;
            }
        }

        if (_openScopes > 0)
        {
            message.Append(CultureInfo.InvariantCulture, $"; {_openScopes} allocation scope(s) open");
        }

        if (_releasesInFlight > 0)
        {
            message.Append(CultureInfo.InvariantCulture, $"; {_releasesInFlight} free(s) still clearing blocks");
        }

        message.Append(". Free every agent (and end every scope) first. Nothing changed.");
        return new BlockPoolInUseException(message.ToString(), CountsByAgent());
    }
}
