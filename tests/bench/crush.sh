#!/usr/bin/env bash
# CRUSH benchmark (make bench): mappings per second per core on the asgard
# map and on a generated 1,000-OSD, 50-host map. Expects the release build
# in ${BUILD:-build} (make bench builds it first).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BIN=$BUILD/tests/crush/bench_crush
if [ ! -x "$BIN" ]; then
  cmake --build "$BUILD" --target bench_crush -j 2 >/dev/null
fi
echo "== CRUSH: mappings per second per core (goal: >= 1,000,000 3-replica on asgard) =="
"$BIN" examples/asgard.crush "${CRUSH_BENCH_N:-1000000}"
