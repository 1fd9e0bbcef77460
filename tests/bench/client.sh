#!/usr/bin/env bash
# Cluster benchmark (make bench, never make check): `norn bench` on a local
# 3-mon / 4-OSD cluster (file-backed stores, one disk, 3 replicas), next
# to fio on a file of the same filesystem in the same run:
#   - 4 MiB writes, 16 in flight        vs fio 4 MiB sequential write QD16 (/3)
#   - 4 KiB writes, 16 in flight        vs fio 4 KiB random write QD16
#   - 4 KiB reads, 16 in flight         vs fio 4 KiB random read QD16
#   - 4 KiB writes, 1 in flight (QD1)   vs fio 4 KiB write + fdatasync QD1
#   - RSS of every daemon at idle and the peak during the write runs.
#   - CPU time (user + system, all threads) the OSDs and the client spend
#     per 4 KiB write and per 4 KiB read: the cost of the op path
#     independent of the disk (on 2 cores, 8,000 IOPS leaves 250 us).
# Usage: tests/bench/client.sh [SECONDS]   (BUILD, CLIENT_BENCH_DIR,
# STORE_SIZE override; default 10 s per run, build dir "build")
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
BUILD=$(realpath "${BUILD:-build}")
SECS=${1:-${CLIENT_BENCH_SECONDS:-10}}
STORE_SIZE=${STORE_SIZE:-8G}
cmake --build "$BUILD" --target norn norn-mon norn-osd norn-store -j 2 >/dev/null
NORN=$BUILD/tools/norn
DIR=$(mktemp -d "${CLIENT_BENCH_DIR:-/var/tmp}/norn-client-bench.XXXXXX")
SAMPLER=
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  /usr/bin/python3 "$REPO/tests/lib/cluster.py" stop "$DIR/cluster" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

echo "== norn bench on a 3-mon / 4-OSD cluster vs fio on $(df -T "$DIR" | awk 'NR==2{print $1" ("$2")"}'), ${SECS}s per run, $(nproc) cores =="
/usr/bin/python3 "$REPO/tests/lib/cluster.py" start "$DIR/cluster" --build "$BUILD" \
  --mons 3 --osds 4 --store-size "$STORE_SIZE" --pool bench --pg-num 64 --size 3 >/dev/null
CONF=$DIR/cluster/norn.conf
sleep 2

