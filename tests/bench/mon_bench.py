#!/usr/bin/python3
"""Monitor benchmark: committed osdmap changes per second and commit
latency (p50/p99) with 3 mons on loopback, at several client concurrencies.

usage: mon_bench.py MON_BIN CLI_BIN EXERCISE_BIN [SECONDS] [CONC,...]
Each change is an `osd set/unset noscrub` command: proposed by the leader,
persisted (fsync) on a majority, applied, acknowledged; latency is measured
at the client (monc) from send to reply.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mon_integ"))
from mon_cluster import MonCluster  # noqa: E402

mon_bin, cli_bin, ex_bin = sys.argv[1:4]
secs = sys.argv[4] if len(sys.argv) > 4 else "5"
concs = (sys.argv[5] if len(sys.argv) > 5 else "1,16,64").split(",")
c = MonCluster(mon_bin, cli_bin, "abc", 23000 + os.getpid() % 1000 * 3, tag="bench",
               extra_conf="mon_tick_ms = 100\nmon_election_timeout_ms = 1000\n")
c.mkfs()
c.start_all()
c.wait_leader()
for conc in concs:
    r = subprocess.run([ex_bin, "bench", c.conf, os.path.join(c.dir, "norn.keyring"), secs, conc],
                       capture_output=True, text=True)
    print(r.stdout.strip() or r.stderr.strip(), flush=True)
size = sum(os.path.getsize(os.path.join(c.dir, "mon.a", f)) for f in os.listdir(os.path.join(c.dir, "mon.a")))
print("mon.a data dir after the run: %d KiB (snapshot every mon_snapshot_every=1000 entries)" % (size // 1024))
c.cleanup()
