#!/usr/bin/python3
"""A whole Norn cluster on loopback for tests, demos and other modules'
integration tests: N norn-mon + M norn-osd processes in one directory.

Library use:

    sys.path.insert(0, "<repo>/tests/lib")
    from cluster import Cluster
    with Cluster(build_dir, mons=3, osds=4) as c:   # or Cluster(..., dir=D)
        c.create_pool("rbd", pg_num=16, size=3)
        c.conf, c.keyring, c.osd_pids(), c.kill_osd(1), c.start_osd(1) ...

Command line (used by `make demo`):

    python3 tests/lib/cluster.py start DIR [--mons 3] [--osds 4] [--build BUILD]
                                           [--pool NAME] [--pg-num N] [--size N]
                                           [--store-size 1G] [--base-port P]
    python3 tests/lib/cluster.py stop DIR
    python3 tests/lib/cluster.py status DIR

`start` on a DIR that already holds a cluster (DIR/cluster.json) restarts
its daemons and keeps the data. `stop` kills exactly the pids recorded in
DIR/pids/*.pid.

The norn-osd command line (what this file runs):

    norn-osd --mkfs -c CONF [--osd-data DIR] [--store_size_bytes SIZE] [--OPTION=VALUE...]
        asks the mon for a new id and key (`osd create` as client.admin with
        the keyring named by CONF), creates DIR (default <dir of CONF>/osd.N)
        holding the keyring (DIR/keyring), DIR/whoami, DIR/osd_uuid and the
        object store (DIR/store); prints "osd.N" on stdout.
    norn-osd -c CONF --id N [--osd-data DIR] [--foreground] [--pid-file P]
             [--log_file F] [--osd_host H] [--port P] [--OPTION=VALUE...]
        boots osd.N: opens its store, authenticates as osd.N, gets an OSD
        service ticket, subscribes to osdmaps, listens on public_addr:port
        (port 0: a free port), sends OSD_BOOT with the address and osd_host
        (default: the host name) and serves PGs. Without --foreground it
        daemonizes. SIGTERM stops it cleanly.
"""
import argparse
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _find_build(build):
    for b in ([build] if build else []) + [os.environ.get("NORN_BUILD", ""),
                                            os.path.join(REPO, "build")]:
        if b and os.path.exists(os.path.join(b, "mon", "norn-mon")):
            return os.path.abspath(b)
    raise RuntimeError("no build dir with mon/norn-mon (pass build=... or NORN_BUILD)")


