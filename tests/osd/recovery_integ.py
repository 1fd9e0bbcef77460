#!/usr/bin/python3
"""Recovery of snapshot clones and clean-up of deleted pools, on real
daemons (tests/lib/cluster.py: 1 norn-mon + 3 norn-osd on loopback).

    recovery_integ.py BUILD_DIR SNAP_CLIENT SECTION

Sections (one ctest each, each with its own cluster):

  snap    A replica misses the writes that cloned objects for a snapshot
          (kill -9 before the snapshot, restart after): log-based recovery
          must bring the clones and snapdirs with their heads. Objects are
          written (data + xattr + omap), one OSD is killed, snapshot s1 is
          taken and every object overwritten (clones on the 2 live OSDs),
          snapshot s2 is taken, a third of the objects overwritten again
          and a few deleted (their clones move to snapdirs). The OSD
          restarts; once active+clean the primaries' logs must say the
          recovery was log-based. Then each OSD in turn serves alone as the
          primary of every PG (the other two stopped, min_size 1) and the
          head, s1 and s2 all read back exactly (data, xattr, omap). At
          the end every OSD is stopped and its store checked with
          norn-store: the same hidden objects (clones, snapdirs) on all
          three, byte-identical, with the expected contents.

  snap_backfill  the same with a 16-entry PG log and 200 more writes
          while the OSD is down: it is backfilled, clones included.

  stray_newer  (size 2, min_size 1) the only copy of some acknowledged
          writes is on an OSD that goes down and out while the PG goes on
          with an older copy; when it comes back as a stray with a newer
          last_update, the primary peers with it, recovers its writes,
          and only then it is deleted.

  backfill_race  (1 PG, size 3, min_size 2, 16-entry log, pushes 100 ms
          apart, 16 KiB objects pushed in 4 KiB pieces) a replica misses more writes than the log holds and is
          backfilled while a writer overwrites every object round after
          round: writes to objects the backfill has not reached skip the
          target (logged), writes to an object being copied wait for the
          copy, later ones go to the target too. Once active+clean the last
          round reads back, and each of the 3 stores (norn-store, daemons
          stopped) holds exactly the last round's data for every object.

  log_race  the same with the default PG log: the replica misses one
          round only and is recovered by log while the writer runs; its
          not-yet-pushed objects are skipped the same way.

  purge   Deleting a pool deletes its PG copies on every OSD in the
          background: a pool with objects is removed, one OSD is killed -9
          in the middle of the (rate-limited) deletion and restarted; the
          collections of the pool disappear from every store (norn-store
          ls) and `norn osd df` shows the space returned. A second pool
          stays untouched.
"""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from cluster import Cluster  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SNAPC = os.path.abspath(sys.argv[2])
PORT0 = 12000 + (os.getpid() % 400) * 10     # below the ephemeral port range
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0")


class Fail(Exception):
    pass


