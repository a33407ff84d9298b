namespace KvBlockPool.Tests.Core;

/// <summary>
/// The base of a test suite that runs once per pool variant: each clear mode, with diagnostics off and on. A suite
/// derives from it and declares one nested sealed class per variant (as Microsoft.IO.RecyclableMemoryStream's
/// tests do), so xUnit runs every test of the suite under each; a failure names the variant in the class name.
/// </summary>
public abstract class PoolVariantTests(BlockClearMode clearMode, bool diagnostics)
{
    /// <summary>The byte diagnostics mode poisons a freed block with when it does not zero it.</summary>
    private const byte Poison = 0xDB;

    protected BlockClearMode ClearMode { get; } = clearMode;

    protected bool Diagnostics { get; } = diagnostics;

    /// <summary>A pool of this variant, from <see cref="TestPools.Create"/>.</summary>
    protected BlockPool CreatePool(int capacity = 16, int layers = 2) =>
        TestPools.Create(capacity: capacity, layers: layers, clearMode: ClearMode, diagnostics: Diagnostics);

    /// <summary>
    /// What a freed block that held <paramref name="written"/> holds when it is handed out again: zeros when the
    /// pool zeroes on free, the poison in diagnostics mode, and otherwise the bytes as they were left.
    /// </summary>
    protected byte BytesAfterFree(byte written) =>
        ClearMode == BlockClearMode.ZeroOnFree ? (byte)0 : Diagnostics ? Poison : written;
}
