#!/usr/bin/python3
"""Recovery figures (issue 6, part 7) on a local 3-mon / 4-OSD cluster with
file-backed stores on one disk; run by tests/bench/recovery.sh (make bench,
never make check).

    recovery_bench.py BUILD_DIR WORK_DIR [--gib 1.0] [--no-writer] [--perf]

1. Preload: norn-drill --passes 1 writes 4 MiB objects into a size-3 pool
   until the OSD that will be killed holds about --gib GiB (the data it
   holds is exactly what re-replication must copy).
2. A norn-drill writer (64 KiB objects, 4 threads, no rate limit) runs for
   the rest of the run; its per-second CSV and STALL lines are the client
   side of the figures.
3. Steady state 15 s -> writes/s before the kill.
4. kill -9 one OSD. Figures:
   - I/O flows again: from the kill until the end of the last stall that
     began before the OSD was marked down (norn-drill's STALL lines: 0.5 s
     without any ack);
     0 if the writer never stalled for 0.5 s. Goal: grace + 3 s.
   - time to full redundancy: from the moment the OSD is marked out (the
     down-out interval is a policy wait, reported apart) until every PG is
     active+clean with 3 replicas (reported at an epoch >= the out epoch);
     compared with 2 x (the bytes it copied / fio's sequential write
     bandwidth on the same filesystem, measured in the same run).
   - client writes/s from out until clean, as a fraction of before.
5. The writer stops and verifies; the preload is verified: lost writes are
   reported (goal: zero).

Because the 0.5 s beacon and the bench's 0.5 s polling blur the time to
full redundancy by up to a second, it is also taken from the OSD logs:
from the first PG that started peering at the out map (or later) to the
last one that went active (every push and log sync of the PG durable),
both to the millisecond. And since wall time on a shared machine is
noisy, the OSDs' CPU time (utime + stime of the three survivors, all
threads) from out until clean is printed per recovered MiB.

--no-writer leaves the client writer out (recovery alone); --perf runs
`perf record -g` on the survivors from out until clean (perf.data in
WORK_DIR, kept with RECOVERY_BENCH_KEEP=1 of recovery.sh).
"""
import datetime
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from cluster import Cluster  # noqa: E402
import drill_integ as di  # noqa: E402

GRACE = 2.0
DOWN_OUT = 10.0


def log(msg):
    print(msg, flush=True)


def fio_seq_write(path, size="1G"):
    r = subprocess.run(["fio", "--name=w", "--filename=" + path, "--size=" + size, "--rw=write",
                        "--bs=4M", "--iodepth=4", "--ioengine=io_uring", "--direct=1",
                        "--end_fsync=1", "--output-format=json"],
                       capture_output=True, text=True, timeout=600)
    os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError("fio failed: %s" % r.stderr[-500:])
    j = json.loads(r.stdout[r.stdout.index("{"):])
    return j["jobs"][0]["write"]["bw_bytes"]


def stalls(out):
    r = []
    for m in re.finditer(r"STALL: no acknowledged write for ([0-9.]+) s \(from ([0-9.]+) to ([0-9.]+)", out):
        r.append((float(m.group(2)), float(m.group(3))))
    return r


def cpu_s(pids):
    """utime + stime (seconds, every thread) of the live processes in pids."""
    tck = os.sysconf("SC_CLK_TCK")
    t = 0.0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                f_ = f.read().rsplit(")", 1)[1].split()
            t += (int(f_[11]) + int(f_[12])) / tck
        except (OSError, IndexError, ValueError):
            pass
    return t


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ")
ACTIVE = re.compile(r"pg (\S+): active at e(\d+) .*peering (\d+) ms\)")


