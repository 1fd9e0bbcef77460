#!/usr/bin/python3
"""Hosts as Linux network namespaces, for tests that must lose a whole host
or cut its network link (issue 6: "lose a whole host ... hosts as network
namespaces").

Layout (everything lives in namespaces this object creates; nothing is added
to the root namespace, so no address or port here can collide with another
test or with the machine's own network):

    namespace TAG-sw   ("the switch"): bridge br0 with CORE_ADDR (x.x.x.1/24),
                       loopback up. Mons, the CLI and test clients run here.
    namespace TAG-H    one per host H: loopback up and eth0 with the host's
                       address (x.x.x.11, .12, ...); eth0 is one end of a veth
                       pair whose other end (p-H) is a port of br0.

TAG is "nornnet-<pid>" (unique per test process), the subnet 10.77.N.0/24 with
N derived from the pid (any N works: the addresses exist only in these
namespaces).

    net = NetNS(["h1", "h2", "h3", "h4"])
    net.setup()                 # raises Unsupported if `ip netns add` is refused
    net.addr("h1"), net.core_addr
    net.prefix("h1")            # ["nsenter", "--net=/run/netns/nornnet-123-h1", "--"]
    net.prefix(None)            # the switch namespace
    net.spawn("h1", [...])      # Popen inside h1 (pid = the program's pid:
                                # nsenter execs it); killed at teardown
    net.link_down("h1")         # cable pulled: h1's switch port down
    net.link_up("h1")
    net.teardown()              # kills the processes it spawned and every
                                # process left in its namespaces (by pid, from
                                # `ip netns pids`), deletes its namespaces (by
                                # exact name); also runs at exit and after a
                                # failed setup

probe() checks once whether the kernel/sandbox lets us create a network
namespace; tests skip (and only then) when it does not.

Namespaces left by a test process that died without its teardown (SIGKILL,
ctest timeout) are removed by the next NetNS.setup(): any nornnet-<pid>-*
whose <pid> is no longer a running process.
"""
import atexit
import os
import re
import signal
import subprocess
import time

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
NSENTER = "/usr/bin/nsenter" if os.path.exists("/usr/bin/nsenter") else "nsenter"
PREFIX = "nornnet"
_NAME_RE = re.compile(r"^%s-(\d+)-[A-Za-z0-9_]+$" % PREFIX)
MAX_HOSTS = 200


class Unsupported(Exception):
    """The kernel or sandbox refuses network namespaces."""


def _ip(*args, check=True, timeout=20):
    r = subprocess.run([IP] + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), (r.stderr or r.stdout).strip()))
    return r


