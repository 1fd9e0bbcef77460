#!/usr/bin/env bash
# ext4 on a norn-nbd export, the way this machine mounts volumes (its
# kernel has no nbd module): nbdfuse turns the export into a file,
# mkfs.ext4 formats it, mount -o loop mounts it; we write a file tree,
# unmount, check the filesystem with fsck.ext4 -n -f (must be clean),
# remount and verify every checksum. Needs root (mount) and FUSE; missing
# either is a failure, not a skip. Every mount and process this script
# creates is undone by pid/path in the EXIT trap.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "needs root to mount (loop device)"
[ -c /dev/fuse ] || die "/dev/fuse missing: FUSE is unavailable, cannot run nbdfuse"
for tool in nbdfuse fusermount3 mkfs.ext4 fsck.ext4 losetup mountpoint sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing (tools/deps.sh installs it)"
done

start_server
mkdir -p "$T/exp/rbd" "$T/fuse" "$T/mnt"
truncate -s 512M "$T/exp/rbd/fs"

FUSE_PID=
unmount_all() {
	if mountpoint -q "$T/mnt"; then umount "$T/mnt" || umount -l "$T/mnt"; fi
	if mountpoint -q "$T/fuse"; then fusermount3 -u "$T/fuse" || fusermount3 -u -z "$T/fuse"; fi
	if [ -n "$FUSE_PID" ]; then
		for _ in $(seq 50); do kill -0 "$FUSE_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$FUSE_PID" 2>/dev/null || true
		FUSE_PID=
	fi
	return 0
}
CLEANUP_HOOKS+=(unmount_all)

nbdfuse -P "$T/fuse.pid" "$T/fuse/disk" "$(uri rbd/fs)" 2>"$T/nbdfuse.err" &
FUSE_PID=$!
for _ in $(seq 100); do
	[ -s "$T/fuse.pid" ] && [ -e "$T/fuse/disk" ] && break
	kill -0 "$FUSE_PID" 2>/dev/null || { cat "$T/nbdfuse.err" >&2; die "nbdfuse exited"; }
	sleep 0.1
done
[ -e "$T/fuse/disk" ] || { cat "$T/nbdfuse.err" >&2; die "nbdfuse did not come up (FUSE unavailable?)"; }
[ "$(stat -c %s "$T/fuse/disk")" = $((512 << 20)) ] || die "nbdfuse file has the wrong size"
ok "nbdfuse serves the export as a file"

mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/fuse/disk" || die "mkfs.ext4"
mount -o loop "$T/fuse/disk" "$T/mnt" || die "mount -o loop"
ok "mkfs.ext4 + mount -o loop"

# A file tree: the source tree, random files from 0 bytes to 24 MiB,
# deep directories, a hard link, a symlink, a sparse file.
cp -r "$(dirname "$0")/../../client" "$(dirname "$0")/../../common" "$T/mnt/" || die "cp tree"
mkdir -p "$T/mnt/deep/a/b/c/d/e/f/g"
for i in $(seq 0 40); do
	head -c $(( (RANDOM * 7919 + i * 104729) % (1 << 20) )) /dev/urandom > "$T/mnt/deep/a/b/f$i"
done
head -c 0 /dev/urandom > "$T/mnt/deep/empty"
head -c $((24 << 20)) /dev/urandom > "$T/mnt/big1"
head -c $((9 << 20)) /dev/urandom > "$T/mnt/deep/a/b/c/d/e/f/g/big2"
ln "$T/mnt/big1" "$T/mnt/deep/hardlink"
ln -s ../big1 "$T/mnt/deep/symlink"
dd if=/dev/urandom of="$T/mnt/sparse" bs=4096 count=1 seek=10000 status=none
rm "$T/mnt/deep/a/b/f3" "$T/mnt/deep/a/b/f7"   # exercise frees (trim on fstrim)
fstrim "$T/mnt" 2>/dev/null || true
(cd "$T/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$T/sums" || die "checksums"
nfiles=$(wc -l < "$T/sums")
[ "$nfiles" -gt 60 ] || die "only $nfiles files written"
umount "$T/mnt" || die "umount"
ok "wrote $nfiles files, unmounted"

fsck.ext4 -n -f "$T/fuse/disk" > "$T/fsck.out" 2>&1
rc=$?
[ $rc = 0 ] || { cat "$T/fsck.out" >&2; die "fsck.ext4 -n -f exit $rc"; }
ok "fsck.ext4 -n -f clean"

mount -o loop,ro "$T/fuse/disk" "$T/mnt" || die "remount"
(cd "$T/mnt" && sha256sum --quiet -c "$T/sums") || die "checksums differ after remount"
[ "$(readlink "$T/mnt/deep/symlink")" = ../big1 ] || die "symlink lost"
[ "$(stat -c %h "$T/mnt/big1")" = 2 ] || die "hard link lost"
umount "$T/mnt" || die "umount"
ok "remounted: all $nfiles checksums match"

fusermount3 -u "$T/fuse" || die "fusermount3 -u"
for _ in $(seq 50); do kill -0 "$FUSE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FUSE_PID" 2>/dev/null && die "nbdfuse did not exit after unmount"
FUSE_PID=
server_alive || die "server died"
grep -q " ERR " "$T/nbd.log" && die "errors in the server log"
stop_server
echo "nbd_ext4: all passed"