def log_recovery(cdir, min_epoch):
    """From the OSD logs: (first peering start, last active, PGs) over the PGs
    that went active at epoch >= min_epoch (unix seconds), or None."""
    first = last = None
    pgs = set()
    for fn in glob.glob(os.path.join(cdir, "osd.*.log")):
        with open(fn, errors="replace") as f:
            for line in f:
                m = ACTIVE.search(line)
                t = LOG_TS.match(line)
                if not m or not t or int(m.group(2)) < min_epoch:
                    continue
                end = datetime.datetime.strptime(t.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                start = end - int(m.group(3)) / 1000.0
                first = start if first is None else min(first, start)
                last = end if last is None else max(last, end)
                pgs.add(m.group(1))
    return (first, last, len(pgs)) if first is not None else None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    gib = 1.0
    if "--gib" in sys.argv:
        gib = float(sys.argv[sys.argv.index("--gib") + 1])
        args = [a for a in args if a != sys.argv[sys.argv.index("--gib") + 1]]
    writer = "--no-writer" not in sys.argv
    perf = "--perf" in sys.argv
    build, work = os.path.abspath(args[0]), os.path.abspath(args[1])
    os.makedirs(work, exist_ok=True)
    # the killed OSD holds ~3/4 of the pool's bytes on 4 OSDs at size 3
    total = int(gib * (1 << 30) * 4 / 3)
    n_obj = max(16, total // (4 << 20))
    store = "%dM" % (int(total * 1.6 / (1 << 20)) + 512)  # each of 3 survivors ends with all of it
    conf = "mon_osd_down_out_interval_ms = %d\n" % int(DOWN_OUT * 1000)
    # RECOVERY_BENCH_CONF: extra config lines ("a=1;b=2"), e.g. osd_max_recovery=16
    for kv in os.environ.get("RECOVERY_BENCH_CONF", "").split(";"):
        if kv.strip():
            conf += kv.strip() + "\n"
            log("config: " + kv.strip())
    c = Cluster(build, mons=3, osds=4, dir=os.path.join(work, "cluster"), store_size=store,
                extra_conf=conf)
    pre = d = perf_p = None
    rc_all = 0
    try:
        c.create_pool("rec", pg_num=32, size=3, min_size=2)
        log("cluster: 3 mons, 4 OSDs (store %s each) in %s; pool rec: 32 PGs, size 3" % (store, c.dir))
        t0 = time.time()
        pre = di.Drill(c, build, "rec", work, objects=n_obj, size=4 << 20, threads=4, rate=0,
                       name="preload", prefix="bulk", op_timeout=60000)
        pre.args += ["--passes", "1"]
        pre.start()
        rc, out = pre.stop_when_done(1800)
        if rc != 0:
            raise di.Fail("preload failed (%s):\n%s" % (rc, pre.tail()))
        log("preload: %d x 4 MiB objects (%.2f GiB) in %.1f s" % (n_obj, n_obj * 4 / 1024, time.time() - t0))

        before = before_mb = 0.0
        if writer:
            d = di.Drill(c, build, "rec", work, objects=2000, size=65536, threads=4, rate=0,
                         name="writer", prefix="live", op_timeout=60000)
            d.start()
            time.sleep(3)
            t_base0 = time.time()
            time.sleep(15)
            t_base1 = time.time()
            before = d.rate(t_base0, t_base1)
            before_mb = before * 65536 / 1e6

        victim = 2
        pgs = di.pg_dump(c)
        victim_bytes = sum(p["bytes"] for p in pgs if victim in p["acting"])
        t_kill = time.time()
        c.kill_osd(victim)
        (_, _) = di.wait_for("osd down", lambda: not di.osd_states(c)[victim][0], 60)
        t_down = time.time()
        survivors = [pid for i, pid in c.osd_pids().items() if i != victim]
        if perf:
            perf_p = subprocess.Popen(["perf", "record", "-q", "-g", "-o", os.path.join(work, "perf.data"),
                                       "-p", ",".join(str(x) for x in survivors)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def is_out():
            m = c.osdmap()
            return [m["epoch"]] if [o for o in m["osds"] if o["osd"] == victim and not o["in"]] else None
        ((epoch,), _) = di.wait_for("osd out", is_out, DOWN_OUT + 60)
        t_out = time.time()
        cpu0 = cpu_s(survivors)
        (_, _) = di.wait_for("clean", lambda: di.all_clean(c, 3, [victim], epoch), 3600, interval=0.25)
        t_clean = time.time()
        cpu1 = cpu_s(survivors)
        if perf_p is not None:
            perf_p.send_signal(signal.SIGINT)
            perf_p.wait(timeout=120)
            perf_p = None
        time.sleep(2)
        rec = log_recovery(c.dir, epoch)
        during = out = ""
        ok_writer = True
        if writer:
            during = d.rate(t_out, t_clean) if t_clean - t_out >= 1 else d.rate(t_out - 1, t_clean + 1)
            rc, out = d.stop(timeout=600)
            ok_writer = rc == 0 and "VERIFY OK" in out
        rcp, outp = pre.verify_only(timeout=1200)
        ok_pre = rcp == 0 and "VERIFY OK" in outp

        st = [s for s in stalls(out) if s[1] > t_kill]
        # I/O flows again at the end of the last stall that began before the
        # mon marked the OSD down (the writers were stuck on its PGs)
        flow = 0.0
        first = [s for s in st if s[0] <= t_down]
        if first:
            flow = max(b for _, b in first) - t_kill
        longest_after = max([b - a for a, b in st], default=0.0)

        fio_bw = fio_seq_write(os.path.join(work, "fio.dat"))
        ideal = victim_bytes / fio_bw
        heal = t_clean - t_out
        log("")
        log("== Recovery on a 3-mon / 4-OSD loopback cluster (one disk, %d cores), kill -9 osd.%d ==" % (os.cpu_count(), victim))
        log("client writer: %s" % ("norn-drill, 64 KiB objects, 4 threads, unlimited rate" if writer else "none (--no-writer)"))
        log("before the kill:            %8.1f writes/s (%.1f MB/s)" % (before, before_mb))
        log("marked down after:          %8.1f s (heartbeat grace %.0f s)" % (t_down - t_kill, GRACE))
        log("client I/O flows again:     %8.1f s after the kill (goal <= grace + 3 = %.0f s) %s"
            % (flow, GRACE + 3, "OK" if flow <= GRACE + 3 else "ABOVE GOAL"))
        log("marked out after:           %8.1f s (down-out interval %.0f s)" % (t_out - t_kill, DOWN_OUT))
        log("re-replicated:              %8.2f GiB (the PG bytes osd.%d held)" % (victim_bytes / (1 << 30), victim))
        log("time to full redundancy:    %8.1f s from out (%.1f s from the kill; reported clean, "
            "0.5 s beacons, 0.25 s polls)" % (heal, t_clean - t_kill))
        if rec:
            log("  OSD logs, out map e%d:     %8.2f s from the first PG peering to the last active (%d PGs)"
                " = %.0f MB/s, 2 x data / fio %s" % (epoch, rec[1] - rec[0], rec[2],
                                                     victim_bytes / 1e6 / max(rec[1] - rec[0], 1e-3),
                                                     "OK" if rec[1] - rec[0] <= 2 * ideal else "ABOVE"))
        log("fio seq write (same fs):    %8.1f MB/s -> data/fio %.1f s, goal <= 2x = %.1f s %s"
            % (fio_bw / 1e6, ideal, 2 * ideal, "OK" if heal <= 2 * ideal else "ABOVE GOAL"))
        log("OSD CPU out -> clean:       %8.2f s (3 survivors, user+sys) = %.2f ms per recovered MiB%s"
            % (cpu1 - cpu0, 1000 * (cpu1 - cpu0) / max(victim_bytes / (1 << 20), 1),
               " (client writes included)" if writer else ""))
        log("load average at the end:    %s" % " ".join("%.2f" % x for x in os.getloadavg()))
        if writer:
            log("writes during recovery:     %8.1f writes/s = %.0f %% of before (goal >= 50 %%) %s"
                % (during, 100 * during / max(before, 1e-9), "OK" if during >= 0.5 * before else "BELOW GOAL"))
        log("longest stall after kill:   %8.1f s; stalls >= 0.5 s: %s" % (
            longest_after, ", ".join("%.1f s at +%.1f s" % (b - a, a - t_kill) for a, b in st) or "none"))
        log("acknowledged writes lost:   writer %s, preload %s" % (
            "0" if ok_writer else "SOME (see below)", "0" if ok_pre else "SOME (see below)"))
        if not ok_writer:
            log(out[-3000:])
            rc_all = 1
        if not ok_pre:
            log(outp[-3000:])
            rc_all = 1
        rows = ""
        if writer:
            with open(os.path.join(work, "writer.csv")) as f:
                rows = f.read()
        log("\nper-second writer log (unix time, writes, bytes, errors, max latency ms), kill at %.3f, out at %.3f, clean at %.3f:"
            % (t_kill, t_out, t_clean))
        log(rows.strip())
    except di.Fail as e:
        log("FAIL: %s" % e)
        if d is not None:
            log(d.tail())
        rc_all = 1
    finally:
        if perf_p is not None:
            perf_p.kill()
            perf_p.wait()
        for x in (d, pre):
            if x is not None:
                x.kill()
        c.stop()
    return rc_all


if __name__ == "__main__":
    sys.exit(main())
