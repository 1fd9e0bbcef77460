#!/usr/bin/env bash
# Object store benchmark (make bench): the store's 4 KiB random-write
# transactions/s (QD32, each durable before its ack), 4 MiB sequential
# write MB/s and 4 KiB random reads/s, each next to fio (ioengine=io_uring,
# direct=1, no fsync) on a file of the same filesystem in the same round,
# printed as per-round pairs and the median of the per-round ratios (the
# virtual disk's speed swings between runs, so only runs made next to each
# other are compared); plus the store's CPU time per operation, LMDB bytes
# per data byte for 4 MiB objects and bytes written per 4 KiB transaction.
# Usage: tests/bench/store.sh [SECONDS]   (env: ROUNDS (3), BUILD,
# STORE_BENCH_DIR)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECS=${1:-${STORE_BENCH_SECONDS:-10}}
ROUNDS=${ROUNDS:-3}
BIN=$BUILD/tests/store/bench_store
cmake --build "$BUILD" --target bench_store -j 2 >/dev/null
DIR=$(mktemp -d "${STORE_BENCH_DIR:-/var/tmp}/norn-store-bench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

fio_run() { # rw bs iodepth -> "iops bw_MBps"
  fio --name=b --filename="$DIR/fio.dat" --size=1G --ioengine=io_uring --direct=1 \
      --rw="$1" --bs="$2" --iodepth="$3" --runtime="$SECS" --time_based \
      --output-format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; k="read" if "read" in sys.argv[1] else "write"; print(round(j[k]["iops"]), round(j[k]["bw_bytes"]/1e6,1))' "$1"
}
# "key value" lines of one store run, tagged with the round
store_run() { "$BIN" "$DIR/store" "$SECS" "$1" | sed "s/^/$2 /" >> "$DIR/store.out"; }
# 4 MiB writes on a second store (4 GiB, made at the first round) whose
# objects are all removed before each round: contiguous free space, as on
# a fresh store; seqover (whole-object overwrites on the main store after
# its random writes fragmented the free space) is printed as well.
seq_run() { "$BIN" "$DIR/seqstore" "$SECS" seqfresh | sed "s/^/$1 /" >> "$DIR/store.out"; }

echo "== Object store vs fio on $(df -T "$DIR" | awk 'NR==2{print $1" ("$2")"}'), ${SECS}s per run, $(nproc) cores, $ROUNDS rounds =="
echo "   load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$DIR/store.out"; : > "$DIR/fio.out"
store_run seq 0            # mkfs, 300 x 4 MiB objects (first fill)
# fio lays out its file once, outside the measured runs
fio --name=b --filename="$DIR/fio.dat" --size=1G --rw=write --bs=4M --direct=1 \
    --ioengine=io_uring --output-format=json >/dev/null 2>&1
for r in $(seq 1 "$ROUNDS"); do
  seq_run "$r"
  read -r _ bw < <(fio_run write 4M 4); echo "$r seq $bw" >> "$DIR/fio.out"
  "$BIN" "$DIR/store" "$SECS" seqover | sed "s/^seqwrite_/over_/; s/^/$r /" >> "$DIR/store.out"
  store_run randwrite "$r"
  read -r iops _ < <(fio_run randwrite 4k 32); echo "$r rw $iops" >> "$DIR/fio.out"
  store_run randread "$r"
  read -r iops _ < <(fio_run randread 4k 32); echo "$r rr $iops" >> "$DIR/fio.out"
done
echo "   load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$DIR/store.out" "$DIR/fio.out" "$ROUNDS" <<'PY'
import sys, statistics
store, fio, rounds = {}, {}, int(sys.argv[3])
for line in open(sys.argv[1]):
    r, k, v = line.split()
    store[(int(r), k)] = float(v)
for line in open(sys.argv[2]):
    r, k, v = line.split()
    fio[(int(r), k)] = float(v)
figs = [("4 KiB random write, QD32, durable", "randwrite_txn_per_s", "rw", "txn/s", 0.5,
         "randwrite_cpu_us_per_txn", "us/txn"),
        ("4 MiB sequential write, 4 in flight", "seqwrite_MBps", "seq", "MB/s", 0.8,
         "seqwrite_cpu_us_per_obj", "us/object"),
        ("4 MiB whole-object overwrites after the random writes (fragmented free space)",
         "over_MBps", "seq", "MB/s", 0.0, "over_cpu_us_per_obj", "us/object"),
        ("4 KiB random read, QD32", "randread_per_s", "rr", "ops/s", 0.8,
         "randread_cpu_us_per_read", "us/read")]
for name, sk, fk, unit, goal, ck, cu in figs:
    ratios, cpus = [], []
    print(f"{name}:")
    for r in range(1, rounds + 1):
        s, f = store.get((r, sk)), fio.get((r, fk))
        if s is None or not f:
            continue
        ratios.append(s / f)
        c = store.get((r, ck))
        if c is not None:
            cpus.append(c)
        cs = f", store CPU {c:.1f} {cu}" if c is not None else ""
        print(f"   round {r}: store {s:>9.0f} {unit:<5} fio {f:>9.0f} {unit:<5} ratio {s / f:5.2f}{cs}")
    if ratios:
        m = statistics.median(ratios)
        cm = f"; median store CPU {statistics.median(cpus):.1f} {cu}" if cpus else ""
        verdict = f" (goal >= {goal:.2f}) {'OK' if m >= goal else 'BELOW GOAL'}" if goal else " (no goal)"
        print(f"   median ratio {m:.2f}{verdict}{cm}")
first = store.get((0, "seqwrite_MBps"))
if first is not None:
    print(f"first fill after mkfs (300 x 4 MiB): {first:.0f} MB/s")
meta = store.get((0, "meta_overhead_pct"))
if meta is not None:
    print(f"metadata for 4 MiB objects: {meta:.3f} % of data (goal <= 1 %) {'OK' if meta <= 1 else 'BELOW GOAL'}")
bpt = [v for (r, k), v in store.items() if k == "randwrite_bytes_per_txn"]
if bpt:
    print(f"bytes written per 4 KiB write txn (data + log + LMDB): {min(bpt):.0f}-{max(bpt):.0f}")
PY
