namespace KvBlockPool.Benchmarks.Baselines;

/// <summary>A handle in <see cref="PoolLogicModel"/>: the same 16 bytes as a <see cref="KvBlock"/>.</summary>
internal readonly record struct ModelBlock(int Id, int Layer, uint Generation, int Stamp);
