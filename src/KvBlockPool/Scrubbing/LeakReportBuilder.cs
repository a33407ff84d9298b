using System.Diagnostics;
using KvBlockPool.Core;
using KvBlockPool.Observability;

namespace KvBlockPool.Scrubbing;

/// <summary>Builds the report of what a pool still had allocated when it was disposed. Runs under the gate.</summary>
internal static class LeakReportBuilder
{
    /// <summary>How many distinct allocation stacks a leak report keeps.</summary>
    private const int MaxLeakStacks = 16;

    /// <summary>The report, or null when nothing is allocated.</summary>
    public static BlockLeakReport? Build(string poolName, BlockTable table, OwnerTable owners, BlockScrubber scrubber)
    {
        // Nothing leaked when no agent holds blocks and nothing outside the cache is allocated: with a prefix cache,
        // unreferenced chunks are the cache's contents (and referenced ones are counted under the agents that list them).
        if (owners.AgentCount == 0 && table.Allocated - (table.Chunks?.CachedBlocks ?? 0) == 0)
        {
            return null;
        }

        var byAgent = new Dictionary<AgentId, int>();
        int scopeBlocks = 0;
        var stacks = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int slot = 0; slot < owners.SlotHigh; slot++)
        {
            OwnerRecord? record = owners.RecordAt(slot);
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

            if (scrubber.RecordsAllocationStacks)
            {
                CollectStacks(record, scrubber, stacks);
            }
        }

        return new BlockLeakReport(poolName, byAgent, scopeBlocks, owners.OpenScopes, stacks);
    }

    private static void CollectStacks(OwnerRecord record, BlockScrubber scrubber, Dictionary<string, int> stacks)
    {
        for (int layer = 0; layer < record.LayerCount; layer++)
        {
            foreach (int id in record.BlocksOn(layer))
            {
                StackTrace? allocatedAt = scrubber.AllocatedAt(id);
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
