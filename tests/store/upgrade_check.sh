#!/bin/bash
# Upgrade check of the object store (not in make check: it needs a build of
# an older commit). A cluster made by the OLD binaries is opened by the NEW
# ones: every object, omap key, xattr, volume and snapshot must read back
# identical, norn-store fsck clean before and after, then writes with an OSD
# killed by SIGKILL mid-write. See tests/store/upgrade_check.py and
# docs/RELIABILITY.md ("Upgrade check").
#
#   git worktree add /var/tmp/norn-old 58f5fda      # last commit before the WAL
#   cmake -S /var/tmp/norn-old -B /var/tmp/norn-old/build -DCMAKE_BUILD_TYPE=Release
#   cmake --build /var/tmp/norn-old/build -j2
#   tests/store/upgrade_check.sh /var/tmp/norn-old/build build [--keep] [--reverse] [--dir D]
#
# --reverse also reports (does not judge) what the OLD code does with the
# stores after the new code mounted them. Exit 0: passed.
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 OLD_BUILD NEW_BUILD [--keep] [--reverse] [--dir DIR]" >&2
	exit 2
fi
OLD_BUILD=$1 NEW_BUILD=$2
shift 2
exec /usr/bin/python3 "$(dirname "$0")/upgrade_check.py" "$OLD_BUILD" "$NEW_BUILD" "$@"
