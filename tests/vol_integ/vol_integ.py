#!/usr/bin/python3
"""Integration tests of volumes and their NBD export on a real cluster
(tests/lib/cluster.py: mons + OSDs on loopback), driven by independent
clients from Debian's archive (nbdinfo, nbdcopy, qemu-img, nbdfuse,
mkfs.ext4, fsck.ext4) and the `norn vol` CLI.

    vol_integ.py BUILD_DIR SECTION

Sections (one ctest each, each with its own cluster):
    cli        create/ls/info/resize/du/import/export/rm/rename round trips,
               lock conflicts (an NBD open refused while another owner
               holds the lock; lock break lets it through)
    nbd        nbdinfo size and flags; nbdcopy of a 256 MiB random file in
               and back out; qemu-img convert to and from the export; an
               out-of-range request; unknown exports
    ext4       nbdfuse + mkfs.ext4 + mount -o loop + a file tree + umount +
               fsck.ext4 -n -f + remount + every checksum
    ext4_kill  the same with kill -9 of one OSD in the middle of the file
               writes (and its restart later): fsck clean, every file intact
    snap       snapshots: taken while norn-nbd has the volume open and while
               it writes, later writes leave them unchanged, pool/vol@snap
               exports read-only, rollback, snap rm frees every clone
               (counted in the stopped OSDs' stores), vol rm with snapshots
    ext4_snap  a snapshot taken while ext4 is mounted mounts ro,noload with
               exactly the old files; rollback; fsck clean; snap rm

ext4 sections need root (loop mounts) and /dev/fuse: missing either is a
failure, not a skip. Every mount, nbdfuse, norn-nbd and daemon this script
starts is undone by pid/path in `finally` blocks and an atexit hook.
"""
import atexit
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from cluster import Cluster  # noqa: E402

MiB = 1 << 20


class Fail(Exception):
    pass


