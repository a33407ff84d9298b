namespace KvBlockPool.Persistence;

/// <summary>
/// A saved KV cache was rejected because its bytes are not a valid cache for this pool; <see cref="Reason"/> says
/// which check failed and <see cref="Offset"/> where. A restore that throws this has returned every block it took
/// and left the target agent exactly as it was.
/// </summary>
/// <remarks>
/// <see cref="InvalidDataException"/> is sealed, so this type cannot derive from it. It derives from
/// <see cref="IOException"/> instead: bad data is a failure of the input, and code that already handles I/O
/// failures of a stream handles this one too, while <c>catch (KvCacheFormatException)</c> tells corrupt data
/// from a failing device (whose own <see cref="IOException"/> propagates unwrapped).
/// </remarks>
public class KvCacheFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="reason">Which check failed.</param>
    /// <param name="offset">Byte offset from the start of the saved cache where the problem was found.</param>
    /// <param name="message">What is wrong and what it means.</param>
    internal KvCacheFormatException(KvCacheFormatError reason, long offset, string message)
        : base(message)
    {
        Reason = reason;
        Offset = offset;
    }

    /// <summary>Which check failed.</summary>
    public KvCacheFormatError Reason { get; }

    /// <summary>Byte offset from the start of the saved cache where the problem was found.</summary>
    public long Offset { get; }
}
