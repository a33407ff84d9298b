namespace KvBlockPool;

/// <summary>The base of every exception the pool throws for a refused operation; the pool is unchanged after it unless the derived type says otherwise.</summary>
public class KvBlockPoolException : Exception
{
    /// <summary>Creates the exception.</summary>
    internal KvBlockPoolException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong and what to do.</param>
    internal KvBlockPoolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong and what to do.</param>
    /// <param name="innerException">The cause.</param>
    internal KvBlockPoolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
