namespace KvBlockPool.SystematicTests.Harness;

/// <summary>Runs a call a scenario expects to fail in some schedules, and returns what it threw (null when it succeeded).</summary>
internal static class Outcome
{
    public static Exception? Of(Action call)
    {
        try
        {
            call();
            return null;
        }
        catch (Exception error)
        {
            return error;
        }
    }
}
