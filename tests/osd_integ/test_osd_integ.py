#!/usr/bin/python3
"""Integration tests of norn-osd: 3 real mons + 4 real OSDs on 127.0.0.1.

usage: test_osd_integ.py BUILD_DIR OSD_CLIENT [TEST...]

Every test builds its own cluster (tests/lib/cluster.py) in a temp dir on
its own ports; every process is killed by pid when the test ends.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from cluster import Cluster  # noqa: E402

BUILD, CLIENT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
PORT0 = 24000 + (os.getpid() % 300) * 20
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0")
_port_off = [0]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def cluster(**kw):
    _port_off[0] += 1
    return Cluster(BUILD, mons=3, osds=kw.pop("osds", 4), base_port=PORT0 + _port_off[0] * 5 % 300,
                   **kw)


def cl(c, pool, *args, timeout_ms=30000):
    env = dict(os.environ, NORN_CLIENT_TIMEOUT_MS=str(timeout_ms))
    r = subprocess.run([CLIENT, c.conf, pool] + [str(a) for a in args], capture_output=True,
                       timeout=timeout_ms / 1000 + 60, env=env)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def must(c, pool, *args, **kw):
    rc, out, err = cl(c, pool, *args, **kw)
    check(rc == 0, "osd_client %s: rc %d: %s" % (" ".join(map(str, args)), rc, err.strip()))
    return out


def store_objects(c, i, cid):
    rc, out, err = c.store_tool(i, "ls", cid)
    if rc != 0:
        return None
    return sorted(x for x in out.decode().split() if x)


def store_read(c, i, cid, oid):
    rc, out, err = c.store_tool(i, "read", cid, oid)
    return out if rc == 0 else None


def wait_clean(c, timeout):
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        rc, out, err = c.cli("status")
        last = out
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("pgs:") and "active+clean" in line and "," not in line.split(":", 1)[1] \
                    and "peering" not in line and "recover" not in line:
                return
        time.sleep(0.5)
    raise AssertionError("PGs not all active+clean within %ds: %s" % (timeout, last))


def check_replicas(c, size):
    """Stop every OSD and compare all copies of every PG with norn-store."""
    for i in list(c.osd_pids()):
        c.kill_osd(i, signal.SIGTERM)
    per_cid = {}
    for i in c.osd_ids:
        rc, out, err = c.store_tool(i, "ls")
        check(rc == 0, "norn-store ls osd.%d: %s" % (i, err))
        for cid in out.decode().split():
            per_cid.setdefault(cid, []).append(i)
    copies = 0
    m = c.osdmap()
    for cid, holders in sorted(per_cid.items()):
        rc, out, _ = c.cli("-f", "json", "pg", "map", cid)
        objs = {i: store_objects(c, i, cid) for i in holders}
        # the copies that matter: the OSDs CRUSH maps the PG to now
        ref = None
        full = [i for i in holders if objs[i] is not None]
        sets = {}
        for i in full:
            sets.setdefault(tuple(objs[i]), []).append(i)
        best = max(sets.items(), key=lambda kv: len(kv[1]))
        check(len(best[1]) >= size, "pg %s: fewer than %d identical object lists: %s" % (cid, size, objs))
        for oid in best[0]:
            datas = [store_read(c, i, cid, oid) for i in best[1]]
            check(all(d == datas[0] and d is not None for d in datas),
                  "pg %s object %s differs between replicas %s" % (cid, oid, best[1]))
            copies += 1
        ref = ref
    print("  %d PGs: %d objects identical on >= %d replicas" % (len(per_cid), copies, size))
    del m


# ---- tests -------------------------------------------------------------------

def test_put_get_sizes_and_replicas():
    # the smallest memory budget: the 8 MiB object crosses half of it
    with cluster(osd_conf="osd_memory_budget_bytes = 16M\n") as c:
        c.create_pool("rbd", 8, 3)
        tmp = tempfile.mkdtemp(dir=c.dir)
        sizes = [0, 1, 4095, 4096, 4097, 65536, 1 << 20, (8 << 20) + 3]
        for n in sizes:
            src = os.path.join(tmp, "in%d" % n)
            with open(src, "wb") as f:
                f.write(os.urandom(n))
            must(c, "rbd", "put", "obj-%d" % n, src)
        for n in sizes:
            dst = os.path.join(tmp, "out%d" % n)
            must(c, "rbd", "get", "obj-%d" % n, dst)
            with open(os.path.join(tmp, "in%d" % n), "rb") as a, open(dst, "rb") as b:
                check(a.read() == b.read(), "object of %d bytes differs" % n)
        # metadata steps
        must(c, "rbd", "setxattr", "obj-1", "color", "blue")
        check(must(c, "rbd", "getxattr", "obj-1", "color").strip() == "blue", "xattr")
        must(c, "rbd", "omapset", "obj-1", "k", "v")
        check("k=v" in must(c, "rbd", "omapget", "obj-1"), "omap")
        check(must(c, "rbd", "stat", "obj-4097").strip() == "size 4097", "stat")
        rc, _, err = cl(c, "rbd", "create-excl", "obj-1")
        check(rc == 1 and "exists" in err, "exclusive create of an existing object: %s" % err)
        must(c, "rbd", "append", "obj-0", "abc")
        must(c, "rbd", "rm", "obj-4096")
        rc, _, _ = cl(c, "rbd", "stat", "obj-4096")
        check(rc == 1, "removed object still there")
        names = must(c, "rbd", "ls").split()
        check(sorted(names) == sorted("obj-%d" % n for n in sizes if n != 4096),
              "ls: %s" % names)
        # duplicate detection: the same reqid applied once
        out = must(c, "rbd", "dup", "dupobj")
        print("  " + out.strip())
        # replicas hold identical data: stop the OSDs and read every store
        for i in list(c.osd_pids()):
            c.kill_osd(i, signal.SIGTERM)
        per_cid = {}
        for i in c.osd_ids:
            rc, out, err = c.store_tool(i, "ls")
            check(rc == 0, "norn-store ls osd.%d: %s" % (i, err))
            for cid in out.decode().split():
                per_cid.setdefault(cid, []).append(i)
        copies = 0
        for cid, holders in sorted(per_cid.items()):
            check(len(holders) == 3, "pg %s on %d OSDs: %s" % (cid, len(holders), holders))
            objs = [store_objects(c, i, cid) for i in holders]
            check(all(o == objs[0] for o in objs), "pg %s: object lists differ: %s" % (cid, objs))
            for oid in objs[0]:
                datas = [store_read(c, i, cid, oid) for i in holders]
                check(all(d == datas[0] and d is not None for d in datas),
                      "pg %s object %s differs between replicas" % (cid, oid))
                copies += 1
        print("  %d PGs, %d objects identical on 3 replicas" % (len(per_cid), copies))
        # everything restarted -> data intact
        for n in c.mon_names:
            c.kill_mon(n)
        for n in c.mon_names:
            c.start_mon(n)
        c.wait_quorum()
        for i in c.osd_ids:
            c.start_osd(i)
        c.wait_osds_up(c.osd_ids)
        for n in sizes:
            if n == 4096:
                continue
            dst = os.path.join(tmp, "again%d" % n)
            must(c, "rbd", "get", "obj-%d" % n, dst)
            with open(os.path.join(tmp, "in%d" % n), "rb") as a, open(dst, "rb") as b:
                want = a.read() + (b"abc" if n == 0 else b"")
                check(want == b.read(), "after restart: object of %d bytes differs" % n)
        print("  full restart: data intact")
        paused = sum(open(os.path.join(c.dir, "osd.%d.log" % i)).read().count("pausing reads")
                     for i in c.osd_ids)
        print("  memory budget paused client reads %d times" % paused)


def test_malformed_frame_closes_only_that_connection():
    with cluster() as c:
        c.create_pool("rbd", 4, 3)
        out = must(c, "rbd", "garbage", "g1")
        check("still serves" in out, out)


def test_min_size_blocks_writes():
    with cluster() as c:
        c.create_pool("strict", 4, 3, min_size=3)
        must(c, "strict", "put", "before", "/dev/null")
        victim = c.osd_ids[0]
        c.kill_osd(victim)
        c.wait_osds_up([victim], up=False, timeout=60)
        # every PG has 3 of the 4 OSDs; find objects whose PG lost a member:
        # with 4 OSDs and size 3 most PGs include the victim; a write to one
        # must not be acknowledged
        blocked = 0
        for k in range(8):
            rc, out, err = cl(c, "strict", "put", "o%d" % k, "/dev/null", timeout_ms=3000)
            if rc != 0:
                blocked += 1
        check(blocked > 0, "no write blocked with a min_size 3 pool and one OSD down")
        log = open(os.path.join(c.dir, "osd.%d.log" % c.osd_ids[1])).read() + \
            open(os.path.join(c.dir, "osd.%d.log" % c.osd_ids[2])).read() + \
            open(os.path.join(c.dir, "osd.%d.log" % c.osd_ids[3])).read()
        check("min_size" in log, "no log line explains the blocked writes")
        print("  %d of 8 writes blocked (not acknowledged) below min_size" % blocked)


def test_kill_osd_during_writes():
    with cluster() as c:
        c.create_pool("rbd", 8, 3)
        logp = os.path.join(c.dir, "acked.log")
        env = dict(os.environ, NORN_CLIENT_TIMEOUT_MS="60000")
        w = subprocess.Popen([CLIENT, c.conf, "rbd", "writer", "w", "400", "4096", logp], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)
        victim = c.osd_ids[1]
        c.kill_osd(victim)
        t0 = time.time()
        c.wait_osds_up([victim], up=False, timeout=60)
        print("  osd.%d marked down %.1f s after kill -9" % (victim, time.time() - t0))
        out, err = w.communicate(timeout=300)
        check(w.returncode == 0, "writer failed after the kill: %s" % err.decode())
        n = sum(1 for _ in open(logp))
        out = must(c, "rbd", "verify", logp)
        print("  %d acknowledged writes; %s" % (n, out.strip()))
        # the killed OSD comes back, catches up by peering + recovery, and
        # reads (it is primary again for some PGs) return the latest data
        c.start_osd(victim)
        c.wait_osds_up([victim], timeout=60)
        wait_clean(c, 60)
        out = must(c, "rbd", "verify", logp)
        print("  after osd.%d rejoined: %s" % (victim, out.strip()))
        check_replicas(c, 3)


def test_osd_returns_during_writes():
    """kill -9 an OSD, bring it back while the writer runs: recovery runs
    next to client writes, nothing acknowledged is lost, replicas agree."""
    with cluster() as c:
        c.create_pool("rbd", 8, 3)
        logp = os.path.join(c.dir, "acked.log")
        env = dict(os.environ, NORN_CLIENT_TIMEOUT_MS="60000")
        w = subprocess.Popen([CLIENT, c.conf, "rbd", "writer", "w", "1500", "8192", logp], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)
        victim = c.osd_ids[2]
        c.kill_osd(victim)
        c.wait_osds_up([victim], up=False, timeout=60)
        time.sleep(1)
        c.start_osd(victim)
        c.wait_osds_up([victim], timeout=60)
        out, err = w.communicate(timeout=300)
        check(w.returncode == 0, "writer failed: %s" % err.decode())
        n = sum(1 for _ in open(logp))
        wait_clean(c, 60)
        out = must(c, "rbd", "verify", logp)
        print("  %d acknowledged writes; %s" % (n, out.strip()))
        rec = 0
        for i in c.osd_ids:
            with open(os.path.join(c.dir, "osd.%d.log" % i)) as f:
                rec += sum(1 for line in f if " misses " in line)
        print("  %d PG recoveries logged" % rec)
        check_replicas(c, 3)


def test_out_osd_backfills_new_member():
    """An OSD dies and is marked out: CRUSH maps its PGs to the remaining
    OSD, which is backfilled; every acknowledged write survives and each
    PG ends with 3 identical copies."""
    with cluster() as c:
        c.create_pool("rbd", 8, 3)
        logp = os.path.join(c.dir, "acked.log")
        env = dict(os.environ, NORN_CLIENT_TIMEOUT_MS="60000")
        r = subprocess.run([CLIENT, c.conf, "rbd", "writer", "b", "200", "16384", logp], env=env,
                           capture_output=True, timeout=300)
        check(r.returncode == 0, "writer: %s" % r.stderr.decode())
        victim = c.osd_ids[3]
        c.kill_osd(victim)
        c.wait_osds_up([victim], up=False, timeout=60)
        rc, out, err = c.cli("osd", "out", str(victim))
        check(rc == 0, "osd out: %s" % err)
        t0 = time.time()
        time.sleep(1.5)            # beacons report the new interval
        wait_clean(c, 90)
        print("  osd.%d out: all PGs active+clean again after %.1f s" % (victim, time.time() - t0))
        out = must(c, "rbd", "verify", logp)
        print("  " + out.strip())
        bf = 0
        for i in c.osd_ids:
            if i == victim:
                continue
            with open(os.path.join(c.dir, "osd.%d.log" % i)) as f:
                bf += sum(1 for line in f if " misses " in line)
        print("  %d PG recoveries onto the new member logged" % bf)
        check(bf > 0, "no recovery happened")
        live = [i for i in c.osd_ids if i != victim]
        for i in list(c.osd_pids()):
            c.kill_osd(i, signal.SIGTERM)
        for cid in ["1.%x" % s for s in range(8)]:
            objs = [store_objects(c, i, cid) for i in live]
            check(all(o is not None for o in objs), "pg %s not on all of %s" % (cid, live))
            check(all(o == objs[0] for o in objs), "pg %s object lists differ: %s" % (cid, objs))
            for oid in objs[0]:
                datas = [store_read(c, i, cid, oid) for i in live]
                check(all(d == datas[0] for d in datas), "pg %s %s differs" % (cid, oid))
        print("  every PG on all 3 remaining OSDs, identical")


def test_lost_boot_is_sent_again():
    """An OSD whose boot the mons dropped (refused under noup here; a
    leader change between a boot's arrival and its commit loses it the
    same way) boots again by itself once it may: unsetting noup makes only
    one new epoch, which an OSD waiting for a map that marks it up would
    otherwise never act on."""
    with cluster() as c:
        c.create_pool("rbd", 8, 3)
        victim = c.osd_ids[1]
        c.kill_osd(victim)
        c.wait_osds_up([victim], up=False, timeout=60)
        rc, out, err = c.cli("osd", "set", "noup")
        check(rc == 0, "osd set noup: %s" % err)
        c.start_osd(victim)
        time.sleep(2)
        st = {o["osd"]: bool(o["up"]) for o in c.osdmap()["osds"]}
        check(not st[victim], "osd.%d came up under noup" % victim)
        rc, out, err = c.cli("osd", "unset", "noup")
        check(rc == 0, "osd unset noup: %s" % err)
        c.wait_osds_up([victim], timeout=20)
        path = os.path.join(c.dir, "after-boot")
        with open(path, "wb") as f:
            f.write(b"x" * 10)
        must(c, "rbd", "put", "after-boot", path)
        print("  osd.%d up again after noup was cleared" % victim)


def test_mon_restart_keeps_osds_up():
    """Every mon killed and restarted at once while the OSDs run: the new
    leader gives them a grace period to find it, and no live OSD is
    marked down (each keeps its up_from)."""
    with cluster() as c:
        c.create_pool("rbd", 8, 3)
        before = {o["osd"]: o["up_from"] for o in c.osdmap()["osds"]}
        for n in c.mon_names:
            c.kill_mon(n)
        for n in c.mon_names:
            c.start_mon(n)
        c.wait_quorum()
        time.sleep(3)
        after = {o["osd"]: (o["up"], o["up_from"]) for o in c.osdmap()["osds"]}
        check(all(after[i] == (1, before[i]) for i in before),
              "OSDs marked down after a mon restart: before %s after %s" % (before, after))
        print("  %d OSDs stayed up through a restart of every mon" % len(before))


TESTS = [test_put_get_sizes_and_replicas, test_malformed_frame_closes_only_that_connection,
         test_min_size_blocks_writes, test_kill_osd_during_writes, test_osd_returns_during_writes,
         test_out_osd_backfills_new_member, test_lost_boot_is_sent_again,
         test_mon_restart_keeps_osds_up]


def main():
    want = sys.argv[3:]
    failed = 0
    for t in TESTS:
        if want and t.__name__ not in want:
            continue
        t0 = time.time()
        print("RUN  %s" % t.__name__, flush=True)
        try:
            t()
            print("ok   %s (%.1f s)" % (t.__name__, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
