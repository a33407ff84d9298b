using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvBlockPool.Lifecycle;

/// <summary>
/// The lifecycle layer's bookkeeping for one agent: its token count and the handles of its blocks, the same
/// number on every layer, in token order, with their ids beside them (so a host copies a block table with one
/// memory copy per layer, not one field read per handle). Instances are pooled and keep their arrays, so admitting and
/// releasing agents of similar size allocates nothing once the arrays have grown. An instance is only touched
/// while its monitor is held.
/// </summary>
internal sealed class AgentCache
{
    private readonly KvBlock[][] _layers;
    private readonly int[][] _ids;

    public AgentCache(int layers)
    {
        _layers = new KvBlock[layers][];
        _ids = new int[layers][];
        for (int i = 0; i < layers; i++)
        {
            _layers[i] = [];
            _ids[i] = [];
        }
    }

    public AgentId Agent { get; set; }

    /// <summary>The agent's token ids and chunk keys, when it was admitted with its prompt's tokens.</summary>
    public PrefixTrack Prefix { get; } = new();

    /// <summary>Whether the record describes an admitted agent; false while an admission is in progress and after release.</summary>
    public bool IsAdmitted { get; set; }

    public int Tokens { get; set; }

    public int BlocksPerLayer { get; set; }

    public int LayerCount => _layers.Length;

    /// <summary>Handles for one call to the pool, laid out layer-major as the pool's all-layer methods expect.</summary>
    public KvBlock[] Scratch { get; private set; } = [];

    public ReadOnlySpan<KvBlock> Blocks(int layer) => _layers[layer].AsSpan(0, BlocksPerLayer);

    /// <summary>The ids of <see cref="Blocks"/>, in the same order.</summary>
    public ReadOnlySpan<int> Ids(int layer) => _ids[layer].AsSpan(0, BlocksPerLayer);

    /// <summary>
    /// Copies every layer's ids into <paramref name="destination"/>, layer-major; it holds at least
    /// <c>BlocksPerLayer * LayerCount</c> entries (checked by the caller). One raw copy per layer without re-slicing:
    /// the whole table is what a kernel asks for every step, and the per-layer span checks were a third of its cost.
    /// </summary>
    public void CopyIdsLayerMajor(Span<int> destination)
    {
        int perLayer = BlocksPerLayer;
        uint bytes = (uint)perLayer * sizeof(int);
        ref byte target = ref Unsafe.As<int, byte>(ref MemoryMarshal.GetReference(destination));
        foreach (int[] ids in _ids)
        {
            Unsafe.CopyBlockUnaligned(ref target, ref Unsafe.As<int, byte>(ref MemoryMarshal.GetArrayDataReference(ids)), bytes);
            target = ref Unsafe.Add(ref target, bytes);
        }
    }

    /// <summary>Makes sure every layer can hold <paramref name="blocksPerLayer"/> handles and the scratch <paramref name="scratch"/>; grows arrays only, never changes what the record describes.</summary>
    public void EnsureRoom(int blocksPerLayer, int scratch)
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            if (_layers[i].Length < blocksPerLayer)
            {
                int size = Math.Max(blocksPerLayer, Math.Max(8, _layers[i].Length * 2));
                Array.Resize(ref _ids[i], size); // the ids first: if the handles' array cannot grow, both are still usable
                Array.Resize(ref _layers[i], size);
            }
        }

        if (Scratch.Length < scratch)
        {
            Scratch = new KvBlock[Math.Max(scratch, Math.Max(64, Scratch.Length * 2))];
        }
    }

    /// <summary>Appends <paramref name="perLayer"/> handles per layer from a layer-major span (as the pool returns them).</summary>
    public void AppendLayerMajor(ReadOnlySpan<KvBlock> blocks, int perLayer)
    {
        for (int layer = 0; layer < _layers.Length; layer++)
        {
            ReadOnlySpan<KvBlock> added = blocks.Slice(layer * perLayer, perLayer);
            added.CopyTo(_layers[layer].AsSpan(BlocksPerLayer));
            Span<int> ids = _ids[layer].AsSpan(BlocksPerLayer, perLayer);
            for (int i = 0; i < ids.Length; i++)
            {
                ids[i] = added[i].Id;
            }
        }

        BlocksPerLayer += perLayer;
    }

    /// <summary>Copies the last <paramref name="perLayer"/> handles of every layer into <paramref name="destination"/>, layer-major.</summary>
    public void CopyTail(int perLayer, Span<KvBlock> destination)
    {
        int start = BlocksPerLayer - perLayer;
        for (int layer = 0; layer < _layers.Length; layer++)
        {
            _layers[layer].AsSpan(start, perLayer).CopyTo(destination.Slice(layer * perLayer, perLayer));
        }
    }

    /// <summary>Puts one handle per layer at <paramref name="index"/> (the agent's own copy of a shared chunk's blocks).</summary>
    public void ReplaceAt(int index, ReadOnlySpan<KvBlock> perLayer)
    {
        for (int layer = 0; layer < _layers.Length; layer++)
        {
            _layers[layer][index] = perLayer[layer];
            _ids[layer][index] = perLayer[layer].Id;
        }
    }

    /// <summary>Forgets the last <paramref name="perLayer"/> handles of every layer (their blocks were freed).</summary>
    public void DropLast(int perLayer)
    {
        int keep = BlocksPerLayer - perLayer;
        for (int layer = 0; layer < _layers.Length; layer++)
        {
            _layers[layer].AsSpan(keep, perLayer).Clear();
        }

        BlocksPerLayer = keep;
    }

    /// <summary>
    /// A canonical text of the record for "nothing changed" assertions in tests: what it describes and the sizes of
    /// its arrays, so a refused call is seen to have grown nothing either.
    /// </summary>
    public string Describe()
    {
        var text = new System.Text.StringBuilder();
        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{Agent} admitted={IsAdmitted} tokens={Tokens} perLayer={BlocksPerLayer} scratch={Scratch.Length}");
        for (int layer = 0; layer < _layers.Length; layer++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $" L{layer}[{_layers[layer].Length}/{_ids[layer].Length}]:").AppendJoin(',', Blocks(layer).ToArray()).Append('=').AppendJoin(',', Ids(layer).ToArray());
        }

        return text.ToString();
    }

    /// <summary>Clears the record for reuse, keeping its arrays.</summary>
    public void Reset()
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            _layers[i].AsSpan(0, BlocksPerLayer).Clear();
        }

        Agent = default;
        Prefix.Reset();
        IsAdmitted = false;
        Tokens = 0;
        BlocksPerLayer = 0;
    }
}
