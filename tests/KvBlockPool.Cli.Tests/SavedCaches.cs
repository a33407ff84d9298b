using KvBlockPool.Persistence;

namespace KvBlockPool.Cli.Tests;

/// <summary>Small saved agent caches to inspect: 3 layers of 256-byte blocks, filled with seeded bytes.</summary>
internal static class SavedCaches
{
    public static readonly KvCacheSpec Spec = new(layers: 3, kvHeads: 1, headDim: 64, tokensPerBlock: 1, KvElementType.Float16);

    /// <summary>Saves agent 5 with the given blocks per layer to <paramref name="path"/>.</summary>
    public static async Task SaveAsync(string path, params int[] blocksPerLayer)
    {
        using var pool = new BlockPool(new BlockPoolOptions { Spec = Spec, CapacityBlocks = 64 });
        var agent = new AgentId(5);
        var random = new Random(3);
        for (int layer = 0; layer < blocksPerLayer.Length; layer++)
        {
            foreach (KvBlock block in pool.Allocate(agent, layer, blocksPerLayer[layer]))
            {
                random.NextBytes(pool.GetBlockSpan(block));
            }
        }

        await using FileStream file = File.Create(path);
        await KvCacheWriter.SaveAsync(pool, agent, file);
    }
}
