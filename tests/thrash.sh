#!/usr/bin/env bash
# make thrash: the long fault loops (never in make check). Each module's
# loop lives in tests/thrash_<module>.sh and takes the build dir first.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
rc=0
for s in tests/thrash_*.sh; do
  echo "################ thrash: $s ################"
  bash "$s" "$B" || { echo "thrash $s FAILED"; rc=1; }
done
exit $rc