rss_all() { # "name rss_kib" for every daemon of the cluster
  for f in "$DIR"/cluster/pids/*.pid; do
    n=$(basename "$f" .pid); p=$(cat "$f")
    r=$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    echo "$n ${r:-0}"
  done
}
rss_all > "$DIR/rss_idle"
# peak RSS under load: sample every 200 ms for the whole benchmark
( while :; do rss_all >> "$DIR/rss_load"; sleep 0.2; done ) &
SAMPLER=$!

nb() { # args... -> bench output file
  "$NORN" -c "$CONF" bench "$@"
}
osd_ticks() { # clock ticks used by every OSD so far (all threads)
  local t=0 p
  for f in "$DIR"/cluster/pids/osd.*.pid; do
    p=$(cat "$f")
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
cpu_run() { # name args... : bench run + CPU per op of the OSDs and the client
  local name=$1; shift
  local t0 t1
  t0=$(osd_ticks)
  /usr/bin/time -f "%U %S" -o "$DIR/$name.time" "$NORN" -c "$CONF" bench "$@" > "$DIR/$name"
  t1=$(osd_ticks)
  echo "$((t1 - t0))" > "$DIR/$name.osdticks"
}
val() { awk -F: -v k="$1" 'index($0,k)==1{gsub(/ /,"",$2); print $2}' "$2"; }

nb bench "$SECS" write -b 4M -t 16 > "$DIR/w4m"
cpu_run w4k bench "$SECS" write -b 4K -t 16 --no-cleanup
cpu_run r4k bench "$SECS" rand -t 16
nb bench "$SECS" write -b 4K -t 1 > "$DIR/w4k1"
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
"$NORN" -c "$CONF" osd df > "$DIR/df" || true

fio_run() { # rw bs iodepth extra... -> "iops bw_MBps p50_us"
  local rw=$1 bs=$2 qd=$3; shift 3
  fio --name=b --filename="$DIR/fio.dat" --size=2G --ioengine=io_uring --direct=1 \
      --rw="$rw" --bs="$bs" --iodepth="$qd" --runtime="$SECS" --time_based "$@" \
      --output-format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; k="read" if "read" in sys.argv[1] else "write"; p=j[k]["clat_ns"]["percentile"].get("50.000000",0)/1000; print(round(j[k]["iops"]), round(j[k]["bw_bytes"]/1048576,1), round(p,1))' "$rw"
}
read -r _ F_SEQ _ < <(fio_run write 4M 16)
read -r F_RW _ _ < <(fio_run randwrite 4k 16)
read -r F_RR _ _ < <(fio_run randread 4k 16)
read -r _ _ F_QD1 < <(fio_run randwrite 4k 1 --fdatasync=1)

for f in w4m w4k r4k w4k1; do echo "--- $f"; tail -11 "$DIR/$f" | grep -v '^Clean'; done
echo "--- osd df after the runs"; cat "$DIR/df"
/usr/bin/python3 - "$DIR" "$F_SEQ" "$F_RW" "$F_RR" "$F_QD1" <<'PY'
import sys, collections
d, fseq, frw, frr, fqd1 = sys.argv[1], *map(float, sys.argv[2:])
def val(f, k):
    for l in open(f"{d}/{f}"):
        if l.startswith(k):
            return float(l.split(":")[1].split()[0])
    return 0.0
w4m = val("w4m", "Bandwidth"); w4k = val("w4k", "Average IOPS"); r4k = val("r4k", "Average IOPS")
p50 = val("w4k1", "p50 latency"); p99 = val("w4k1", "p99 latency")
def ok(c): return "OK" if c else "BELOW GOAL"
goal_bw = 0.6 * fseq / 3
print(f"4 MiB writes, 16 in flight:   {w4m:9.1f} MiB/s   fio seq write {fseq:.0f} MiB/s, /3 = {fseq/3:.0f}; goal >= {goal_bw:.0f} (60 %) {ok(w4m >= goal_bw)}")
print(f"4 KiB writes, 16 in flight:   {w4k:9.0f} IOPS    fio randwrite {frw:.0f} IOPS; goal >= 8000 {ok(w4k >= 8000)}")
print(f"4 KiB reads, 16 in flight:    {r4k:9.0f} IOPS    fio randread {frr:.0f} IOPS; goal >= 25000 {ok(r4k >= 25000)}")
print(f"4 KiB write QD1 latency:      p50 {p50:.3f} ms, p99 {p99:.3f} ms   fio 4k write+fdatasync QD1 p50 {fqd1/1000:.3f} ms; goal p50 <= 0.4 ms {ok(p50 <= 0.4)}")
idle = {l.split()[0]: int(l.split()[1]) for l in open(f"{d}/rss_idle") if l.strip()}
peak = collections.defaultdict(int)
for l in open(f"{d}/rss_load"):
    if l.strip():
        n, r = l.split()
        peak[n] = max(peak[n], int(r))
print("RSS (MiB) idle -> peak under load: " + ", ".join(
    f"{n} {idle.get(n,0)/1024:.0f}->{peak.get(n,0)/1024:.0f}" for n in sorted(idle)))
worst = max([peak[n] for n in peak if n.startswith("osd.")] or [0]) / 1024
print(f"largest OSD RSS under load: {worst:.0f} MiB; goal <= 200 MiB {ok(worst <= 200)}")
import os
hz = os.sysconf("SC_CLK_TCK")
for name, what in (("w4k", "writes made"), ("r4k", "reads made")):
    ops = val(name, "Total " + what)
    osd_s = int(open(f"{d}/{name}.osdticks").read()) / hz
    u, s_ = map(float, open(f"{d}/{name}.time").read().split()[-2:])
    if ops:
        print(f"CPU per 4 KiB {'write' if name == 'w4k' else 'read '} (16 in flight): OSDs {osd_s / ops * 1e6:.0f} us"
              f" (all of them, every thread), client {(u + s_) / ops * 1e6:.0f} us")
PY
