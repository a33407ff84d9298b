namespace KvBlockPool.Prefix;

/// <summary>How chunk keys are computed.</summary>
public enum KvChunkHashAlgorithm
{
    /// <summary>
    /// XXH128 (<c>System.IO.Hashing</c>) seeded from the key secret, with the secret hashed into every chain's root:
    /// fast (a 2,048-token prompt's keys in microseconds) and unpredictable without the secret. Not a MAC: where
    /// tenants may attack each other's keys, choose <see cref="HmacSha256"/>.
    /// </summary>
    XxHash128 = 0,

    /// <summary>HMAC-SHA-256 keyed with the key secret, truncated to 128 bits: a cryptographic keyed hash, several times slower.</summary>
    HmacSha256 = 1,
}
