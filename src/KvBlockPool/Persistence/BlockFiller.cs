using KvBlockPool.Core;

namespace KvBlockPool.Persistence;

/// <summary>
/// Writes a restore's payload into its freshly allocated blocks, in order, each copy checked by the pool and
/// hashed in the same pass as it is copied. The pipe restore fills all layers from the first block on; a file
/// restore worker moves it to each layer's first block (<see cref="MoveTo"/>).
/// </summary>
internal sealed unsafe class BlockFiller(BlockPool pool, KvBlock[] blocks, int bytesPerBlock) : IPayloadSink
{
    private readonly CopyingXxHash3 _hash = new();
    private int _index;
    private int _offset;

    public ulong LayerHash => _hash.GetCurrentHashAsUInt64();

    public void BeginLayer() => _hash.Reset();

    /// <summary>Makes <paramref name="block"/> (an index into the restore's blocks) the next one filled, from its first byte.</summary>
    public void MoveTo(int block)
    {
        _index = block;
        _offset = 0;
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            Write(start, data.Length);
        }
    }

    public void Write(byte* data, int length)
    {
        for (int done = 0; done < length;)
        {
            int n = Math.Min(bytesPerBlock - _offset, length - done);
            using (BlockAccess access = pool.BeginDataAccess(blocks[_index], _offset, n))
            {
                _hash.CopyAndAppend(data + done, access.Pointer, n);
            }

            done += n;
            _offset += n;
            if (_offset == bytesPerBlock)
            {
                _offset = 0;
                _index++;
            }
        }
    }
}
