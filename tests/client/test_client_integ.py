#!/usr/bin/python3
"""libnorn + object CLI against a real cluster (3 mons, 4 OSDs on loopback).

    test_client_integ.py BUILD_DIR CLIENT_INTEG_BIN [SCENARIO...]

Starts the cluster with tests/lib/cluster.py (every process killed by pid at
exit), creates a size-3 pool, then:
  - the C API scenarios of client_integ (sizes 0 B .. 64 MiB compared with
    a local copy, every call, compound atomicity, concurrent writers, async,
    listing, 16 threads on one handle);
  - `norn put/get` of files from 0 B to 64 MiB and through stdin/stdout,
    compared byte for byte; stat, ls, rm, osd map;
  - a client with a wrong key is refused (C API and CLI);
  - every OSD stopped: an op fails with -ETIMEDOUT after client_op_timeout_ms;
  - kill -9 of one OSD during writes: every write completes and reads back.
"""
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from cluster import Cluster  # noqa: E402

POOL = "cl"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what, flush=True)


def run_c(c, integ, scenario, *extra, timeout=240):
    t0 = time.time()
    r = subprocess.run([integ, c.conf, POOL, scenario] + list(extra), capture_output=True,
                       text=True, timeout=timeout)
    dt = time.time() - t0
    print("%-11s rc=%d %.1fs %s %s" % (scenario, r.returncode, dt, r.stdout.strip(),
                                       r.stderr.strip()[-2000:]), flush=True)
    check(r.returncode == 0 and ("ok " + scenario) in r.stdout, "client_integ " + scenario)


def norn(c, *args, stdin=None, timeout=120):
    return subprocess.run([c.cli_bin, "-c", c.conf] + list(args), input=stdin,
                          capture_output=True, timeout=timeout)


def cli_tests(c, tmp):
    rnd = random.Random(5)
    for size in (0, 1, 4096, 1000003, 4 << 20, (4 << 20) + 1, 9 << 20, 64 << 20):
        src = os.path.join(tmp, "in-%d" % size)
        dst = os.path.join(tmp, "out-%d" % size)
        with open(src, "wb") as f:
            f.write(rnd.randbytes(size))
        t0 = time.time()
        r = norn(c, "put", POOL, "cli-%d" % size, src)
        check(r.returncode == 0, "put %d: %s" % (size, r.stderr.decode()[-500:]))
        r = norn(c, "get", POOL, "cli-%d" % size, dst)
        check(r.returncode == 0, "get %d: %s" % (size, r.stderr.decode()[-500:]))
        same = open(src, "rb").read() == open(dst, "rb").read()
        check(same, "cli round trip of %d bytes differs" % size)
        print("cli put/get %9d bytes: %s (%.2fs)" % (size, "ok" if same else "DIFFERS",
                                                     time.time() - t0), flush=True)
        r = norn(c, "stat", POOL, "cli-%d" % size)
        check(r.returncode == 0 and (", size %d" % size) in r.stdout.decode(),
              "stat %d: %r" % (size, r.stdout))
    # stdin / stdout, overwrite with a smaller object
    data = rnd.randbytes(5 << 20)
    r = norn(c, "put", POOL, "cli-pipe", "-", stdin=data)
    check(r.returncode == 0, "put from stdin")
    r = norn(c, "get", POOL, "cli-pipe", "-")
    check(r.returncode == 0 and r.stdout == data, "get to stdout")
    r = norn(c, "put", POOL, "cli-pipe", "-", stdin=b"short")
    r = norn(c, "get", POOL, "cli-pipe", "-")
    check(r.stdout == b"short", "overwrite with a shorter object: %r" % r.stdout[:20])
    # ls, rm
    r = norn(c, "ls", POOL)
    names = set(r.stdout.decode().split())
    check(r.returncode == 0 and "cli-pipe" in names and "cli-0" in names, "ls")
    r = norn(c, "rm", POOL, "cli-pipe")
    check(r.returncode == 0, "rm")
    r = norn(c, "get", POOL, "cli-pipe", "-")
    check(r.returncode == 1 and b"no such object" in r.stderr, "get after rm: %r" % r.stderr)
    r = norn(c, "rm", POOL, "cli-pipe")
    check(r.returncode == 1, "rm of a missing object fails")
    r = norn(c, "ls", POOL)
    check("cli-pipe" not in r.stdout.decode().split(), "ls after rm")
    r = norn(c, "get", "nosuchpool", "x", "-")
    check(r.returncode == 1 and b"does not exist" in r.stderr, "missing pool")
    # placement
    r = norn(c, "osd", "map", POOL, "cli-0")
    out = r.stdout.decode()
    print(out.strip())
    check(r.returncode == 0 and "-> up ([" in out and "acting ([" in out, "osd map")
    r = norn(c, "-f", "json", "osd", "map", POOL, "cli-0")
    check(r.returncode == 0 and '"acting":[' in r.stdout.decode(), "osd map json")
    for sub in (["pg", "stat"], ["pg", "dump"], ["osd", "df"]):
        r = norn(c, *sub)
        print("norn %s -> rc %d\n%s%s" % (" ".join(sub), r.returncode, r.stdout.decode()[:1500],
                                          r.stderr.decode()[:300]), flush=True)
        check(r.returncode == 0, "norn " + " ".join(sub))


