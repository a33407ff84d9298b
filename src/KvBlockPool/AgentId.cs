using System.Globalization;

namespace KvBlockPool;

/// <summary>
/// Identifies an agent: one conversation or sequence whose KV cache the host keeps. The value is the
/// host's own id; the pool only compares it.
/// </summary>
/// <param name="value">The host's id for the agent.</param>
public readonly struct AgentId(long value) : IEquatable<AgentId>
{
    /// <summary>The host's id for the agent.</summary>
    public long Value { get; } = value;

    /// <inheritdoc/>
    public bool Equals(AgentId other) => Value == other.Value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is AgentId other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => Value.GetHashCode();

    /// <summary>Returns <c>agent &lt;value&gt;</c>.</summary>
    /// <returns>A short description for messages.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"agent {Value}");

    /// <summary>Compares two ids.</summary>
    /// <param name="left">An id.</param>
    /// <param name="right">An id.</param>
    /// <returns><see langword="true"/> when the values are equal.</returns>
    public static bool operator ==(AgentId left, AgentId right) => left.Equals(right);

    /// <summary>Compares two ids.</summary>
    /// <param name="left">An id.</param>
    /// <param name="right">An id.</param>
    /// <returns><see langword="true"/> when the values differ.</returns>
    public static bool operator !=(AgentId left, AgentId right) => !left.Equals(right);
}