def ok(msg):
    print("ok     " + msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def run(cmd, timeout=300, check_rc=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        raise Fail("%s: exit %d: %s %s" % (" ".join(cmd), r.returncode, r.stdout.strip()[-500:],
                                            r.stderr.strip()[-1500:]))
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class Env:
    """A cluster with pool rbd, the norn CLI and norn-nbd servers we start."""

    def __init__(self, build, osds=3, size=3, min_size=2):
        self.build = os.path.abspath(build)
        self.norn = os.path.join(self.build, "tools", "norn")
        self.nbd_bin = os.path.join(self.build, "client", "nbd", "norn-nbd")
        self.c = Cluster(self.build, mons=1, osds=osds, store_size="1G")
        self.tmp = tempfile.mkdtemp(prefix="norn-vol-integ-")
        self.servers = []     # (pid, port)
        self.c.create_pool("rbd", pg_num=16, size=size, min_size=min_size)
        atexit.register(self.close)

    def cli(self, *args, timeout=300, check_rc=True, stdin=None):
        return run([self.norn, "-c", self.c.conf, "--timeout", "30000"] + list(args),
                   timeout=timeout, check_rc=check_rc, stdin=stdin)

    def nbd_start(self, *extra):
        port = free_port()
        pidf = os.path.join(self.tmp, "nbd-%d.pid" % port)
        logf = os.path.join(self.tmp, "nbd-%d.log" % port)
        run([self.nbd_bin, "--backend", "vol", "-c", self.c.conf, "--listen",
             "127.0.0.1:%d" % port, "--pid-file", pidf, "--log-file", logf, "--daemon"]
            + list(extra), timeout=60)
        with open(pidf) as f:
            pid = int(f.read())
        self.servers.append((pid, port, logf))
        return port

    def nbd_stop(self, port):
        for s in list(self.servers):
            if s[1] == port:
                pid = s[0]
                os.kill(pid, signal.SIGTERM)
                for _ in range(300):
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.1)
                else:
                    os.kill(pid, signal.SIGKILL)
                    raise Fail("norn-nbd %d ignored SIGTERM" % pid)
                self.servers.remove(s)

    def nbd_log(self, port):
        for s in self.servers:
            if s[1] == port:
                with open(s[2]) as f:
                    return f.read()
        return ""

    def close(self):
        for pid, port, logf in self.servers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.servers = []
        if self.c:
            self.c.stop()
            self.c = None
        if not os.environ.get("VOL_INTEG_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


def recv_exact(sk, n):
    b = b""
    while len(b) < n:
        c = sk.recv(n - len(b))
        if not c:
            raise Fail("NBD server closed the connection")
        b += c
    return b


def nbd_go(port, name):
    """A minimal NBD client: fixed-newstyle handshake and NBD_OPT_GO, then
    the connection is left open (it keeps the export, and its lock, open)."""
    sk = socket.create_connection(("127.0.0.1", port), timeout=30)
    hello = recv_exact(sk, 18)
    check(hello[:16] == b"NBDMAGICIHAVEOPT", "bad NBD greeting")
    sk.sendall(struct.pack(">I", 3))                   # FIXED_NEWSTYLE | NO_ZEROES
    nb = name.encode()
    data = struct.pack(">I", len(nb)) + nb + struct.pack(">H", 0)
    sk.sendall(b"IHAVEOPT" + struct.pack(">II", 7, len(data)) + data)   # NBD_OPT_GO
    while True:
        magic, opt, typ, ln = struct.unpack(">QIII", recv_exact(sk, 20))
        recv_exact(sk, ln)
        check(not typ & 0x80000000, "NBD_OPT_GO refused (0x%x)" % typ)
        if typ == 1:                                    # NBD_REP_ACK
            return sk


def uri(port, name):
    return "nbd://127.0.0.1:%d/%s" % (port, name)


# ---- cli ----------------------------------------------------------------------------
def sec_cli(e):
    e.cli("vol", "create", "rbd/a", "100M")
    e.cli("vol", "create", "rbd/b", "1G", "--object-size", "1M")
    r = e.cli("vol", "create", "rbd/a", "1M", check_rc=False)
    check(r.returncode == 1 and "exists" in r.stderr, "duplicate create: %r" % (r,))
    r = e.cli("vol", "create", "rbd/bad@name", "1M", check_rc=False)
    check(r.returncode == 2, "bad name accepted")
    check(e.cli("vol", "ls", "rbd").stdout.split() == ["a", "b"], "ls")
    info = json.loads(e.cli("-f", "json", "vol", "info", "rbd/b").stdout)
    check(info["size"] == 1 << 30 and info["object_size"] == 1 << 20 and info["lock"] is None,
          "info %r" % info)
    ok("create, ls, info")

    # import/export with holes: data at the start, the middle and the end.
    src = os.path.join(e.tmp, "src.img")
    with open(src, "wb") as f:
        f.write(os.urandom(3 * MiB + 5))
        f.seek(40 * MiB)
        f.write(os.urandom(MiB))
        f.seek(64 * MiB - 7)
        f.write(b"the end")
    e.cli("vol", "import", src, "rbd/imp")
    du = json.loads(e.cli("-f", "json", "vol", "du", "rbd/imp").stdout)
    check(du["provisioned"] == 64 * MiB, "du provisioned %r" % du)
    check(du["used"] < 12 * MiB and du["objects"] == 3, "thin import: %r" % du)
    out = os.path.join(e.tmp, "out.img")
    e.cli("vol", "export", "rbd/imp", out)
    check(sha256_file(out) == sha256_file(src), "export differs from import")
    check(os.stat(out).st_blocks * 512 < 16 * MiB, "export not sparse")
    # through pipes
    with open(src, "rb") as f:
        e.cli("vol", "import", "-", "rbd/imp2", "--size", "64M", stdin=f)
    r = subprocess.run([e.norn, "-c", e.c.conf, "vol", "export", "rbd/imp2", "-"],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, "export to stdout failed")
    check(hashlib.sha256(r.stdout).hexdigest() == sha256_file(src), "pipe round trip differs")
    ok("import/export (file and pipe), sparse, du")

    # resize
    e.cli("vol", "resize", "rbd/imp", "128M")
    check(json.loads(e.cli("-f", "json", "vol", "info", "rbd/imp").stdout)["size"] == 128 * MiB,
          "grow")
    r = e.cli("vol", "resize", "rbd/imp", "2M", check_rc=False)
    check(r.returncode == 2 and "allow-shrink" in r.stderr, "shrink without the flag: %r" % (r,))
    e.cli("vol", "resize", "rbd/imp", "2M", "--allow-shrink")
    du = json.loads(e.cli("-f", "json", "vol", "du", "rbd/imp").stdout)
    check(du["provisioned"] == 2 * MiB and du["used"] <= 2 * MiB and du["objects"] == 1,
          "shrink: %r" % du)
    e.cli("vol", "resize", "rbd/imp", "8M")
    e.cli("vol", "export", "rbd/imp", out)
    with open(out, "rb") as f, open(src, "rb") as g:
        got, want = f.read(), g.read(2 * MiB)
    check(got[:2 * MiB] == want and got[2 * MiB:] == bytes(6 * MiB), "regrown tail not zero")
    ok("resize grow, shrink (flag required), regrow reads zeros")

    # rename, rm
    e.cli("vol", "rename", "rbd/imp", "renamed")
    check(e.cli("vol", "ls", "rbd").stdout.split() == ["a", "b", "imp2", "renamed"], "after rename")
    r = e.cli("vol", "info", "rbd/imp", check_rc=False)
    check(r.returncode == 1, "old name still there")
    e.cli("vol", "rm", "rbd/renamed")
    e.cli("vol", "rm", "rbd/imp2")
    check(e.cli("vol", "ls", "rbd").stdout.split() == ["a", "b"], "after rm")
    ok("rename, rm")

    # locks: another owner's live lock keeps norn-nbd out; break lets it in
    e.cli("vol", "lock", "acquire", "rbd/a", "--owner", "someone-else", "--lease", "600000")
    check("someone-else" in e.cli("vol", "lock", "info", "rbd/a").stdout, "lock info")
    port = e.nbd_start()
    r = run(["nbdinfo", uri(port, "rbd/a")], check_rc=False, timeout=60)
    check(r.returncode != 0, "NBD open succeeded under someone else's lock")
    r = e.cli("vol", "rm", "rbd/a", check_rc=False)
    check(r.returncode == 1 and "locked" in r.stderr, "rm under a live lock: %r" % (r,))
    check("broke the lock of someone-else" in e.cli("vol", "lock", "break", "rbd/a").stdout,
          "break")
    r = run(["nbdinfo", "--json", uri(port, "rbd/a")], timeout=60)
    check(json.loads(r.stdout)["exports"][0]["export-size"] == 100 * MiB, "nbdinfo after break")
    # while an export holds it, a CLI acquire is refused
    holder = nbd_go(port, "rbd/a")
    try:
        r = e.cli("vol", "lock", "acquire", "rbd/a", "--owner", "intruder", check_rc=False)
        check(r.returncode == 1 and "locked by norn-nbd@" in r.stderr,
              "second writer got the lock: %r" % (r,))
    finally:
        holder.close()
    time.sleep(0.5)
    check("unlocked" in e.cli("vol", "lock", "info", "rbd/a").stdout, "lock not released on close")
    e.nbd_stop(port)
    ok("lock conflicts: NBD refused under a live lock, break, export holds it, release on close")


# ---- nbd ------------------------------------------------------------------------------
def sec_nbd(e):
    e.cli("vol", "create", "rbd/disk", "300M")
    port = e.nbd_start()
    try:
        info = json.loads(run(["nbdinfo", "--json", uri(port, "rbd/disk")]).stdout)["exports"][0]
        check(info["export-size"] == 300 * MiB, "size %r" % info)
        for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_multi_conn"):
            check(info.get(k) is True, "%s not advertised: %r" % (k, info))
        check(info["is_read_only"] is False, "read-only?")
        lst = run(["nbdinfo", "--list", "--json", "nbd://127.0.0.1:%d" % port]).stdout
        check("rbd/disk" in lst, "NBD_OPT_LIST lacks rbd/disk: %s" % lst)
        r = run(["nbdinfo", uri(port, "rbd/nope")], check_rc=False)
        check(r.returncode != 0, "unknown export opened")
        r = run(["nbdinfo", uri(port, "rbd/disk@nosnap")], check_rc=False)
        check(r.returncode != 0, "unknown snapshot opened")
        ok("nbdinfo: size, flags, list, unknown exports refused")

        src = os.path.join(e.tmp, "rand.bin")
        with open(src, "wb") as f:
            for _ in range(256):
                f.write(os.urandom(MiB))
        t = time.time()
        run(["nbdcopy", src, uri(port, "rbd/disk")], timeout=600)
        t_in = time.time() - t
        back = os.path.join(e.tmp, "back.bin")
        t = time.time()
        run(["nbdcopy", uri(port, "rbd/disk"), back], timeout=600)
        t_out = time.time() - t
        with open(back, "rb+") as f:
            f.truncate(256 * MiB)
        check(sha256_file(back) == sha256_file(src), "nbdcopy round trip differs")
        ok("nbdcopy 256 MiB in (%.0f MB/s) and out (%.0f MB/s): identical"
           % (256 / t_in, 256 / t_out))

        # qemu-img convert into the export and back out
        qsrc = os.path.join(e.tmp, "q.raw")
        with open(qsrc, "wb") as f:
            f.write(os.urandom(20 * MiB))
            f.seek(200 * MiB)
            f.write(os.urandom(MiB))
            f.truncate(300 * MiB)
        run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", qsrc, uri(port, "rbd/disk")],
            timeout=600)
        qout = os.path.join(e.tmp, "q.out")
        run(["qemu-img", "convert", "-f", "raw", "-O", "raw", uri(port, "rbd/disk"), qout],
            timeout=600)
        check(sha256_file(qout) == sha256_file(qsrc), "qemu-img round trip differs")
        run(["qemu-img", "compare", "-f", "raw", "-F", "raw", qsrc, uri(port, "rbd/disk")])
        ok("qemu-img convert to and from the export, compare")
        check(" ERR " not in e.nbd_log(port), "errors in the norn-nbd log")
    finally:
        e.nbd_stop(port)
    # the lock went with the server
    check("unlocked" in e.cli("vol", "lock", "info", "rbd/disk").stdout, "lock left behind")
    ok("norn-nbd stopped cleanly, lock released")


# ---- ext4 ------------------------------------------------------------------------------
class Mount:
    """nbdfuse + loop mount, undone on every path."""

    def __init__(self, e, port, name):
        self.e = e
        self.fuse_dir = tempfile.mkdtemp(prefix="fuse-", dir=e.tmp)
        self.mnt = tempfile.mkdtemp(prefix="mnt-", dir=e.tmp)
        self.disk = os.path.join(self.fuse_dir, "disk")
        self.err = open(os.path.join(e.tmp, "nbdfuse.err"), "ab")
        self.fuse = subprocess.Popen(["nbdfuse", self.disk, uri(port, name)], stdout=self.err,
                                     stderr=self.err, start_new_session=True)
        for _ in range(200):
            if os.path.exists(self.disk):
                break
            if self.fuse.poll() is not None:
                raise Fail("nbdfuse exited %d" % self.fuse.returncode)
            time.sleep(0.05)
        else:
            raise Fail("nbdfuse did not come up")
        self.mounted = False

    def mount(self, ro=False, opts=""):
        run(["mount", "-o", "loop" + (",ro" if ro else "") + opts, self.disk, self.mnt])
        self.mounted = True

    def umount(self):
        if self.mounted:
            run(["umount", self.mnt], timeout=600)
            self.mounted = False

    def close(self):
        if self.mounted:
            r = subprocess.run(["umount", self.mnt], capture_output=True, timeout=600)
            if r.returncode:
                subprocess.run(["umount", "-l", self.mnt], timeout=60)
            self.mounted = False
        if self.fuse is not None:
            subprocess.run(["fusermount3", "-u", self.fuse_dir], capture_output=True, timeout=60)
            try:
                self.fuse.wait(timeout=10)
            except subprocess.TimeoutExpired:
                subprocess.run(["fusermount3", "-u", "-z", self.fuse_dir], capture_output=True)
                self.fuse.kill()
                self.fuse.wait(timeout=10)
            self.fuse = None
        self.err.close()


def make_tree(rng, root, n_files, sums, on_file=None):
    """Write n_files files (0 B .. 3 MiB, a few bigger) under root; record
    their checksums after each is written and fsynced."""
    for i in range(n_files):
        d = os.path.join(root, "d%02d" % (i % 13), "s%d" % (i % 5))
        os.makedirs(d, exist_ok=True)
        size = rng.choice([0, 1, 4095, 4096, 65537, 300000, 1 << 20, 3 << 20]) \
            if i % 17 else 12 << 20
        data = rng.randbytes(size)
        p = os.path.join(d, "f%04d" % i)
        with open(p, "wb") as f:
            f.write(data)
            # fsync: the bytes go through loop, nbdfuse and norn-nbd to the
            # cluster now, so an OSD kill lands in the middle of real I/O.
            f.flush()
            os.fsync(f.fileno())
        sums[os.path.relpath(p, root)] = hashlib.sha256(data).hexdigest()
        if on_file:
            on_file(i)


def verify_tree(root, sums):
    bad = [rel for rel, h in sums.items() if sha256_file(os.path.join(root, rel)) != h]
    check(not bad, "%d files differ, e.g. %s" % (len(bad), bad[:3]))


def ext4_common(e, kill_osd):
    check(os.geteuid() == 0, "needs root to mount (loop device)")
    check(os.path.exists("/dev/fuse"), "/dev/fuse missing: FUSE unavailable")
    for tool in ("nbdfuse", "fusermount3", "mkfs.ext4", "fsck.ext4", "mount"):
        check(shutil.which(tool), "%s missing (tools/deps.sh)" % tool)
    e.cli("vol", "create", "rbd/fs", "512M")
    port = e.nbd_start()
    m = None
    try:
        m = Mount(e, port, "rbd/fs")
        run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", m.disk],
            timeout=600)
        m.mount()
        ok("nbdfuse + mkfs.ext4 + mount -o loop")
        sums = {}
        rng = random.Random(1234)
        killed = []
        n_files = 160

        def maybe_kill(i):
            # kill -9 one OSD a third of the way in, start it again at two
            # thirds: writes keep going through both transitions.
            if kill_osd and i == n_files // 3:
                osd = sorted(e.c.osd_pids())[1]
                e.c.kill_osd(osd, signal.SIGKILL)
                killed.append((osd, time.time()))
                print("       killed osd.%d (kill -9) after %d files" % (osd, i), flush=True)
            if kill_osd and i == 2 * n_files // 3 and killed and \
                    not os.environ.get("VOL_INTEG_NO_RESTART"):
                e.c.start_osd(killed[0][0])
                print("       restarted osd.%d" % killed[0][0], flush=True)
        t = time.time()
        make_tree(rng, m.mnt, n_files, sums, maybe_kill)
        os.sync()
        written = sum(os.path.getsize(os.path.join(m.mnt, r)) for r in sums)
        ok("wrote %d files (%.0f MiB) in %.1f s, synced%s" % (
            len(sums), written / MiB, time.time() - t,
            ", with osd.%d killed and restarted mid-way" % killed[0][0] if killed else ""))
        verify_tree(m.mnt, sums)
        m.umount()
        m.close()
        m = None
        # Check what the cluster holds, not a cache: a new norn-nbd and a
        # new nbdfuse (the old ones' logs are checked first).
        log = e.nbd_log(port)
        check(" ERR " not in log, "errors in the norn-nbd log")
        e.nbd_stop(port)
        port = e.nbd_start()
        m = Mount(e, port, "rbd/fs")
        r = run(["fsck.ext4", "-n", "-f", m.disk], check_rc=False, timeout=600)
        check(r.returncode == 0, "fsck.ext4 -n -f exit %d: %s" % (r.returncode, r.stdout[-2000:]))
        ok("fsck.ext4 -n -f clean (through a fresh norn-nbd and nbdfuse)")
        m.mount(ro=True)
        try:
            verify_tree(m.mnt, sums)
        except Fail as x:
            if not killed or not os.environ.get("VOL_INTEG_DIAG"):
                raise
            # Diagnosis: read again with the restarted OSD down. If the
            # other replicas hold the right bytes, the restarted OSD served
            # stale objects (it was not recovered before serving).
            m.close()
            m = None
            e.c.kill_osd(killed[0][0], signal.SIGKILL)
            e.c.wait_osds_up([killed[0][0]], up=False)
            e.nbd_stop(port)
            port = e.nbd_start()
            m = Mount(e, port, "rbd/fs")
            m.mount(ro=True)
            try:
                verify_tree(m.mnt, sums)
                raise Fail("%s; with osd.%d down again every file matches: the restarted "
                           "OSD served stale data" % (x, killed[0][0]))
            except Fail as y:
                if "stale" in str(y):
                    raise
                raise Fail("%s; still wrong with osd.%d down: %s" % (x, killed[0][0], y))
        m.umount()
        ok("remounted: all %d checksums match" % len(sums))
        m.close()
        m = None
        log = e.nbd_log(port)
        check(" ERR " not in log, "errors in the norn-nbd log")
    finally:
        if m:
            m.close()
        e.nbd_stop(port)


