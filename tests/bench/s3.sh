#!/bin/bash
# S3 gateway benchmark (make bench) on a real cluster: tests/lib/cluster.py
# starts 1 mon + S3_BENCH_OSDS OSDs (default 3, pool "s3", size 2), then
# norn-s3 with the cluster backend. The load generator is tests/bench/
# s3_load.c (C, raw HTTP/1.1 keep-alive, SigV4): PUT and GET of 4 KiB
# objects (objects/s) and 64 MiB objects (MB/s) with S3_BENCH_CLIENTS
# (default 16) connections; next to it, in the same run, `norn bench` on
# the same cluster (4 MiB writes, sequential reads, 16 in flight), MD5 and
# SHA-256 throughput of one core, and the gateway's RSS with 1,000 open
# connections. S3_BENCH_SECONDS per phase (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECS=${S3_BENCH_SECONDS:-5}
CLIENTS=${S3_BENCH_CLIENTS:-16}
OSDS=${S3_BENCH_OSDS:-3}
# S3BIN=path overrides the gateway binary (e.g. an older build to compare);
# S3_BENCH_PHASES=small runs only the 4 KiB phases; =bigput only the
# 64 MiB PUT phase (then norn bench write, for the ratio).
# S3_BENCH_PERF=FILE records `perf record -g` of the gateway during the
# 64 MiB PUT phase into FILE.
PHASES=${S3_BENCH_PHASES:-all}
PERF=${S3_BENCH_PERF:-}
# GC passes every second here (default 5 s): keep the orphan scan at its
# default rate (200 objects per 5 s pass). Older gateways lack the option.
EXTRA=${S3_BENCH_GW_ARGS---s3_orphan_scan_per_pass=40}
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target norn-s3 norn norn-mon norn-osd s3_load -j 2 >/dev/null
S3BIN=${S3BIN:-$BUILD/client/s3/norn-s3}
NORN=$BUILD/tools/norn
LOAD=$BUILD/tests/s3/s3_load
TMP=$(mktemp -d /tmp/norn-s3-bench.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
		# The gateway's MD5 statistics (logged at exit).
		grep -ho "body MD5 [bp].*" "$TMP/err" "$TMP/out" 2>/dev/null | sed 's/^/gateway /' || true
		# S3_BENCH_KEEP_LOG=FILE keeps the gateway's log.
		[ -n "${S3_BENCH_KEEP_LOG:-}" ] && cp "$TMP/err" "$S3_BENCH_KEEP_LOG" || true
	fi
	python3 tests/lib/cluster.py stop "$TMP/cluster" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
python3 tests/lib/cluster.py start "$TMP/cluster" --mons 1 --osds "$OSDS" --build "$BUILD" \
	--pool s3 --pg-num 32 --size 2 --store-size 6G --base-port $((20000 + RANDOM % 20000)) >/dev/null
CONF=$TMP/cluster/norn.conf
AK=NKBENCHKEY0000000001 SK=bench-secret-000000000000000000000000001
"$NORN" -c "$CONF" s3 user create bench --access-key "$AK" --secret "$SK" >/dev/null
# The gateway's own identity, with only the caps it needs.
"$NORN" -c "$CONF" auth add client.s3 mon 'allow r' osd 'allow rw pool=s3' >/dev/null
printf '[client.s3]\nkey = %s\n' "$("$NORN" -c "$CONF" -f json auth get client.s3 |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')" >"$TMP/s3.keyring"
"$S3BIN" -c "$CONF" --s3_backend=norn --s3_client_name=client.s3 \
	--keyring="$TMP/s3.keyring" --s3_port=0 \
	--s3_gc_delay_ms=0 --s3_gc_interval_ms=1000 $EXTRA >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 200); do grep -q "listening on" "$TMP/out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$TMP/out")
EP=http://127.0.0.1:$PORT
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE http_proxy https_proxy HTTP_PROXY HTTPS_PROXY || true
/usr/bin/python3 - "$EP" "$AK" "$SK" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
                  aws_secret_access_key=sys.argv[3], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="bench")
PY
echo "== S3 gateway on a cluster of 1 mon + $OSDS OSDs (pool size 2), $EP, $CLIENTS clients, ${SECS}s per phase =="
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
run() { "$LOAD" 127.0.0.1 "$PORT" "$AK" "$SK" bench "$@"; }
# One phase, with the gateway's own CPU per request (user + system time of
# the norn-s3 process over the phase / requests done).
phase() {
	local c0 c1 o ops
	c0=$(awk '{print $14+$15}' /proc/$pid/stat)
	o=$(run "$@")
	c1=$(awk '{print $14+$15}' /proc/$pid/stat)
	ops=$(echo "$o" | sed -n 's/.* ops=\([0-9]*\).*/\1/p')
	echo "$o gw_cpu_us_per_req=$(( ops > 0 ? (c1 - c0) * 10000 / ops : 0 ))"
}
if [ "$PHASES" != bigput ]; then
	out=$(phase put 4096 "$CLIENTS" "$SECS"); echo "s3 $out"
	keys=$(echo "$out" | sed -n 's/.*keys_per_client=\([0-9]*\).*/\1/p')
	echo "s3 $(phase get 4096 "$CLIENTS" "$SECS" "$keys")"
fi
if [ "$PHASES" = all ] || [ "$PHASES" = bigput ]; then
	perfpid=
	if [ -n "$PERF" ]; then
		perf record -g -o "$PERF" -p "$pid" >/dev/null 2>&1 &
		perfpid=$!
	fi
	echo "s3 $(phase put $((64 << 20)) "$CLIENTS" "$SECS" 1)"
	if [ -n "$perfpid" ]; then
		kill -INT "$perfpid" 2>/dev/null || true
		wait "$perfpid" 2>/dev/null || true
	fi
fi
if [ "$PHASES" = all ]; then
	echo "s3 $(phase get $((64 << 20)) "$CLIENTS" "$SECS" 1)"
fi
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "gateway CPU over the S3 phases: $(( (cpu1 - cpu0) / 100 )) s"
echo "gateway RSS after the S3 phases: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
/usr/bin/python3 - "$PORT" "$pid" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
conns = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    conns.append(s)
time.sleep(1.0)
rss = [l for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0].split()[1]
print("gateway RSS with 1000 open connections: %d MiB" % (int(rss) // 1024))
for s in conns:
    s.close()
PY
"$NORN" -c "$CONF" pool create bench 32 --size 2 >/dev/null
echo "== norn bench (same cluster, pool size 2, 16 in flight) =="
"$NORN" -c "$CONF" bench bench "$SECS" write -b 4M -t 16 --no-cleanup | grep -E "Bandwidth|Average IOPS|p50|Total"
if [ "$PHASES" != bigput ]; then
	"$NORN" -c "$CONF" bench bench "$SECS" seq -t 16 | grep -E "Bandwidth|Average IOPS|p50|Total"
fi
/usr/bin/python3 - <<'PY'
import hashlib, os, time
buf = os.urandom(256 << 20)
for name in ("md5", "sha256"):
    t = time.perf_counter()
    hashlib.new(name, buf).digest()
    print("%s one core: %.0f MB/s" % (name, len(buf) / (time.perf_counter() - t) / 1e6))
PY
