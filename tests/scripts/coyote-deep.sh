#!/usr/bin/env bash
# A deep run of every Coyote scenario (not part of CI, which runs 1,000 iterations of each): the iteration count
# comes from the first argument (default 100000), the seed from the second (default: the suite's). Prints one row
# per scenario test with its duration and outcome, for the table in docs/concurrency-testing.md. On this 2-core
# machine 100,000 iterations of every scenario take hours: run it detached (nohup) and read the table it leaves.
#   tests/scripts/coyote-deep.sh [iterations] [seed]
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations=${1:-100000}
seed=${2:-}
out=$(mktemp -d)
export KVBLOCKPOOL_COYOTE_ITERATIONS="$iterations"
if [ -n "$seed" ]; then export KVBLOCKPOOL_COYOTE_SEED="$seed"; fi
started=$(date -u +%Y-%m-%dT%H:%MZ)
# Scenario tests only: the mutant tests stop at the first bug they must find, so a deep run adds nothing to them.
dotnet test tests/KvBlockPool.SystematicTests -c Release --filter "FullyQualifiedName~.Scenarios." \
  --blame-hang-timeout 60m --logger "trx;LogFileName=deep.trx" --results-directory "$out" | tail -n 3
echo
echo "Coyote deep run: $iterations iterations per scenario test, seed ${seed:-default}, started $started, $(nproc) cores"
echo
echo "| Scenario test | Iterations | Outcome | Duration |"
echo "|---|---:|---|---:|"
# One row per test result in the TRX report: name, outcome, duration.
grep -o '<UnitTestResult [^>]*>' "$out"/deep.trx | sed -E 's/.*testName="([^"]*)".*duration="([^"]*)".*outcome="([^"]*)".*/\1|\3|\2/' | sort |
  while IFS='|' read -r name outcome duration; do
    echo "| ${name##*.} | $iterations | $outcome | $duration |"
  done
rm -rf "$out"
