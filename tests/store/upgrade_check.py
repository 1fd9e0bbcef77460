#!/usr/bin/python3
"""Upgrade check of the object store: a cluster made by OLD binaries (a
build of a commit before the store's write-ahead log, e.g. 58f5fda) is
opened by NEW binaries, and everything must read back identical.

    upgrade_check.py OLD_BUILD NEW_BUILD [--dir DIR] [--keep] [--reverse]

Run by tests/store/upgrade_check.sh (not in make check: it needs an old
build). Steps:

  A (old binaries, old tests/lib/cluster.py of the old build's source
    tree): 1 mon, 3 OSDs; pools "data" and "rbd" (size 3, min_size 2);
    objects of many sizes (0 B .. 4 MiB, around block boundaries),
    partial overwrites, a truncate, removed objects, omap keys (binary
    values, removed keys), xattrs (binary and empty values); a volume
    (norn vol import), a snapshot, then the head rewritten in places
    through the old norn-nbd (nbdcopy). A manifest of every sha256. Stop;
    old norn-store fsck and dump of every store.
  B (new binaries): new norn-store dump of every store before any new
    daemon runs (its mount is the store's first mount by the new code: the
    log ring is taken there) must equal the old dump byte for byte;
    norn-store fsck clean; the large objects read by norn-store equal the
    manifest. Start the cluster with the new binaries: every object, omap,
    xattr, listing, volume head and snapshot reads back identical. Stop;
    fsck clean. Start again; a writer (new libnorn) writes objects while
    osd.1 is killed with SIGKILL mid-write and restarted; all PGs
    active+clean; the manifest and every acknowledged new write verified.
    Stop; fsck clean on every store.
  C (--reverse, report only; not expected to work): C1: the OLD binaries
    on the stores the new code stopped cleanly: old norn-store fsck, old
    daemons, the manifest read. C2: a new OSD killed (SIGKILL) mid-write,
    the OLD osd run on its store, then the NEW osd started on it again.
    What happens is printed, never judged.

Object reads and omap/xattr calls go through libnorn.so via ctypes, in a
child process per build (the old and new libnorn are never loaded into the
same process). Exit 0 when A and B passed.
"""
import argparse
import ctypes
import hashlib
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

MiB = 1 << 20
SIZES = [0, 1, 511, 4095, 4096, 4097, 8192, 65535, 131079, MiB, MiB + 1,
         3 * MiB + 12345, 4 * MiB]
N_SMALL = 120
VOL_BYTES = 16 * MiB
CLEAN_TIMEOUT = 180


class Fail(Exception):
    pass


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def content(name, size):
    """Deterministic bytes for object `name` of `size` bytes."""
    return random.Random("%s/%d" % (name, size)).randbytes(size)


def source_dir(build):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith("CMAKE_HOME_DIRECTORY:"):
                return line.split("=", 1)[1].strip()
    raise Fail("%s: no CMAKE_HOME_DIRECTORY in CMakeCache.txt" % build)


def load_cluster_module(build, tag):
    path = os.path.join(source_dir(build), "tests", "lib", "cluster.py")
    spec = importlib.util.spec_from_file_location("cluster_" + tag, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def run(cmd, timeout=300, check_rc=True, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                         r.stderr.decode(errors="replace").strip()[-2000:]))
    return r


# ---- libnorn through ctypes (child process side) ---------------------------
class KV(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("val", ctypes.c_void_p), ("val_len", ctypes.c_size_t)]


class KVList(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(KV)), ("n", ctypes.c_size_t), ("more", ctypes.c_int)]


