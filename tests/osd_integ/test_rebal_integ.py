#!/usr/bin/python3
"""Rebalancing checks (issue 6, part 5) on 3 real mons + 4 real OSDs:

- `osd out N` (N stays up): its PGs move to the other OSDs, reach
  active+clean, and only then osd.N deletes its now stray copies (its
  store holds no object of them); `osd in N` moves the data back and the
  temporary copies on the OSDs that served meanwhile are deleted too.
  Every acknowledged write reads back throughout.
- `osd rm N` refuses while N is up, and while a PG may hold its latest
  data only on N (not active+clean without N); --force overrides; once
  every PG is clean without N it succeeds.

usage: test_rebal_integ.py BUILD_DIR OSD_CLIENT [TEST...]
"""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from cluster import Cluster  # noqa: E402

BUILD, CLIENT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
PORT0 = 30000 + (os.getpid() % 300) * 20
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0")
_port_off = [0]
NPG = 8


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def cluster(**kw):
    _port_off[0] += 1
    return Cluster(BUILD, mons=3, osds=kw.pop("osds", 4), base_port=PORT0 + _port_off[0] * 5 % 300,
                   **kw)


def must(c, pool, *args, timeout_ms=60000):
    env = dict(os.environ, NORN_CLIENT_TIMEOUT_MS=str(timeout_ms))
    r = subprocess.run([CLIENT, c.conf, pool] + [str(a) for a in args], capture_output=True,
                       timeout=timeout_ms / 1000 + 60, env=env)
    check(r.returncode == 0, "osd_client %s: rc %d: %s" % (" ".join(map(str, args)), r.returncode,
                                                          r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode(errors="replace")


def pg_dump(c):
    """pgid -> (state, acting list)."""
    return {p["pgid"]: (p["state"], p["acting"]) for p in c.cli_json("pg", "dump")}


def wait_clean(c, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            d = pg_dump(c)
            last = d
            if len(d) == NPG and all(st == "active+clean" for st, _ in d.values()):
                return d
        except (RuntimeError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError("PGs not all active+clean within %ds: %s" % (timeout, last))


def deleted(c, i):
    """PG ids whose stray copy osd.i deleted, per its log (with repeats)."""
    out = []
    with open(os.path.join(c.dir, "osd.%d.log" % i)) as f:
        for line in f:
            m = re.search(r"pg (\S+): stray copy deleted", line)
            if m:
                out.append(m.group(1))
    return out


def wait_deleted(c, want, timeout):
    """want: {osd: set(pgid)} each deleted at least once more than base."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        missing = {i: pgs - set(deleted(c, i)) for i, pgs in want.items()}
        missing = {i: p for i, p in missing.items() if p}
        if not missing:
            return
        time.sleep(0.5)
    raise AssertionError("stray copies not deleted within %ds: %s" % (timeout, missing))


def store_objects(c, i, cid):
    rc, out, err = c.store_tool(i, "ls", cid)
    if rc != 0:
        return None
    return sorted(x for x in out.decode().split() if x)


# ---- tests -------------------------------------------------------------------

def test_out_in_deletes_strays():
    with cluster() as c:
        c.create_pool("rbd", NPG, 3)
        logp = os.path.join(c.dir, "acked.log")
        must(c, "rbd", "writer", "s", 120, 8192, logp)
        before = wait_clean(c, 60)
        victim = c.osd_ids[3]
        held = {pg for pg, (_, act) in before.items() if victim in act}
        check(held, "osd.%d holds no PG" % victim)

        rc, out, err = c.cli("osd", "out", str(victim))
        check(rc == 0, "osd out: %s" % err)
        t0 = time.time()
        time.sleep(1.5)
        during = wait_clean(c, 90)
        check(all(victim not in act for _, act in during.values()), "osd.%d still acting" % victim)
        wait_deleted(c, {victim: held}, 60)
        print("  osd.%d out: clean and %d stray copies deleted after %.1f s" %
              (victim, len(held), time.time() - t0))
        print("  " + must(c, "rbd", "verify", logp).strip())
        # nobody else deleted anything: the other copies are all needed
        for i in c.osd_ids:
            if i != victim:
                check(not deleted(c, i), "osd.%d deleted %s while it is needed" % (i, deleted(c, i)))
        c.kill_osd(victim, signal.SIGTERM)
        for pg in sorted(held):
            objs = store_objects(c, victim, pg)
            check(not objs, "osd.%d still holds %s objects: %s" % (victim, pg, objs))
        print("  osd.%d store: no object of its %d former PGs" % (victim, len(held)))
        c.start_osd(victim)
        c.wait_osds_up([victim], timeout=60)

        rc, out, err = c.cli("osd", "in", str(victim))
        check(rc == 0, "osd in: %s" % err)
        t0 = time.time()
        time.sleep(1.5)
        after = wait_clean(c, 90)
        temp = {}
        for pg, (_, act) in during.items():
            for i in act:
                if i not in after[pg][1]:
                    temp.setdefault(i, set()).add(pg)
        check(temp, "osd in moved nothing back")
        check(any(victim in act for _, act in after.values()), "osd.%d serves nothing again" % victim)
        wait_deleted(c, temp, 60)
        print("  osd.%d in: clean and %d temporary copies deleted after %.1f s" %
              (victim, sum(len(v) for v in temp.values()), time.time() - t0))
        print("  " + must(c, "rbd", "verify", logp).strip())
        for i in list(c.osd_pids()):
            c.kill_osd(i, signal.SIGTERM)
        for pg, (_, act) in sorted(after.items()):
            lists = {}
            for i in c.osd_ids:
                objs = store_objects(c, i, pg)
                if i in act:
                    check(objs is not None, "pg %s missing on acting osd.%d" % (pg, i))
                    lists[i] = objs
                else:
                    check(not objs, "pg %s: osd.%d (not acting %s) still holds %s" % (pg, i, act, objs))
            vals = list(lists.values())
            check(all(v == vals[0] for v in vals), "pg %s object lists differ: %s" % (pg, lists))
        print("  every PG only on its 3 acting OSDs, lists identical")


def test_osd_rm_refuses_sole_copy():
    with cluster() as c:
        c.create_pool("rbd", NPG, 2, min_size=1)
        logp = os.path.join(c.dir, "acked.log")
        must(c, "rbd", "writer", "r", 40, 4096, logp)
        wait_clean(c, 60)
        victim = c.osd_ids[3]
        rc, out, err = c.cli("osd", "rm", str(victim))
        check(rc != 0 and "up" in err, "osd rm of an up OSD: rc %d %r %r" % (rc, out, err))
        # down but still in: its PGs are degraded, their other copy may lag
        c.kill_osd(victim)
        c.wait_osds_up([victim], up=False, timeout=60)
        time.sleep(1.5)
        rc, out, err = c.cli("osd", "rm", str(victim))
        check(rc != 0 and "only copy" in err, "osd rm while PGs degraded: rc %d %r %r" % (rc, out, err))
        print("  refused: " + err.strip().splitlines()[-1])
        # out: the PGs recover elsewhere; then rm is safe
        rc, out, err = c.cli("osd", "out", str(victim))
        check(rc == 0, "osd out: %s" % err)
        time.sleep(1.5)
        wait_clean(c, 90)
        deadline = time.time() + 30
        while True:
            rc, out, err = c.cli("osd", "rm", str(victim))
            if rc == 0 or time.time() > deadline:
                break
            time.sleep(1)
        check(rc == 0, "osd rm after recovery: %s" % err)
        print("  removed once clean: " + (out.strip() or err.strip()))
        print("  " + must(c, "rbd", "verify", logp).strip())
        # --force overrides the PG check (a down, in OSD with degraded PGs)
        v2 = c.osd_ids[2]
        c.kill_osd(v2)
        c.wait_osds_up([v2], up=False, timeout=60)
        time.sleep(1.5)
        rc, out, err = c.cli("osd", "rm", str(v2))
        check(rc != 0, "osd rm of osd.%d with degraded PGs succeeded" % v2)
        rc, out, err = c.cli("osd", "rm", str(v2), "--force")
        check(rc == 0, "osd rm --force: %s" % err)
        m = c.osdmap()
        check(all(o["osd"] not in (victim, v2) for o in m["osds"]), "osds still in the map")


TESTS = [test_out_in_deletes_strays, test_osd_rm_refuses_sole_copy]


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
