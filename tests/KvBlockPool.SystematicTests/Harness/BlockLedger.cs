namespace KvBlockPool.SystematicTests.Harness;

/// <summary>
/// Who holds which block, from the callers' side: a caller claims every block it is handed and releases it
/// before it frees it. A block claimed while someone else still holds it was handed out twice.
/// </summary>
internal sealed class BlockLedger
{
    private readonly object _gate = new();
    private readonly Dictionary<int, AgentId> _holders = [];

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _holders.Count;
            }
        }
    }

    public void Claim(AgentId holder, ReadOnlySpan<KvBlock> blocks)
    {
        lock (_gate)
        {
            foreach (KvBlock block in blocks)
            {
                bool taken = _holders.TryGetValue(block.Id, out AgentId previous);
                Check.That(!taken, $"Block {block.Id} was handed to {holder} while {previous} still held it: handed out twice.");
                _holders[block.Id] = holder;
            }
        }
    }

    public void Release(ReadOnlySpan<KvBlock> blocks)
    {
        lock (_gate)
        {
            foreach (KvBlock block in blocks)
            {
                Check.That(_holders.Remove(block.Id), $"Block {block.Id} was released by a caller that did not hold it.");
            }
        }
    }
}
