#!/usr/bin/env bash
# Recovery figures (make bench, never make check): kill -9 one OSD of a
# 3-mon / 4-OSD loopback cluster holding ~1 GiB on that OSD while norn-drill
# writes; prints the time until client I/O flows again, the time to full
# redundancy next to 2 x (data / fio sequential write bandwidth on the same
# filesystem, same run), writes/s during recovery as a fraction of before,
# and whether any acknowledged write was lost. See tests/drill/recovery_bench.py.
# Usage: tests/bench/recovery.sh [GiB] [--no-writer] [--perf]
#   BUILD, RECOVERY_BENCH_DIR override; RECOVERY_BENCH_KEEP=1 keeps the logs;
#   RECOVERY_BENCH_CONF="a=1;b=2" adds config lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
BUILD=$(realpath "${BUILD:-build}")
GIB=${RECOVERY_BENCH_GIB:-1}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then GIB=$1; shift; fi
cmake --build "$BUILD" --target norn norn-mon norn-osd norn-store norn-drill -j 2 >/dev/null
DIR=$(mktemp -d "${RECOVERY_BENCH_DIR:-/var/tmp}/norn-recovery-bench.XXXXXX")
cleanup() {
  /usr/bin/python3 "$REPO/tests/lib/cluster.py" stop "$DIR/cluster" >/dev/null 2>&1 || true
  if [ -n "${RECOVERY_BENCH_KEEP:-}" ]; then
    rm -rf "$DIR"/cluster/osd.*/ "$DIR"/cluster/mon.*/ "$DIR"/fio.dat   # keep logs and perf data, not the stores
    echo "kept $DIR"
  else
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT
echo "== recovery bench in $DIR on $(df -T "$DIR" | awk 'NR==2{print $1" ("$2")"}'), $(nproc) cores, $GIB GiB =="
/usr/bin/python3 "$REPO/tests/drill/recovery_bench.py" "$BUILD" "$DIR" --gib "$GIB" "$@"