class Norn:
    def __init__(self, build, conf):
        L = ctypes.CDLL(os.path.join(build, "client", "lib", "libnorn.so"))
        self.L = L
        self.libc = ctypes.CDLL(None)
        self.libc.free.argtypes = [ctypes.c_void_p]
        vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        L.norn_connect.argtypes = [cp, cp, cp, ctypes.POINTER(vp)]
        L.norn_shutdown.argtypes = [vp]
        L.norn_ioctx_create.argtypes = [vp, cp, ctypes.POINTER(vp)]
        L.norn_ioctx_destroy.argtypes = [vp]
        L.norn_write_full.argtypes = [vp, cp, ctypes.c_char_p, sz]
        L.norn_write.argtypes = [vp, cp, ctypes.c_char_p, sz, ctypes.c_uint64]
        L.norn_read.argtypes = [vp, cp, ctypes.c_void_p, sz, ctypes.c_uint64]
        L.norn_read.restype = ctypes.c_ssize_t
        L.norn_stat.argtypes = [vp, cp, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]
        L.norn_remove.argtypes = [vp, cp]
        L.norn_truncate.argtypes = [vp, cp, ctypes.c_uint64]
        L.norn_setxattr.argtypes = [vp, cp, cp, ctypes.c_char_p, sz]
        L.norn_omap_set.argtypes = [vp, cp, ctypes.POINTER(cp), ctypes.POINTER(vp),
                                    ctypes.POINTER(sz), sz]
        L.norn_omap_rm_keys.argtypes = [vp, cp, ctypes.POINTER(cp), sz]
        L.norn_omap_get_vals.argtypes = [vp, cp, cp, cp, sz, ctypes.POINTER(KVList)]
        L.norn_list_free.argtypes = [ctypes.POINTER(KVList)]
        L.norn_list_objects.argtypes = [vp, ctypes.POINTER(vp), sz, ctypes.POINTER(KVList)]
        self.libc.strdup.argtypes = [ctypes.c_char_p]
        self.libc.strdup.restype = ctypes.c_void_p
        L.norn_read_op_create.restype = vp
        L.norn_read_op_release.argtypes = [vp]
        L.norn_read_op_getxattrs.argtypes = [vp, ctypes.POINTER(KVList), ctypes.POINTER(ctypes.c_int)]
        L.norn_read_op_operate.argtypes = [vp, vp, cp]
        self.cl = vp()
        rc = L.norn_connect(conf.encode(), None, None, ctypes.byref(self.cl))
        if rc:
            raise Fail("norn_connect: %d" % rc)
        self.ios = {}

    def io(self, pool):
        if pool not in self.ios:
            io = ctypes.c_void_p()
            rc = self.L.norn_ioctx_create(self.cl, pool.encode(), ctypes.byref(io))
            if rc:
                raise Fail("ioctx %s: %d" % (pool, rc))
            self.ios[pool] = io
        return self.ios[pool]

    def close(self):
        for io in self.ios.values():
            self.L.norn_ioctx_destroy(io)
        self.ios = {}
        self.L.norn_shutdown(self.cl)

    def _rc(self, what, rc):
        if rc < 0:
            raise Fail("%s: %d" % (what, rc))
        return rc

    def write_full(self, pool, oid, data):
        return self._rc("write_full %s" % oid,
                        self.L.norn_write_full(self.io(pool), oid.encode(), data, len(data)))

    def write(self, pool, oid, data, off):
        return self._rc("write %s" % oid,
                        self.L.norn_write(self.io(pool), oid.encode(), data, len(data), off))

    def truncate(self, pool, oid, size):
        return self._rc("truncate %s" % oid, self.L.norn_truncate(self.io(pool), oid.encode(), size))

    def remove(self, pool, oid):
        return self._rc("remove %s" % oid, self.L.norn_remove(self.io(pool), oid.encode()))

    def stat(self, pool, oid):
        size, mt = ctypes.c_uint64(), ctypes.c_uint64()
        rc = self.L.norn_stat(self.io(pool), oid.encode(), ctypes.byref(size), ctypes.byref(mt))
        return rc, size.value

    def read_all(self, pool, oid, size):
        out = bytearray()
        buf = ctypes.create_string_buffer(MiB)
        off = 0
        while True:
            n = self.L.norn_read(self.io(pool), oid.encode(), buf, MiB, off)
            self._rc("read %s@%d" % (oid, off), n)
            out += buf.raw[:n]
            off += n
            if n < MiB or off >= size:
                break
        return bytes(out)

    def setxattr(self, pool, oid, name, val):
        return self._rc("setxattr %s %s" % (oid, name),
                        self.L.norn_setxattr(self.io(pool), oid.encode(), name.encode(), val, len(val)))

    def getxattrs(self, pool, oid):
        op = self.L.norn_read_op_create()
        lst, rval = KVList(), ctypes.c_int(0)
        self.L.norn_read_op_getxattrs(op, ctypes.byref(lst), ctypes.byref(rval))
        rc = self.L.norn_read_op_operate(op, self.io(pool), oid.encode())
        self.L.norn_read_op_release(op)
        self._rc("getxattrs %s" % oid, rc)
        self._rc("getxattrs %s (step)" % oid, rval.value)
        d = {}
        for i in range(lst.n):
            kv = lst.items[i]
            d[kv.key.decode()] = ctypes.string_at(kv.val, kv.val_len) if kv.val_len else b""
        self.L.norn_list_free(ctypes.byref(lst))
        return d

    def omap_set(self, pool, oid, kv):
        n = len(kv)
        keys = (ctypes.c_char_p * n)(*[k.encode() for k in kv])
        bufs = [ctypes.create_string_buffer(v, max(len(v), 1)) for v in kv.values()]
        vals = (ctypes.c_void_p * n)(*[ctypes.cast(b, ctypes.c_void_p) for b in bufs])
        lens = (ctypes.c_size_t * n)(*[len(v) for v in kv.values()])
        return self._rc("omap_set %s" % oid,
                        self.L.norn_omap_set(self.io(pool), oid.encode(), keys, vals, lens, n))

    def omap_rm(self, pool, oid, keys):
        arr = (ctypes.c_char_p * len(keys))(*[k.encode() for k in keys])
        return self._rc("omap_rm %s" % oid,
                        self.L.norn_omap_rm_keys(self.io(pool), oid.encode(), arr, len(keys)))

    def omap_all(self, pool, oid):
        d, after = {}, ""
        for _ in range(10000):
            lst = KVList()
            self._rc("omap_get_vals %s" % oid,
                     self.L.norn_omap_get_vals(self.io(pool), oid.encode(), after.encode(), b"",
                                               256, ctypes.byref(lst)))
            for i in range(lst.n):
                kv = lst.items[i]
                after = kv.key.decode()
                d[after] = ctypes.string_at(kv.val, kv.val_len) if kv.val_len else b""
            more, n = lst.more, lst.n
            self.L.norn_list_free(ctypes.byref(lst))
            if not more or n == 0:
                break
        return d

    def list_objects(self, pool):
        names = []
        cur = ctypes.c_void_p(self.libc.strdup(b""))   # libnorn frees and replaces it
        for _ in range(100000):
            lst = KVList()
            self._rc("list_objects %s" % pool,
                     self.L.norn_list_objects(self.io(pool), ctypes.byref(cur), 256, ctypes.byref(lst)))
            names += [lst.items[i].key.decode() for i in range(lst.n)]
            more = lst.more
            self.L.norn_list_free(ctypes.byref(lst))
            if not more:
                break
        self.libc.free(cur)
        return sorted(names)


