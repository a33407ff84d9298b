using BenchmarkDotNet.Attributes;
using KvBlockPool.Samples.OnnxDecode;

namespace KvBlockPool.Benchmarks.Model;

/// <summary>
/// The sample's paged-attention decode kernel reading K and V in place from pool blocks (16 tokens each, a
/// Llama-3-8B layer's shape in float32: 8 KV heads x 128 dims; the agent's blocks interleaved with another agent's, so
/// no two are adjacent) against the same kernel over one contiguous [head, token, dim] copy, at 1k, 4k and 8k tokens
/// of context. <see cref="Paged"/> takes and ends a lease every call, as a decode step would. The copy is in managed
/// arrays (<see cref="Contiguous"/>, the baseline) and in the pool's own kind of memory: one block of a second pool
/// whose blocks hold every token (<see cref="ContiguousInPoolBlock"/>), so the pool's memory (mapped, advised for
/// huge pages) is compared with itself.
/// </summary>
public class PagedAttentionBenchmarks
{
    private const int KvHeads = 8;
    private const int HeadDim = 128;
    private static readonly AgentId Agent = new(1);

    private BlockPool _pool = null!;
    private BlockPool _wholePool = null!;
    private KvBlock _whole;
    private float[] _keys = [];
    private float[] _values = [];
    private float[] _query = [];
    private float[] _output = [];
    private float[] _scores = [];

    /// <summary>Tokens of context.</summary>
    [Params(1024, 4096, 8192)]
    public int Tokens { get; set; }

    /// <summary>Fills the agent's blocks and the contiguous copy with the same random K and V.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var spec = new KvCacheSpec(layers: 1, kvHeads: KvHeads, headDim: HeadDim, tokensPerBlock: 16, KvElementType.Float32);
        int blocks = spec.BlocksForTokens(Tokens);
        _pool = new BlockPool(new BlockPoolOptions { Spec = spec, CapacityBlocks = 2 * blocks });
        for (int block = 0; block < blocks; block++)
        {
            _pool.AllocateAllLayers(Agent, 1);
            _pool.AllocateAllLayers(new AgentId(2), 1);
        }

        var random = new Random(42);
        _keys = Random(random, KvHeads * Tokens * HeadDim);
        _values = Random(random, KvHeads * Tokens * HeadDim);
        using (KvCacheLease lease = _pool.Lease(Agent))
        {
            for (int head = 0; head < KvHeads; head++)
            {
                for (int token = 0; token < Tokens; token++)
                {
                    int at = ((head * Tokens) + token) * HeadDim;
                    _keys.AsSpan(at, HeadDim).CopyTo(lease.GetKeyVector<float>(0, token, head));
                    _values.AsSpan(at, HeadDim).CopyTo(lease.GetValueVector<float>(0, token, head));
                }
            }
        }

        // One block holding every token, head-major: exactly the [head, token, dim] layout of the arrays.
        _wholePool = new BlockPool(new BlockPoolOptions { Spec = new KvCacheSpec(1, KvHeads, HeadDim, Tokens, KvElementType.Float32), CapacityBlocks = 1 });
        _whole = _wholePool.Allocate(new AgentId(3), 0);
        _keys.AsSpan().CopyTo(_wholePool.GetKeySpan<float>(_whole));
        _values.AsSpan().CopyTo(_wholePool.GetValueSpan<float>(_whole));

        _query = Random(random, KvHeads * HeadDim);
        _output = new float[_query.Length];
        _scores = new float[KvHeads * Tokens];
    }

    /// <summary>Disposes the pools.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _wholePool.Dispose();
    }

    /// <summary>The kernel over one contiguous copy of K and V.</summary>
    /// <returns>An output element.</returns>
    [Benchmark(Baseline = true)]
    public float Contiguous()
    {
        PagedAttention.DecodeContiguous(_keys, _values, KvHeads, HeadDim, Tokens, _query, _output, _scores);
        return _output[0];
    }

    /// <summary>The kernel over one contiguous copy in a pool block (the pool's kind of memory).</summary>
    /// <returns>An output element.</returns>
    [Benchmark]
    public float ContiguousInPoolBlock()
    {
        PagedAttention.DecodeContiguous(_wholePool.GetKeySpan<float>(_whole), _wholePool.GetValueSpan<float>(_whole), KvHeads, HeadDim, Tokens, _query, _output, _scores);
        return _output[0];
    }

    /// <summary>The kernel over the agent's blocks, in place, through the block table and the addressing of a lease.</summary>
    /// <returns>An output element.</returns>
    [Benchmark]
    public float Paged()
    {
        using KvCacheLease lease = _pool.Lease(Agent);
        PagedAttention.Decode(lease, 0, Tokens, _query, _output, _scores);
        return _output[0];
    }

    private static float[] Random(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}
