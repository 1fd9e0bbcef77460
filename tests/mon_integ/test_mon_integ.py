#!/usr/bin/python3
"""Integration tests of the monitors with real norn-mon processes.

usage: test_mon_integ.py MON_BIN CLI_BIN EXERCISE_BIN [TEST...]

Every test builds its own cluster in a temp dir on its own ports; every
process is killed by pid when the test ends (atexit), and the network
namespace / veth pair of the partition test is deleted in a finally.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mon_cluster import MonCluster  # noqa: E402

MON_BIN, CLI_BIN, EXERCISE_BIN = sys.argv[1], sys.argv[2], sys.argv[3]
PORT0 = 21000 + (os.getpid() % 400) * 20


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def cluster(names, port_off, **kw):
    c = MonCluster(MON_BIN, CLI_BIN, names, PORT0 + port_off, **kw)
    c.mkfs()
    c.start_all()
    return c


def test_quorum_and_commands():
    c = cluster("abc", 0)
    leader = c.wait_leader()
    print("  leader mon.%s" % leader)
    # every mon agrees on the leader
    for n in "abc":
        st = c.mon_stat(n)
        check(st and st["leader"] == leader, "mon.%s disagrees on the leader: %s" % (n, st))
    rc, out, err = c.cli("pool", "create", "rbd", "32")
    check(rc == 0, "pool create: %s" % err)
    pools = c.cli_json("pool", "ls", "detail")
    check(len(pools) == 1 and pools[0]["pool"] == "rbd" and pools[0]["size"] == 3 and
          pools[0]["min_size"] == 2 and pools[0]["pg_num"] == 32, "pool ls: %s" % pools)
    # bad input: clear message, non-zero exit
    rc, out, err = c.cli("pool", "create", "x", "8", "--size", "20")
    check(rc == 1 and "size" in err, "size out of range accepted: %d %s" % (rc, err))
    rc, out, err = c.cli("pool", "get", "nosuchpool", "size")
    check(rc == 1 and "does not exist" in err, "unknown pool: %d %s" % (rc, err))
    rc, out, err = c.cli("pool", "rm", "rbd")
    check(rc == 2 and "yes-i-really-mean-it" in err, "pool rm without confirmation: %d" % rc)
    rc, out, err = c.cli("pool", "frobnicate")
    check(rc == 2, "usage error exit code %d" % rc)
    # osd create -> id and key; idempotent by uuid
    o1 = c.cli_json("osd", "create", "11111111-2222-4333-8444-555555555555")
    o2 = c.cli_json("osd", "create", "11111111-2222-4333-8444-555555555555")
    check(o1["osd"] == 0 and o1 == o2, "osd create not idempotent: %s %s" % (o1, o2))
    ent = c.cli_json("auth", "get", "osd.0")
    check(ent["key"] == o1["key"], "osd.0 key differs")
    rc, _, err = c.cli("osd", "set", "noout")
    check(rc == 0, err)
    health = c.cli_json("health")
    codes = [x["code"] for x in health["checks"]]
    check("OSDMAP_FLAGS" in codes, "noout not in health: %s" % codes)
    st = c.cli_json("status")
    check(st["osdmap"]["num_osds"] == 1 and st["pgmap"]["num_pgs"] == 32 and
          sorted(st["monmap"]["quorum"]) == ["a", "b", "c"], "status: %s" % st)
    rc, out, _ = c.cli("status")
    check(rc == 0 and "quorum a,b,c" in out, "status text: %s" % out)
    c.cleanup()


def test_wrong_key():
    c = cluster("abc", 3)
    c.wait_leader()
    bad = os.path.join(c.dir, "bad.keyring")
    with open(bad, "w") as f:
        f.write("[client.admin]\nkey = %s\n" % ("A" * 43 + "="))
    t0 = time.time()
    rc, out, err = c.cli("status", keyring=bad, timeout_ms=5000)
    check(rc == 1 and "authentication" in err, "wrong key accepted? rc=%d err=%s" % (rc, err))
    check(time.time() - t0 < 4, "wrong key took %.1fs to be refused" % (time.time() - t0))
    # an unknown entity too
    rc, out, err = c.cli("-n", "client.nobody", "status", keyring=bad, timeout_ms=3000)
    check(rc != 0, "unknown entity accepted")
    c.cleanup()


def test_leader_kill_during_pool_stream():
    # snapshots every 10 entries: the restarted mon must catch up through
    # a snapshot install, not only through log entries
    c = cluster("abc", 6, extra_conf="mon_snapshot_every = 10\n")
    leader = c.wait_leader()
    acked, lock = [], threading.Lock()
    stop = threading.Event()

    def stream():
        i = 0
        while not stop.is_set() and i < 400:
            name = "p%03d" % i
            rc, _, _ = c.cli("pool", "create", name, "4", timeout_ms=15000)
            if rc == 0:
                with lock:
                    acked.append(name)
            i += 1

    th = threading.Thread(target=stream)
    th.start()
    while True:
        with lock:
            if len(acked) >= 15:
                break
        time.sleep(0.05)
    t_kill = time.time()
    c.kill(leader)
    others = [n for n in "abc" if n != leader]
    new = c.wait_leader(among=others, timeout=10, exclude=leader)
    dt = time.time() - t_kill
    print("  killed mon.%s; new leader mon.%s after %.2fs" % (leader, new, dt))
    check(dt < 5.0, "new leader took %.2fs" % dt)
    with lock:
        n_before = len(acked)
    while True:
        with lock:
            if len(acked) >= n_before + 15:
                break
        time.sleep(0.05)
    stop.set()
    th.join()
    pools = c.cli_json("pool", "ls", "detail")
    names = [p["pool"] for p in pools]
    ids = [p["pool_id"] for p in pools]
    check(len(set(names)) == len(names) and len(set(ids)) == len(ids), "duplicate pools")
    missing = [n for n in acked if n not in names]
    check(not missing, "acknowledged pools lost: %s" % missing)
    extra = [n for n in names if n not in acked]
    print("  %d acknowledged pool creations all present once (%d unacknowledged also committed)"
          % (len(acked), len(extra)))
    # the killed mon restarts and catches up
    c.start(leader)
    lst = c.mon_stat(new)
    deadline = time.time() + 10
    while time.time() < deadline:
        # compare with what mon.<new> sees now: under load (slow fsyncs)
        # the leadership may legitimately move again meanwhile
        lst = c.mon_stat(new) or lst
        st = c.mon_stat(leader)
        if (st and lst and st["osdmap_epoch"] == lst["osdmap_epoch"] and st["leader"]
                and st["leader"] == lst["leader"]):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("restarted mon.%s did not catch up: %s vs %s" % (leader, st, lst))
    print("  restarted mon.%s caught up to osdmap e%d" % (leader, lst["osdmap_epoch"]))
    c.cleanup()


def test_five_mons_two_down():
    c = cluster("abcde", 9)
    leader = c.wait_leader()
    down = [n for n in "abcde" if n != leader][:1] + [leader]
    for n in down:
        c.kill(n)
    up = [n for n in "abcde" if n not in down]
    new = c.wait_leader(among=up, timeout=10, exclude=leader)
    rc, _, err = c.cli("pool", "create", "five", "8", timeout_ms=10000)
    check(rc == 0, "3 of 5 mons could not commit: %s" % err)
    pools = c.cli_json("pool", "ls")
    check(pools == ["five"], "pool ls: %s" % pools)
    deadline = time.time() + 10    # a mon is "down" once silent for 3 election timeouts
    while True:
        health = c.cli_json("health")
        mon_down = [x for x in health["checks"] if x["code"] == "MON_DOWN"]
        if (mon_down and "2/5" in mon_down[0]["summary"]) or time.time() > deadline:
            break
        time.sleep(0.2)
    check(mon_down and "2/5" in mon_down[0]["summary"], "MON_DOWN missing: %s" % health)
    print("  5 mons, %s down: leader mon.%s commits; health %s" % (",".join(down), new,
                                                                   mon_down[0]["summary"]))
    c.cleanup()


def sh(*args, check_rc=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def test_minority_cannot_commit():
    """mon.a lives in its own network namespace joined by a veth pair;
    cutting the link isolates it from b and c (the majority). Needs root."""
    if os.geteuid() != 0:
        print("  SKIP: network namespaces need root")
        return
    ns = "nornmon%d" % os.getpid()
    va, vb = "nma%d" % (os.getpid() % 100000), "nmb%d" % (os.getpid() % 100000)
    sub = 100 + os.getpid() % 100
    ip_root, ip_ns = "10.%d.77.1" % sub, "10.%d.77.2" % sub
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", vb, "netns", ns)
        sh("ip", "addr", "add", ip_root + "/24", "dev", va)
        sh("ip", "link", "set", va, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", ip_ns + "/24", "dev", vb)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", vb, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        hosts = {"a": ip_ns, "b": ip_root, "c": ip_root}
        c = MonCluster(MON_BIN, CLI_BIN, "abc", PORT0 + 14, hosts=hosts, tag="part")
        c.netns["a"] = ns
        c.mkfs()
        c.start_all()
        c.wait_leader()
        rc, _, err = c.cli("pool", "create", "before", "4")
        check(rc == 0, "commit before the partition: %s" % err)
        # cut mon.a off
        sh("ip", "link", "set", va, "down")
        t0 = time.time()
        rc, out, err = c.cli("pool", "create", "minority", "4", timeout_ms=4000,
                             conf=c.conf_for("a"), netns=ns)
        check(rc != 0, "isolated mon.a committed a pool!")
        print("  isolated mon.a: pool create refused after %.1fs: %s" % (time.time() - t0,
                                                                        err.strip()))
        new = c.wait_leader(among=["b", "c"], timeout=10)
        rc, _, err = c.cli("pool", "create", "majority", "4", conf=c.conf_for(new))
        check(rc == 0, "majority could not commit: %s" % err)
        # heal: a catches up, and the minority's attempt never happened
        sh("ip", "link", "set", va, "up")
        deadline = time.time() + 15
        pools = None
        while time.time() < deadline:
            st = c.mon_stat("a", netns=ns)
            lst = c.mon_stat(new)
            if st and lst and st["osdmap_epoch"] == lst["osdmap_epoch"] and st["leader"]:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("mon.a did not catch up after healing")
        pools = c.cli_json("pool", "ls")
        check(sorted(pools) == ["before", "majority"], "pools after heal: %s" % pools)
        print("  healed: mon.a caught up; pools %s" % pools)
        c.cleanup()
    finally:
        sh("ip", "link", "del", va, check_rc=False)
        sh("ip", "netns", "del", ns, check_rc=False)


class FakeOsd:
    """mon_exercise osd: osd create + boot + beacons (+ failure reports)."""

    def __init__(self, c, host, seconds=120, report=None):
        args = [EXERCISE_BIN, "osd", c.conf, os.path.join(c.dir, "norn.keyring"), host, str(seconds)]
        if report is not None:
            args.append(str(report))
        self.out = open(os.path.join(c.dir, "fakeosd-%s-%d.out" % (host, time.time_ns())), "w+")
        self.p = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
        self.id = None
        deadline = time.time() + 15
        while time.time() < deadline and self.id is None:
            self.out.seek(0)
            for line in self.out.read().splitlines():
                if line.startswith("osd "):
                    self.id = int(line.split()[1])
            time.sleep(0.05)
        if self.id is None:
            raise AssertionError("fake osd on %s did not start" % host)

    def lines(self):
        self.out.seek(0)
        return self.out.read().splitlines()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def osd_states(c):
    d = c.cli_json("osd", "dump")
    return {o["osd"]: (o["up"], o["in"], o["host"]) for o in d["osds"]}


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def test_osd_boot_beacons_failures():
    c = cluster("abc", 17, extra_conf="mon_osd_beacon_grace_ms = 4000\n"
                                      "mon_osd_down_out_interval_ms = 3000\n")
    c.wait_leader()
    rc, _, err = c.cli("pool", "create", "data", "8", "--size", "1")
    check(rc == 0, err)
    osds = []
    try:
        osds = [FakeOsd(c, "h%d" % i) for i in (1, 2, 3)]
        ids = [o.id for o in osds]
        wait_for("3 osds up and in", lambda: all(osd_states(c).get(i, (0, 0))[:2] == (1, 1)
                                                 for i in ids), 10)
        tree = c.cli_json("osd", "tree")["nodes"]
        hosts = sorted(n["name"] for n in tree if n["type"] == "host")
        check(hosts == ["h1", "h2", "h3"], "crush hosts %s" % hosts)
        # maps and tickets reached the OSDs
        wait_for("osdmaps and tickets at the osds",
                 lambda: all(any("me up in" in l for l in o.lines()) and
                             any("service key yes" in l for l in o.lines()) for o in osds), 10)
        st = wait_for("pg stats in status", lambda: (lambda s: s if s["pgmap"]["pgs_by_state"].get(
            "active+clean") else None)(c.cli_json("status")), 5)
        check(st["osdmap"]["num_up_osds"] == 3, "status osds: %s" % st["osdmap"])
        print("  3 fake osds up/in under hosts %s; pgs %s" % (hosts, st["pgmap"]["pgs_by_state"]))
        # beacons stop -> down after the grace, out after the interval
        victim = osds[0]
        victim.p.send_signal(signal.SIGSTOP)
        t0 = time.time()
        wait_for("osd down after beacon grace", lambda: osd_states(c)[victim.id][0] == 0, 10)
        t_down = time.time() - t0
        codes = [x["code"] for x in c.cli_json("health")["checks"]]
        check("OSD_DOWN" in codes and "OSD_HOST_DOWN" in codes, "health: %s" % codes)
        wait_for("osd out after down_out_interval", lambda: osd_states(c)[victim.id][1] == 0, 10)
        t_out = time.time() - t0
        print("  silent osd.%d: down after %.1fs, out after %.1fs; health %s" %
              (victim.id, t_down, t_out, codes))
        victim.kill()
        # failure reports: peers on two other hosts mark a beaconing osd down
        target = FakeOsd(c, "h4")
        osds.append(target)
        wait_for("target up", lambda: osd_states(c).get(target.id, (0,))[0] == 1, 10)
        r1 = FakeOsd(c, "h5", report=target.id)
        osds.append(r1)
        time.sleep(2.0)
        check(osd_states(c)[target.id][0] == 1, "one reporter was enough to mark osd down")
        r2 = FakeOsd(c, "h6", report=target.id)
        osds.append(r2)
        t0 = time.time()
        wait_for("target down by reports", lambda: osd_states(c)[target.id][0] == 0, 8)
        print("  osd.%d reported by peers on h5+h6: down after %.1fs (one reporter was not enough)"
              % (target.id, time.time() - t0))
    finally:
        for o in osds:
            o.kill()
        c.cleanup()


def test_mon_add_and_rm():
    """Membership: add a 4th mon (it starts from the leader's snapshot),
    lose the leader, remove it from the monmap."""
    c = MonCluster(MON_BIN, CLI_BIN, "abcd", PORT0 + 24)
    c.names = list("abc")                 # d is not a founder
    with open(c.conf) as f:
        text = f.read()
    founders = ",".join("%s=127.0.0.1:%d" % (n, c.ports[n]) for n in "abc")
    with open(c.conf, "w") as f:
        f.write("\n".join("mon_host = " + founders if l.startswith("mon_host") else l
                          for l in text.splitlines()) + "\n")
    c.mkfs()
    c.start_all()
    c.wait_leader()
    check(c.cli("pool", "create", "before", "4")[0] == 0, "pool create")
    added = c.cli_json("mon", "add", "d", "127.0.0.1:%d" % c.ports["d"])
    with open(os.path.join(c.dir, "norn.keyring"), "a") as f:
        f.write("[mon.d]\nkey = %s\n" % added["key"])
    with open(c.conf) as f:
        text = f.read()
    with open(c.conf, "w") as f:
        f.write(text.replace("mon_host = " + founders,
                             "mon_host = %s,d=127.0.0.1:%d" % (founders, c.ports["d"])))
    c.names = list("abcd")
    subprocess.run([MON_BIN, "--mkfs", "--join", "-c", c.conf, "--name", "mon.d"], check=True,
                   stdout=subprocess.DEVNULL)
    c.start("d")
    check(c.cli("pool", "create", "after", "4")[0] == 0, "pool create with 4 mons")
    leader = c.wait_leader()
    lst = c.mon_stat(leader)
    wait_for("mon.d to catch up", lambda: (lambda st: st and st["osdmap_epoch"] == lst["osdmap_epoch"]
                                           and st["num_mons"] == 4)(c.mon_stat("d")), 10)
    c.kill(leader)
    rest = [n for n in "abcd" if n != leader]
    new = c.wait_leader(among=rest, timeout=10, exclude=leader)
    check(c.cli("pool", "create", "three-of-four", "4")[0] == 0, "3 of 4 mons could not commit")
    rc, out, err = c.cli("mon", "rm", leader)
    check(rc == 0, "mon rm: %s" % err)
    dump = c.cli_json("mon", "dump")
    names = sorted(x["name"] for x in dump["mons"])
    check(names == sorted(rest), "monmap after rm: %s" % names)
    check(sorted(c.cli_json("pool", "ls")) == ["after", "before", "three-of-four"], "pools")
    # The ranks were renumbered by the rm: a CLI whose mon_host names only
    # a peon must still follow it to the leader (the peon names the leader
    # by its rank in the new monmap, not in the CLI's mon_host list).
    for n in rest:
        if n == new:
            continue
        t0 = time.time()
        rc, out, err = c.cli("-f", "json", "pool", "ls", conf=c.conf_for(n), timeout_ms=5000)
        check(rc == 0 and sorted(json.loads(out)) == ["after", "before", "three-of-four"],
              "pool ls through peon mon.%s after the rm: %d %s" % (n, rc, err.strip()))
        check(time.time() - t0 < 4, "pool ls through peon mon.%s took %.1fs" % (n, time.time() - t0))
    print("  added mon.d (caught up by snapshot), lost mon.%s, new leader mon.%s, removed mon.%s: %s"
          % (leader, new, leader, names))
    c.cleanup()


TESTS = [
    test_quorum_and_commands,
    test_wrong_key,
    test_leader_kill_during_pool_stream,
    test_five_mons_two_down,
    test_minority_cannot_commit,
    test_osd_boot_beacons_failures,
    test_mon_add_and_rm,
]


def main():
    want = sys.argv[4:]
    failed = 0
    for t in TESTS:
        if want and t.__name__ not in want:
            continue
        t0 = time.time()
        print("[ RUN  ] %s" % t.__name__, flush=True)
        try:
            t()
            print("[  OK  ] %s (%.1fs)" % (t.__name__, time.time() - t0), flush=True)
        except Exception as e:  # report and go on with the next test
            failed += 1
            print("[ FAIL ] %s: %s" % (t.__name__, e), flush=True)
    print("%s" % ("FAILED" if failed else "all passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
