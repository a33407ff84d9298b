namespace KvBlockPool.Core;

/// <summary>
/// The bookkeeping of one block owner: an agent, or an open allocation scope that has not committed yet.
/// Records are recycled (their block lists keep their arrays) so that steady-state admission and release
/// allocate nothing on the managed heap. <see cref="Token"/> changes on every recycle so that a stale
/// <see cref="AllocationScope"/> can never act on a record that now belongs to someone else.
/// </summary>
internal sealed class OwnerRecord
{
    public OwnerRecord(int layers)
    {
        Layers = new BlockList[layers];
        for (int i = 0; i < layers; i++)
        {
            Layers[i] = new BlockList();
        }

        LayerMarks = new int[layers];
    }

    public AgentId Agent { get; set; }

    /// <summary>This record's index in the pool's owner table; what <c>_owner[block]</c> holds. -1 when not registered.</summary>
    public int Slot { get; set; } = -1;

    public bool IsScope { get; set; }

    private int _token;

    /// <summary>Changes on every recycle; written under the pool's gate, read without it only by <see cref="HasMovedOnFrom"/>.</summary>
    public int Token => _token;

    public int BlockCount { get; set; }

    /// <summary>Block ids per layer, in logical order.</summary>
    public BlockList[] Layers { get; }

    /// <summary>Per layer, the last free operation that compacted this layer's list (so each list is compacted once per free).</summary>
    public int[] LayerMarks { get; }

    public int LayerCount => Layers.Length;

    /// <summary>
    /// Whether the record was recycled since <paramref name="token"/> was its token, read without the gate: tokens
    /// only move on, so <see langword="true"/> is final (whoever held that token has ended), while
    /// <see langword="false"/> must be confirmed under the gate.
    /// </summary>
    public bool HasMovedOnFrom(int token) => Volatile.Read(ref _token) != token;

    /// <summary>Clears the record for reuse, keeping its arrays; advances <see cref="Token"/>.</summary>
    public void Reset()
    {
        for (int i = 0; i < Layers.Length; i++)
        {
            Layers[i].Count = 0;
        }

        Array.Clear(LayerMarks);
        BlockCount = 0;
        IsScope = false;
        Slot = -1;
        Agent = default;
        Volatile.Write(ref _token, _token + 1);
    }
}
