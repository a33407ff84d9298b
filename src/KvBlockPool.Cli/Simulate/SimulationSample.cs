namespace KvBlockPool.Cli.Simulate;

/// <summary>The pool and the host at one moment of a simulation: the time series that <c>--plot</c> draws.</summary>
/// <param name="Seconds">Time since the workers started.</param>
/// <param name="AllocatedBlocks">Blocks allocated at that moment.</param>
/// <param name="Agents">Agents admitted (in flight) at that moment.</param>
/// <param name="Operations">Operations completed since the start, across all workers.</param>
internal readonly record struct SimulationSample(double Seconds, int AllocatedBlocks, int Agents, long Operations);
