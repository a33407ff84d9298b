using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using KvBlockPool.Garnet;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Tier;

namespace KvBlockPool.Benchmarks.Tier;

/// <summary>
/// The lifecycle suite's workload (<c>LifecycleBenchmarks</c>: admit a 512-token prompt on a Llama-3-8B pool, 128
/// decode appends, release) with the prefix cache on: the admission is by the prompt's tokens and publishes its 32
/// chunks when the "prefill" is done, as a host does. <see cref="NoTier"/> is the baseline; <see cref="WriteThrough"/>
/// is the same on a pool whose cache writes every published chunk to a shared tier (an embedded Garnet) in the
/// background. The target: write-through slows admission and decode by at most 5%. Two more rows split that
/// cost with a store that has no server (<see cref="DiscardingChunkStore"/>): <see cref="WriteThroughHookOnly"/>, where
/// every chunk is found already stored (the events alone), and <see cref="WriteThroughDiscarded"/>, where every chunk is
/// copied out and encoded and the write discarded (the host's side of an offload).
/// </summary>
/// <remarks>
/// <para>
/// Every operation admits a prompt never seen before (its first token is a counter), so its 32 chunks are new to the
/// pool and to the tier and all 32 (64 MiB) are offloaded: written, not found already stored. That is far more than
/// the offload can write in the time the operation takes without a model (a host's prefill of 512 tokens takes
/// milliseconds on a GPU; here there is none), so the offload would fall behind, and a bounded queue would drop chunks
/// and measure nothing. Instead each iteration is a fixed <see cref="OperationsPerIteration"/> operations, and the
/// iteration cleanup (not timed) waits for the offload to finish (<see cref="BlockPool.FlushTierAsync"/>) and then
/// evicts every cached chunk (<see cref="KvPrefixCache.Reset"/>, in both rows, so each iteration starts from an empty
/// cache). The offload is therefore busy during every timed operation after the first of an iteration, which is the
/// worst case for the foreground, and every chunk reaches the tier: the global cleanup prints the tier's statistics
/// (Offloaded should equal 32 × the operations run, the setup's included; NotOffloaded 0).
/// </para>
/// <para>
/// The pool holds every chunk of an iteration (nothing is evicted before its offload's turn) and the agent's own
/// blocks. The release frees the agent's 8 decode blocks per layer; its 32 prompt blocks per layer stay cached until
/// the cleanup's eviction, so with <see cref="BlockClearMode.ZeroOnFree"/> an operation clears 16 MiB, not the 80 MiB
/// of the lifecycle suite.
/// </para>
/// </remarks>
[MemoryDiagnoser]
[BenchmarkCategory("Tier")]
[InvocationCount(OperationsPerIteration)]
[WarmupCount(10)]
[IterationCount(30)]
public class TierLifecycleBenchmarks
{
    /// <summary>Operations per iteration: the offload of an iteration's 8 × 32 chunks (512 MiB) is awaited after each.</summary>
    public const int OperationsPerIteration = 8;

    // Operations run in the setup before any timed one (see Setup).
    private const int WarmUpOperations = 96;

    private const int PromptTokens = 512;
    private const int DecodeTokens = 128;
    private static readonly AgentId Agent = new(1);

    private EmbeddedGarnetServer _server = null!;
    private RedisKvChunkStore _store = null!;
    private BlockPool _plainPool = null!;
    private BlockPool _tierPool = null!;
    private AgentCacheManager _plainManager = null!;
    private AgentCacheManager _tierManager = null!;
    private BlockPool _hookPool = null!;
    private BlockPool _encodePool = null!;
    private AgentCacheManager _hookManager = null!;
    private AgentCacheManager _encodeManager = null!;
    private int[] _prompt = [];
    private int _serial;
    private long _tierOperations;
    private long _warmUpChunks;
    private long _iterationStart;
    private long _offloadTicks; // from each iteration's first write-through operation to the end of its offload

    /// <summary>The pools' clear mode: <see cref="BlockClearMode.None"/> isolates the bookkeeping.</summary>
    [Params(BlockClearMode.None, BlockClearMode.ZeroOnFree)]
    public BlockClearMode ClearMode { get; set; }