def wrong_key(c, integ, tmp):
    bad = os.path.join(tmp, "bad.keyring")
    with open(bad, "w") as f:
        import base64
        f.write("[client.admin]\nkey = %s\n" % base64.b64encode(os.urandom(32)).decode())
    run_c(c, integ, "badkey", bad)
    r = subprocess.run([c.cli_bin, "-c", c.conf, "-k", bad, "get", POOL, "cli-0", "-"],
                       capture_output=True, timeout=60)
    check(r.returncode == 1 and b"authentication refused" in r.stderr,
          "CLI with a wrong key: rc %d %r" % (r.returncode, r.stderr))


def failover(c, integ):
    """kill -9 one OSD while client_integ writes: every write completes."""
    t0 = time.time()
    p = subprocess.Popen([integ, c.conf, POOL, "failover"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    check(line.strip() == "started", "failover did not start: %r" % line)
    victim = sorted(c.osd_pids())[1]
    c.kill_osd(victim)
    print("killed osd.%d" % victim, flush=True)
    try:
        out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    print("failover    rc=%d %.1fs %s %s" % (p.returncode, time.time() - t0, out.strip(),
                                            err.strip()[-2000:]), flush=True)
    check(p.returncode == 0 and "ok failover" in out, "client_integ failover")
    c.start_osd(victim)
    c.wait_osds_up([victim])


def timeout(c, integ):
    """every OSD stopped: an op fails with -ETIMEDOUT after client_op_timeout_ms."""
    import signal
    p = subprocess.Popen([integ, c.conf, POOL, "timeout"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    check(line.strip() == "connected", "timeout did not connect: %r" % line)
    pids = list(c.osd_pids().values())
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        p.stdin.write("go\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    print("timeout     rc=%d %s %s" % (p.returncode, out.strip(), err.strip()[-1000:]), flush=True)
    check(p.returncode == 0 and "ok timeout" in out, "client_integ timeout")


def main():
    build, integ = sys.argv[1], sys.argv[2]
    only = sys.argv[3:]
    t0 = time.time()
    with Cluster(build, mons=3, osds=4) as c, tempfile.TemporaryDirectory() as tmp:
        c.create_pool(POOL, pg_num=16, size=3)
        print("cluster up in %.1fs (%s)" % (time.time() - t0, c.dir), flush=True)
        scen = only or ["ops", "compound", "sizes", "async", "list", "concurrent", "threads",
                        "cli", "badkey", "timeout", "failover"]
        for s in scen:
            if s == "cli":
                cli_tests(c, tmp)
            elif s == "badkey":
                wrong_key(c, integ, tmp)
            elif s == "failover":
                failover(c, integ)
            elif s == "timeout":
                timeout(c, integ)
            else:
                run_c(c, integ, s)
    print("total %.1fs" % (time.time() - t0))
    if failures:
        print("%d failures: %s" % (len(failures), "; ".join(failures)))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