class Cluster:
    """Create (or reopen) a cluster in `dir` (a new temp dir when None)."""

    def __init__(self, build=None, mons=3, osds=4, dir=None, base_port=None,
                 store_size="256M", extra_conf="", osd_conf="", start=True,
                 keep=False, wait_timeout=60.0):
        self.build = _find_build(build)
        self.mon_bin = os.path.join(self.build, "mon", "norn-mon")
        self.osd_bin = os.path.join(self.build, "osd", "norn-osd")
        self.cli_bin = os.path.join(self.build, "tools", "norn")
        self.store_bin = os.path.join(self.build, "osd", "store", "norn-store")
        self.own_dir = dir is None
        self.dir = os.path.abspath(dir) if dir else tempfile.mkdtemp(prefix="norn-cluster-")
        self.keep = keep or not self.own_dir
        self.conf = os.path.join(self.dir, "norn.conf")
        self.keyring = os.path.join(self.dir, "norn.keyring")
        self.piddir = os.path.join(self.dir, "pids")
        self.procs = {}           # "mon.a" / "osd.3" -> Popen (ours)
        self.wait_timeout = wait_timeout
        os.makedirs(self.piddir, exist_ok=True)
        meta = os.path.join(self.dir, "cluster.json")
        if os.path.exists(meta):
            with open(meta) as f:
                st = json.load(f)
            self.mon_names, self.base_port, self.osd_ids = st["mons"], st["base_port"], st["osds"]
            self.store_size = st.get("store_size", store_size)
            self.fresh = False
        else:
            self.mon_names = "abcdefghi"[:mons]
            self.base_port = base_port or (22000 + (os.getpid() % 300) * 10)
            self.osd_ids = []
            self.store_size = store_size
            self.fresh = True
            mon_host = ",".join("%s=127.0.0.1:%d" % (n, self.base_port + i)
                                for i, n in enumerate(self.mon_names))
            with open(self.conf, "w") as f:
                f.write("[global]\nmon_host = %s\nkeyring = %s\nlog_level = info\n"
                        "mon_tick_ms = 50\nmon_election_timeout_ms = 500\n"
                        "mon_osd_min_down_reporters = 1\n"
                        "osd_heartbeat_interval_ms = 300\nosd_heartbeat_grace_ms = 2000\n"
                        "osd_beacon_interval_ms = 500\nmon_osd_beacon_grace_ms = 6000\n%s"
                        "[osd]\nstore_size_bytes = %s\n%s"
                        % (mon_host, self.keyring, extra_conf, store_size, osd_conf))
        self.n_osds_wanted = osds
        atexit.register(self._atexit)
        if start:
            self.start()

    # ---- context manager ------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _atexit(self):
        self.stop()

    def _save(self):
        with open(os.path.join(self.dir, "cluster.json"), "w") as f:
            json.dump({"mons": self.mon_names, "base_port": self.base_port,
                       "osds": self.osd_ids, "store_size": self.store_size}, f)

    # ---- processes ----------------------------------------------------------
    def _log(self, name):
        return open(os.path.join(self.dir, "%s.log" % name), "ab")

    def _spawn(self, name, cmd):
        log = self._log(name)
        p = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.procs[name] = p
        with open(os.path.join(self.piddir, name + ".pid"), "w") as f:
            f.write("%d\n" % p.pid)
        return p

    def start_mon(self, n):
        self._spawn("mon." + n, [self.mon_bin, "-c", self.conf, "--name", "mon." + n,
                                 "--foreground"])

    def osd_data(self, i):
        return os.path.join(self.dir, "osd.%d" % i)

    def start_osd(self, i):
        """Start osd.i (its data dir must exist)."""
        self._spawn("osd.%d" % i,
                    [self.osd_bin, "-c", self.conf, "--id", str(i), "--osd-data", self.osd_data(i),
                     "--foreground", "--osd_host", "host%d" % i])

    def mkfs_osd(self):
        """Create one more OSD; returns its id (not started)."""
        r = subprocess.run([self.osd_bin, "--mkfs", "-c", self.conf], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("norn-osd --mkfs failed: %s" % r.stderr.strip())
        line = r.stdout.strip().splitlines()[-1]
        if not line.startswith("osd."):
            raise RuntimeError("norn-osd --mkfs: unexpected output %r" % r.stdout)
        i = int(line[4:])
        self.osd_ids.append(i)
        self._save()
        return i

    def add_osd(self, wait=True):
        i = self.mkfs_osd()
        self.start_osd(i)
        if wait:
            self.wait_osds_up([i])
        return i

    def start(self):
        if self.fresh:
            for n in self.mon_names:
                subprocess.run([self.mon_bin, "--mkfs", "-c", self.conf, "--name", "mon." + n],
                               check=True, stdout=subprocess.DEVNULL, timeout=60)
            self._save()
        for n in self.mon_names:
            self.start_mon(n)
        self.wait_quorum()
        if self.fresh:
            for _ in range(self.n_osds_wanted):
                self.mkfs_osd()
            self.fresh = False
        for i in self.osd_ids:
            self.start_osd(i)
        self.wait_osds_up(self.osd_ids)

    def kill(self, name, sig=signal.SIGKILL, wait=True):
        p = self.procs.get(name)
        if p is None:
            return
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
        if wait or sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
            self.procs.pop(name, None)
            try:
                os.unlink(os.path.join(self.piddir, name + ".pid"))
            except OSError:
                pass

    def kill_osd(self, i, sig=signal.SIGKILL):
        self.kill("osd.%d" % i, sig)

    def kill_mon(self, n, sig=signal.SIGKILL):
        self.kill("mon." + n, sig)

    def stop(self):
        """Kill every process this object started (by pid); remove an own temp dir."""
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM if name.startswith("osd.") else signal.SIGKILL)
        if self.own_dir and not self.keep and not os.environ.get("NORN_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self):
        return {n: p.pid for n, p in self.procs.items() if p.poll() is None}

    def osd_pids(self):
        return {int(n[4:]): pid for n, pid in self.pids().items() if n.startswith("osd.")}

    # ---- CLI ------------------------------------------------------------------
    def cli(self, *args, timeout_ms=10000):
        cmd = [self.cli_bin, "-c", self.conf, "--timeout", str(timeout_ms)] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_ms / 1000 + 20)
        return r.returncode, r.stdout, r.stderr

    def cli_json(self, *args, **kw):
        rc, out, err = self.cli("-f", "json", *args, **kw)
        if rc != 0:
            raise RuntimeError("norn %s failed (%d): %s" % (" ".join(args), rc, err.strip()))
        return json.loads(out)

    def wait_quorum(self, timeout=None):
        deadline = time.time() + (timeout or self.wait_timeout)
        last = ""
        while time.time() < deadline:
            rc, out, err = self.cli("-f", "json", "mon", "stat", timeout_ms=2000)
            if rc == 0:
                try:
                    if json.loads(out).get("leader"):
                        return
                except ValueError:
                    pass
            last = err
            time.sleep(0.2)
        raise RuntimeError("mons have no quorum: %s" % last)

    def osdmap(self):
        return self.cli_json("osd", "dump")

    def wait_osds_up(self, ids, up=True, timeout=None):
        deadline = time.time() + (timeout or self.wait_timeout)
        want = set(ids)
        while time.time() < deadline:
            try:
                m = self.osdmap()
                st = {o["osd"]: bool(o["up"]) for o in m["osds"]}
                if all(st.get(i, False) == up for i in want):
                    return m["epoch"]
            except (RuntimeError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise RuntimeError("osds %s not %s within the timeout" % (sorted(want), "up" if up else "down"))

    def create_pool(self, name, pg_num=16, size=3, min_size=None):
        args = ["pool", "create", name, str(pg_num), "--size", str(size)]
        if min_size is not None:
            args += ["--min-size", str(min_size)]
        rc, out, err = self.cli(*args)
        if rc != 0:
            raise RuntimeError("pool create: %s" % err.strip())
        for p in self.cli_json("pool", "ls", "detail"):
            if p["pool"] == name:
                return p.get("id", p.get("pool_id"))
        return None

    def store_tool(self, i, *args):
        """Run norn-store on osd.i's store (the OSD must be stopped for a consistent view)."""
        cmd = [self.store_bin] + list(args[:1]) + [os.path.join(self.osd_data(i), "store")] + list(args[1:])
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        return r.returncode, r.stdout, r.stderr


# ---- command line -------------------------------------------------------------
def _stop_dir(d):
    piddir = os.path.join(d, "pids")
    n = 0
    if not os.path.isdir(piddir):
        return 0
    for fn in sorted(os.listdir(piddir)):
        if not fn.endswith(".pid"):
            continue
        path = os.path.join(piddir, fn)
        try:
            with open(path) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        # only kill it if it is still one of our daemons
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().split(b"\0")
            # relative arguments (a daemon restarted by hand from the repo
            # root, as the README's drill does) are resolved against its cwd
            cwd = os.readlink("/proc/%d/cwd" % pid)
            args = [os.path.join(cwd, a.decode(errors="replace")) for a in cmdline if a]
            ours = any(os.path.basename(a.decode(errors="replace")) in ("norn-mon", "norn-osd")
                       for a in cmdline[:1]) and any(d in os.path.normpath(a) for a in args)
        except OSError:
            ours = False
        if ours:
            os.kill(pid, signal.SIGTERM if fn.startswith("osd.") else signal.SIGKILL)
            for _ in range(100):
                if not os.path.exists("/proc/%d" % pid):
                    break
                try:
                    with open("/proc/%d/stat" % pid) as f:
                        if f.read().split()[2] == "Z":
                            break
                except OSError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
            n += 1
        os.unlink(path)
    return n


def main(argv):
    ap = argparse.ArgumentParser(description="start/stop a loopback Norn cluster")
    ap.add_argument("action", choices=["start", "stop", "status"])
    ap.add_argument("dir")
    ap.add_argument("--mons", type=int, default=3)
    ap.add_argument("--osds", type=int, default=4)
    ap.add_argument("--build", default=None)
    ap.add_argument("--pool", default=None)
    ap.add_argument("--pg-num", type=int, default=32)
    ap.add_argument("--size", type=int, default=3)
    ap.add_argument("--store-size", default="1G")
    ap.add_argument("--base-port", type=int, default=6789)
    a = ap.parse_args(argv)
    d = os.path.abspath(a.dir)
    if a.action == "stop":
        print("stopped %d daemons" % _stop_dir(d))
        return 0
    if a.action == "status":
        c = Cluster(a.build, dir=d, start=False, keep=True)
        rc, out, err = c.cli("status")
        sys.stdout.write(out or err)
        return rc
    os.makedirs(d, exist_ok=True)
    _stop_dir(d)
    c = Cluster(a.build, mons=a.mons, osds=a.osds, dir=d, base_port=a.base_port,
                store_size=a.store_size, start=False, keep=True)
    c.start()
    if a.pool:
        c.create_pool(a.pool, a.pg_num, a.size)
    # the daemons outlive this script: forget them so atexit does not kill them
    c.procs = {}
    print("cluster in %s: conf %s, keyring %s" % (d, c.conf, c.keyring))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
