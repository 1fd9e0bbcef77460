#!/usr/bin/env bash
# make demo / make demo-stop: a whole local Norn cluster under ./run/:
# 3 mons, 4 OSDs on file-backed disks, a replicated pool for volumes and
# one for S3, the S3 gateway and an NBD export of a demo volume. Starting
# again reuses the data in ./run/. Every process is recorded by pid in
# ./run/pids/ and `stop` kills exactly those.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=${NORN_DEMO_DIR:-$ROOT/run}
BUILD=${BUILD:-$ROOT/build}
PY=/usr/bin/python3
NORN="$BUILD/tools/norn -c $RUN/norn.conf"
S3_PORT=${NORN_DEMO_S3_PORT:-7480}
NBD_PORT=${NORN_DEMO_NBD_PORT:-10809}

stop_pidfile() { # name: kill the pid in run/pids/NAME.pid if it is still our binary
  local f=$RUN/pids/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && [ -r /proc/$pid/cmdline ] && tr '\0' ' ' < /proc/$pid/cmdline | grep -q "$RUN"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [ -d /proc/$pid ] || break; sleep 0.1; done
    [ -d /proc/$pid ] && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

case "${1:-start}" in
stop)
  stop_pidfile s3
  stop_pidfile nbd
  $PY tests/lib/cluster.py stop "$RUN"
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

mkdir -p "$RUN/pids" "$RUN/logs"
stop_pidfile s3
stop_pidfile nbd
first=0
[ -f "$RUN/cluster.json" ] || first=1
$PY tests/lib/cluster.py start "$RUN" --build "$BUILD" --mons 3 --osds 4 --store-size 2G --base-port "${NORN_DEMO_BASE_PORT:-6789}"
if [ $first = 1 ]; then
  $NORN pool create rbd 64 --size 3 --min-size 2 >/dev/null
  $NORN pool create s3 64 --size 3 --min-size 2 >/dev/null
fi
# wait (bounded) until every PG is active before starting the services
for _ in $(seq 60); do
  $NORN status 2>/dev/null | grep -Eq 'peering|unknown|creating|inactive' || break
  sleep 1
done
. tools/demo_services.sh

cat <<TXT

Norn demo cluster is running under $RUN
  config:   $RUN/norn.conf   (keyring $RUN/norn.keyring)
  status:   $BUILD/tools/norn -c $RUN/norn.conf status
  watch:    watch -n1 $BUILD/tools/norn -c $RUN/norn.conf status
  objects:  $BUILD/tools/norn -c $RUN/norn.conf put rbd hello /etc/hostname
  stop:     make demo-stop        (start again with make demo: data is kept)
TXT
if [ -n "${DEMO_S3_INFO:-}" ]; then echo "$DEMO_S3_INFO"; fi
if [ -n "${DEMO_NBD_INFO:-}" ]; then echo "$DEMO_NBD_INFO"; fi
echo
$NORN status || true