# ---- snapshots --------------------------------------------------------------------------
def count_clones(e):
    """Stop every OSD, count the hidden snapshot objects (clones and
    snapdirs, names starting with byte 0xff) in their stores, restart."""
    ids = sorted(e.c.osd_pids())
    for i in ids:
        e.c.kill_osd(i, signal.SIGTERM)
    n = 0
    try:
        for i in ids:
            rc, out, err = e.c.store_tool(i, "ls")
            check(rc == 0, "norn-store ls: %s" % err)
            for cid in out.decode().split():
                rc, out, err = e.c.store_tool(i, "ls", cid)
                check(rc == 0, "norn-store ls %s: %s" % (cid, err))
                n += sum(1 for ln in out.split(b"\n") if ln.startswith(b"\xff"))
    finally:
        for i in ids:
            e.c.start_osd(i)
        e.c.wait_osds_up(ids)
    return n


def nbd_read_all(port, name, path):
    run(["nbdcopy", uri(port, name), path], timeout=600)
    return sha256_file(path)


def sec_snap(e):
    e.cli("vol", "create", "rbd/s", "32M")
    a = os.path.join(e.tmp, "a.bin")
    with open(a, "wb") as f:
        f.write(os.urandom(32 * MiB))
    port = e.nbd_start()
    try:
        run(["nbdcopy", a, uri(port, "rbd/s")], timeout=600)
        # an open connection keeps the export (and its lock): snap create
        # waits for the writer to switch to the new snap context
        sk = nbd_go(port, "rbd/s")
        t = time.time()
        e.cli("vol", "snap", "create", "rbd/s@one")
        check("snap context now" in e.nbd_log(port), "the writer did not take the snapshot")
        ok("snap create while norn-nbd has the volume open (%.1f s)" % (time.time() - t))
        r = e.cli("vol", "snap", "rollback", "rbd/s@one", check_rc=False)
        check(r.returncode != 0, "rollback allowed while norn-nbd holds the lock")
        sk.close()
        b = os.path.join(e.tmp, "b.bin")
        with open(a, "rb") as f:
            data = bytearray(f.read())
        data[5 * MiB:13 * MiB] = os.urandom(8 * MiB)
        with open(b, "wb") as f:
            f.write(data)
        run(["nbdcopy", b, uri(port, "rbd/s")], timeout=600)
        info = json.loads(run(["nbdinfo", "--json", uri(port, "rbd/s@one")]).stdout)["exports"][0]
        check(info["is_read_only"] is True, "snapshot export not read-only: %r" % info)
        check(info["export-size"] == 32 * MiB, "snapshot size %r" % info)
        ok("rbd/s@one exports read-only (nbdinfo)")
        check(nbd_read_all(port, "rbd/s@one", os.path.join(e.tmp, "s1")) == sha256_file(a),
              "snapshot contents changed by later writes")
        check(nbd_read_all(port, "rbd/s", os.path.join(e.tmp, "h1")) == sha256_file(b),
              "head does not have the new data")
        ok("writes after the snapshot leave it unchanged; the head has them")
        ex = os.path.join(e.tmp, "export-one.bin")
        e.cli("vol", "export", "rbd/s@one", ex)
        check(sha256_file(ex) == sha256_file(a), "norn vol export of the snapshot differs")
        ok("norn vol export rbd/s@one: the snapshot's bytes")
        r = run(["qemu-io", "-f", "raw", "-c", "write 0 4k", uri(port, "rbd/s@one")],
                check_rc=False)
        check(r.returncode != 0 or "error" in (r.stdout + r.stderr).lower(),
              "write to a snapshot accepted: %s" % r.stdout)

        # a snapshot taken while a writer is busy: it must be readable and
        # the writer's data must all be in the head afterwards
        c = os.path.join(e.tmp, "c.bin")
        with open(c, "wb") as f:
            f.write(os.urandom(32 * MiB))
        th_err = []

        def writer():
            try:
                run(["nbdcopy", c, uri(port, "rbd/s")], timeout=600)
            except Exception as x:  # noqa: BLE001
                th_err.append(x)
        th = threading.Thread(target=writer)
        th.start()
        time.sleep(0.5)
        e.cli("vol", "snap", "create", "rbd/s@two")
        th.join()
        check(not th_err, "writer failed: %s" % th_err)
        check(nbd_read_all(port, "rbd/s", os.path.join(e.tmp, "h2")) == sha256_file(c),
              "head lost writes made while the snapshot was taken")
        nbd_read_all(port, "rbd/s@two", os.path.join(e.tmp, "s2"))
        check(nbd_read_all(port, "rbd/s@one", os.path.join(e.tmp, "s1b")) == sha256_file(a),
              "first snapshot changed")
        ok("snap create while writing: head complete, both snapshots readable")
        ls = e.cli("vol", "snap", "ls", "rbd/s").stdout
        check("one" in ls and "two" in ls, "snap ls: %s" % ls)
    finally:
        e.nbd_stop(port)
    n_before = count_clones(e)
    check(n_before > 0, "no clones after writes following snapshots")
    e.cli("vol", "snap", "rollback", "rbd/s@one")
    port = e.nbd_start()
    try:
        check(nbd_read_all(port, "rbd/s", os.path.join(e.tmp, "h3")) == sha256_file(a),
              "rollback did not restore the snapshot")
        check(nbd_read_all(port, "rbd/s@two", os.path.join(e.tmp, "s2b"))
              == sha256_file(os.path.join(e.tmp, "s2")), "rollback changed another snapshot")
    finally:
        e.nbd_stop(port)
    ok("snap rollback rbd/s@one: the head is the snapshot again, @two unchanged")
    e.cli("vol", "snap", "rm", "rbd/s@one")
    e.cli("vol", "snap", "rm", "rbd/s@two")
    check("one" not in e.cli("vol", "snap", "ls", "rbd/s").stdout, "snap rm left it listed")
    n_after = count_clones(e)
    check(n_after == 0, "%d clones left after removing every snapshot (%d before)"
          % (n_after, n_before))
    ok("snap rm frees the clones (%d hidden objects before, 0 after)" % n_before)
    # deleted heads: a shrink removes objects the snapshot still needs
    e.cli("vol", "snap", "create", "rbd/s@three")
    port = e.nbd_start()
    try:
        d = os.path.join(e.tmp, "d.bin")
        with open(d, "wb") as f:
            f.write(os.urandom(32 * MiB))
        run(["nbdcopy", d, uri(port, "rbd/s")], timeout=600)
    finally:
        e.nbd_stop(port)
    e.cli("vol", "resize", "rbd/s", "8M", "--allow-shrink")
    port = e.nbd_start()
    try:
        check(nbd_read_all(port, "rbd/s@three", os.path.join(e.tmp, "s3")) == sha256_file(a),
              "a shrink of the head changed the snapshot")
    finally:
        e.nbd_stop(port)
    ok("shrinking the volume keeps what the snapshot needs")
    e.cli("vol", "snap", "rm", "rbd/s@three")
    n = count_clones(e)
    check(n == 0, "%d clones left after snap rm with deleted heads" % n)
    ok("snap rm frees the clones of deleted objects too")
    e.cli("vol", "resize", "rbd/s", "32M")
    e.cli("vol", "snap", "create", "rbd/s@four")
    port = e.nbd_start()
    try:
        run(["nbdcopy", a, uri(port, "rbd/s")], timeout=600)
    finally:
        e.nbd_stop(port)
    e.cli("vol", "rm", "rbd/s")
    check(count_clones(e) == 0, "vol rm left snapshot objects")
    ok("vol rm of a volume with a snapshot and clones leaves no objects behind")