def ok(msg):
    print("ok     " + msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_for(what, cond, timeout, interval=0.25):
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        try:
            v = cond()
            if v:
                return v
        except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            last = e
        time.sleep(interval)
    raise Fail("%s: not reached within %.0f s%s" % (what, timeout,
                                                    (" (last error: %s)" % last) if last else ""))


def snapc(c, pool, *args, check_rc=True):
    r = subprocess.run([SNAPC, c.conf, pool] + [str(a) for a in args], capture_output=True,
                       timeout=120)
    if check_rc:
        check(r.returncode == 0, "snap_client %s: rc %d: %s" % (
            " ".join(map(str, args)), r.returncode, r.stderr.decode(errors="replace").strip()[-2000:]))
    return r


def gen(tag, i, size):
    r = subprocess.run([SNAPC, "gen", tag, str(i), str(size)], capture_output=True, timeout=30,
                       check=True)
    return r.stdout


def pool_pgs(c, pool_id):
    return [p for p in c.cli_json("pg", "dump", timeout_ms=5000)
            if p["pgid"].split(".")[0] == str(pool_id)]


def wait_pool_state(c, pool_id, npg, what, pred, timeout=60):
    """Every PG of the pool reported (at an epoch >= the current one)
    satisfying pred(pg)."""
    epoch = c.osdmap()["epoch"]

    def cond():
        pgs = pool_pgs(c, pool_id)
        if len(pgs) == npg and all(p.get("reported_epoch", 0) >= epoch and pred(p) for p in pgs):
            return pgs
        return None
    return wait_for(what, cond, timeout)


def osd_up(c, i):
    return {o["osd"]: bool(o["up"]) for o in c.osdmap()["osds"]}.get(i, False)


def log_offsets(c):
    r = {}
    for i in c.osd_ids:
        try:
            r[i] = os.path.getsize(os.path.join(c.dir, "osd.%d.log" % i))
        except OSError:
            r[i] = 0
    return r


def log_lines(c, offsets, pat):
    out = []
    for i, off in offsets.items():
        try:
            with open(os.path.join(c.dir, "osd.%d.log" % i), errors="replace") as f:
                f.seek(off)
                out += [(i, ln.rstrip()) for ln in f if pat in ln]
        except OSError:
            pass
    return out


def store_ls(c, i, cid=None):
    rc, out, err = c.store_tool(i, "ls", *([cid] if cid else []))
    check(rc == 0, "norn-store ls %s on osd.%d: %s" % (cid or "", i, err.decode(errors="replace")))
    return [x for x in out.split(b"\n") if x]


def store_read(c, i, cid, oid):
    cmd = [c.store_bin, "read", os.path.join(c.osd_data(i), "store"), cid, oid]
    r = subprocess.run(cmd, capture_output=True, timeout=120)
    check(r.returncode == 0, "norn-store read %s %r on osd.%d: %s" % (cid, oid, i, r.stderr))
    return r.stdout


# ---- snap -------------------------------------------------------------------------------

N_OBJ = 24
SIZE = 64 << 10
N_DURING = 6     # objects overwritten (after snapshot s3) while recovery runs


def verify_all(c, pool, s1, s2, s3, who):
    """Head, s1, s2 (and s3 once taken) of every object read back exactly."""
    if s3:
        snapc(c, pool, "verify", "o", 0, N_DURING, SIZE, "D")
        snapc(c, pool, "verify", "o", N_DURING, 12, SIZE, "C")
        snapc(c, pool, "verify", "o", 0, 12, SIZE, "C", s3)
    else:
        snapc(c, pool, "verify", "o", 0, 12, SIZE, "C")
    snapc(c, pool, "verify", "o", 12, 20, SIZE, "B")
    snapc(c, pool, "verify", "o", 20, N_OBJ, SIZE, "-")
    snapc(c, pool, "verify", "o", 0, N_OBJ, SIZE, "A", s1)
    snapc(c, pool, "verify", "o", 0, N_OBJ, SIZE, "B", s2)
    ok("%s: head and snapshots %s of %d objects read back exactly"
       % (who, ", ".join(str(x) for x in (s1, s2, s3) if x), N_OBJ))


def sec_snap(backfill=False):
    npg = 4
    # a 16-entry PG log and 200 more writes while the OSD is down: its
    # log no longer overlaps and it is backfilled instead
    # pushes paced (100 ms apart) so that writes arrive while they run
    conf = "osd_recovery_sleep_ms = 100\n" + ("osd_pg_log_max = 16\n" if backfill else "")
    mode = "backfill" if backfill else "log"
    with Cluster(BUILD, mons=1, osds=3, base_port=PORT0 + (2 if backfill else 0), osd_conf=conf) as c:
        pid = c.create_pool("snp", npg, 3)
        active_clean = lambda p: p["state"] == "active+clean"  # noqa: E731
        snapc(c, "snp", "write", "o", 0, N_OBJ, SIZE, "A")
        wait_pool_state(c, pid, npg, "all PGs active+clean", active_clean)
        ok("%d objects of %d KiB written with xattr and omap" % (N_OBJ, SIZE >> 10))

        victim = c.osd_ids[2]
        c.kill_osd(victim)
        wait_for("osd.%d down" % victim, lambda: not osd_up(c, victim), 30)
        s1 = int(snapc(c, "snp", "snapcreate").stdout.strip())
        snapc(c, "snp", "write", "o", 0, N_OBJ, SIZE, "B", "%d:%d" % (s1, s1))
        s2 = int(snapc(c, "snp", "snapcreate").stdout.strip())
        ctx = "%d:%d,%d" % (s2, s2, s1)
        snapc(c, "snp", "write", "o", 0, 12, SIZE, "C", ctx)
        snapc(c, "snp", "rm", "o", 20, N_OBJ, ctx)
        if backfill:
            snapc(c, "snp", "write", "f", 0, 200, 4096, "F", ctx)
        verify_all(c, "snp", s1, s2, 0, "with osd.%d down" % victim)

        offs = log_offsets(c)
        t0 = time.time()
        c.start_osd(victim)
        c.wait_osds_up([victim], timeout=60)
        # while the primaries recover osd.{victim}: a new snapshot and writes
        # that clone objects whose clones are still being pushed (they wait
        # for the object's whole group: clones, snapdir, head)
        wait_for("recovery of osd.%d started" % victim,
                 lambda: log_lines(c, offs, "osd.%d misses " % victim), 30, 0.1)
        s3 = int(snapc(c, "snp", "snapcreate").stdout.strip())
        ctx = "%d:%d,%d,%d" % (s3, s3, s2, s1)
        snapc(c, "snp", "write", "o", 0, N_DURING, SIZE, "D", ctx)
        ok("snapshot %d and %d overwrites while osd.%d is recovered (done %.1f s after its restart)"
           % (s3, N_DURING, victim, time.time() - t0))
        time.sleep(1.0)
        wait_pool_state(c, pid, npg, "active+clean after osd.%d returned" % victim, active_clean)
        modes = log_lines(c, offs, "osd.%d misses " % victim)
        check(modes, "no recovery of osd.%d was logged" % victim)
        check(all("(%s," % mode in ln for _, ln in modes), "recovery was not by %s: %s" % (mode, modes))
        ok("osd.%d back and every PG active+clean after %.1f s (%d recoveries by %s)"
           % (victim, time.time() - t0, len(modes), mode))
        verify_all(c, "snp", s1, s2, s3, "all up")

        # each OSD alone: it is the primary of every PG and serves the reads
        rc, out, err = c.cli("pool", "set", "snp", "min_size", "1")
        check(rc == 0, "pool set min_size 1: %s" % err)
        order = [victim] + [i for i in c.osd_ids if i != victim]
        for i in order:
            others = [k for k in c.osd_ids if k != i]
            for k in others:
                c.kill_osd(k, signal.SIGTERM)
            wait_for("osd %s down" % others, lambda: not any(osd_up(c, k) for k in others), 30)
            wait_pool_state(c, pid, npg, "osd.%d alone serves every PG" % i,
                            lambda p: p["state"].startswith("active") and
                            [a for a in p["acting"] if a >= 0] == [i])
            verify_all(c, "snp", s1, s2, s3, "osd.%d alone (primary of every PG)" % i)
            for k in others:
                c.start_osd(k)
            c.wait_osds_up(others, timeout=60)
            time.sleep(1.0)
            wait_pool_state(c, pid, npg, "active+clean again", active_clean)

        # the stores: the same hidden objects everywhere, byte-identical
        for i in c.osd_ids:
            c.kill_osd(i, signal.SIGTERM)
        hidden = {}
        for i in c.osd_ids:
            hidden[i] = {}
            for cid in store_ls(c, i):
                if not cid.startswith(b"%d." % pid):
                    continue
                for oid in store_ls(c, i, cid.decode()):
                    if oid.startswith(b"\xffc."):
                        hidden[i][(cid, oid)] = store_read(c, i, cid.decode(), oid)
                    elif oid.startswith(b"\xff"):
                        hidden[i][(cid, oid)] = None    # snapdirs hold no data
        names = {i: sorted(h) for i, h in hidden.items()}
        ref = names[c.osd_ids[0]]
        for i in c.osd_ids:
            check(names[i] == ref, "osd.%d hidden objects differ: %s vs %s" % (i, names[i], ref))
        # 24 clones for s1, 12 overwritten + 4 deleted for s2, the
        # overwrites during recovery for s3; 4 snapdirs
        clones = [k for k in ref if k[1].startswith(b"\xffc.")]
        dirs = [k for k in ref if k[1].startswith(b"\xffd.")]
        want_n = N_OBJ + 12 + 4 + N_DURING
        check(len(clones) == want_n and len(dirs) == 4,
              "%d clones, %d snapdirs (expected %d and 4): %s" % (len(clones), len(dirs), want_n, ref))
        for (cid, oid) in clones:
            head, sid = oid[3:].rsplit(b".", 1)
            n = int(head.split(b".")[1])
            sid = int(sid, 16)
            want = gen({s1: "A", s2: "B", s3: "C"}[sid], n, SIZE)
            for i in c.osd_ids:
                check(hidden[i][(cid, oid)] == want, "osd.%d: clone %r differs from its snapshot's data"
                      % (i, oid))
        ok("norn-store: %d clones + %d snapdirs identical on all 3 OSDs (osd.%d recovered them), "
           "contents as written" % (len(clones), len(dirs), victim))


# ---- purge --------------------------------------------------------------------------------

def osd_df(c):
    """osd id -> used bytes (as the OSDs last reported them)."""
    d = c.cli_json("osd", "df")
    rows = d["osds"] if isinstance(d, dict) and "osds" in d else d
    return {r["id"]: r["kb_used"] * 1024 for r in rows}


def pool_colls(c, i, pid):
    return [x for x in store_ls(c, i) if x.startswith(b"%d." % pid)]


def sec_purge():
    npg = 8
    conf = "osd_pool_purge_objects_per_sec = 40\n"
    with Cluster(BUILD, mons=1, osds=3, base_port=PORT0 + 5, osd_conf=conf) as c:
        keep = c.create_pool("keep", 4, 3)
        gone = c.create_pool("gone", npg, 3)
        snapc(c, "keep", "write", "k", 0, 16, 4096, "K")
        before = osd_df(c)
        snapc(c, "gone", "write", "g", 0, 200, 64 << 10, "G")
        clean = lambda p: p["state"] == "active+clean"  # noqa: E731
        wait_pool_state(c, gone, npg, "pool gone active+clean", clean)
        time.sleep(2)
        full = osd_df(c)
        grew = {i: full[i] - before[i] for i in c.osd_ids}
        check(all(g >= 200 * (64 << 10) for g in grew.values()),
              "osd df did not grow by the pool's data: %s -> %s" % (before, full))
        ok("pool gone: 200 objects x 64 KiB on every OSD (osd df +%s bytes)" % sorted(grew.values()))

        offs = log_offsets(c)
        rc, out, err = c.cli("pool", "rm", "gone", "--yes-i-really-mean-it")
        check(rc == 0, "pool rm: %s" % err)
        t0 = time.time()
        victim = c.osd_ids[1]
        # kill it once its deletion has started (and cannot be finished:
        # 40 objects/s for ~200 objects)
        wait_for("osd.%d starts deleting" % victim,
                 lambda: log_lines(c, {victim: offs[victim]}, "deleted pool"), 30, 0.1)
        c.kill_osd(victim)
        ok("osd.%d killed -9 %.1f s into the deletion" % (victim, time.time() - t0))
        c.kill_osd(victim)
        rc, out, err = c.store_tool(victim, "ls")
        left = [x for x in out.split(b"\n") if x.startswith(b"%d." % gone)]
        check(left, "osd.%d had already deleted everything: the kill came too late" % victim)
        n_obj = sum(len(store_ls(c, victim, x.decode())) for x in left)
        ok("osd.%d's store after the kill: %d collections of the pool with %d objects left"
           % (victim, len(left), n_obj))
        c.start_osd(victim)
        c.wait_osds_up([victim], timeout=60)

        def purged():
            for i in c.osd_ids:
                if log_lines(c, {i: offs[i]}, "pool %d deleted: every copy removed" % gone) == []:
                    return False
            return True
        wait_for("every OSD finished deleting pool %d" % gone, purged, 60, 0.5)
        ok("every OSD removed the pool's copies %.1f s after pool rm" % (time.time() - t0))
        time.sleep(2)
        after = osd_df(c)
        for i in c.osd_ids:
            check(after[i] < full[i] - 150 * (64 << 10),
                  "osd.%d: osd df shows %d bytes used, %d with the pool" % (i, after[i], full[i]))
        ok("norn osd df: space returned (%s -> %s)" % ([full[i] for i in c.osd_ids],
                                                     [after[i] for i in c.osd_ids]))
        snapc(c, "keep", "verify", "k", 0, 16, 4096, "K")
        for i in c.osd_ids:
            c.kill_osd(i, signal.SIGTERM)
        for i in c.osd_ids:
            check(not pool_colls(c, i, gone), "osd.%d still has %s" % (i, pool_colls(c, i, gone)))
            check(pool_colls(c, i, keep), "osd.%d lost the other pool" % i)
            rc, out, err = c.store_tool(i, "fsck")
            check(rc == 0, "norn-store fsck osd.%d: %s %s" % (i, out.decode(), err.decode()))
        ok("norn-store: no collection of pool %d on any OSD, pool %d intact, fsck clean" % (gone, keep))


# ---- stray_newer ---------------------------------------------------------------------------

def sec_stray_newer():
    """The last copy written returns as a stray after the PG went on
    without it: its writes are recovered, then it is deleted."""
    with Cluster(BUILD, mons=1, osds=3, base_port=PORT0 + 7) as c:
        pid = c.create_pool("nw", 1, 2, min_size=1)
        pg = "%d.0" % pid
        snapc(c, "nw", "write", "w", 0, 10, 8192, "OLD")
        p0 = wait_pool_state(c, pid, 1, "PG active+clean", lambda p: p["state"] == "active+clean")[0]
        a, b = p0["acting"][0], p0["acting"][1]
        spare = [i for i in c.osd_ids if i not in (a, b)][0]
        c.kill_osd(b)
        wait_for("osd.%d down" % b, lambda: not osd_up(c, b), 30)
        wait_pool_state(c, pid, 1, "PG active on osd.%d alone" % a,
                        lambda p: p["state"].startswith("active") and [x for x in p["acting"] if x >= 0] == [a])
        snapc(c, "nw", "write", "w", 0, 10, 8192, "NEW")
        ok("pg %s: osd.%d down, 10 objects overwritten on osd.%d alone (acknowledged)" % (pg, b, a))
        c.kill_osd(a)
        wait_for("osd.%d down" % a, lambda: not osd_up(c, a), 30)
        c.start_osd(b)
        c.wait_osds_up([b], timeout=60)
        rc, out, err = c.cli("osd", "out", str(a))
        check(rc == 0, "osd out: %s" % err)
        wait_pool_state(c, pid, 1, "PG active+clean without osd.%d" % a,
                        lambda p: p["state"] == "active+clean" and a not in p["acting"])
        # peering has no past-interval tracking: the PG went active on the
        # older copy (the newest one is down and out); a precondition here
        r = snapc(c, "nw", "verify", "w", 0, 10, 8192, "OLD", check_rc=False)
        check(r.returncode == 0, "scenario not reached: the PG does not serve the older copy: %s"
              % r.stderr.decode(errors="replace")[-500:])
        ok("osd.%d (the newest copy) down and out; the PG went active+clean on osd.%d's older copy"
           % (a, b))
        offs = log_offsets(c)
        t0 = time.time()
        c.start_osd(a)
        c.wait_osds_up([a], timeout=60)
        wait_for("osd.%d's newer copy recovered" % a,
                 lambda: snapc(c, "nw", "verify", "w", 0, 10, 8192, "NEW", check_rc=False).returncode == 0,
                 60, 1.0)
        ok("osd.%d returned as a stray with the newer copy: its writes are served again after %.1f s"
           % (a, time.time() - t0))
        check(log_lines(c, offs, "is newer"), "no 'newer stray' line logged")
        wait_for("osd.%d deletes its stray copy" % a,
                 lambda: log_lines(c, {a: offs[a]}, "pg %s: stray copy deleted" % pg), 60, 0.5)
        wait_pool_state(c, pid, 1, "PG active+clean", lambda p: p["state"] == "active+clean")
        snapc(c, "nw", "verify", "w", 0, 10, 8192, "NEW")
        for i in c.osd_ids:
            c.kill_osd(i, signal.SIGTERM)
        holders = [i for i in c.osd_ids if pg.encode() in store_ls(c, i)]
        check(a not in holders, "osd.%d still holds %s" % (a, pg))
        ok("osd.%d's copy deleted once the PG was clean with its data (copies on %s)" % (a, holders))


def sec_backfill_race(log=False):
    n, size = 40, 16 << 10
    mode = "log" if log else "backfill"
    # 16 KiB objects go in 4 KiB pieces (each acknowledged before the next)
    conf = "osd_recovery_sleep_ms = 100\nosd_recovery_piece_bytes = 4096\n" + \
        ("" if log else "osd_pg_log_max = 16\n")
    with Cluster(BUILD, mons=1, osds=3, base_port=PORT0 + 9, osd_conf=conf) as c:
        pid = c.create_pool("bf", 1, 3, min_size=2)
        pg = "%d.0" % pid
        active_clean = lambda p: p["state"] == "active+clean"  # noqa: E731
        snapc(c, "bf", "write", "o", 0, n, size, "A")
        p0 = wait_pool_state(c, pid, 1, "PG active+clean", active_clean)[0]
        victim = p0["acting"][-1]
        check(victim != p0["acting"][0], "no replica to stop in %s" % p0["acting"])
        c.kill_osd(victim)
        wait_for("osd.%d down" % victim, lambda: not osd_up(c, victim), 30)
        snapc(c, "bf", "write", "o", 0, n, size, "B")
        offs = log_offsets(c)
        t0 = time.time()
        c.start_osd(victim)
        c.wait_osds_up([victim], timeout=60)
        wait_for("%s recovery of osd.%d started" % (mode, victim),
                 lambda: log_lines(c, offs, "osd.%d misses " % victim), 30, 0.05)
        rounds, during = 0, 0
        deadline = time.time() + 90
        while True:
            tag = "R%d" % rounds
            snapc(c, "bf", "write", "o", 0, n, size, tag)     # every write acknowledged
            rounds += 1
            st = pool_pgs(c, pid)[0]["state"]
            if st != "active+clean":
                during += 1
            elif rounds >= 2:
                break
            check(time.time() < deadline, "PG not clean 90 s after osd.%d returned (%s)" % (victim, st))
        wait_pool_state(c, pid, 1, "PG active+clean", active_clean)
        modes = log_lines(c, offs, "osd.%d misses " % victim)
        check(modes and all(("(%s," % mode) in ln for _, ln in modes), "not a %s recovery: %s" % (mode, modes))
        skipped = log_lines(c, offs, "pg %s: " % pg)
        skipped = [ln for _, ln in skipped if "writes skipped a recovering member" in ln]
        ok("osd.%d recovered (%s) in %.1f s; %d rounds of %d overwrites, %d ended before it did; %s"
           % (victim, mode, time.time() - t0, rounds, n, during, skipped or "no write skipped it"))
        # the PG state is sampled between rounds only: the skip count in the
        # primary's log is what proves writes raced the recovery
        check(skipped, "no write skipped the recovering member (the boundary was not exercised)")
        snapc(c, "bf", "verify", "o", 0, n, size, tag)
        for i in c.osd_ids:
            c.kill_osd(i, signal.SIGTERM)
        for i in c.osd_ids:
            for k in range(n):
                got = store_read(c, i, pg, "o.%d" % k)
                check(got == gen(tag, k, size), "osd.%d: o.%d is not the last acknowledged write %s "
                      "(%d bytes)" % (i, k, tag, len(got)))
        ok("every store holds the last acknowledged round %s of all %d objects" % (tag, n))


# ---- full ----------------------------------------------------------------------------------

def sec_full():
    """A full OSD answers ENOSPC at once; deleting makes room; nothing breaks."""
    conf = "osd_full_pct = 60\n"
    with Cluster(BUILD, mons=1, osds=3, base_port=PORT0 + 4, store_size="96M",
                 osd_conf=conf) as c:
        c.create_pool("f", 4, 3)
        blob = os.path.join(c.dir, "blob")
        with open(blob, "wb") as f:
            f.write(os.urandom(4 << 20))
        stored, err, took = [], "", 0.0
        for i in range(40):
            t = time.time()
            rc, out, err = c.cli("put", "f", "o%d" % i, blob, timeout_ms=20000)
            took = time.time() - t
            if rc != 0:
                break
            stored.append("o%d" % i)
        check(rc != 0, "40 x 4 MiB fit in 96 MiB stores at 60 %")
        check("space" in err.lower(), "the refusal does not say why: %r" % err)
        check(took < 10, "the refusal took %.1f s (an op timeout, not ENOSPC)" % took)
        check(len(stored) >= 4, "only %d objects fit before ENOSPC" % len(stored))
        ok("%d x 4 MiB stored, then refused in %.2f s: %s" % (len(stored), took, err.strip()))
        for name in stored[:3]:
            rc, out, err = c.cli("rm", "f", name)
            check(rc == 0, "rm %s: %s" % (name, err))

        def fits():
            rc, out, err = c.cli("put", "f", "again", blob, timeout_ms=20000)
            return rc == 0
        wait_for("a put fits again after 3 removals", fits, 20, 0.5)
        ok("3 objects removed: writes fit again")
        for name in stored[3:]:
            rc, out, err = c.cli("get", "f", name, os.path.join(c.dir, "back"))
            check(rc == 0, "get %s: %s" % (name, err))
            with open(os.path.join(c.dir, "back"), "rb") as f1, open(blob, "rb") as f2:
                check(f1.read() == f2.read(), "%s differs" % name)
        check(sorted(c.osd_pids()) == sorted(c.osd_ids), "an OSD died: %s" % c.osd_pids())
        for i in c.osd_ids:
            c.kill_osd(i, signal.SIGTERM)
        for i in c.osd_ids:
            rc, out, err = c.store_tool(i, "fsck")
            check(rc == 0, "norn-store fsck osd.%d: %s %s" % (i, out.decode(), err.decode()))
        ok("every object written before the refusal reads back; every OSD up; fsck clean")


SECTIONS = {"full": sec_full, "backfill_race": sec_backfill_race,
            "log_race": lambda: sec_backfill_race(log=True), "stray_newer": sec_stray_newer, "snap": sec_snap, "snap_backfill": lambda: sec_snap(backfill=True), "purge": sec_purge}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in SECTIONS:
        print(__doc__)
        return 2
    t0 = time.time()
    try:
        SECTIONS[sys.argv[3]]()
    except Fail as e:
        print("FAIL   %s (%.1f s)" % (e, time.time() - t0), flush=True)
        return 1
    print("passed %s in %.1f s" % (sys.argv[3], time.time() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
