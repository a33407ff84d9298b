using KvBlockPool.SystematicTests.Harness;
using KvBlockPool.SystematicTests.Scenarios;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// A failure is only useful if its trace brings it back. Takes the trace Coyote writes for a bug it finds in a
/// mutant and replays it: one schedule, the same failure, the same message.
/// </summary>
public sealed class TraceReplayTests(ITestOutputHelper output)
{
    [Fact]
    public void The_trace_of_a_found_bug_replays_the_same_failure_in_one_schedule()
    {
        static Task Scenario() => ExhaustionScenario.RunAsync(new CheckThenPopSource(ExhaustionScenario.Capacity, CheckThenPopStyle.SecondLock));

        Exploration found = Explorer.Run("TraceReplay.Found", Scenario, iterations: 200, CoyoteSettings.DefaultSeed);
        Assert.True(found.FoundBug && found.TraceFile is not null, found.Describe());

        Exploration replayed = Explorer.Run("TraceReplay.Replayed", Scenario, iterations: 200, CoyoteSettings.DefaultSeed, File.ReadAllText(found.TraceFile));
        output.WriteLine(found.Summary);
        output.WriteLine(replayed.Summary);
        Assert.True(replayed.Replayed && replayed.FoundBug, replayed.Describe());
        Assert.Equal(1, replayed.Iterations);
        Assert.Equal(found.BugReport, replayed.BugReport);
    }
}
