namespace KvBlockPool.Persistence;

/// <summary>Writes a restore's payload into its freshly allocated blocks, in order, each copy checked by the pool.</summary>
internal sealed class BlockFiller(BlockPool pool, KvBlock[] blocks, int bytesPerBlock) : IPayloadSink
{
    private int _index;
    private int _offset;

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int n = Math.Min(bytesPerBlock - _offset, data.Length);
            pool.CopyToBlock(blocks[_index], _offset, data[..n]);
            data = data[n..];
            _offset += n;
            if (_offset == bytesPerBlock)
            {
                _offset = 0;
                _index++;
            }
        }
    }
}
