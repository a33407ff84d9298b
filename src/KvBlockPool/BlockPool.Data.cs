namespace KvBlockPool;

/// <content>Access to a block's bytes, checked against the handle's generation.</content>
public sealed partial class BlockPool
{
    /// <summary>The whole block: the K half followed by the V half (<see cref="KvCacheSpec.BytesPerBlock"/> bytes).</summary>
    /// <param name="block">A live handle.</param>
    /// <returns>The block's native memory.</returns>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
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
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public unsafe Span<byte> GetValueSpan(KvBlock block)
    {
        byte* address = Resolve(block, out _, out int half);
        return new Span<byte>(address + half, half);
    }

    /// <summary>The block's first byte, for native kernels; aligned to the pool's alignment.</summary>
    /// <param name="block">A live handle.</param>
    /// <returns>A pointer to <see cref="KvCacheSpec.BytesPerBlock"/> bytes: K half, then V half.</returns>
    /// <exception cref="InvalidBlockHandleException">The handle is foreign, stale or freed.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public unsafe byte* GetPointer(KvBlock block) => Resolve(block, out _, out _);

    private unsafe byte* Resolve(KvBlock block, out int bytesPerBlock, out int bytesPerHalf)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            if (!IsIssuedHere(block))
            {
                throw ForeignHandle(block, "Its memory cannot be accessed.");
            }

            uint current = _generation[block.Id];
            if (current != block.Generation)
            {
                throw current == block.Generation + 1 && _owner[block.Id] is NoOwner or Releasing
                    ? new StaleBlockHandleException(block, $"{block} was freed; its memory cannot be accessed through this handle.")
                    : StaleHandle(block, current, "Its memory cannot be accessed.");
            }

            int owner = _owner[block.Id];
            if (owner < 0 || LayerOf(owner) != block.Layer)
            {
                throw WrongLayer(block, owner, "Its memory cannot be accessed.");
            }

            bytesPerBlock = _spec.BytesPerBlock;
            bytesPerHalf = _spec.BytesPerHalf;
            return _slabs.BlockAddress(block.Id);
        }
    }
}
