#!/bin/bash
# S3 gateway benchmark (make bench): starts norn-s3 on 127.0.0.1 with the
# fs DEVELOPMENT backend in a temporary directory and runs s3_bench.py
# (boto3, 16 clients). Until the cluster backend exists these figures are
# the gateway + local filesystem, not the cluster. Options:
# S3_BENCH_SECONDS (default 5), S3_BENCH_CLIENTS (default 16).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target norn-s3 norn -j 2 >/dev/null
S3BIN=$(find "$BUILD" -name norn-s3 -type f -perm -u+x | head -1)
NORN=$(find "$BUILD" -path '*tools/norn' -type f -perm -u+x | head -1)
TMP=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
AK=NKBENCHKEY0000000001 SK=bench-secret-000000000000000000000000001
"$NORN" s3 user create bench --access-key "$AK" --secret "$SK" --fs-root "$TMP/store" >/dev/null
"$S3BIN" --s3_fs_root="$TMP/store" --s3_port=0 >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$TMP/out" 2>/dev/null && break; sleep 0.1; done
EP=http://$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$TMP/out")
echo "== S3 gateway (fs development backend), $EP =="
env -u AWS_PROFILE -u http_proxy -u https_proxy AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	/usr/bin/python3 tests/bench/s3_bench.py "$EP" "$AK" "$SK" \
	--clients "${S3_BENCH_CLIENTS:-16}" --seconds "${S3_BENCH_SECONDS:-5}"
echo "gateway RSS after the run: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
# CPU the gateway itself used (user+sys seconds): with a Python client on
# the same 2 cores, this shows how much of the run was the gateway.
echo "gateway CPU: $(awk '{printf "%.1f s", ($14+$15)/100}' /proc/$pid/stat)"