# ---- child roles -------------------------------------------------------------
def role_populate(build, conf, manifest_path):
    """Write the data set; save its manifest (sha256 of everything)."""
    n = Norn(build, conf)
    m = {"objects": {}, "xattrs": {}, "omap": {}, "removed": []}
    for s in SIZES:
        name = "obj-%d" % s
        d = content(name, s)
        n.write_full("data", name, d)
        m["objects"][name] = [s, sha(d)]
    rnd = random.Random(7)
    for i in range(N_SMALL):
        name, s = "small-%03d" % i, rnd.choice([0, 17, 4096, 5000, 12288, 40000])
        d = content(name, s)
        n.write_full("data", name, d)
        m["objects"][name] = [s, sha(d)]
    # partial overwrites (read-merge of old blocks), an extend, a truncate
    d = bytearray(content("ow", 4 * MiB))
    n.write_full("data", "ow", bytes(d))
    for off, ln in ((5000, 10000), (MiB - 10, 20), (4 * MiB - 100, 300)):
        p = content("ow-%d" % off, ln)
        n.write("data", "ow", p, off)
        if off + ln > len(d):
            d.extend(b"\0" * (off + ln - len(d)))
        d[off:off + ln] = p
    m["objects"]["ow"] = [len(d), sha(bytes(d))]
    d = content("tr", MiB)
    n.write_full("data", "tr", d)
    n.truncate("data", "tr", 300001)
    m["objects"]["tr"] = [300001, sha(d[:300001])]
    for i in range(5):
        name = "gone-%d" % i
        n.write_full("data", name, content(name, 8192))
        n.remove("data", name)
        m["removed"].append(name)
    # xattrs: binary, empty, long
    xa = {"obj-4096": {"user.a": b"alpha", "user.bin": bytes(range(256)), "user.empty": b""},
          "obj-0": {"user.only": b"on an empty object"},
          "obj-4194304": {"user.big": content("xa", 2000)}}
    for oid, attrs in xa.items():
        for k, v in attrs.items():
            n.setxattr("data", oid, k, v)
        m["xattrs"][oid] = {k: v.hex() for k, v in attrs.items()}
    # omap: 600 keys in batches, binary values incl. empty; some removed;
    # one object with omap and data
    for oid, nkeys in (("omap-a", 600), ("obj-65535", 40)):
        kv = {}
        for i in range(nkeys):
            kv["key-%05d" % i] = content("%s-%d" % (oid, i), rnd.randrange(0, 300))
        items = list(kv.items())
        for b in range(0, len(items), 100):
            n.omap_set("data", oid, dict(items[b:b + 100]))
        gone = ["key-%05d" % i for i in range(0, nkeys, 7)]
        n.omap_rm("data", oid, gone)
        for k in gone:
            del kv[k]
        m["omap"][oid] = {k: v.hex() for k, v in kv.items()}
        if oid == "omap-a":
            m["objects"][oid] = [0, sha(b"")]
    n.close()
    with open(manifest_path, "w") as f:
        json.dump(m, f)
    print("populated %d objects, %d omap keys, %d xattrs" %
          (len(m["objects"]), sum(len(v) for v in m["omap"].values()),
           sum(len(v) for v in m["xattrs"].values())))


