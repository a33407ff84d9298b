using System.Globalization;
using KvBlockPool.Core;

namespace KvBlockPool;

/// <content>
/// Access to a block's bytes, checked against the handle's generation: spans and pointers for the host, and
/// counted leases (<see cref="BlockAccess"/>) for copies outside the gate that <see cref="Dispose"/> waits for.
/// </content>
public sealed partial class BlockPool
{
    /// <summary>The whole block: the K half followed by the V half (<see cref="KvCacheSpec.BytesPerBlock"/> bytes).</summary>
    /// <param name="block">A live handle.</param>
    /// <returns>The block's native memory.</returns>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <remarks>The span is valid until the block is freed or the pool disposed; the pool cannot police it after that.</remarks>
    public unsafe Span<byte> GetBlockSpan(KvBlock block)
    {
        byte* address = Resolve(block, out int bytesPerBlock, out _);
        return new Span<byte>(address, bytesPerBlock);
    }

    /// <summary>The K half of the block (<see cref="KvCacheSpec.BytesPerHalf"/> bytes).</summary>
    /// <param name="block">A live handle.</param>
    /// <returns>The K tensor's native memory.</returns>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public unsafe Span<byte> GetKeySpan(KvBlock block)
    {
        byte* address = Resolve(block, out _, out int half);
        return new Span<byte>(address, half);
    }

    /// <summary>The V half of the block (<see cref="KvCacheSpec.BytesPerHalf"/> bytes).</summary>
    /// <param name="block">A live handle.</param>
    /// <returns>The V tensor's native memory.</returns>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public unsafe Span<byte> GetValueSpan(KvBlock block)
    {
        byte* address = Resolve(block, out _, out int half);
        return new Span<byte>(address + half, half);
    }

    /// <summary>The whole block (K half, then V half) as elements of <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">An element type that fits the spec: <see cref="float"/> for Float32, <see cref="Half"/> (or <see cref="ushort"/>) for Float16, <see cref="ushort"/> for BFloat16 (its raw bits: .NET 10 has no BFloat16 type), <see cref="sbyte"/> for Int8, <see cref="byte"/> for any.</typeparam>
    /// <param name="block">A live handle.</param>
    /// <returns>The block's native memory.</returns>
    /// <exception cref="ElementTypeMismatchException"><typeparamref name="T"/> does not fit the spec's element type.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <remarks>One trip through the gate per call: to read many blocks, take a <see cref="Lease(AgentId)"/>.</remarks>
    public unsafe Span<T> GetBlockSpan<T>(KvBlock block)
        where T : unmanaged
    {
        byte* address = Resolve<T>(block, out int bytesPerBlock, out _);
        return new Span<T>(address, bytesPerBlock / sizeof(T));
    }

    /// <summary>The K half of the block as elements of <typeparamref name="T"/>, laid out as <see cref="KvCacheSpec.Layout"/> says.</summary>
    /// <typeparam name="T">An element type that fits the spec (see <see cref="GetBlockSpan{T}"/>).</typeparam>
    /// <param name="block">A live handle.</param>
    /// <returns>The K tensor's native memory.</returns>
    /// <exception cref="ElementTypeMismatchException"><typeparamref name="T"/> does not fit the spec's element type.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public unsafe Span<T> GetKeySpan<T>(KvBlock block)
        where T : unmanaged
    {
        byte* address = Resolve<T>(block, out _, out int half);
        return new Span<T>(address, half / sizeof(T));
    }

    /// <summary>The V half of the block as elements of <typeparamref name="T"/>, laid out as <see cref="KvCacheSpec.Layout"/> says.</summary>
    /// <typeparam name="T">An element type that fits the spec (see <see cref="GetBlockSpan{T}"/>).</typeparam>
    /// <param name="block">A live handle.</param>
    /// <returns>The V tensor's native memory.</returns>
    /// <exception cref="ElementTypeMismatchException"><typeparamref name="T"/> does not fit the spec's element type.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public unsafe Span<T> GetValueSpan<T>(KvBlock block)
        where T : unmanaged
    {
        byte* address = Resolve<T>(block, out _, out int half);
        return new Span<T>(address + half, half / sizeof(T));
    }

    /// <summary>The block's first byte, for native kernels; aligned to the pool's alignment.</summary>
    /// <param name="block">A live handle.</param>
    /// <returns>A pointer to <see cref="KvCacheSpec.BytesPerBlock"/> bytes: K half, then V half.</returns>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public unsafe byte* GetPointer(KvBlock block) => Resolve(block, out _, out _);

