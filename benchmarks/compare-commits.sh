#!/usr/bin/env bash
# Runs the same benchmarks at two commits back to back, so a change can be judged by its pool-to-floor ratios
# (each suite's baselines run in the same process as the pool). Usage:
#   benchmarks/compare-commits.sh BEFORE AFTER [BenchmarkDotNet filter ...]
# Each commit is checked out in a temporary worktree; the reports land in
# benchmarks/comparison/<commit>/ (not committed). Run it on a quiet machine: nothing else should be building.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
before=${1:?give the commit before the change}
after=${2:?give the commit after the change}
shift 2
if [ "$#" -eq 0 ]; then
  # The rows the core restructure had to keep: pool against floor in the single-block, 16-block, all-layer and
  # lifecycle suites.
  set -- '*SingleBlockBenchmarks.Floor' '*SingleBlockBenchmarks.Pool' '*SingleBlockBenchmarks.PoolLogicWithoutLock' \
    '*SixteenBlockBenchmarks.Floor' '*SixteenBlockBenchmarks.Pool' '*SixteenBlockBenchmarks.PoolLogicWithoutLock' \
    '*AllLayerScopeBenchmarks.Floor' '*AllLayerScopeBenchmarks.PoolScope' '*AllLayerScopeBenchmarks.PoolScopeAllLayers' \
    '*AllLayerScopeBenchmarks.PoolAllocateAllLayers' '*AllLayerScopeBenchmarks.PoolLogicAllLayersWithoutLock' \
    '*LifecycleBenchmarks*'
fi
work=$(mktemp -d)
trap 'for w in "$work"/*/; do git -C "$root" worktree remove --force "$w" 2>/dev/null || true; done; rm -rf "$work"' EXIT
for commit in "$before" "$after"; do
  git worktree add --detach "$work/$commit" "$commit" > /dev/null
  dotnet build -c Release "$work/$commit/benchmarks/KvBlockPool.Benchmarks" > "$work/$commit.build.log"
done
for commit in "$before" "$after"; do
  (cd "$work/$commit" && dotnet run -c Release --no-build --project benchmarks/KvBlockPool.Benchmarks -- \
    --filter "$@" --launchCount 1 --warmupCount 5 --iterationCount 15)
  mkdir -p "benchmarks/comparison/$commit"
  cp "$work/$commit"/BenchmarkDotNet.Artifacts/results/*-report-github.md "benchmarks/comparison/$commit/"
done
echo "reports: benchmarks/comparison/$before and benchmarks/comparison/$after"
