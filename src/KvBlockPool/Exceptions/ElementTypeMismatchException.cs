namespace KvBlockPool;

/// <summary>
/// A typed view of block memory was asked for in a .NET type that does not match the spec's
/// <see cref="KvCacheSpec.ElementType"/> (for example <c>Span&lt;Half&gt;</c> over <see cref="KvElementType.Float32"/>
/// elements). Nothing changed; <see cref="byte"/> views any spec.
/// </summary>
public sealed class ElementTypeMismatchException : KvBlockPoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="requested">The .NET element type asked for.</param>
    /// <param name="elementType">The spec's element type.</param>
    /// <param name="message">What was refused and which type fits.</param>
    internal ElementTypeMismatchException(Type requested, KvElementType elementType, string message)
        : base(message)
    {
        Requested = requested;
        ElementType = elementType;
    }

    /// <summary>The .NET element type asked for.</summary>
    public Type Requested { get; }

    /// <summary>The spec's element type.</summary>
    public KvElementType ElementType { get; }
}
