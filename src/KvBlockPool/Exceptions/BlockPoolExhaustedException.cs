using System.Globalization;

namespace KvBlockPool;

/// <summary>An allocation asked for more blocks than were available. Nothing was allocated.</summary>
public sealed class BlockPoolExhaustedException : KvBlockPoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="requested">Blocks the call asked for.</param>
    /// <param name="available">Blocks that were available when it was refused.</param>
    /// <param name="capacity">The pool's capacity.</param>
    internal BlockPoolExhaustedException(int requested, int available, int capacity)
        : base(string.Create(
            CultureInfo.InvariantCulture,
            $"Cannot allocate {requested} block(s): only {available} of {capacity} are available. Nothing was allocated. Free blocks (or release agents) and retry, use a Try method to handle exhaustion without an exception, or give the pool a larger capacity."))
    {
        Requested = requested;
        Available = available;
        Capacity = capacity;
    }

    /// <summary>Blocks the call asked for.</summary>
    public int Requested { get; }

    /// <summary>Blocks that were available when the call was refused.</summary>
    public int Available { get; }

    /// <summary>The pool's capacity in blocks.</summary>
    public int Capacity { get; }
}
