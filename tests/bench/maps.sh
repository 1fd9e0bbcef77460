#!/bin/bash
# Map benchmark on the reference blade rack: placement rate, map size and
# decode time, incremental apply time, distribution against capacity and
# data moved when an OSD goes out. Run by `make bench` (tests/bench/run.sh)
# after the release build in ${BUILD:-build}. MAPS_BENCH_SECONDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake --build "$BUILD" --target bench_maps -j 2 >/dev/null
BIN=$(find "$BUILD" -name bench_maps -type f -perm -u+x | head -1)
echo "== maps (blade rack, 39 OSDs, pool of 4096 PGs, size 3) =="
"$BIN" "${MAPS_BENCH_SECONDS:-2}"
