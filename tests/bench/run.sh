#!/usr/bin/env bash
# make bench: every module's benchmark, one after another, on the release
# build in ${BUILD:-build}. Never part of make check. Run one with
# `tests/bench/run.sh crush msg` (names are tests/bench/<name>.sh).
# Each script prints its figures next to the raw-hardware or plain-socket
# baseline it measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
ORDER="crush maps msg store mon client nbd vol s3 recovery"
if [ $# -gt 0 ]; then ORDER="$*"; fi
rc=0
for b in $ORDER; do
  s=tests/bench/$b.sh
  [ -f "$s" ] || continue
  echo
  echo "################ bench: $b ($(date -u +%H:%M:%S)) ################"
  bash "$s" || { echo "bench $b FAILED"; rc=1; }
done
exit $rc
