"""Start and drive real norn-mon processes on loopback for tests and the bench.

A MonCluster owns a temp dir with norn.conf + norn.keyring, one data dir
per mon, and the processes (killed by pid at exit, never by name).
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time


class MonCluster:
    def __init__(self, mon_bin, cli_bin, names, base_port, extra_conf="", hosts=None, tag="mon"):
        self.mon_bin = mon_bin
        self.cli_bin = cli_bin
        self.names = list(names)
        self.dir = tempfile.mkdtemp(prefix="norn-%s-" % tag)
        self.procs = {}
        self.ports = {n: base_port + i for i, n in enumerate(self.names)}
        self.hosts = hosts or {n: "127.0.0.1" for n in self.names}
        self.netns = {}            # name -> netns to run the mon in
        self.conf = os.path.join(self.dir, "norn.conf")
        mon_host = ",".join("%s=%s:%d" % (n, self.hosts[n], self.ports[n]) for n in self.names)
        with open(self.conf, "w") as f:
            f.write("[global]\nmon_host = %s\nlog_level = info\n"
                    "mon_tick_ms = 50\nmon_election_timeout_ms = 500\n%s" % (mon_host, extra_conf))
        atexit.register(self.cleanup)

    # ---- lifecycle ------------------------------------------------------
    def mkfs(self):
        for n in self.names:
            subprocess.run([self.mon_bin, "--mkfs", "-c", self.conf, "--name", "mon." + n],
                           check=True, stdout=subprocess.DEVNULL)

    def start(self, name):
        log = open(os.path.join(self.dir, "mon.%s.log" % name), "ab")
        cmd = [self.mon_bin, "-c", self.conf, "--name", "mon." + name, "--foreground"]
        if name in self.netns:
            cmd = ["ip", "netns", "exec", self.netns[name]] + cmd
        p = subprocess.Popen(cmd, stdout=log, stderr=log)
        self.procs[name] = p

    def start_all(self):
        for n in self.names:
            self.start(n)

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            p.wait(timeout=10)

    def cleanup(self):
        for n in list(self.procs):
            self.kill(n)
        if os.environ.get("NORN_KEEP_TMP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- CLI --------------------------------------------------------------
    def cli(self, *args, timeout_ms=10000, conf=None, keyring=None, netns=None):
        cmd = [self.cli_bin, "-c", conf or self.conf, "--timeout", str(timeout_ms)]
        if keyring:
            cmd += ["-k", keyring]
        cmd += list(args)
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_ms / 1000 + 20)
        return r.returncode, r.stdout, r.stderr

    def cli_json(self, *args, **kw):
        rc, out, err = self.cli("-f", "json", *args, **kw)
        if rc != 0:
            raise RuntimeError("norn %s failed (%d): %s" % (" ".join(args), rc, err.strip()))
        return json.loads(out)

    def conf_for(self, name):
        """A config naming only mon `name`: the CLI then talks to it alone."""
        path = os.path.join(self.dir, "only-%s.conf" % name)
        with open(self.conf) as f:
            text = f.read()
        lines = []
        for line in text.splitlines():
            if line.startswith("mon_host"):
                line = "mon_host = %s=%s:%d" % (name, self.hosts[name], self.ports[name])
            lines.append(line)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\nkeyring = %s\n" % os.path.join(self.dir, "norn.keyring"))
        return path

    def mon_stat(self, name, timeout_ms=2000, netns=None):
        """mon stat answered by mon `name` itself (None if it does not answer)."""
        rc, out, _ = self.cli("-f", "json", "mon", "stat", timeout_ms=timeout_ms,
                              conf=self.conf_for(name), netns=netns)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def wait_leader(self, among=None, timeout=15.0, exclude=None):
        """Wait until a mon of `among` reports a leader (not `exclude`); return its name."""
        among = among or [n for n in self.names if n in self.procs]
        deadline = time.time() + timeout
        while time.time() < deadline:
            for n in among:
                st = self.mon_stat(n, timeout_ms=1000)
                if st and st.get("leader") and st["leader"] != exclude and st["leader"] in among:
                    # confirm with the leader itself
                    lst = self.mon_stat(st["leader"], timeout_ms=1000)
                    if lst and lst.get("leader") == st["leader"]:
                        return st["leader"]
            time.sleep(0.1)
        raise RuntimeError("no leader among %s within %.1fs" % (among, timeout))
