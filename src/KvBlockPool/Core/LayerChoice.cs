namespace KvBlockPool.Core;

/// <summary>
/// Which layers an allocation is for: one layer (any int the caller passed, validated under the gate), or every
/// layer. A flag rather than a sentinel layer number, because every int is a layer a caller can pass and must be
/// refused as out of range.
/// </summary>
internal readonly struct LayerChoice
{
    private LayerChoice(int layer, bool everyLayer)
    {
        Layer = layer;
        IsEveryLayer = everyLayer;
    }

    /// <summary>Every layer of the spec.</summary>
    public static LayerChoice Every => new(0, everyLayer: true);

    /// <summary>The layer, when <see cref="IsEveryLayer"/> is false.</summary>
    public int Layer { get; }

    public bool IsEveryLayer { get; }

    /// <summary>The one layer <paramref name="layer"/>.</summary>
    public static LayerChoice One(int layer) => new(layer, everyLayer: false);
}
