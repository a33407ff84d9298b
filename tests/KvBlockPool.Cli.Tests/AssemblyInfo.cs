// The simulation checks that the process's native bytes of live pools are back where they started; pools built by
// other tests running at the same time would make that figure move.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
