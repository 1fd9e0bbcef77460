#!/usr/bin/env bash
# make thrash, object store part: the crash test with many more SIGKILL
# cycles and several seeds. Usage: tests/thrash_store.sh [BUILD_DIR] [CYCLES] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
CYCLES=${2:-2000}
SEEDS=${3:-5}
cmake --build "$B" --target test_store_crash test_store -j2 >/dev/null
for i in $(seq 1 "$SEEDS"); do
  seed=$(( $(date +%s) + i * 7919 ))
  echo "== store crash thrash: seed $seed, $CYCLES cycles"
  NORN_CRASH_SEED=$seed NORN_CRASH_CYCLES=$CYCLES NORN_TEST_TIMEOUT=7200 \
    "$B"/tests/store/test_store_crash | tail -3
done
