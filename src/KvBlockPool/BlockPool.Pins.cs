using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>
/// Pins and guarded data access, for readers that copy block memory outside the gate (saving an agent's cache).
/// </content>
/// <remarks>
/// <para>
/// A pin makes <c>Free</c> and <c>FreeAgent</c> of the agent <em>refuse</em> (with <see cref="AgentPinnedException"/>,
/// nothing changed) rather than wait: a waiting free could deadlock a host that saves and releases on the same
/// thread, and a refusal is easy to retry. Allocating more blocks for a pinned agent is allowed; the pin's
/// snapshot does not include them.
/// </para>
/// <para>
/// <see cref="Dispose"/> never waits for a pin (a save may be stalled on slow I/O), only for the copies in
/// flight: every copy between native memory and a caller's buffer is a short data access counted under the gate,
/// and <c>Dispose</c> waits for that count to reach zero before it frees the slabs. The next copy after
/// <c>Dispose</c> throws <see cref="ObjectDisposedException"/>.
/// </para>
/// </remarks>
public sealed partial class BlockPool
{
    private readonly Dictionary<AgentId, int> _pins = [];
    private int _dataAccessesInFlight;

    /// <summary>Pins <paramref name="agent"/> and snapshots its block handles (every layer, logical order).</summary>
    /// <exception cref="ArgumentException">The pool holds no blocks for <paramref name="agent"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal AgentPin Pin(AgentId agent)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            if (!_agents.TryGetValue(agent, out OwnerRecord? record))
            {
                throw new ArgumentException($"Pool '{_name}' holds no blocks for {agent}; there is nothing to pin.", nameof(agent));
            }

            int layers = record.LayerCount;
            var blocks = new KvBlock[record.BlockCount];
            var starts = new int[layers + 1];
            int at = 0;
            for (int layer = 0; layer < layers; layer++)
            {
                starts[layer] = at;
                foreach (int id in record.Layers[layer].AsSpan())
                {
                    blocks[at++] = new KvBlock(id, layer, _generation[id], _stamp);
                }
            }

