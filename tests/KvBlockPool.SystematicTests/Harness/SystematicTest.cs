namespace KvBlockPool.SystematicTests.Harness;

/// <summary>
/// The base of every Coyote test: explores a scenario with the suite's settings, writes what ran to the test
/// output, and fails with the bug report, the seed and the reproducible trace when Coyote finds a bug.
/// </summary>
public abstract class SystematicTest(ITestOutputHelper output)
{
    private readonly CoyoteSettings _settings = CoyoteSettings.FromEnvironment();

    /// <summary>
    /// Explores <paramref name="scenario"/> for the configured iterations (times <paramref name="iterationFactor"/>, for
    /// scenarios whose bugs hide in narrow windows) and fails if any schedule breaks it.
    /// </summary>
    internal void AssertNoBugs(string name, Func<Task> scenario, uint iterationFactor = 1)
    {
        uint iterations = checked(_settings.Iterations * iterationFactor);
        Exploration result = Explorer.Run(name, scenario, iterations, _settings.Seed, ReplayTraceFor(name), _settings.DeadlockTimeoutMs);
        output.WriteLine(result.Summary);
        Assert.True(result.UncontrolledInvocations.Count == 0, "Coyote saw concurrency it cannot control; the results mean nothing until that is fixed.\n" + result.Describe());
        Assert.True(!result.FoundBug, "Coyote found a schedule that breaks the pool.\n" + result.Describe());
        if (!result.Replayed)
        {
            Assert.Equal(iterations, result.Iterations);
        }
    }

    /// <summary>
    /// Explores a deliberately broken variant and fails unless Coyote finds its bug within <paramref name="iterations"/>
    /// schedules from the fixed seed: the proof that the scenario and the harness can fail at all.
    /// </summary>
    internal void AssertFindsBug(string name, Func<Task> scenario, uint iterations)
    {
        Exploration result = Explorer.Run(name, scenario, iterations, _settings.Seed, deadlockTimeoutMs: _settings.DeadlockTimeoutMs);
        output.WriteLine(result.Summary);
        output.WriteLine(result.BugReport ?? "(no bug found)");
        Assert.True(result.UncontrolledInvocations.Count == 0, "Coyote saw concurrency it cannot control.\n" + result.Describe());
        Assert.True(result.FoundBug, $"Coyote did not find the planted bug of {name} in {iterations} iterations with seed {_settings.Seed}: the harness is broken.\n{result.Describe()}");
    }

    private string? ReplayTraceFor(string name)
    {
        string? file = _settings.ReplayFile;
        if (file is null || !string.Equals(Path.GetFileNameWithoutExtension(file), name, StringComparison.Ordinal))
        {
            return null;
        }

        output.WriteLine($"Replaying {file}");
        return File.ReadAllText(file);
    }
}
