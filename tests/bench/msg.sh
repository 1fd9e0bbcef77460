#!/bin/bash
# Messenger benchmark: 4 KiB round trips/s and 4 MiB stream MB/s over
# loopback, each next to plain sockets measured in the same run, plain
# TCP and then TLS. Run by `make bench` (tests/bench/run.sh) after the
# release build in ${BUILD:-build}. Options: MSG_BENCH_SECONDS (default 2),
# MSG_BENCH_ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target bench_msg -j 2 >/dev/null
BIN=$(find "$BUILD" -name bench_msg -type f -perm -u+x | head -1)
SECS=${MSG_BENCH_SECONDS:-2}
ROUNDS=${MSG_BENCH_ROUNDS:-3}
echo "== messenger (plain TCP) =="
"$BIN" --seconds "$SECS" --rounds "$ROUNDS"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=norn-bench \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
echo "== messenger (TLS) =="
NORN_BENCH_TLS_CERT="$TMP/cert.pem" NORN_BENCH_TLS_KEY="$TMP/key.pem" \
	"$BIN" --seconds "$SECS" --rounds "$ROUNDS" --tls
