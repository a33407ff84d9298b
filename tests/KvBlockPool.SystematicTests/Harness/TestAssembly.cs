// Coyote runs one testing engine at a time per process, and each engine already drives many logical threads:
// the scenarios run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
