# Shared helpers for the norn-nbd integration tests (sourced, not run).
# Every test gets a private directory, a norn-nbd daemon on a free
# loopback port, and an EXIT trap that stops what it started, by pid,
# whatever path the script leaves by.
set -uo pipefail

NBD_BIN=${1:?usage: $0 path/to/norn-nbd}
T=$(mktemp -d /tmp/norn-nbd-test.XXXXXX)
SERVER_PID=
PORT=
CLEANUP_HOOKS=()

die() { echo "FAIL: $*" >&2; [ -f "$T/nbd.log" ] && tail -20 "$T/nbd.log" >&2; exit 1; }
ok() { echo "ok     $*"; }

cleanup() {
	local rc=$?
	for ((i = ${#CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do eval "${CLEANUP_HOOKS[$i]}" || true; done
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server [extra args]: daemon on a random free port in 20000-59999.
start_server() {
	mkdir -p "$T/exp"
	for _ in $(seq 20); do
		PORT=$((20000 + RANDOM % 40000))
		# a failed attempt (port taken) must not leave ERR lines behind
		rm -f "$T/nbd.pid" "$T/nbd.log"
		if "$NBD_BIN" --listen "127.0.0.1:$PORT" --listen "unix:$T/nbd.sock" \
		     --export-dir "$T/exp" --pid-file "$T/nbd.pid" --log-file "$T/nbd.log" \
		     --daemon "$@" 2>>"$T/start.err"; then
			SERVER_PID=$(cat "$T/nbd.pid")
			[ -n "$SERVER_PID" ] && return 0
		fi
	done
	cat "$T/start.err" >&2
	die "norn-nbd did not start"
}

# stop_server: SIGTERM, wait, check a clean exit and that the pid file went.
stop_server() {
	kill -TERM "$SERVER_PID" || die "server $SERVER_PID already gone"
	for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$SERVER_PID" 2>/dev/null && die "server ignored SIGTERM"
	[ -e "$T/nbd.pid" ] && die "pid file left behind"
	grep -q "server stopped" "$T/nbd.log" || die "no clean stop in the log"
	SERVER_PID=
}

server_alive() { kill -0 "$SERVER_PID" 2>/dev/null; }
uri() { echo "nbd://127.0.0.1:$PORT/$1"; }
