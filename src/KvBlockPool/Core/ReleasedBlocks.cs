namespace KvBlockPool.Core;

/// <summary>
/// The blocks one release detached, as (id, layer) pairs: either the handles a free named, or every list of an
/// owner record that is no longer registered (an agent released whole, a scope rolled back). Lets one body
/// scrub and publish both.
/// </summary>
internal readonly ref struct ReleasedBlocks
{
    private readonly ReadOnlySpan<KvBlock> _blocks;
    private readonly OwnerRecord? _record;

    public ReleasedBlocks(ReadOnlySpan<KvBlock> blocks) => _blocks = blocks;

    public ReleasedBlocks(OwnerRecord record) => _record = record;

    public Enumerator GetEnumerator() => new(_blocks, _record);

    /// <summary>Walks the handles, or the record's lists layer by layer.</summary>
    public ref struct Enumerator
    {
        private readonly ReadOnlySpan<KvBlock> _blocks;
        private readonly OwnerRecord? _record;
        private int _layer;
        private int _index;

        public Enumerator(ReadOnlySpan<KvBlock> blocks, OwnerRecord? record)
        {
            _blocks = blocks;
            _record = record;
            _index = -1;
        }

        public (int Id, int Layer) Current { get; private set; }

        public bool MoveNext()
        {
            _index++;
            if (_record is null)
            {
                if (_index >= _blocks.Length)
                {
                    return false;
                }

                KvBlock block = _blocks[_index];
                Current = (block.Id, block.Layer);
                return true;
            }

            while (_layer < _record.LayerCount)
            {
                ref BlockList list = ref _record.Layers[_layer];
                if (_index < list.Count)
                {
                    Current = (list.Items[_index], _layer);
                    return true;
                }

                _layer++;
                _index = 0;
            }

            return false;
        }
    }
}
