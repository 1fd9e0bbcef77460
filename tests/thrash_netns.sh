#!/usr/bin/env bash
# make thrash, network-namespace part (issue 6): the host-loss and partition
# drill with hosts as network namespaces, long form: ROUNDS rounds cycling the
# partitioned and the lost host over all four hosts, every second partition
# outlasting the down-out interval. Usage: tests/thrash_netns.sh [BUILD_DIR] [ROUNDS]
# Exit 77 from the drill (no network namespaces here) counts as a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
ROUNDS=${2:-4}
cmake --build "$B" --target norn-mon norn-osd norn norn-drill -j2 >/dev/null || exit 1
/usr/bin/python3 tests/netns/netns_drill.py "$B" --long --rounds "$ROUNDS"
rc=$?
if [ $rc -eq 77 ]; then
  echo "thrash_netns: SKIPPED (network namespaces unavailable)"
  exit 0
fi
exit $rc
