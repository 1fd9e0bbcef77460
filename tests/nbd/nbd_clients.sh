#!/usr/bin/env bash
# norn-nbd against independent NBD clients from Debian's archive:
# nbdinfo (size, flags, --list, errors), nbdcopy (256 MiB random data in
# and back out, byte-identical, over several connections), qemu-img
# convert (to and from the export), nbddump, and a unix socket listener.
source "$(dirname "$0")/lib.sh"
for tool in nbdinfo nbdcopy nbddump qemu-img /usr/bin/python3; do
	command -v "$tool" >/dev/null || die "$tool is missing (tools/deps.sh installs it)"
done

start_server
mkdir -p "$T/exp/rbd"
truncate -s 300M "$T/exp/rbd/vol1"
truncate -s 64M "$T/exp/rbd/vol1@snap"
truncate -s 256M "$T/exp/rbd/qemu"

# --- nbdinfo: size and flags -------------------------------------------------
json() { nbdinfo --json "$(uri "$1")"; }
field() { /usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin)["exports"][0]; print(e[sys.argv[1]])' "$1"; }
j=$(json rbd/vol1) || die "nbdinfo rbd/vol1"
[ "$(field export-size <<<"$j")" = 314572800 ] || die "size: $(field export-size <<<"$j")"
for f in can_flush can_fua can_trim can_zero can_multi_conn; do
	[ "$(field $f <<<"$j")" = True ] || die "rbd/vol1 $f is not true"
done
[ "$(field is_read_only <<<"$j")" = False ] || die "rbd/vol1 is read-only"
[ "$(field block_size_maximum <<<"$j")" = 33554432 ] || die "max block size"
[ "$(nbdinfo --size "$(uri rbd/vol1)")" = 314572800 ] || die "nbdinfo --size"
j=$(json rbd/vol1@snap) || die "nbdinfo snapshot"
[ "$(field is_read_only <<<"$j")" = True ] || die "snapshot is not read-only"
[ "$(field can_trim <<<"$j")" = False ] || die "snapshot can trim"
[ "$(field export-size <<<"$j")" = 67108864 ] || die "snapshot size"
ok "nbdinfo: size, flags, read-only snapshot"

list=$(nbdinfo --list --json "nbd://127.0.0.1:$PORT") || die "nbdinfo --list"
names=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(e["export-name"] for e in json.load(sys.stdin)["exports"])))' <<<"$list")
[ "$names" = "rbd/qemu rbd/vol1 rbd/vol1@snap" ] || die "list: '$names'"
ok "nbdinfo --list: $names"

nbdinfo "$(uri rbd/nope)" >/dev/null 2>&1 && die "unknown export accepted"
nbdinfo "$(uri ../etc/passwd)" >/dev/null 2>&1 && die "path escape accepted"
nbdinfo "nbd://127.0.0.1:$PORT" >/dev/null 2>&1 && die "empty name accepted without a default"
server_alive || die "server died"
ok "nbdinfo: unknown exports refused"

j=$(nbdinfo --json "nbd+unix:///rbd/vol1?socket=$T/nbd.sock") || die "unix socket"
[ "$(field export-size <<<"$j")" = 314572800 ] || die "unix socket size"
ok "unix socket listener"

# --- nbdcopy: 256 MiB in and out -----------------------------------------------
head -c 256M /dev/urandom > "$T/rand.bin"
nbdcopy --flush "$T/rand.bin" "$(uri rbd/vol1)" || die "nbdcopy in"
nbdcopy "$(uri rbd/vol1)" "$T/out.bin" || die "nbdcopy out"
head -c 256M "$T/out.bin" | cmp - "$T/rand.bin" || die "nbdcopy round trip differs"
cmp -n $((256 << 20)) "$T/exp/rbd/vol1" "$T/rand.bin" || die "backing file differs"
# The last 44 MiB were never written: they read as zeros.
tail -c $((44 << 20)) "$T/out.bin" | cmp - <(head -c $((44 << 20)) /dev/zero) || die "tail not zero"
rm -f "$T/out.bin"
ok "nbdcopy: 256 MiB random in and out, identical"

# Single connection, synchronous, small requests: another code path.
nbdcopy --synchronous --request-size=65536 "$(uri rbd/vol1)" "$T/out2.bin" || die "nbdcopy sync"
head -c 256M "$T/out2.bin" | cmp - "$T/rand.bin" || die "nbdcopy sync differs"
rm -f "$T/out2.bin"
ok "nbdcopy --synchronous: identical"

# --- qemu-img convert to and from the export --------------------------------------
qemu-img convert -n -f raw -O raw "$T/rand.bin" "$(uri rbd/qemu)" || die "qemu-img to export"
qemu-img convert -f raw -O raw "$(uri rbd/qemu)" "$T/q.out" || die "qemu-img from export"
cmp "$T/q.out" "$T/rand.bin" || die "qemu-img round trip differs"
qemu-img compare -f raw -F raw "$T/rand.bin" "$(uri rbd/qemu)" >/dev/null || die "qemu-img compare"
rm -f "$T/q.out"
ok "qemu-img convert to and from the export, identical"

# --- nbddump reads what was written at an offset ---------------------------------------
want=$(head -c 16 "$T/rand.bin" | od -An -tx1 | tr -d ' \n')
got=$(nbddump -n 16 "$(uri rbd/vol1)" 2>/dev/null | head -1 | awk '{for(i=2;i<=17;i++) printf "%s", $i}')
[ -n "$got" ] || die "nbddump produced nothing"
[ "$got" = "$want" ] || die "nbddump: $got != $want"
ok "nbddump"

server_alive || die "server died during the run"
grep -q " ERR " "$T/nbd.log" && die "errors in the server log"
stop_server
ok "clean SIGTERM stop, pid file removed"
echo "nbd_clients: all passed"