def sec_ext4_snap(e):
    """A snapshot taken while ext4 is mounted on the volume exports
    read-only and mounts (ro,noload) with exactly the old contents; a
    rollback brings them back to the head."""
    check(os.geteuid() == 0, "needs root to mount (loop device)")
    check(os.path.exists("/dev/fuse"), "/dev/fuse missing: FUSE unavailable")
    e.cli("vol", "create", "rbd/fs", "256M")
    port = e.nbd_start()
    m = ms = None
    try:
        m = Mount(e, port, "rbd/fs")
        run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", m.disk],
            timeout=600)
        m.mount()
        rng = random.Random(77)
        old = {}
        make_tree(rng, os.path.join(m.mnt), 40, old)
        os.sync()
        t = time.time()
        e.cli("vol", "snap", "create", "rbd/fs@before")
        ok("40 files written, synced, snapshot taken while mounted (%.1f s)" % (time.time() - t))
        # change the head: new files, overwritten and deleted old ones
        new = {}
        os.makedirs(os.path.join(m.mnt, "later"), exist_ok=True)
        make_tree(rng, os.path.join(m.mnt, "later"), 30, new)
        changed = sorted(old)[:10]
        for rel in changed[:5]:
            with open(os.path.join(m.mnt, rel), "wb") as f:
                f.write(b"changed after the snapshot\n" * 1000)
        for rel in changed[5:]:
            os.unlink(os.path.join(m.mnt, rel))
        os.sync()
        ok("head changed after the snapshot: 30 new files, 5 overwritten, 5 deleted, synced")
        info = json.loads(run(["nbdinfo", "--json", uri(port, "rbd/fs@before")]).stdout)
        check(info["exports"][0]["is_read_only"] is True, "snapshot export writable")
        ms = Mount(e, port, "rbd/fs@before")
        ms.mount(ro=True, opts=",noload")
        verify_tree(ms.mnt, old)
        files = set()
        for root, dirs, fs in os.walk(ms.mnt):
            for fn in fs:
                files.add(os.path.relpath(os.path.join(root, fn), ms.mnt))
        files.discard("lost+found")
        check(files == set(old), "snapshot file set differs: extra %s missing %s"
              % (sorted(files - set(old))[:3], sorted(set(old) - files)[:3]))
        ok("snapshot mounted ro,noload over nbdfuse: exactly the %d old files, every checksum"
           % len(old))
        ms.umount()
        ms.close()
        ms = None
        m.umount()
        m.close()
        m = None
    finally:
        if ms:
            ms.close()
        if m:
            m.close()
        e.nbd_stop(port)
    e.cli("vol", "snap", "rollback", "rbd/fs@before")
    port = e.nbd_start()
    try:
        m = Mount(e, port, "rbd/fs")
        m.mount()
        verify_tree(m.mnt, old)
        check(not os.path.exists(os.path.join(m.mnt, "later")), "rollback kept later files")
        m.umount()
        r = run(["fsck.ext4", "-n", "-f", m.disk], check_rc=False, timeout=600)
        check(r.returncode == 0, "fsck after rollback: exit %d: %s" % (r.returncode,
                                                                        r.stdout[-1500:]))
        m.close()
        m = None
        ok("rolled back: the old files again, fsck.ext4 -n -f clean")
    finally:
        if m:
            m.close()
        e.nbd_stop(port)
    e.cli("vol", "snap", "rm", "rbd/fs@before")
    n = count_clones(e)
    check(n == 0, "%d clones left after snap rm" % n)
    ok("snap rm: no clones left")



def main():
    build, section = sys.argv[1], sys.argv[2]
    fns = {"cli": sec_cli, "nbd": sec_nbd, "snap": sec_snap, "ext4_snap": sec_ext4_snap,
           "ext4": lambda e: ext4_common(e, False),
           "ext4_kill": lambda e: ext4_common(e, True)}
    if section not in fns:
        print("unknown section %s" % section, file=sys.stderr)
        return 2
    e = None
    try:
        e = Env(build, osds=4 if section == "ext4_kill" else 3)
        fns[section](e)
    except Fail as x:
        print("FAIL: %s" % x, file=sys.stderr)
        if e:
            for pid, port, logf in e.servers:
                os.system("tail -20 %s >&2" % logf)
        return 1
    finally:
        if e:
            e.close()
    print("vol_integ %s: all passed" % section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
