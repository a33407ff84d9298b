using KvBlockPool.Cli.Simulate.Output;

namespace KvBlockPool.Cli.Simulate.Tier;

/// <summary>What the second host of <c>--hosts 2</c> did: its process, its exit code and its own JSON report.</summary>
/// <param name="ProcessId">The second host's process id.</param>
/// <param name="ExitCode">Its exit code: 0 when every invariant held there.</param>
/// <param name="Report">Its report, or null when it wrote none that could be read.</param>
/// <param name="Error">What it wrote to its error stream, or why it could not be run; null when nothing.</param>
internal sealed record SecondHostRun(int ProcessId, int ExitCode, SimulationJsonDocument? Report, string? Error);