    /// <summary>Starts Garnet and builds both pools, each with room for an iteration's chunks and one agent.</summary>
    [GlobalSetup]
    public void Setup()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        int perLayer = (OperationsPerIteration * spec.BlocksForTokens(PromptTokens)) + spec.BlocksForTokens(PromptTokens + DecodeTokens);
        _server = TierBenchmarkServer.Start();
        _store = TierBenchmarkServer.Connect(_server, "lifecycle");
        byte[] secret = TierBenchmarkServer.KeySecret();
        _plainPool = new BlockPool(new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = perLayer * spec.Layers,
            ClearMode = ClearMode,
            PrefixCache = new KvPrefixCacheOptions { KeySecret = secret },
        });
        _tierPool = new BlockPool(new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = perLayer * spec.Layers,
            ClearMode = ClearMode,
            PrefixCache = new KvPrefixCacheOptions { KeySecret = secret, Tier = new KvTierOptions { Store = _store } },
        });
        _hookPool = new BlockPool(new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = perLayer * spec.Layers,
            ClearMode = ClearMode,
            PrefixCache = new KvPrefixCacheOptions { KeySecret = secret, Tier = new KvTierOptions { Store = new DiscardingChunkStore(alreadyStored: true) } },
        });
        _encodePool = new BlockPool(new BlockPoolOptions
        {
            Spec = spec,
            CapacityBlocks = perLayer * spec.Layers,
            ClearMode = ClearMode,
            PrefixCache = new KvPrefixCacheOptions { KeySecret = secret, Tier = new KvTierOptions { Store = new DiscardingChunkStore(alreadyStored: false) } },
        });
        _plainManager = new AgentCacheManager(_plainPool);
        _tierManager = new AgentCacheManager(_tierPool);
        _hookManager = new AgentCacheManager(_hookPool);
        _encodeManager = new AgentCacheManager(_encodePool);
        _prompt = [.. Enumerable.Range(1, PromptTokens)];

        // Tiered compilation promotes a method once it has been called 30 times after 100 ms without new unoptimized
        // code, then compiles it in the background. A whole run of 8-operation iterations back to back can end inside
        // that window: a first version of this suite timed the no-tier row at tier-0 code (about 3x slower in bookkeeping
        // alone) while write-through's long offload drains between iterations gave the JIT its pause. The lifecycle's
        // methods are the same for both pools: the plain one runs them in rounds with pauses, so both rows start from
        // optimized code, and no tier write is made.
        for (int round = 0; round < 3; round++)
        {
            for (int i = 1; i <= WarmUpOperations; i++)
            {
                Lifecycle(_plainManager);
                if (i % OperationsPerIteration == 0)
                {
                    _plainPool.PrefixCache!.Reset();
                }
            }

            Thread.Sleep(250);
        }

        // The tier pool runs one iteration so its offload path is warm too.
        for (int i = 0; i < OperationsPerIteration; i++)
        {
            Lifecycle(_tierManager);
        }

        AfterIteration();
        _warmUpChunks = _tierPool.GetTierStatistics()!.Value.Offloaded;
    }

    /// <summary>Waits for the offload, then evicts every cached chunk of both pools (not timed).</summary>
    [IterationCleanup]
    public void AfterIteration()
    {
        _tierPool.FlushTierAsync().GetAwaiter().GetResult();
        if (_iterationStart != 0)
        {
            _offloadTicks += Stopwatch.GetTimestamp() - _iterationStart;
            _iterationStart = 0;
        }

        _tierPool.PrefixCache!.Reset();
        _plainPool.PrefixCache!.Reset();
        foreach (BlockPool pool in (BlockPool[])[_hookPool, _encodePool])
        {
            pool.FlushTierAsync().GetAwaiter().GetResult();
            pool.PrefixCache!.Reset();
        }
    }

    /// <summary>Prints what the offload did over the run, then disposes the managers, pools, store and server.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _tierPool.FlushTierAsync().GetAwaiter().GetResult();
        long chunks = _tierOperations * (PromptTokens / _tierPool.Spec.TokensPerBlock);
        Console.WriteLine($"// Tier statistics ({ClearMode}): {_tierPool.GetTierStatistics()}; chunks published: {_warmUpChunks} in the setup, {chunks} by the benchmark's operations");
        if (_offloadTicks > 0)
        {
            // What write-through sustains here: the iterations' chunks over the time from their first operation to the end of their offload.
            double seconds = (double)_offloadTicks / Stopwatch.Frequency;
            Console.WriteLine($"// Offload ({ClearMode}): {chunks} chunks in {seconds:F1} s of iterations and drains: {chunks / seconds:F0} chunks/s, {chunks * _tierPool.PrefixCache!.ChunkBytes / seconds / 1e6:F0} MB/s");
        }
        Console.WriteLine($"// Tier statistics ({ClearMode}), hook only: {_hookPool.GetTierStatistics()}; host-side encode: {_encodePool.GetTierStatistics()}");
        _plainManager.Dispose();
        _tierManager.Dispose();
        _hookManager.Dispose();
        _encodeManager.Dispose();
        _plainPool.Dispose();
        _tierPool.Dispose();
        _hookPool.Dispose();
        _encodePool.Dispose();
        _store.Dispose();
        _server.Dispose();
    }

    /// <summary>The baseline: the lifecycle with the prefix cache and no tier.</summary>
    /// <returns>Blocks released.</returns>
    [Benchmark(Baseline = true)]
    public int NoTier() => Lifecycle(_plainManager);

    /// <summary>The same with write-through to the tier: the offload of the iteration's chunks runs meanwhile.</summary>
    /// <returns>Blocks released.</returns>
    [Benchmark]
    public int WriteThrough()
    {
        if (_tierOperations++ % OperationsPerIteration == 0)
        {
            _iterationStart = Stopwatch.GetTimestamp();
        }

        return Lifecycle(_tierManager);
    }

    /// <summary>
    /// Write-through to a store that reports every chunk as already stored: the offload drains the cache's events and
    /// writes nothing. The hook's own cost.
    /// </summary>
    /// <returns>Blocks released.</returns>
    [Benchmark]
    public int WriteThroughHookOnly() => Lifecycle(_hookManager);

    /// <summary>
    /// Write-through to a store that accepts and discards every write: the offload copies each chunk out of the pool and
    /// encodes it (copy and checksums), as for Garnet, without the network and the server.
    /// </summary>
    /// <returns>Blocks released.</returns>
    [Benchmark]
    public int WriteThroughDiscarded() => Lifecycle(_encodeManager);

    private int Lifecycle(AgentCacheManager manager)
    {
        _prompt[0] = ++_serial; // a new prompt: its 32 chunks are new
        manager.Admit(Agent, _prompt);
        manager.PublishComputed(Agent, PromptTokens);
        for (int step = 0; step < DecodeTokens; step++)
        {
            manager.Append(Agent);
        }

        return manager.Release(Agent);
    }
}