def role_verify(build, conf, manifest_path, acked_path):
    n = Norn(build, conf)
    with open(manifest_path) as f:
        m = json.load(f)
    bad = []
    for name, (s, h) in sorted(m["objects"].items()):
        rc, size = n.stat("data", name)
        if rc or size != s:
            bad.append("%s: stat rc %d size %d, expected %d" % (name, rc, size, s))
            continue
        d = n.read_all("data", name, s)
        if len(d) != s or sha(d) != h:
            bad.append("%s: content differs (%d bytes read)" % (name, len(d)))
    for name in m["removed"]:
        rc, _ = n.stat("data", name)
        if rc != -2:
            bad.append("%s: removed object stat gives %d" % (name, rc))
    for oid, attrs in m["xattrs"].items():
        got = {k: v.hex() for k, v in n.getxattrs("data", oid).items()}
        if got != attrs:
            bad.append("%s: xattrs differ: %s" % (oid, sorted(set(got.items()) ^ set(attrs.items()))[:4]))
    for oid, kv in m["omap"].items():
        got = {k: v.hex() for k, v in n.omap_all("data", oid).items()}
        if got != kv:
            bad.append("%s: omap differs (%d keys, expected %d)" % (oid, len(got), len(kv)))
    want = set(m["objects"])
    acked = []
    if acked_path and os.path.exists(acked_path):
        with open(acked_path) as f:
            acked = [l.split() for l in f if l.strip()]
        for name, s in acked:
            s = int(s)
            rc, size = n.stat("data", name)
            d = n.read_all("data", name, s) if rc == 0 else b""
            if rc or size != s or d != content(name, s):
                bad.append("%s (acked after the upgrade): rc %d size %d, expected %d" % (name, rc, size, s))
            want.add(name)
    listed = set(n.list_objects("data"))
    missing = want - listed
    extra = {x for x in listed - want if not x.startswith(("post-", "rev-"))}
    if missing or extra:
        bad.append("listing: missing %s extra %s" % (sorted(missing)[:5], sorted(extra)[:5]))
    n.close()
    for b in bad:
        print("BAD " + b)
    print("verified %d objects, %d removed, %d xattr sets, %d omap objects, %d acked new writes, "
          "listing %d names: %d problems" % (len(m["objects"]), len(m["removed"]), len(m["xattrs"]),
                                              len(m["omap"]), len(acked), len(listed), len(bad)))
    return 1 if bad else 0


def role_writer(build, conf, acked_path, stop_path, prefix="post"):
    """Write PREFIX-NNNNN objects until stop_path exists; log each acked one."""
    n = Norn(build, conf)
    rnd = random.Random(os.getpid())
    i, errs = 0, 0
    with open(acked_path, "a") as f:
        t_end = time.time() + 300
        total = 0
        # at most ~150 MiB in all: the 512 MiB stores must not fill up
        while not os.path.exists(stop_path) and time.time() < t_end and total < 150 * MiB:
            name = "%s-%05d" % (prefix, i)
            s = 4 * MiB if rnd.random() < 0.01 else rnd.choice([0, 100, 4096, 10000, 65536, 300000])
            total += s
            try:
                n.write_full("data", name, content(name, s))
                f.write("%s %d\n" % (name, s))
                f.flush()
            except Fail as e:
                errs += 1
                print("write %s failed: %s" % (name, e), flush=True)
            i += 1
    n.close()
    print("writer: %d attempts, %d errors" % (i, errs))


