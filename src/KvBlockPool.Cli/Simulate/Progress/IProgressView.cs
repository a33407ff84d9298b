namespace KvBlockPool.Cli.Simulate.Progress;

/// <summary>Shows a running simulation: live bars on a terminal, a line a second in a log, nothing under <c>--json</c>.</summary>
internal interface IProgressView
{
    /// <summary>
    /// Runs <paramref name="sampling"/>, the simulation's sampling loop, inside the view (a live display has to own
    /// the loop while it redraws); the loop hands each snapshot to the callback it is given.
    /// </summary>
    void Run(Action<Action<ProgressSnapshot>> sampling);
}
