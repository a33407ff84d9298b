using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace KvBlockPool.Core;

/// <summary>Throws kept out of hot methods so they stay small enough to inline.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowPoolDisposed() =>
        throw new ObjectDisposedException(nameof(BlockPool), "The block pool has been disposed; its native memory is gone.");

    [DoesNotReturn]
    public static void ThrowLayerOutOfRange(int layer, int layers) =>
        throw new ArgumentOutOfRangeException(nameof(layer), layer, string.Create(CultureInfo.InvariantCulture, $"Layer must be between 0 and {layers - 1} (the spec has {layers} layers)."));

    [DoesNotReturn]
    public static void ThrowEmptyDestination(string parameter) =>
        throw new ArgumentException("The destination is empty: ask for at least one block.", parameter);

    [DoesNotReturn]
    public static void ThrowDestinationLength(string parameter, long wanted, int actual, int blocksPerLayer, int layers) =>
        throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"The destination holds {actual} handles; {blocksPerLayer} block(s) on each of {layers} layers needs exactly {wanted}."), parameter);

    [DoesNotReturn]
    public static void ThrowDestinationTooShort(string parameter, int needed, int actual) =>
        throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"The destination holds {actual} entries; {needed} are needed. Nothing was written."), parameter);

    [DoesNotReturn]
    public static void ThrowScopeEnded() =>
        throw new ObjectDisposedException(nameof(AllocationScope), "The allocation scope has already been committed or disposed.");
}
