namespace KvBlockPool;

/// <summary>The numeric type of one element of a cached key or value tensor.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "The members are the names of numeric formats.")]
public enum KvElementType
{
    /// <summary>IEEE 754 single precision, 4 bytes.</summary>
    Float32 = 0,

    /// <summary>IEEE 754 half precision, 2 bytes.</summary>
    Float16 = 1,

    /// <summary>Brain floating point, 2 bytes.</summary>
    BFloat16 = 2,

    /// <summary>8-bit floating point (E4M3 or E5M2; the pool only needs the size), 1 byte.</summary>
    Float8 = 3,

    /// <summary>8-bit integer quantization, 1 byte.</summary>
    Int8 = 4,
}
