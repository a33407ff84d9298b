using KvBlockPool.Lifecycle;
using BenchmarkDotNet.Attributes;

namespace KvBlockPool.Benchmarks.Lifecycle;

/// <summary>
/// Suite 5: one agent's whole life on a Llama-3-8B-shaped pool (32 layers, 16 tokens per block): admit a 512-token prompt
/// (32 blocks on every layer), decode 128 tokens one at a time (8 more blocks per layer, allocated when the last
/// block fills), release. <see cref="RawPool"/> does the same block work straight on <see cref="BlockPool"/>;
/// <see cref="AgentCacheManager"/> adds the lifecycle layer's bookkeeping, and both must allocate nothing on the
/// managed heap. <see cref="Mode"/> shows what freed-block handling costs: none, zeroing, or diagnostics
/// (poison on free, checked on reuse, guard bytes, allocation stacks).
/// </summary>
[MemoryDiagnoser]
public class LifecycleBenchmarks
{
    private const int PromptTokens = 512;
    private const int DecodeTokens = 128;

    private static readonly AgentId Agent = new(1);

    private BlockPool _pool = null!;
    private AgentCacheManager _manager = null!;
    private KvBlock[] _prompt = [];
    private KvBlock[] _step = [];
    private int _tokensPerBlock;

    /// <summary>How freed blocks are handled.</summary>
    public enum FreedBlocks
    {
        /// <summary>Left as they are (<see cref="BlockClearMode.None"/>).</summary>
        Kept,

        /// <summary>Zeroed outside the lock (<see cref="BlockClearMode.ZeroOnFree"/>, the default).</summary>
        Zeroed,

        /// <summary>Diagnostics mode: poisoned and checked, with guard bytes and allocation stacks.</summary>
        Diagnostics,
    }

    /// <summary>What happens to freed blocks; <see cref="FreedBlocks.Kept"/> isolates the bookkeeping.</summary>
    [Params(FreedBlocks.Kept, FreedBlocks.Zeroed, FreedBlocks.Diagnostics)]
    public FreedBlocks Mode { get; set; }

    /// <summary>Builds a pool that holds exactly one agent's 640 tokens (1,280 blocks of 64 KiB) and a manager over it.</summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        _tokensPerBlock = spec.TokensPerBlock;
        int perLayer = spec.BlocksForTokens(PromptTokens + DecodeTokens);
        _pool = new BlockPool(new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = perLayer * spec.Layers,
            ClearMode = Mode == FreedBlocks.Kept ? BlockClearMode.None : BlockClearMode.ZeroOnFree,
            Diagnostics = Mode == FreedBlocks.Diagnostics,
        });
        _manager = new AgentCacheManager(_pool);
        _prompt = new KvBlock[spec.BlocksForTokens(PromptTokens) * spec.Layers];
        _step = new KvBlock[spec.Layers];
    }

    /// <summary>Disposes the manager, then the pool.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _manager.Dispose();
        _pool.Dispose();
    }

    /// <summary>The block work alone: one all-layer allocation for the prompt, one per filled block while decoding, one release.</summary>
    /// <returns>Blocks released.</returns>
    [Benchmark(Baseline = true)]
    public int RawPool()
    {
        _pool.AllocateAllLayers(Agent, PromptTokens / _tokensPerBlock, _prompt);
        for (int tokens = PromptTokens; tokens < PromptTokens + DecodeTokens; tokens++)
        {
            if (tokens % _tokensPerBlock == 0)
            {
                _pool.AllocateAllLayers(Agent, 1, _step); // the last block is full: one more on every layer
            }
        }

        return _pool.FreeAgent(Agent);
    }

    /// <summary>The same through the lifecycle layer: admit, 128 appends of one token, release.</summary>
    /// <returns>Blocks released.</returns>
    [Benchmark]
    public int AgentCacheManager()
    {
        _manager.Admit(Agent, PromptTokens);
        for (int step = 0; step < DecodeTokens; step++)
        {
            _manager.Append(Agent);
        }

        return _manager.Release(Agent);
    }
}