# ---- orchestration -------------------------------------------------------------
def child(build, role, *args, timeout=900):
    cmd = [sys.executable, os.path.abspath(__file__), "--role", role, "--build", build] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr[-3000:])
    return r.returncode


def store_dir(cdir, i):
    return os.path.join(cdir, "osd.%d" % i, "store")


def store_cmd(build, *args, timeout=300):
    return run([os.path.join(build, "osd", "store", "norn-store")] + list(args),
               timeout=timeout, check_rc=False)


def fsck_all(build, cdir, ids, what):
    for i in ids:
        r = store_cmd(build, "fsck", store_dir(cdir, i))
        out = (r.stdout + r.stderr).decode(errors="replace").strip()
        check(r.returncode == 0, "%s: fsck osd.%d: exit %d: %s" % (what, i, r.returncode, out[-1500:]))
    log("ok %s: norn-store fsck clean on osd %s" % (what, ids))


def dump_all(build, cdir, ids):
    out = {}
    for i in ids:
        r = store_cmd(build, "dump", store_dir(cdir, i))
        check(r.returncode == 0, "dump osd.%d: %s" % (i, r.stderr.decode(errors="replace")[-500:]))
        out[i] = r.stdout
    return out


def store_objects(dump):
    """(collection, store oid) for every object in a norn-store dump."""
    res, coll = [], None
    for line in dump.decode(errors="replace").splitlines():
        mc = re.match(r"^collection (\S+)$", line)
        mo = re.match(r"^  object (\S+) size (\d+)", line)
        if mo:
            res.append((coll, mo.group(1), int(mo.group(2))))
        elif mc:
            coll = mc.group(1)
    return res


def check_store_reads(build, cdir, ids, dumps, manifest):
    """Read the large objects straight from every store with norn-store."""
    n = 0
    for i in ids:
        for coll, soid, size in store_objects(dumps[i]):
            name = next((nm for nm in manifest["objects"]
                         if (nm.startswith("obj-") or nm in ("ow", "tr")) and
                         re.search(r"(^|[^A-Za-z0-9_-])%s($|[^A-Za-z0-9_-])" % re.escape(nm), soid)), None)
            if name is None or coll is None:
                continue
            s, h = manifest["objects"][name]
            if size != s:
                continue    # e.g. a snapshot clone or an older version
            r = store_cmd(build, "read", store_dir(cdir, i), coll, soid)
            check(r.returncode == 0, "norn-store read osd.%d %s %s: %s" %
                  (i, coll, soid, r.stderr.decode(errors="replace")[-300:]))
            check(sha(r.stdout) == h, "osd.%d %s/%s: content differs from the manifest" % (i, coll, soid))
            n += 1
    return n


def wait_clean(c, timeout=CLEAN_TIMEOUT):
    t0 = time.time()
    epoch = c.osdmap()["epoch"]
    last = ""
    while time.time() - t0 < timeout:
        try:
            pgs = c.cli_json("pg", "dump", timeout_ms=5000)
            if pgs and all(p["state"] == "active+clean" and p.get("reported_epoch", 0) >= epoch
                           for p in pgs):
                log("ok all %d PGs active+clean after %.1f s" % (len(pgs), time.time() - t0))
                return
            by = {}
            for p in pgs:
                by[p["state"]] = by.get(p["state"], 0) + 1
            last = str(by)
        except (RuntimeError, ValueError, KeyError) as e:
            last = str(e)
        time.sleep(0.5)
    raise Fail("PGs not active+clean within %d s: %s" % (timeout, last))


