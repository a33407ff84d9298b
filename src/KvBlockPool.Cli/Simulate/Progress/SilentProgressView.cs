namespace KvBlockPool.Cli.Simulate.Progress;

/// <summary>No view: under <c>--json</c> standard output carries the report alone.</summary>
internal sealed class SilentProgressView : IProgressView
{
    public void Run(Action<Action<ProgressSnapshot>> sampling) => sampling(static _ => { });
}
