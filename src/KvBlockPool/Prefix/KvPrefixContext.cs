namespace KvBlockPool.Prefix;

/// <summary>
/// What, besides the tokens, decides whether two prompts may share cached chunks: the tenant's salt and the model
/// adapter. Both go into the root of every chain of chunk keys, so agents with different contexts never hit each
/// other's chunks (and cannot time each other's hits: the side channel of CVE-2025-46570).
/// </summary>
public readonly struct KvPrefixContext : IEquatable<KvPrefixContext>
{
    /// <summary>The longest salt or adapter id accepted, in UTF-16 characters.</summary>
    public const int MaxLength = 1024;

    /// <summary>Creates a context.</summary>
    /// <param name="salt">The tenant or namespace salt; null or empty: none.</param>
    /// <param name="adapter">The adapter (LoRA) id; null or empty: none.</param>
    /// <exception cref="ArgumentException">A value is longer than <see cref="MaxLength"/> characters.</exception>
    public KvPrefixContext(string? salt, string? adapter = null)
    {
        ThrowIfTooLong(salt, nameof(salt));
        ThrowIfTooLong(adapter, nameof(adapter));
        Salt = string.IsNullOrEmpty(salt) ? null : salt;
        Adapter = string.IsNullOrEmpty(adapter) ? null : adapter;
    }

    /// <summary>No salt, no adapter: chunks shared by every agent of the pool that uses no context.</summary>
    public static KvPrefixContext None => default;

    /// <summary>The tenant or namespace salt, or null.</summary>
    public string? Salt { get; }

    /// <summary>The adapter id, or null.</summary>
    public string? Adapter { get; }

    /// <inheritdoc/>
    public bool Equals(KvPrefixContext other) => string.Equals(Salt, other.Salt, StringComparison.Ordinal) && string.Equals(Adapter, other.Adapter, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is KvPrefixContext other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Salt, Adapter);

    /// <summary>Describes the context without its values (a salt can be a secret).</summary>
    /// <returns>For example <c>salt, adapter</c> or <c>none</c>.</returns>
    public override string ToString() => (Salt, Adapter) switch
    {
        (null, null) => "none",
        (not null, null) => "salt",
        (null, not null) => "adapter",
        _ => "salt, adapter",
    };

    /// <summary>Compares two contexts.</summary>
    /// <param name="left">A context.</param>
    /// <param name="right">A context.</param>
    /// <returns><see langword="true"/> when salt and adapter are equal.</returns>
    public static bool operator ==(KvPrefixContext left, KvPrefixContext right) => left.Equals(right);

    /// <summary>Compares two contexts.</summary>
    /// <param name="left">A context.</param>
    /// <param name="right">A context.</param>
    /// <returns><see langword="true"/> when salt or adapter differ.</returns>
    public static bool operator !=(KvPrefixContext left, KvPrefixContext right) => !left.Equals(right);

    private static void ThrowIfTooLong(string? value, string name)
    {
        if (value is { Length: > MaxLength })
        {
            throw new ArgumentException($"The {name} is {value.Length} characters long; at most {MaxLength} are accepted.", name);
        }
    }
}
