#!/usr/bin/python3
"""The recovery drill of issue 6 as integration tests: a real cluster
(tests/lib/cluster.py, mons + OSDs on 127.0.0.1), norn-drill writing and
overwriting objects the whole time, and OSD failures.

    drill_integ.py BUILD_DIR SECTION [--long]

Sections (one ctest each, each with its own cluster):
    drill        kill -9 one OSD: status shows it down and PGs degraded within
                 the heartbeat grace (+ reporting slack); writes keep flowing;
                 after the down-out interval the cluster re-replicates to full
                 size and every PG is active+clean; the OSD restarts, rejoins
                 and everything is active+clean again; every acknowledged
                 write reads back (norn-drill verify)
    backfill     add an OSD so PGs backfill; kill -9 a member of a
                 backfilling PG in the middle; clean again; verify
    two_down     5 OSDs, size-3 pool: kill -9 two OSDs at once; clean with
                 the three left; both restart; clean; verify
    restart_all  kill -9 every mon and OSD at once, start them all again;
                 the writer (running all along) resumes; clean; verify, and
                 verify again from the state file with a fresh process
    host_loss    6 OSDs on 4 hosts, default chooseleaf-host rule: kill every
                 OSD of one host (emulated host loss: the OSDs of one
                 osd_host, not network namespaces); clean on the three
                 hosts left with no two replicas on one host; restart; verify

Timings: heartbeat grace 2 s (Cluster default), down-out interval 5 s (10 s
with --long, which also writes longer). Every step has a deadline and fails
with what it saw (PG states, drill output) instead of skipping. Every
process (daemons, norn-drill) is killed by pid in finally blocks.
"""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from cluster import Cluster  # noqa: E402

GRACE = 2.0
LONG = "--long" in sys.argv
DOWN_OUT = 10.0 if LONG else 5.0
# the slack on top of the grace for "status shows it down": failure report,
# mon tick and map propagation
REPORT_SLACK = 5.0
CLEAN_TIMEOUT = 240.0 if LONG else 120.0
BACKFILL_OBJECTS = 256 if LONG else 64      # of 1 MiB
BACKFILL_PRELOAD_S = 30 if LONG else 8


class Fail(Exception):
    pass


T0 = time.time()


