namespace KvBlockPool.Persistence;

/// <summary>
/// Writes a restore's payload into its freshly allocated blocks, in order, each copy checked by the pool and
/// hashed in the same pass as it is copied.
/// </summary>
internal sealed unsafe class BlockFiller(BlockPool pool, KvBlock[] blocks, int bytesPerBlock) : IPayloadSink
{
    private readonly CopyingXxHash3 _hash = new();
    private int _index;
    private int _offset;

    public ulong LayerHash => _hash.GetCurrentHashAsUInt64();

    public void BeginLayer() => _hash.Reset();

    public void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            for (int done = 0; done < data.Length;)
            {
                int n = Math.Min(bytesPerBlock - _offset, data.Length - done);
                pool.FillBlock(blocks[_index], _offset, start + done, n, _hash);
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
}
