using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// The child process of <see cref="StoreCrashTests"/>: saves one agent's cache into a store over and over,
/// alternating between two known versions, until it is killed. It runs from the test assembly itself
/// (<c>dotnet KvBlockPool.Tests.dll kvcache-store-save-loop &lt;directory&gt; &lt;first version&gt;</c>), so a fresh clone
/// needs nothing beyond the build; see <see cref="TestAssemblyEntryPoint"/>.
/// </summary>
internal static class SaveLoopChild
{
    public const string Mode = "kvcache-store-save-loop";

    /// <summary>4 layers of 64 KiB blocks, 24 blocks per layer: a 6 MiB file, so a save (written, then flushed to the device) is long enough to be killed in.</summary>
    public static readonly KvCacheSpec Spec = new(layers: 4, kvHeads: 8, headDim: 128, tokensPerBlock: 16, KvElementType.Float16);

    public const int BlocksPerLayer = 24;

    public static readonly AgentId Agent = new(7);

    public static BlockPool NewPool() =>
        new(new BlockPoolOptions { Spec = Spec, CapacityBlocks = Spec.Layers * BlocksPerLayer, ClearMode = BlockClearMode.None, Alignment = 64 });

    /// <summary>The bytes of one version of the agent's cache, layer-major, block by block.</summary>
    public static byte[] Render(int version)
    {
        var bytes = new byte[Spec.Layers * BlocksPerLayer * Spec.BytesPerBlock];
        new Random(1_000 + version).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Gives the agent its blocks (the first time) and copies <paramref name="content"/> into them.</summary>
    public static void CopyIn(BlockPool pool, byte[] content)
    {
        if (pool.GetBlockCount(Agent) == 0)
        {
            pool.AllocateAllLayers(Agent, BlocksPerLayer);
        }

        AgentBlocks view = pool.GetAgentBlocks(Agent);
        int offset = 0;
        for (int layer = 0; layer < Spec.Layers; layer++)
        {
            foreach (KvBlock block in view.GetBlocks(layer))
            {
                content.AsSpan(offset, Spec.BytesPerBlock).CopyTo(pool.GetBlockSpan(block));
                offset += Spec.BytesPerBlock;
            }
        }
    }

    /// <summary>Saves version <paramref name="firstVersion"/>, then the other, then the first again, ..., printing "ready" first and "saved N" after each save.</summary>
    public static async Task<int> RunAsync(string directory, int firstVersion)
    {
        byte[][] versions = [Render(0), Render(1)];
        using BlockPool pool = NewPool();
        var store = new KvCacheStore(directory);
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        for (int save = 0; ; save++)
        {
            CopyIn(pool, versions[(firstVersion + save) % 2]);
            await store.SaveAsync(pool, Agent);
            Console.Out.WriteLine($"saved {save}");
            Console.Out.Flush();
        }
    }
}

/// <summary>
/// The test assembly's entry point (the project sets <c>GenerateProgramFile</c> to false). The test runner never
/// calls it; it runs only when a test starts the assembly as a child process.
/// </summary>
internal static class TestAssemblyEntryPoint
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 3 && args[0] == SaveLoopChild.Mode && int.TryParse(args[2], out int firstVersion))
        {
            return await SaveLoopChild.RunAsync(args[1], firstVersion);
        }

        await Console.Error.WriteLineAsync($"This is the KvBlockPool test assembly; run it with 'dotnet test'. The only direct use is '{SaveLoopChild.Mode} <directory> <first version>', started by StoreCrashTests.");
        return 2;
    }
}