def ok(msg):
    print("ok     [%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def info(msg):
    print("       [%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def extra_conf():
    return "mon_osd_down_out_interval_ms = %d\n" % int(DOWN_OUT * 1000)


# ---- cluster observation ------------------------------------------------------------

def osd_states(c):
    m = c.osdmap()
    return {o["osd"]: (bool(o["up"]), bool(o["in"]), o.get("host")) for o in m["osds"]}


def pg_dump(c):
    return c.cli_json("pg", "dump", timeout_ms=5000)


def pg_summary(pgs):
    by = {}
    for p in pgs:
        by[p["state"]] = by.get(p["state"], 0) + 1
    return ", ".join("%d %s" % (n, s) for s, n in sorted(by.items()))


def wait_for(what, cond, timeout, interval=0.25):
    """Poll cond() (returns a truthy value when done, may raise RuntimeError
    while the cluster is busy) until it holds; returns (value, seconds)."""
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        try:
            v = cond()
            if v:
                return v, time.time() - t0
        except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            last = e
        time.sleep(interval)
    raise Fail("%s: not reached within %.0f s%s" % (what, timeout, (" (last error: %s)" % last) if last else ""))


def pg_is_clean(p, size, exclude, min_epoch):
    """active+clean with `size` acting OSDs (none in exclude), as reported by
    its primary at osdmap epoch >= min_epoch (older stats may predate the
    map change that made the PG degraded)."""
    acting = [o for o in p["acting"] if o >= 0]
    return (p["state"] == "active+clean" and len(acting) == size and
            not set(acting) & set(exclude) and p.get("reported_epoch", 0) >= min_epoch)


def all_clean(c, size, exclude=(), min_epoch=0):
    pgs = pg_dump(c)
    if all(pg_is_clean(p, size, exclude, min_epoch) for p in pgs):
        return pgs
    return None


def wait_clean(c, size, what, exclude=(), timeout=None):
    t0 = time.time()
    epoch = c.osdmap()["epoch"]
    try:
        pgs, dt = wait_for(what, lambda: all_clean(c, size, exclude, epoch), timeout or CLEAN_TIMEOUT)
    except Fail:
        try:
            pgs = pg_dump(c)
            bad = [p for p in pgs if not pg_is_clean(p, size, exclude, epoch)]
            detail = "; ".join("%s %s acting %s reported at e%s" % (p["pgid"], p["state"], p["acting"],
                                                                     p.get("reported_epoch")) for p in bad[:12])
            raise Fail("%s: not all PGs active+clean with %d replicas after %.0f s: %s; e.g. %s"
                       % (what, size, time.time() - t0, pg_summary(pgs), detail))
        except RuntimeError as e:
            raise Fail("%s: pg dump fails: %s" % (what, e))
    ok("%s: all %d PGs active+clean with %d replicas (reported at epoch >= %d) after %.1f s"
       % (what, len(pgs), size, epoch, dt))
    return dt


def wait_down(c, ids, limit):
    (_, dt) = wait_for("osd %s marked down" % sorted(ids),
                       lambda: all(not osd_states(c)[i][0] for i in ids), limit + 60)
    check(dt <= limit, "osd %s marked down only after %.1f s (limit: grace %.0f s + %.0f s)"
          % (sorted(ids), dt, GRACE, REPORT_SLACK))
    ok("osd %s down after %.1f s (limit %.0f s)" % (sorted(ids), dt, limit))
    return dt


def wait_degraded(c, ids, limit, t_kill):
    """The PGs that had one of `ids` in their acting set show degraded/undersized."""
    def cond():
        pgs = pg_dump(c)
        hit = [p for p in pgs if "degraded" in p["state"] or "undersized" in p["state"]]
        return pgs if hit else None
    pgs, _ = wait_for("PGs degraded", cond, limit + 60)
    dt = time.time() - t_kill
    check(dt <= limit + 1.0, "PGs shown degraded only %.1f s after the kill (limit %.0f s): %s"
          % (dt, limit, pg_summary(pgs)))
    ok("PGs degraded %.1f s after the kill: %s" % (dt, pg_summary(pgs)))
    rc, out, err = c.cli("status")
    check(rc == 0, "norn status failed: %s" % err)
    n_up = len([i for i, s in osd_states(c).items() if s[0]])
    check(("%d up" % n_up) in out, "norn status does not show %d OSDs up:\n%s" % (n_up, out))
    check("degraded" in out or "undersized" in out,
          "norn status does not show degraded PGs:\n%s" % out)
    info("norn status:\n" + "\n".join("         " + l for l in out.splitlines()))


def wait_out(c, ids, limit):
    (_, dt) = wait_for("osd %s marked out" % sorted(ids),
                       lambda: all(not osd_states(c)[i][1] for i in ids), limit)
    ok("osd %s out %.1f s later (down-out interval %.0f s)" % (sorted(ids), dt, DOWN_OUT))


def osd_log_offsets(c):
    r = {}
    for i in c.osd_ids:
        try:
            r[i] = os.path.getsize(os.path.join(c.dir, "osd.%d.log" % i))
        except OSError:
            r[i] = 0
    return r


def recovery_modes(c, victim, offsets):
    """Count the primaries' "pg X: osd.V misses N objects (log|backfill, ..."
    lines about osd.V written after `offsets`."""
    modes = {}
    pat = "osd.%d misses " % victim
    for i, off in offsets.items():
        try:
            with open(os.path.join(c.dir, "osd.%d.log" % i), errors="replace") as f:
                f.seek(off)
                for line in f:
                    k = line.find(pat)
                    if k >= 0:
                        rest = line[k:]
                        mode = rest[rest.find("(") + 1:].split(",")[0]
                        modes[mode] = modes.get(mode, 0) + 1
        except OSError:
            pass
    return modes


def restart_osds(c, ids):
    for i in ids:
        c.start_osd(i)
    c.wait_osds_up(ids, timeout=60)
    wait_for("osd %s back in" % sorted(ids), lambda: all(osd_states(c)[i][1] for i in ids), 30)
    ok("osd %s restarted: up and in" % sorted(ids))


# ---- the writer ----------------------------------------------------------------------------

class Drill:
    """norn-drill in the background; stop() ends the writing and verifies."""

    def __init__(self, c, build, pool, workdir, objects=300, size=4096, threads=2, rate=150,
                 op_timeout=15000, name="drill", prefix="drill"):
        self.bin = os.path.join(build, "tools", "drill", "norn-drill")
        self.state = os.path.join(workdir, name + ".state")
        self.csv = os.path.join(workdir, name + ".csv")
        self.out_path = os.path.join(workdir, name + ".out")
        self.c = c
        self.conf = c.conf
        self.pool = pool
        self.args = ["--objects", str(objects), "--size", str(size), "--threads", str(threads),
                     "--rate", str(rate), "--op-timeout", str(op_timeout), "--verify-timeout", "120",
                     "--prefix", prefix]
        self.p = None

    def start(self):
        out = open(self.out_path, "ab")
        self.p = subprocess.Popen([self.bin, "-c", self.conf, "--pool", self.pool, "--state", self.state,
                                   "--csv", self.csv] + self.args, stdout=out, stderr=out,
                                  start_new_session=True)
        out.close()
        self.t_start = time.time()

    def output(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, n=25):
        return "\n".join(self.output().splitlines()[-n:])

    def rows(self):
        """Per-second CSV rows: (unix time, writes, bytes, errors, max latency ms)."""
        r = []
        try:
            with open(self.csv) as f:
                for line in f:
                    t, w, b, e, lat = line.strip().split(",")
                    r.append((float(t), int(w), int(b), int(e), float(lat)))
        except (OSError, ValueError):
            pass
        return r

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def check_alive(self):
        check(self.alive(), "norn-drill exited early (%s):\n%s" % (self.p.returncode, self.tail()))

    def writes_between(self, t0, t1):
        return sum(w for t, w, _, _, _ in self.rows() if t0 < t <= t1)

    def wait_writes_flow(self, since, limit, what):
        """Acknowledged writes in some second after `since`, within `limit` s."""
        def cond():
            self.check_alive()
            return [r for r in self.rows() if r[0] > since and r[1] > 0]
        try:
            rows, _ = wait_for(what, cond, limit + 2)
        except Fail:
            raise Fail("%s: no acknowledged write within %.0f s after %s:\n%s"
                       % (what, limit, "the event", self.tail()))
        ok("%s: writes flow again (%d writes/s in the second ending %.1f s after)"
           % (what, rows[0][1], rows[0][0] - since))

    def stalls(self):
        """(start, end) unix times of every STALL: line (>= 0.5 s without an ack)."""
        r = []
        for l in self.output().splitlines():
            if l.startswith("STALL:"):
                try:
                    a = l.split("(from ")[1].split(" to ")
                    r.append((float(a[0]), float(a[1].split()[0])))
                except (IndexError, ValueError):
                    pass
        return r

    def check_flow_again(self, t_kill, t_down, limit, what):
        """Client I/O flows again within `limit` s of the kill: the stalls
        that began before the mark-down ended by then."""
        time.sleep(1.5)  # the drill flushes its output once a second
        st = [x for x in self.stalls() if x[0] <= t_down and x[1] > t_kill]
        flow = max([b for _, b in st], default=t_kill) - t_kill
        check(flow <= limit, "%s: client I/O stalled until %.1f s after the kill (limit %.0f s): %s"
              % (what, flow, limit, ", ".join("%.1f s at +%.1f s" % (b - a, a - t_kill) for a, b in st)))
        ok("%s: client I/O flowing again %.1f s after the kill (limit %.0f s)" % (what, flow, limit))

    def rate(self, t0, t1):
        rows = [r for r in self.rows() if t0 < r[0] <= t1]
        return sum(r[1] for r in rows) / max(1, len(rows))

    def stop(self, timeout=300):
        """SIGINT: stop writing, verify. Returns (rc, output)."""
        check(self.p is not None, "drill never started")
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail("norn-drill did not finish verifying within %d s:\n%s" % (timeout, self.tail()))
        return self.p.returncode, self.output()

    def stop_when_done(self, timeout):
        """Wait for a --seconds run to end by itself (it verifies)."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail("norn-drill did not finish within %d s:\n%s" % (timeout, self.tail()))
        return self.p.returncode, self.output()

    def verify_only(self, timeout=300):
        r = subprocess.run([self.bin, "-c", self.conf, "--verify-only", "--state", self.state,
                            "--verify-timeout", "120"], capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def kill(self):
        if self.p is not None and self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)

    def expect_verified(self, rc, out, what):
        lines = [l for l in out.splitlines() if l.startswith(("LOST", "CORRUPT", "UNREADABLE",
                                                                "verified", "VERIFY", "wrote", "longest"))]
        if not (rc == 0 and "VERIFY OK" in out):
            # where the lost objects live, for the report
            where = []
            for l in lines:
                if l.startswith(("LOST", "CORRUPT", "UNREADABLE")) and len(where) < 12:
                    name = l.split(":")[1].split()[0]
                    r = self.c.cli("osd", "map", self.pool, name, timeout_ms=5000)
                    where.append("  %s" % (r[1].strip() or r[2].strip()))
            raise Fail("%s: norn-drill verify FAILED (exit %s):\n%s\nlocations now:\n%s"
                       % (what, rc, "\n".join(lines[-40:]) or out[-3000:], "\n".join(where)))
        for l in lines:
            if l.startswith(("wrote", "verified", "longest")):
                info(l)
        ok("%s: every acknowledged write reads back" % what)


def steady(d, seconds):
    time.sleep(seconds)
    d.check_alive()
    now = time.time()
    r = d.rate(now - seconds, now)
    check(r > 0, "no writes while the cluster is healthy:\n%s" % d.tail())
    return r


# ---- sections ---------------------------------------------------------------------------------

def section_drill(build, c):
    c.create_pool("drill", pg_num=16, size=3, min_size=2)
    d = Drill(c, build, "drill", c.dir)
    d.start()
    try:
        before = steady(d, 4)
        ok("writer running: %.0f writes/s" % before)
        victim = 1
        t_kill = time.time()
        c.kill_osd(victim)
        info("kill -9 osd.%d" % victim)
        t_down = t_kill + wait_down(c, [victim], GRACE + REPORT_SLACK)
        wait_degraded(c, [victim], GRACE + REPORT_SLACK, t_kill)
        d.wait_writes_flow(t_kill + GRACE, REPORT_SLACK + 3, "after the kill")
        d.check_flow_again(t_kill, t_down, GRACE + REPORT_SLACK, "after the kill")
        wait_out(c, [victim], DOWN_OUT + 30)
        wait_clean(c, 3, "re-replicated without osd.%d" % victim, exclude=[victim])
        d.check_alive()
        after = d.rate(time.time() - 3, time.time())
        check(after > 0, "no writes after recovery:\n%s" % d.tail())
        offsets = osd_log_offsets(c)
        restart_osds(c, [victim])
        wait_clean(c, 3, "osd.%d rejoined and caught up" % victim)
        modes = recovery_modes(c, victim, offsets)
        info("how osd.%d caught up (primaries' peering log lines): %s" % (victim, modes))
        check(modes.get("log", 0) > 0 and modes.get("backfill", 0) == 0,
              "osd.%d did not catch up by log: primaries logged %s for it (looked for "
              "'osd.%d misses N objects (log|backfill' in the OSD logs)" % (victim, modes, victim))
        ok("osd.%d caught up by log in %d PGs (no backfill)" % (victim, modes["log"]))
        used = [p for p in pg_dump(c) if victim in p["acting"]]
        check(used, "osd.%d serves no PG after rejoining" % victim)
        ok("osd.%d serves %d PGs again" % (victim, len(used)))
        rc, out = d.stop()
        d.expect_verified(rc, out, "drill")
    finally:
        d.kill()


def section_backfill(build, c):
    c.create_pool("drill", pg_num=16, size=3, min_size=2)
    # bulk data first, so the backfill lasts long enough to kill an OSD in it
    pre = Drill(c, build, "drill", c.dir, objects=BACKFILL_OBJECTS, size=1 << 20, threads=2,
                rate=0, name="preload", prefix="bulk")
    pre.args += ["--seconds", str(BACKFILL_PRELOAD_S)]
    pre.start()
    rc, out = pre.stop_when_done(BACKFILL_PRELOAD_S + 150)
    pre.expect_verified(rc, out, "preload")
    d = Drill(c, build, "drill", c.dir, objects=300, size=4096, rate=100)
    d.start()
    try:
        steady(d, 3)
        offsets = osd_log_offsets(c)
        new = c.add_osd(wait=True)
        info("added osd.%d" % new)

        seen = set()

        def backfilling():
            pgs = pg_dump(c)
            b = [p for p in pgs if "backfill" in p["state"] or "recover" in p["state"]]
            seen.update(p["state"] for p in b)
            return b or None
        try:
            pgs, dt = wait_for("a PG backfilling", backfilling, 30, interval=0.1)
        except Fail:
            raise Fail("no PG reported backfilling/recovering within 30 s of adding osd.%d: %s"
                       % (new, pg_summary(pg_dump(c))))
        ok("%d PGs moving data %.1f s after adding osd.%d (%s)" % (len(pgs), dt, new, pgs[0]["state"]))
        members = [o for o in pgs[0]["acting"] if o >= 0 and o != new]
        check(members, "backfilling PG %s has no old member" % pgs[0]["pgid"])
        victim = members[0]
        t_kill = time.time()
        c.kill_osd(victim)
        info("kill -9 osd.%d (member of backfilling PG %s)" % (victim, pgs[0]["pgid"]))
        wait_down(c, [victim], GRACE + REPORT_SLACK)
        d.wait_writes_flow(t_kill + GRACE, REPORT_SLACK + 3, "after the kill")
        wait_out(c, [victim], DOWN_OUT + 30)
        wait_clean(c, 3, "backfill finished without osd.%d" % victim, exclude=[victim])
        restart_osds(c, [victim])
        wait_clean(c, 3, "osd.%d rejoined" % victim)
        rc, out = d.stop()
        d.expect_verified(rc, out, "backfill")
        # the PG logs are short (osd_pg_log_max = 16), so the new OSD's PGs
        # cannot recover by log: they must backfill, and say so
        rc, out = pre.verify_only()
        pre.expect_verified(rc, out, "preloaded bulk objects after the backfill")
        modes = recovery_modes(c, new, offsets)
        info("how osd.%d was filled (primaries' peering log lines): %s" % (new, modes))
        check(modes.get("backfill", 0) > 0,
              "osd.%d was not filled by backfill (primaries logged %s) although the PG logs "
              "hold only 16 entries" % (new, modes))
        check(any("backfill" in s for s in seen),
              "data moved by backfill (primaries logged %s for osd.%d) and verified, but no PG "
              "ever showed a backfilling state (states seen while data moved: %s)"
              % (modes, new, sorted(seen)))
        ok("PG states seen while data moved: %s" % sorted(seen))
    finally:
        d.kill()


def section_two_down(build, c):
    c.create_pool("drill", pg_num=16, size=3, min_size=2)
    d = Drill(c, build, "drill", c.dir)
    d.start()
    try:
        steady(d, 4)
        victims = [0, 3]
        t_kill = time.time()
        for v in victims:
            c.kill_osd(v)
        info("kill -9 osd.%d and osd.%d at once" % tuple(victims))
        wait_down(c, victims, GRACE + REPORT_SLACK)
        # PGs on both lost OSDs have one copy (< min_size): they take no
        # writes until the down-out interval passes and they re-replicate,
        # and each writer thread soon waits on one of them, so writes may
        # only flow again after that
        d.wait_writes_flow(t_kill + GRACE, DOWN_OUT + REPORT_SLACK + 30,
                           "after the kill (PGs below min_size wait for re-replication)")
        wait_out(c, victims, DOWN_OUT + 30)
        wait_clean(c, 3, "re-replicated on the 3 OSDs left", exclude=victims)
        restart_osds(c, victims)
        wait_clean(c, 3, "both OSDs rejoined")
        rc, out = d.stop()
        d.expect_verified(rc, out, "two_down")
    finally:
        d.kill()


def section_restart_all(build, c):
    c.create_pool("drill", pg_num=16, size=3, min_size=2)
    d = Drill(c, build, "drill", c.dir, op_timeout=30000)
    d.start()
    try:
        steady(d, 4)
        t_kill = time.time()
        names = list(c.procs)
        for n in names:
            p = c.procs[n]
            p.send_signal(signal.SIGKILL)
        for n in names:
            c.kill(n)   # reaps by pid
        info("kill -9 of every daemon: %s" % " ".join(sorted(names)))
        time.sleep(1)
        for n in c.mon_names:
            c.start_mon(n)
        for i in c.osd_ids:
            c.start_osd(i)
        c.wait_quorum(timeout=60)
        c.wait_osds_up(c.osd_ids, timeout=90)
        ok("every daemon restarted: quorum and %d OSDs up %.1f s after the kill"
           % (len(c.osd_ids), time.time() - t_kill))
        wait_clean(c, 3, "after the full restart")
        d.wait_writes_flow(time.time(), 60, "after the full restart")
        rc, out = d.stop()
        d.expect_verified(rc, out, "restart_all")
        rc, out = d.verify_only()
        d.expect_verified(rc, out, "restart_all (fresh process from the state file)")
    finally:
        d.kill()


HOSTS = {0: "hostA", 1: "hostA", 2: "hostB", 3: "hostB", 4: "hostC", 5: "hostD"}


class HostCluster(Cluster):
    """OSDs grouped on hosts (osd_host) instead of one host each."""

    def start_osd(self, i):
        self._spawn("osd.%d" % i,
                    [self.osd_bin, "-c", self.conf, "--id", str(i), "--osd-data", self.osd_data(i),
                     "--foreground", "--osd_host", HOSTS.get(i, "host%d" % i)])


def section_host_loss(build, c):
    c.create_pool("drill", pg_num=16, size=3, min_size=2)
    st = osd_states(c)
    check(all(st[i][2] == HOSTS[i] for i in HOSTS), "osd hosts not as started: %s" % st)

    def distinct_hosts():
        for p in pg_dump(c):
            hs = [HOSTS[o] for o in p["acting"] if o >= 0]
            if len(set(hs)) != len(hs):
                return "PG %s has two replicas on one host: acting %s" % (p["pgid"], p["acting"])
        return None
    d = Drill(c, build, "drill", c.dir)
    d.start()
    try:
        steady(d, 4)
        bad = distinct_hosts()
        check(bad is None, bad or "")
        victims = [i for i in HOSTS if HOSTS[i] == "hostA"]
        t_kill = time.time()
        for v in victims:
            c.kill_osd(v)
        info("host hostA lost: kill -9 osd %s" % victims)
        wait_down(c, victims, GRACE + REPORT_SLACK)
        wait_degraded(c, victims, GRACE + REPORT_SLACK, t_kill)
        d.wait_writes_flow(t_kill + GRACE, REPORT_SLACK + 3, "after losing hostA")
        wait_out(c, victims, DOWN_OUT + 30)
        wait_clean(c, 3, "re-replicated on hostB/C/D", exclude=victims)
        bad = distinct_hosts()
        check(bad is None, bad or "")
        ok("no PG has two replicas on one host")
        restart_osds(c, victims)
        wait_clean(c, 3, "hostA back")
        rc, out = d.stop()
        d.expect_verified(rc, out, "host_loss")
    finally:
        d.kill()


SECTIONS = {
    "drill": (section_drill, 4, Cluster, ""),
    # the recovery throttle makes the backfill last seconds, so that the
    # kill lands in the middle of it and the mon sees it (beacons every 2 s)
    "backfill": (section_backfill, 5, Cluster, "osd_pg_log_max = 16\nosd_recovery_sleep_ms = 30\n"),
    "two_down": (section_two_down, 5, Cluster, ""),
    "restart_all": (section_restart_all, 4, Cluster, ""),
    "host_loss": (section_host_loss, 6, HostCluster, ""),
}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2 or args[1] not in SECTIONS:
        print("usage: drill_integ.py BUILD_DIR {%s} [--long]" % "|".join(SECTIONS), file=sys.stderr)
        return 2
    build, name = os.path.abspath(args[0]), args[1]
    fn, n_osds, cls, osd_conf = SECTIONS[name]
    c = None
    try:
        c = cls(build, mons=3, osds=n_osds, extra_conf=extra_conf(), osd_conf=osd_conf)
        ok("cluster up: 3 mons, %d OSDs in %s" % (n_osds, c.dir))
        fn(build, c)
        print("PASS %s (%.0f s)" % (name, time.time() - T0), flush=True)
        return 0
    except Fail as e:
        print("FAIL %s: %s" % (name, e), flush=True)
        if c is not None:
            try:
                print("final PG states: %s" % pg_summary(pg_dump(c)), flush=True)
            except Exception as e2:  # noqa: BLE001 - best effort diagnostics
                print("(pg dump failed: %s)" % e2)
            print("cluster dir (logs; kept with NORN_KEEP_TMP=1): %s" % c.dir, flush=True)
        return 1
    finally:
        if c is not None:
            c.stop()


if __name__ == "__main__":
    sys.exit(main())
