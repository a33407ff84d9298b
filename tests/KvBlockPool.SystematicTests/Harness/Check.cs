using Microsoft.Coyote.Specifications;

namespace KvBlockPool.SystematicTests.Harness;

/// <summary>Assertions inside scenarios. A failure is a Coyote bug: the schedule that led to it is kept and can be replayed.</summary>
internal static class Check
{
    public static void That(bool condition, string message)
    {
        if (!condition)
        {
            // The message goes in as an argument: pool state descriptions contain braces.
            Specification.Assert(false, "{0}", message);
        }
    }

    /// <summary>Every invariant of docs/design.md, checked by the pool under its gate.</summary>
    public static void Invariants(BlockPool pool, string when)
    {
        string? violation = pool.FindInvariantViolation();
        That(violation is null, $"Invariant broken {when}: {violation}\n{(violation is null ? "" : pool.DescribeState())}");
    }

    /// <summary>The call threw <typeparamref name="TException"/> exactly (not a base or another type).</summary>
    public static void Throws<TException>(Exception? thrown, string what)
        where TException : Exception =>
        That(thrown?.GetType() == typeof(TException), $"{what}: expected {typeof(TException).Name}, got {thrown?.GetType().Name ?? "no exception"}: {thrown?.Message}");
}
