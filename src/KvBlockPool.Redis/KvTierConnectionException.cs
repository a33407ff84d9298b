namespace KvBlockPool.Redis;

/// <summary>
/// <see cref="RedisKvChunkStore.ConnectAsync"/> could not connect to the store: unreachable, refused the credentials,
/// or failed the TLS handshake. Nothing was read or written. The message names the endpoints and the user, never the
/// password.
/// </summary>
public sealed class KvTierConnectionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public KvTierConnectionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What failed and what to do.</param>
    public KvTierConnectionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="innerException">The client's exception.</param>
    public KvTierConnectionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Whether the store refused the user or password (WRONGPASS, NOAUTH), as opposed to being unreachable.</summary>
    public bool IsAuthenticationFailure { get; init; }

    /// <summary>
    /// Whether the TLS handshake failed: the server's certificate was not trusted (its issuer, its name, its dates), or
    /// the server refused the client's. The message carries the handshake's reason.
    /// </summary>
    public bool IsTlsFailure { get; init; }
}
