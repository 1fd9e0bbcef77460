#!/usr/bin/env bash
# Object store benchmark (make bench): the store's 4 KiB random-write
# transactions/s (QD32, each durable before its ack), 4 MiB sequential
# write MB/s and 4 KiB random reads/s, each next to fio (ioengine=io_uring,
# direct=1, no fsync) on a file of the same filesystem in the same run,
# printed as ratios; plus LMDB bytes per data byte for 4 MiB objects.
# Usage: tests/bench/store.sh [SECONDS]   (BUILD, STORE_BENCH_DIR override)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECS=${1:-${STORE_BENCH_SECONDS:-10}}
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

echo "== Object store vs fio on $(df -T "$DIR" | awk 'NR==2{print $1" ("$2")"}'), ${SECS}s per run, $(nproc) cores =="
echo "   (store and fio runs interleaved; ROUNDS=${ROUNDS:-2}, best round of each shown)"
: > "$DIR/store.out"; : > "$DIR/fio.out"
"$BIN" "$DIR/store" "$SECS" seq >> "$DIR/store.out"
for r in $(seq 1 "${ROUNDS:-2}"); do
  read -r _ bw < <(fio_run write 4M 4); echo "seq $bw" >> "$DIR/fio.out"
  "$BIN" "$DIR/store" "$SECS" randwrite >> "$DIR/store.out"
  read -r iops _ < <(fio_run randwrite 4k 32); echo "rw $iops" >> "$DIR/fio.out"
  "$BIN" "$DIR/store" "$SECS" randread >> "$DIR/store.out"
  read -r iops _ < <(fio_run randread 4k 32); echo "rr $iops" >> "$DIR/fio.out"
done
best() { awk -v k="$1" '$1==k && $2>m {m=$2} END{print m+0}' "$2"; }
least() { awk -v k="$1" '$1==k && (m=="" || $2<m) {m=$2} END{print m+0}' "$2"; }
S_RW=$(best randwrite_txn_per_s "$DIR/store.out"); S_SEQ=$(best seqwrite_MBps "$DIR/store.out")
S_RR=$(best randread_per_s "$DIR/store.out"); META=$(best meta_overhead_pct "$DIR/store.out")
BPT=$(least randwrite_bytes_per_txn "$DIR/store.out")
F_RW_IOPS=$(best rw "$DIR/fio.out"); F_SEQ_BW=$(best seq "$DIR/fio.out"); F_RR_IOPS=$(best rr "$DIR/fio.out")
echo "   raw store: $(tr '\n' ' ' < "$DIR/store.out")"
echo "   raw fio:   $(tr '\n' ' ' < "$DIR/fio.out")"
/usr/bin/python3 - "$S_RW" "$F_RW_IOPS" "$S_SEQ" "$F_SEQ_BW" "$S_RR" "$F_RR_IOPS" "$META" "$BPT" <<'PY'
import sys
srw, frw, sseq, fseq, srr, frr, meta, bpt = map(float, sys.argv[1:])
def line(name, s, f, unit, goal):
    r = s / f if f else 0
    print(f"{name:<34} store {s:>9.0f} {unit:<6} fio {f:>9.0f} {unit:<6} ratio {r:5.2f} (goal >= {goal:.2f}) {'OK' if r >= goal else 'BELOW GOAL'}")
line("4 KiB random write, QD32", srw, frw, "txn/s", 0.5)
line("4 MiB sequential write", sseq, fseq, "MB/s", 0.8)
line("4 KiB random read, QD32", srr, frr, "ops/s", 0.8)
print(f"{'metadata for 4 MiB objects':<34} {meta:.3f} % of data (goal <= 1 %) {'OK' if meta <= 1 else 'BELOW GOAL'}")
print(f"{'bytes written per 4 KiB write txn':<34} {bpt:.0f} (data + LMDB, least of the rounds)")
PY