def acked_count(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def wait_acked(path, n, thread, timeout=120):
    """Wait until the writer acknowledged n writes (it must still run)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        k = acked_count(path)
        if k >= n:
            return k
        check(thread.is_alive(), "the writer stopped after %d acknowledged writes" % k)
        time.sleep(0.05)
    raise Fail("the writer has only %d acknowledged writes after %d s" % (acked_count(path), timeout))


def vol_data(tmp):
    a = content("vol-a", VOL_BYTES)
    b = bytearray(a)
    for off, ln in ((0, MiB), (9 * MiB + 4096, 4096), (VOL_BYTES - 65536, 65536)):
        b[off:off + ln] = content("vol-b-%d" % off, ln)
    pa, pb = os.path.join(tmp, "vol-a.bin"), os.path.join(tmp, "vol-b.bin")
    with open(pa, "wb") as f:
        f.write(a)
    with open(pb, "wb") as f:
        f.write(b)
    return pa, pb, sha(a), sha(bytes(b))


def nbd_write(build, conf, tmp, src, export):
    port = random.randrange(30000, 50000)
    pidf, logf = os.path.join(tmp, "nbd.pid"), os.path.join(tmp, "nbd.log")
    run([os.path.join(build, "client", "nbd", "norn-nbd"), "--backend", "vol", "-c", conf,
         "--listen", "127.0.0.1:%d" % port, "--pid-file", pidf, "--log-file", logf, "--daemon"],
        timeout=60)
    with open(pidf) as f:
        pid = int(f.read())
    try:
        run(["nbdcopy", "--flush", src, "nbd://127.0.0.1:%d/%s" % (port, export)], timeout=300)
    finally:
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)


def vol_check(c, tmp, what, sha_head, sha_snap):
    for spec, want in (("rbd/vol1", sha_head), ("rbd/vol1@s1", sha_snap)):
        out = os.path.join(tmp, "export.bin")
        run([c.cli_bin, "-c", c.conf, "--timeout", "30000", "vol", "export", spec, out], timeout=300)
        with open(out, "rb") as f:
            got = sha(f.read())
        os.unlink(out)
        check(got == want, "%s: volume %s differs after export" % (what, spec))
    log("ok %s: volume head and snapshot s1 export identical" % what)


def start_cluster(mod, build, cdir, **kw):
    return mod.Cluster(build, dir=cdir, keep=True, **kw)


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("old", nargs="?")
    ap.add_argument("new", nargs="?")
    ap.add_argument("--dir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reverse", action="store_true")
    ap.add_argument("--role")
    ap.add_argument("--build")
    ap.add_argument("rest", nargs="*")
    a, extra = ap.parse_known_args(argv)
    if a.role:
        args = ([a.old, a.new] if a.old else []) + a.rest + extra
        if a.role == "populate":
            return role_populate(a.build, *args) or 0
        if a.role == "verify":
            return role_verify(a.build, *args)
        if a.role == "writer":
            return role_writer(a.build, *args) or 0
        raise SystemExit("unknown role")
    old, new = os.path.abspath(a.old), os.path.abspath(a.new)
    for b in (old, new):
        for p in ("mon/norn-mon", "osd/norn-osd", "tools/norn", "osd/store/norn-store",
                  "client/lib/libnorn.so", "client/nbd/norn-nbd"):
            check(os.path.exists(os.path.join(b, p)), "%s: no %s (build it first)" % (b, p))
    check(shutil.which("nbdcopy") is not None, "nbdcopy not installed (libnbd-bin)")
    tmp = a.dir or tempfile.mkdtemp(prefix="norn-upgrade-")
    os.makedirs(tmp, exist_ok=True)
    cdir = os.path.join(tmp, "cluster")
    manifest = os.path.join(tmp, "manifest.json")
    acked = os.path.join(tmp, "acked.txt")
    old_mod, new_mod = load_cluster_module(old, "old"), load_cluster_module(new, "new")
    rc = 1
    c = None
    try:
        # ---- A: old binaries ----
        log("A: cluster with the OLD binaries (%s) in %s" % (old, cdir))
        c = old_mod.Cluster(old, mons=1, osds=3, dir=cdir, keep=True, store_size="512M")
        ids = list(c.osd_ids)
        for pool in ("data", "rbd"):
            c.create_pool(pool, pg_num=16, size=3, min_size=2)
        check(child(old, "populate", c.conf, manifest) == 0, "populate failed")
        pa, pb, sha_a, sha_b = vol_data(tmp)
        run([c.cli_bin, "-c", c.conf, "--timeout", "30000", "vol", "import", pa, "rbd/vol1",
             "--object-size", "1M"], timeout=300)
        run([c.cli_bin, "-c", c.conf, "vol", "snap", "create", "rbd/vol1@s1"])
        nbd_write(old, c.conf, tmp, pb, "rbd/vol1")
        vol_check(c, tmp, "A (old)", sha_b, sha_a)
        check(child(old, "verify", c.conf, manifest, "") == 0, "A: verify with the old build failed")
        wait_clean(c)
        c.stop()
        c = None
        fsck_all(old, cdir, ids, "A (old norn-store)")
        old_dumps = dump_all(old, cdir, ids)
        with open(manifest) as f:
            m = json.load(f)

        # ---- B: new binaries ----
        log("B: the same cluster with the NEW binaries (%s)" % new)
        new_dumps = dump_all(new, cdir, ids)      # the first mount by the new code
        for i in ids:
            if new_dumps[i] != old_dumps[i]:
                for fn, d in (("old", old_dumps[i]), ("new", new_dumps[i])):
                    with open(os.path.join(tmp, "dump-osd.%d.%s" % (i, fn)), "wb") as f:
                        f.write(d)
                raise Fail("osd.%d: new norn-store dump differs from the old one (see %s)" % (i, tmp))
        log("ok B: new norn-store dump of every store identical to the old one (%d objects)" %
            sum(len(store_objects(d)) for d in new_dumps.values()))
        nread = check_store_reads(new, cdir, ids, new_dumps, m)
        check(nread >= len(ids) * len(SIZES), "only %d object copies found in the stores" % nread)
        log("ok B: %d large object copies read straight from the stores match" % nread)
        fsck_all(new, cdir, ids, "B (after the first new mount)")
        c = new_mod.Cluster(new, dir=cdir, keep=True)
        wait_clean(c)
        check(child(new, "verify", c.conf, manifest, "") == 0, "B: verify with the new build failed")
        vol_check(c, tmp, "B (new)", sha_b, sha_a)
        c.stop()
        c = None
        fsck_all(new, cdir, ids, "B (after the new cluster ran)")

        log("B: write with the new binaries, kill -9 osd.%d mid-write" % ids[1])
        c = new_mod.Cluster(new, dir=cdir, keep=True)
        wait_clean(c)
        stop = os.path.join(tmp, "writer.stop")
        wr = threading.Thread(target=lambda: child(new, "writer", c.conf, acked, stop))
        wr.start()
        n0 = wait_acked(acked, 150, wr)
        c.kill_osd(ids[1])
        log("killed osd.%d (SIGKILL) after %d acknowledged writes" % (ids[1], n0))
        n1 = wait_acked(acked, n0 + 150, wr)
        c.start_osd(ids[1])
        c.wait_osds_up([ids[1]])
        n2 = wait_acked(acked, n1 + 150, wr)
        open(stop, "w").close()
        log("restarted osd.%d after %d writes, writer stopped after %d" % (ids[1], n1, n2))
        wr.join(timeout=400)
        wait_clean(c)
        check(child(new, "verify", c.conf, manifest, acked) == 0, "B: verify after the kill failed")
        vol_check(c, tmp, "B (after the kill)", sha_b, sha_a)
        c.stop()
        c = None
        fsck_all(new, cdir, ids, "B (after the kill and restart)")
        dumps = dump_all(new, cdir, ids)
        sets = {i: {(cl, o, sz) for cl, o, sz in store_objects(dumps[i])} for i in ids}
        for i in ids[1:]:
            diff = sorted(sets[i] ^ sets[ids[0]])
            check(not diff, "osd.%d and osd.%d hold different objects: %s" % (ids[0], i, diff[:6]))
        nread = check_store_reads(new, cdir, ids, dumps, m)
        log("ok B: every store holds the same %d objects (sizes equal); %d large copies match" %
            (len(sets[ids[0]]), nread))
        log("PASS: upgrade A -> B")
        rc = 0

        if a.reverse:
            reverse(old_mod, new_mod, old, new, cdir, ids, tmp, manifest)
    except Fail as e:
        log("FAIL: %s" % e)
    finally:
        if c is not None:
            c.stop()
        for mod in (old_mod, new_mod):
            try:
                mod._stop_dir(cdir)
            except Exception:
                pass
        if rc == 0 and not a.keep and not a.dir:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("kept %s" % tmp)
    return rc


def osd_log_tail(cdir, i, since):
    p = os.path.join(cdir, "osd.%d.log" % i)
    try:
        with open(p, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return ""
    keep = [l.strip() for l in lines if l[:24] >= since and
            (" ERR " in l or "store:" in l or "norn-osd:" in l or "stopping" in l)]
    return " | ".join(keep[-8:])


def reverse(old_mod, new_mod, old, new, cdir, ids, tmp, manifest):
    """Report (not judge) what the OLD code does with stores the new code
    mounted. C1: after a clean stop of the new code. C2: after the new
    code was killed (SIGKILL) mid-write, so the log holds acknowledged
    transactions LMDB does not have; an OLD osd runs on that store for a
    while, then the NEW one is started on it again."""
    log("C1 (report only): OLD binaries on the stores the new code mounted and stopped cleanly")
    for i in ids:
        r = store_cmd(old, "fsck", store_dir(cdir, i))
        log("C1: old norn-store fsck osd.%d: exit %d: %s" % (
            i, r.returncode, (r.stdout + r.stderr).decode(errors="replace").strip()[-300:]))
    c = None
    try:
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        c = old_mod.Cluster(old, dir=cdir, keep=True, wait_timeout=30, start=False)
        try:
            c.start()
        except Exception as e:
            log("C1: old cluster start: %s" % e)
        time.sleep(3)
        dead = [i for i in ids if c.procs.get("osd.%d" % i) is None or
                c.procs["osd.%d" % i].poll() is not None]
        for i in dead:
            log("C1: old osd.%d exited: %s" % (i, osd_log_tail(cdir, i, since)))
        if dead:
            log("C1: the old OSDs %s refuse the stores; nothing read" % dead)
        else:
            try:
                wait_clean(c, timeout=90)
            except Fail as e:
                log("C1: %s" % e)
            rc = child(old, "verify", c.conf, manifest, os.path.join(tmp, "acked.txt"), timeout=300)
            log("C1: verify with the old build: exit %d" % rc)
    except Exception as e:      # report, do not fail
        log("C1: old cluster: %s: %s" % (type(e).__name__, e))
    finally:
        if c is not None:
            c.stop()
    victim = ids[-1]
    log("C2 (report only): new osd.%d killed mid-write, then the OLD osd on its store, then the NEW again"
        % victim)
    c = None
    try:
        c = new_mod.Cluster(new, dir=cdir, keep=True)
        wait_clean(c)
        acked, stop = os.path.join(tmp, "acked-rev.txt"), os.path.join(tmp, "writer-rev.stop")
        wr = threading.Thread(target=lambda: child(new, "writer", c.conf, acked, stop, "rev"))
        wr.start()
        n0 = wait_acked(acked, 100, wr)
        c.kill_osd(victim)
        n1 = wait_acked(acked, n0 + 50, wr)
        open(stop, "w").close()
        wr.join(timeout=400)
        log("C2: new osd.%d killed after %d acknowledged writes, %d more without it" % (victim, n0, n1 - n0))
        r = store_cmd(old, "fsck", store_dir(cdir, victim))
        log("C2: old norn-store fsck: exit %d: %s" % (
            r.returncode, (r.stdout + r.stderr).decode(errors="replace").strip()[-300:]))
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        c.osd_bin = os.path.join(old, "osd", "norn-osd")
        c.start_osd(victim)
        try:
            c.wait_osds_up([victim], timeout=30)
            wait_clean(c, timeout=90)
            log("C2: the OLD osd.%d joined and the PGs are clean" % victim)
        except Exception as e:
            log("C2: old osd.%d: %s" % (victim, e))
        c.kill_osd(victim, signal.SIGTERM)
        log("C2: old osd.%d log: %s" % (victim, osd_log_tail(cdir, victim, since)))
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        c.osd_bin = os.path.join(new, "osd", "norn-osd")
        c.start_osd(victim)
        time.sleep(5)
        alive = c.procs["osd.%d" % victim].poll() is None
        log("C2: NEW osd.%d on the store the old code wrote: %s; log: %s" % (
            victim, "running" if alive else "exited", osd_log_tail(cdir, victim, since)))
        c.stop()
        c = None
        r = store_cmd(new, "fsck", store_dir(cdir, victim))
        log("C2: new norn-store fsck: exit %d: %s" % (
            r.returncode, (r.stdout + r.stderr).decode(errors="replace").strip()[-400:]))
    except Exception as e:
        log("C2: %s: %s" % (type(e).__name__, e))
    finally:
        if c is not None:
            c.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