    /// <summary>
    /// Leases <paramref name="length"/> bytes of a live block from <paramref name="offset"/> for one copy outside
    /// the gate; <see cref="Dispose"/> waits until the lease is disposed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the block.</exception>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="SharedBlockException">The block belongs to a cached prefix chunk (read-only); read it through a lease or a view.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe BlockAccess BeginDataAccess(KvBlock block, int offset, int length)
    {
        lock (_gate)
        {
            byte* address = ResolveUnderGate(block, write: false, out int bytesPerBlock, out _);
            if ((uint)offset > (uint)bytesPerBlock || (uint)length > (uint)(bytesPerBlock - offset))
            {
                throw new ArgumentOutOfRangeException(
                    nameof(offset),
                    string.Create(CultureInfo.InvariantCulture, $"Bytes {offset} to {(long)offset + length} are not inside a block of {bytesPerBlock} bytes."));
            }

            _guard.BeginAccess();
            return new BlockAccess(_guard, address + offset, length, blockCount: 1);
        }
    }

    /// <summary>
    /// Leases the longest prefix of <paramref name="blocks"/> that lies contiguous in memory and spans at most
    /// <paramref name="maxBytes"/> (at least one block), whole blocks, in one trip through the gate, so the run
    /// moves in one I/O call. Few large writes matter: measured on ext4, each extra write of a 512 MiB save cost
    /// tens of microseconds. <see cref="BlockAccess.BlockCount"/> says how many blocks the lease covers.
    /// </summary>
    /// <exception cref="InvalidBlockHandleException">A handle is foreign, stale or freed (the first one; a later bad one just ends the run).</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    internal unsafe BlockAccess BeginContiguousAccess(ReadOnlySpan<KvBlock> blocks, int maxBytes)
    {
        lock (_gate)
        {
            byte* start = ResolveUnderGate(blocks[0], write: false, out int bytesPerBlock, out _);
            int count = 1;
            while (count < blocks.Length && (long)(count + 1) * bytesPerBlock <= maxBytes)
            {
                // A bad handle later in the run is left for the next call, which reports it as the first.
                KvBlock next = blocks[count];
                if (CheckAccessible(next, _table) is not null || _table.Slabs.BlockAddress(next.Id) != start + ((long)count * bytesPerBlock))
                {
                    break;
                }

                count++;
            }

            _guard.BeginAccess();
            return new BlockAccess(_guard, start, count * bytesPerBlock, count);
        }
    }

    /// <summary>Validates a handle under the gate and returns its block's address.</summary>
    private unsafe byte* Resolve(KvBlock block, out int bytesPerBlock, out int bytesPerHalf)
    {
        lock (_gate)
        {
            return ResolveUnderGate(block, write: true, out bytesPerBlock, out bytesPerHalf);
        }
    }

    /// <summary>Validates a handle and the view's element type under the gate and returns the block's address.</summary>
    private unsafe byte* Resolve<T>(KvBlock block, out int bytesPerBlock, out int bytesPerHalf)
        where T : unmanaged
    {
        lock (_gate)
        {
            byte* address = ResolveUnderGate(block, write: true, out bytesPerBlock, out bytesPerHalf);
            ElementTypes.ThrowIfMismatch<T>(_table.Spec.ElementType);
            return address;
        }
    }

    /// <summary>Validates a handle under the gate and returns its block's address; <paramref name="write"/> refuses a shared (cached) block.</summary>
    private unsafe byte* ResolveUnderGate(KvBlock block, bool write, out int bytesPerBlock, out int bytesPerHalf)
    {
        _guard.ThrowIfClosed();
        BlockTable table = _table;
        InvalidBlockHandleException? refusal = CheckAccessible(block, table);
        if (refusal is not null)
        {
            throw refusal;
        }

        if (write && table.CacheSlot >= 0 && table.IsCached(block.Id))
        {
            throw new SharedBlockException(block, $"{block} belongs to a cached prefix chunk, shared read-only by every agent that references it: it cannot be written. Read it through a KvCacheLease or a view.");
        }

        bytesPerBlock = table.Spec.BytesPerBlock;
        bytesPerHalf = table.Spec.BytesPerHalf;
        return table.Slabs.BlockAddress(block.Id);
    }

    /// <summary>Why a handle cannot reach its block's memory, or null when it can (the one check of every data access). Caller holds the gate.</summary>
    private InvalidBlockHandleException? CheckAccessible(KvBlock block, BlockTable table)
    {
        if (!table.IsIssuedHere(block))
        {
            return HandleErrors.Foreign(block, Name, "Its memory cannot be accessed.");
        }

        uint current = table.GenerationOf(block.Id);
        int owner = table.OwnerOf(block.Id);
        if (current != block.Generation)
        {
            return current == block.Generation + 1 && owner is BlockTable.NoOwner or BlockTable.Releasing
                ? new StaleBlockHandleException(block, $"{block} was freed; its memory cannot be accessed through this handle.")
                : HandleErrors.Stale(block, current, "Its memory cannot be accessed.");
        }

        return owner < 0 || table.LayerOf(owner) != block.Layer
            ? HandleErrors.WrongLayer(block, owner, table, "Its memory cannot be accessed.")
            : null;
    }
}
