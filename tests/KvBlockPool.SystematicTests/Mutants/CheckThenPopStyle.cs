namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>How the check-then-pop mutant pops after its check.</summary>
public enum CheckThenPopStyle
{
    /// <summary>Check under the lock, pop under a second acquisition of it: every line "is locked", the pair is not.</summary>
    SecondLock,

    /// <summary>Check under the lock, pop with no lock at all, as in the incident report.</summary>
    NoLock,
}
