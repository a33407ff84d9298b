using System.Runtime.CompilerServices;

namespace KvBlockPool.Core;

/// <summary>
/// Which .NET element types may view a spec's elements: <see cref="byte"/> views any (raw bytes), <see cref="float"/>
/// <see cref="KvElementType.Float32"/>, <see cref="Half"/> <see cref="KvElementType.Float16"/>, <see cref="ushort"/>
/// either 16-bit type as raw bits (.NET 10 has no <c>BFloat16</c> type, so BFloat16 is read as its bits), and
/// <see cref="sbyte"/> <see cref="KvElementType.Int8"/>.
/// </summary>
/// <remarks>The checks compare <c>typeof(T)</c> with constants, which the JIT folds per instantiation: free on a hot path.</remarks>
internal static class ElementTypes
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Fits<T>(KvElementType type)
        where T : unmanaged
    {
        if (typeof(T) == typeof(byte))
        {
            return true;
        }

        if (typeof(T) == typeof(float))
        {
            return type == KvElementType.Float32;
        }

        if (typeof(T) == typeof(Half))
        {
            return type == KvElementType.Float16;
        }

        if (typeof(T) == typeof(ushort))
        {
            return type is KvElementType.Float16 or KvElementType.BFloat16;
        }

        return typeof(T) == typeof(sbyte) && type == KvElementType.Int8;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfMismatch<T>(KvElementType type)
        where T : unmanaged
    {
        if (!Fits<T>(type))
        {
            ThrowMismatch(typeof(T), type);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowMismatch(Type requested, KvElementType type) => throw new ElementTypeMismatchException(
        requested,
        type,
        $"The pool's elements are {type}; they cannot be viewed as {requested.Name}. Use {Suggest(type)}, or byte for raw bytes.");

    private static string Suggest(KvElementType type) => type switch
    {
        KvElementType.Float32 => "float",
        KvElementType.Float16 => "Half (or ushort for the raw bits)",
        KvElementType.BFloat16 => "ushort (the raw bits: .NET 10 has no BFloat16 type)",
        KvElementType.Int8 => "sbyte",
        _ => "byte",
    };
}
