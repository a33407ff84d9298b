#!/usr/bin/env bash
# A deep run of every Coyote scenario (not part of CI, which runs 1,000 iterations of each): the iteration count
# comes from the first argument (default 100000), the seed from the second (default: the suite's). Prints one row
# per scenario test with its duration and outcome, for the table in docs/concurrency-testing.md. On this 2-core
# machine 100,000 iterations of every scenario take hours: run it detached (nohup) and read the table it leaves.
# The third argument narrows the run to scenario classes whose name contains it ('|' between several), so that a
# deep run can be split across processes, one per core (the suite itself runs one test at a time: Coyote's engine
# is not shared between tests). Build first and pass --no-build through COYOTE_DEEP_NO_BUILD=1 when you run several.
#   tests/scripts/coyote-deep.sh [iterations] [seed] [classes]
#   tests/scripts/coyote-deep.sh 100000 '' 'Statistics|SaveRelease'
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations=${1:-100000}
seed=${2:-}
classes=${3:-}
filter="FullyQualifiedName~.Scenarios."
if [ -n "$classes" ]; then
  filter=""
  IFS='|' read -r -a parts <<< "$classes"
  for part in "${parts[@]}"; do filter="${filter:+$filter|}FullyQualifiedName~.Scenarios.${part}"; done
fi
build_flag=()
if [ "${COYOTE_DEEP_NO_BUILD:-}" = 1 ]; then build_flag=(--no-build); fi
out=$(mktemp -d)
export KVBLOCKPOOL_COYOTE_ITERATIONS="$iterations"
# A schedule starved of CPU, or paused by a full collection of a heap grown over 100,000 iterations, makes no progress
# for more than Coyote's default second without any deadlock; give the deadlock monitor a minute (a real deadlock is
# still reported). The first deep run got four such false reports, none of which replayed.
export KVBLOCKPOOL_COYOTE_DEADLOCK_TIMEOUT_MS="${KVBLOCKPOOL_COYOTE_DEADLOCK_TIMEOUT_MS:-60000}"
if [ -n "$seed" ]; then export KVBLOCKPOOL_COYOTE_SEED="$seed"; fi
started=$(date -u +%Y-%m-%dT%H:%MZ)
# Scenario tests only: the mutant tests stop at the first bug they must find, so a deep run adds nothing to them.
dotnet test tests/KvBlockPool.SystematicTests -c Release "${build_flag[@]}" --filter "$filter" \
  --blame-hang-timeout 60m --logger "trx;LogFileName=deep.trx" --logger "console;verbosity=normal" --results-directory "$out" | grep -E '\[FAIL\]|Coyote found|Potential deadlock|Passed!|Failed!' || true
echo
echo "Coyote deep run: $iterations iterations per scenario test${classes:+ of $classes}, seed ${seed:-default}, commit $(git rev-parse --short HEAD), started $started, finished $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo
echo "| Scenario test | Iterations | Outcome | Duration |"
echo "|---|---:|---|---:|"
# One row per test result in the TRX report: name, outcome, duration.
grep -o '<UnitTestResult [^>]*>' "$out"/deep.trx | sed -E 's/.*testName="([^"]*)".*duration="([^"]*)".*outcome="([^"]*)".*/\1|\3|\2/' | sort |
  while IFS='|' read -r name outcome duration; do
    echo "| ${name##*.} | $iterations | $outcome | $duration |"
  done
rm -rf "$out"