def probe():
    """None when `ip netns add` works here, else the reason it does not."""
    name = "%s-%d-probe" % (PREFIX, os.getpid())
    try:
        r = _ip("netns", "add", name, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cannot run %s: %s" % (IP, e)
    if r.returncode != 0:
        return "`ip netns add` refused: %s" % (r.stderr or r.stdout).strip()
    try:
        r = _ip("netns", "exec", name, IP, "link", "set", "lo", "up", check=False)
        if r.returncode != 0:
            return "`ip netns exec` refused: %s" % (r.stderr or r.stdout).strip()
    finally:
        _ip("netns", "del", name, check=False)
    return None


def _netns_list():
    r = _ip("netns", "list", check=False)
    return [l.split()[0] for l in r.stdout.splitlines() if l.strip()]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _kill_ns_pids(ns, exclude=()):
    """SIGKILL every process inside namespace `ns` (exact pids from
    `ip netns pids`), wait up to 10 s for them to go. Returns how many."""
    r = _ip("netns", "pids", ns, check=False)
    pids = [int(x) for x in r.stdout.split() if x.isdigit() and int(x) not in exclude]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 10
    while time.time() < deadline and any(_pid_alive(p) and not _zombie(p) for p in pids):
        time.sleep(0.05)
    return len(pids)


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def cleanup_stale():
    """Delete nornnet-<pid>-* namespaces whose creating process is gone."""
    n = 0
    for ns in _netns_list():
        m = _NAME_RE.match(ns)
        if not m or _pid_alive(int(m.group(1))):
            continue
        _kill_ns_pids(ns)
        _ip("netns", "del", ns, check=False)
        n += 1
    return n


class NetNS:
    def __init__(self, hosts, tag=None, subnet=None):
        if not hosts or len(hosts) > MAX_HOSTS:
            raise ValueError("1..%d hosts" % MAX_HOSTS)
        for h in hosts:
            if not re.match(r"^[A-Za-z0-9_]{1,10}$", h) or h == "sw":
                raise ValueError("host name %r: 1-10 of [A-Za-z0-9_], not 'sw'" % h)
        if len(set(hosts)) != len(hosts):
            raise ValueError("duplicate host names")
        self.tag = tag or "%s-%d" % (PREFIX, os.getpid())
        n = subnet if subnet is not None else 1 + os.getpid() % 250
        self.net = "10.77.%d" % n
        self.core = self.tag + "-sw"
        self.core_addr = self.net + ".1"
        self.hosts = list(hosts)
        self._addr = {h: "%s.%d" % (self.net, 11 + i) for i, h in enumerate(hosts)}
        self.created = []       # namespaces, in creation order
        self.procs = []         # Popen objects we spawned
        self._atexit = False

    # ---- names ----------------------------------------------------------------
    def ns(self, host):
        """The namespace of `host` (None: the switch namespace)."""
        if host is None:
            return self.core
        if host not in self._addr:
            raise KeyError("unknown host %r" % host)
        return "%s-%s" % (self.tag, host)

    def addr(self, host):
        return self._addr[host]

    def port_name(self, host):
        return "p-" + host

    def prefix(self, host=None):
        # nsenter --net, not `ip netns exec`: the latter also gives the
        # process a private mount namespace holding a copy of every mount
        # of the moment, which keeps other tests' loop-mounted filesystems
        # alive after their umount (seen: vol_integ's ext4 journal left
        # dirty while a drill daemon ran)
        return [NSENTER, "--net=/run/netns/" + self.ns(host), "--"]

    # ---- life cycle ---------------------------------------------------------------
    def setup(self):
        why = probe()
        if why:
            raise Unsupported(why)
        cleanup_stale()
        if not self._atexit:
            atexit.register(self.teardown)
            self._atexit = True
        try:
            self._add_ns(self.core)
            _ip("-n", self.core, "link", "set", "lo", "up")
            _ip("-n", self.core, "link", "add", "br0", "type", "bridge")
            # no STP, forward at once
            _ip("-n", self.core, "link", "set", "br0", "type", "bridge", "forward_delay", "0",
                "stp_state", "0", check=False)
            _ip("-n", self.core, "addr", "add", self.core_addr + "/24", "dev", "br0")
            _ip("-n", self.core, "link", "set", "br0", "up")
            for h in self.hosts:
                ns = self.ns(h)
                self._add_ns(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", self.core, "link", "add", self.port_name(h), "type", "veth",
                    "peer", "name", "eth0", "netns", ns)
                _ip("-n", self.core, "link", "set", self.port_name(h), "master", "br0")
                _ip("-n", self.core, "link", "set", self.port_name(h), "up")
                _ip("-n", ns, "addr", "add", self.addr(h) + "/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
            self._wait_reachable()
        except BaseException:
            self.teardown()
            raise
        return self

    def _add_ns(self, ns):
        _ip("netns", "add", ns)
        self.created.append(ns)

    def _wait_reachable(self, timeout=10.0):
        """Every host pings the switch address (the bridge ports forward)."""
        deadline = time.time() + timeout
        left = list(self.hosts)
        while left and time.time() < deadline:
            left = [h for h in left if not self.ping(h, self.core_addr)]
            if left:
                time.sleep(0.1)
        if left:
            raise RuntimeError("hosts %s cannot reach %s after %.0f s" % (left, self.core_addr, timeout))

    def ping(self, host, addr, wait_s=1):
        """Is addr reachable from host's namespace (None: the switch)? A TCP
        connect to port 9 (nothing listens there): refused means the peer's
        kernel answered; a timeout or no route means unreachable. (No ICMP:
        needs no ping binary.)"""
        code = ("import socket,sys\n"
                "s=socket.socket(); s.settimeout(%r)\n"
                "try:\n s.connect((%r, 9))\n"
                "except ConnectionRefusedError:\n sys.exit(0)\n"
                "except OSError:\n sys.exit(1)\n" % (float(wait_s), addr))
        try:
            r = subprocess.run(self.prefix(host) + ["/usr/bin/python3", "-c", code],
                               capture_output=True, timeout=wait_s + 10)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0

    def teardown(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        for ns in reversed(self.created):
            _kill_ns_pids(ns, exclude=(os.getpid(),))
            _ip("netns", "del", ns, check=False)
        self.created = []

    def __enter__(self):
        return self.setup()

    def __exit__(self, *exc):
        self.teardown()
        return False

    # ---- processes ----------------------------------------------------------------
    def spawn(self, host, cmd, **kw):
        """Popen cmd inside host's namespace (None: the switch); killed at teardown."""
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(self.prefix(host) + list(cmd), **kw)
        self.procs.append(p)
        return p

    def run(self, host, cmd, **kw):
        return subprocess.run(self.prefix(host) + list(cmd), **kw)

    # ---- faults --------------------------------------------------------------------
    def link_down(self, host):
        """Pull host's cable: its switch port goes down (its eth0 loses carrier);
        packets either way are dropped, connections hang until timeouts."""
        _ip("-n", self.core, "link", "set", self.port_name(host), "down")

    def link_up(self, host):
        _ip("-n", self.core, "link", "set", self.port_name(host), "up")
        _ip("-n", self.core, "link", "set", self.port_name(host), "master", "br0", check=False)

    def link_is_up(self, host):
        r = _ip("-n", self.core, "-o", "link", "show", self.port_name(host))
        return ",UP" in r.stdout or "<UP" in r.stdout


if __name__ == "__main__":
    # self-check: python3 tests/lib/netns.py
    import sys
    why = probe()
    if why:
        print("SKIP: %s" % why)
        sys.exit(77)
    with NetNS(["a", "b"]) as net:
        assert net.ping("a", net.addr("b")), "a cannot reach b"
        assert net.ping(None, net.addr("a")), "switch cannot reach a"
        net.link_down("a")
        assert not net.ping("b", net.addr("a")), "b still reaches a with a's link down"
        assert net.ping("b", net.core_addr), "b lost the switch"
        net.link_up("a")
        deadline = time.time() + 10
        while not net.ping("b", net.addr("a")) and time.time() < deadline:
            time.sleep(0.1)
        assert net.ping("b", net.addr("a")), "a unreachable after link up"
        names = list(net.created)
    left = [n for n in names if n in _netns_list()]
    assert not left, "namespaces left: %s" % left
    print("netns self-check OK")
