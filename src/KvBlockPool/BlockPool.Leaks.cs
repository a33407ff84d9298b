using System.Diagnostics;
using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>What is still allocated when the pool is disposed.</content>
public sealed partial class BlockPool
{
    /// <summary>How many distinct allocation stacks a leak report keeps.</summary>
    private const int MaxLeakStacks = 16;

    private BlockLeakReport? BuildLeakReport()
    {
        int allocated = _freeStack.Length - _freeCount;
        if (allocated == 0)
        {
            return null;
        }

        var byAgent = new Dictionary<AgentId, int>();
        int scopeBlocks = 0;
        var stacks = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int slot = 0; slot < _slotHigh; slot++)
        {
            OwnerRecord? record = _records[slot];
            if (record is null)
            {
                continue;
            }

            if (record.IsScope)
            {
                scopeBlocks += record.BlockCount;
            }
            else
            {
                byAgent[record.Agent] = record.BlockCount;
            }

            if (_diag is not null)
            {
                CollectStacks(record, stacks);
            }
        }

        return new BlockLeakReport(_name, byAgent, scopeBlocks, _openScopes, stacks);
    }

    private void CollectStacks(OwnerRecord record, Dictionary<string, int> stacks)
    {
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            foreach (int id in record.Layers[layer].AsSpan())
            {
                StackTrace? allocatedAt = _diag!.AllocatedAt(id);
                string stack = allocatedAt is null ? "(allocation stack not recorded)" : CallerStack.Format(allocatedAt);
                if (stacks.TryGetValue(stack, out int seen))
                {
                    stacks[stack] = seen + 1;
                }
                else if (stacks.Count < MaxLeakStacks)
                {
                    stacks[stack] = 1;
                }
            }
        }
    }
}