            starts[layers] = at;
            CollectionsMarshal.GetValueRefOrAddDefault(_pins, agent, out _)++;
            return new AgentPin(this, agent, blocks, starts);
        }
    }

    /// <summary>Pins held on <paramref name="agent"/> (0 when none); for tests and systematic tests.</summary>
    internal int GetPinCount(AgentId agent)
    {
        lock (_gate)
        {
            return _pins.GetValueOrDefault(agent);
        }
    }

    /// <summary>Copies between a block and a caller's buffer that are running outside the gate; for tests.</summary>
    internal int DataAccessesInFlight
    {
        get
        {
            lock (_gate)
            {
                return _dataAccessesInFlight;
            }
        }
    }

    /// <summary>
    /// Checks the pin invariants under the gate (for tests and systematic tests): every pinned agent is registered
    /// (a pin keeps its agent's blocks from being freed), every pin count is positive, and no data access is in
    /// flight once the pool is disposed. Returns null when they hold.
    /// </summary>
    internal string? FindPinViolation()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return _dataAccessesInFlight == 0 ? null : $"{_dataAccessesInFlight} data access(es) in flight after dispose";
            }

            foreach (KeyValuePair<AgentId, int> pin in _pins)
            {
                if (pin.Value <= 0)
                {
                    return $"{pin.Key} has pin count {pin.Value}";
                }

                if (!_agents.ContainsKey(pin.Key))
                {
                    return $"{pin.Key} is pinned but holds no blocks: its blocks were freed under a pin";
                }
            }

            return _dataAccessesInFlight < 0 ? $"data accesses in flight is {_dataAccessesInFlight}" : null;
        }
    }

    internal void Unpin(AgentId agent)
    {
        lock (_gate)
        {
            ref int pins = ref CollectionsMarshal.GetValueRefOrNullRef(_pins, agent);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref pins))
            {
                return;
            }

            if (--pins == 0)
            {
                _pins.Remove(agent);
            }
        }
    }

    /// <summary>Copies bytes of a live block into <paramref name="destination"/>; Dispose waits for the copy.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the block.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe void CopyFromBlock(KvBlock block, int offset, Span<byte> destination)
    {
        byte* address = BeginDataAccess(block, offset, destination.Length);
        try
        {
            new ReadOnlySpan<byte>(address + offset, destination.Length).CopyTo(destination);
        }
        finally
        {
            EndDataAccess();
        }
    }

    /// <summary>
    /// Hashes <paramref name="length"/> bytes of a live block and writes them to <paramref name="destination"/>
    /// straight from native memory (no intermediate copy). Dispose waits for the write, so callers pass only
    /// streams whose writes cannot stall (regular files, memory).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the block.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe void WriteBlockTo(KvBlock block, int offset, int length, Persistence.PageAlignedWriter destination, XxHash3 hash)
    {
        byte* address = BeginDataAccess(block, offset, length);
        try
        {
            var bytes = new ReadOnlySpan<byte>(address + offset, length);
            hash.Append(bytes); // first, so the write copies from cache rather than from memory
            destination.Write(bytes);
        }
        finally
        {
            EndDataAccess();
        }
    }

    /// <summary>
    /// Begins a data access on each block of the longest prefix of <paramref name="blocks"/> that lies contiguous in
    /// memory and fits in <paramref name="maxBytes"/> (at least one block), so the run moves in one I/O call. The
    /// caller ends <paramref name="taken"/> accesses (<see cref="EndDataAccesses"/>) after using the <paramref name="length"/> bytes at the returned address; if a block is refused, the
    /// accesses already begun are ended here, so <see cref="Dispose"/> never waits for a count that cannot fall.
    /// </summary>
    private unsafe byte* BeginContiguousRun(ReadOnlySpan<KvBlock> blocks, int maxBytes, out int taken, out int length)
    {
        int bytesPerBlock = _spec.BytesPerBlock;
        byte* start = BeginDataAccess(blocks[0], 0, bytesPerBlock);
        int count = 1;
        try
        {
            while (count < blocks.Length && (long)(count + 1) * bytesPerBlock <= maxBytes)
            {
                byte* next = BeginDataAccess(blocks[count], 0, bytesPerBlock);
                if (next != start + ((long)count * bytesPerBlock))
                {
                    EndDataAccess();
                    break;
                }

                count++;
            }
        }
        catch
        {
            EndDataAccesses(count);
            throw;
        }

        taken = count;
        length = count * bytesPerBlock;
        return start;
    }

    private void EndDataAccesses(int count)
    {
        for (int i = 0; i < count; i++)
        {
            EndDataAccess();
        }
    }

    /// <summary>
    /// Hashes and writes the longest prefix of <paramref name="blocks"/> that lies contiguous in native memory and
    /// spans at most <paramref name="maxBytes"/> (at least one block, which must fit), as one write; returns how
    /// many blocks it took. Few large writes matter: measured on ext4, each extra write of a 512 MiB save cost tens
    /// of microseconds. Every block of the run is a data access until the write returns.
    /// </summary>
    /// <exception cref="InvalidBlockHandleException">A handle is foreign, stale or freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe int WriteRunTo(ReadOnlySpan<KvBlock> blocks, int maxBytes, Persistence.PageAlignedWriter destination, XxHash3 hash)
    {
        byte* start = BeginContiguousRun(blocks, maxBytes, out int taken, out int length);
        try
        {
            var bytes = new ReadOnlySpan<byte>(start, length);
            hash.Append(bytes);
            destination.Write(bytes);
            return taken;
        }
        finally
        {
            EndDataAccesses(taken);
        }
    }

    /// <summary>
    /// Reads into the longest prefix of <paramref name="blocks"/> that lies contiguous in native memory and spans at
    /// most <paramref name="maxBytes"/> (at least one block, which must fit) with one read, and hashes what arrived.
    /// Returns how many blocks it took; <paramref name="read"/> is short of their size only at the end of the source.
    /// </summary>
    /// <exception cref="InvalidBlockHandleException">A handle is foreign, stale or freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe int ReadRunFrom(ReadOnlySpan<KvBlock> blocks, int maxBytes, Stream source, XxHash3 hash, out int read)
    {
        byte* start = BeginContiguousRun(blocks, maxBytes, out int taken, out int length);
        try
        {
            var bytes = new Span<byte>(start, length);
            read = source.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            hash.Append(bytes[..read]);
            return taken;
        }
        finally
        {
            EndDataAccesses(taken);
        }
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes from <paramref name="source"/> into a live block at
    /// <paramref name="offset"/> and hashes them in the same pass; Dispose waits for the copy (never for I/O: the
    /// caller reads into its own buffer first).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the block.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe void FillBlock(KvBlock block, int offset, byte* source, int length, Persistence.CopyingXxHash3 hash)
    {
        byte* address = BeginDataAccess(block, offset, length);
        try
        {
            hash.CopyAndAppend(source, address + offset, length);
        }
        finally
        {
            EndDataAccess();
        }
    }

    /// <summary>
    /// Reads up to <paramref name="length"/> bytes from <paramref name="source"/> straight into a live block,
    /// hashes what arrived and returns its count (less than <paramref name="length"/> only at the end of the
    /// source). Dispose waits for the read, so callers pass only streams whose reads cannot stall.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the block.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe int ReadBlockFrom(KvBlock block, int offset, int length, Stream source, XxHash3 hash)
    {
        byte* address = BeginDataAccess(block, offset, length);
        try
        {
            var bytes = new Span<byte>(address + offset, length);
            int read = source.ReadAtLeast(bytes, length, throwOnEndOfStream: false);
            hash.Append(bytes[..read]); // while the bytes are still in cache
            return read;
        }
        finally
        {
            EndDataAccess();
        }
    }

    /// <summary>
    /// Commits <paramref name="scope"/> only if its agent holds nothing, in one step under the gate, so a restore
    /// can never merge into blocks another thread gave the same agent meanwhile.
    /// </summary>
    /// <exception cref="ArgumentException">The agent holds blocks now; the scope stays open (dispose it to roll back).</exception>
    internal void CommitIntoAbsentAgent(AllocationScope scope)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            if (_agents.TryGetValue(scope.Agent, out OwnerRecord? existing))
            {
                throw AgentHoldsBlocks(scope.Agent, existing.BlockCount);
            }

            scope.Commit(); // re-enters the gate; Monitor is reentrant
        }
    }

    internal ArgumentException AgentHoldsBlocks(AgentId agent, int blocks) => new(
        string.Create(CultureInfo.InvariantCulture, $"{agent} already holds {blocks} block(s) in pool '{_name}'; a cache is restored only into an agent that holds nothing. Free the agent first, or restore under another agent id. Nothing changed."),
        nameof(agent));

    /// <summary>Refuses a free of a pinned agent. Caller holds the gate.</summary>
    private void ThrowIfPinned(AgentId agent)
    {
        if (_pins.Count != 0 && _pins.TryGetValue(agent, out int pins))
        {
            throw new AgentPinnedException(
                agent,
                pins,
                string.Create(CultureInfo.InvariantCulture, $"{agent} is pinned by {pins} save(s) in progress, so its blocks cannot be freed now: a freed block could be reused while the save reads it. Nothing was freed. Retry when the save has finished."));
        }
    }

    /// <summary>Validates the range and counts a data access that <see cref="Dispose"/> waits for; pair with <see cref="EndDataAccess"/>.</summary>
    internal unsafe byte* BeginDataAccess(KvBlock block, int offset, int length)
    {
        lock (_gate)
        {
            byte* address = Resolve(block, out int bytesPerBlock, out _);
            if ((uint)offset > (uint)bytesPerBlock || (uint)length > (uint)(bytesPerBlock - offset))
            {
                throw new ArgumentOutOfRangeException(
                    nameof(offset),
                    string.Create(CultureInfo.InvariantCulture, $"Bytes {offset} to {(long)offset + length} are not inside a block of {bytesPerBlock} bytes."));
            }

            _dataAccessesInFlight++;
            return address;
        }
    }

    internal void EndDataAccess()
    {
        lock (_gate)
        {
            _dataAccessesInFlight--;
            if (_disposed)
            {
                Monitor.PulseAll(_gate);
            }
        }
    }
}
