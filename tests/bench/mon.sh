#!/bin/bash
# Monitor benchmark: committed map changes/s and commit latency p50/p99,
# 3 norn-mon processes on loopback, client concurrency 1, 16 and 64.
# Run by `make bench` after the release build in ${BUILD:-build}.
# Options: MON_BENCH_SECONDS (default 5), MON_BENCH_CONC (default 1,16,64).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target norn-mon norn mon_exercise -j 2 >/dev/null
echo "== monitors (3 mons, loopback) =="
/usr/bin/python3 tests/bench/mon_bench.py "$BUILD/mon/norn-mon" "$BUILD/tools/norn" \
	"$BUILD/tests/mon_integ/mon_exercise" "${MON_BENCH_SECONDS:-5}" "${MON_BENCH_CONC:-1,16,64}"
