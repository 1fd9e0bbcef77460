/* Object store benchmark (make bench, never make check).
 *
 *   bench_store DIR SECONDS seq|seqover|randwrite|randread
 *
 * "seq" makes a 2 GiB store in DIR; the others reuse it. Each runs for
 * SECONDS and measures one of:
 *   seqwrite  4 MiB objects written whole, 4 transactions in flight: MB/s
 *             ("seqover": the objects "seq" made, overwritten whole in
 *             order, so a run can repeat on the same store; after random
 *             writes the free space is fragmented, so this is the hard
 *             case. "seqfresh": a store of its own (made at the first
 *             run) whose objects are all removed first, so the writes get
 *             contiguous space as on a fresh store, again and again)
 *   randwrite 4 KiB random overwrites of those objects, one transaction
 *             each, 32 in flight, each durable before its ack: txn/s
 *   randread  4 KiB random reads, 32 in flight: reads/s
 * and the metadata overhead: bytes of LMDB in use per data byte for the
 * 4 MiB objects; randwrite also prints the bytes written to storage per
 * transaction (data + LMDB, from /proc/self/io; independent of load). Prints one "key value" line per figure for the script.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "common/env.h"
#include "common/log.h"
#include "norn/errors.h"
#include "osd/store/store.h"

#define OBJ (4u << 20)

/* Transactions or reads in flight for randwrite/randread (BENCH_QD, default 32). */
static int g_qd = 32;

static uv_loop_t loop;
static struct store *st;
static struct norn_rand rnd;
static uint64_t done_ops, deadline_ns, nobj_written, nobj_max;
static int inflight;
static uint8_t *wbuf;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, norn_strerror(rc));
	exit(1);
}

static bool g_over;          /* seqover: overwrite obj0.. in turn */
static uint64_t g_next_over;

static void seq_cb(void *arg, int err);
static void seq_submit(void)
{
	while (inflight < 4 && now_ns() < deadline_ns && (g_over || nobj_written < nobj_max)) {
		char oid[32];
		if (g_over)
			snprintf(oid, sizeof(oid), "obj%" PRIu64, g_next_over++ % nobj_written);
		else
			snprintf(oid, sizeof(oid), "obj%" PRIu64, nobj_written++);
		struct store_txn *t = store_txn_new();
		store_txn_write(t, "1.0", oid, 0, wbuf, OBJ);
		inflight++;
		int rc = store_queue_txn(st, t, seq_cb, NULL);
		if (rc)
			die("queue", rc);
	}
}
static void seq_cb(void *arg, int err)
{
	if (err)
		die("seq write", err);
	inflight--;
	done_ops++;
	seq_submit();
}

static void rw_cb(void *arg, int err);
static void rw_submit(void)
{
	while (inflight < g_qd && now_ns() < deadline_ns) {
		char oid[32];
		snprintf(oid, sizeof(oid), "obj%" PRIu64, norn_rand_below(&rnd, nobj_written));
		uint64_t off = norn_rand_below(&rnd, OBJ / 4096) * 4096;
		struct store_txn *t = store_txn_new();
		wbuf[0]++;
		store_txn_write(t, "1.0", oid, off, wbuf, 4096);
		inflight++;
		int rc = store_queue_txn(st, t, rw_cb, NULL);
		if (rc)
			die("queue", rc);
	}
}
static void rw_cb(void *arg, int err)
{
	if (err)
		die("rand write", err);
	inflight--;
	done_ops++;
	rw_submit();
}

static void rr_cb(void *arg, int err, uint8_t *buf, size_t len);
static void rr_submit(void)
{
	while (inflight < g_qd && now_ns() < deadline_ns) {
		char oid[32];
		snprintf(oid, sizeof(oid), "obj%" PRIu64, norn_rand_below(&rnd, nobj_written));
		uint64_t off = norn_rand_below(&rnd, OBJ / 4096) * 4096;
		inflight++;
		int rc = store_read(st, "1.0", oid, off, 4096, rr_cb, NULL);
		if (rc)
			die("read", rc);
	}
}
static void rr_cb(void *arg, int err, uint8_t *buf, size_t len)
{
	if (err || len != 4096)
		die("rand read", err ? err : -EIO);
	free(buf);
	inflight--;
	done_ops++;
	rr_submit();
}

/* Bytes this process caused to be written to storage (/proc/self/io):
 * the data file's O_DIRECT writes plus LMDB's page and meta writes. */
static uint64_t io_write_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	uint64_t v = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "write_bytes: ", 13))
			v = strtoull(line + 13, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* CPU time (user + system, all threads) of this process so far, in us. */
static uint64_t cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t run_cpu_us;   /* CPU time of the last run() */

static double run(void (*submit)(void), double secs)
{
	done_ops = 0;
	uint64_t c0 = cpu_us();
	uint64_t t0 = now_ns();
	deadline_ns = t0 + (uint64_t)(secs * 1e9);
	submit();
	while (inflight > 0)
		uv_run(&loop, UV_RUN_ONCE);
	run_cpu_us = cpu_us() - c0;
	return (double)done_ops / ((double)(now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_store DIR SECONDS seq|seqover|seqfresh|randwrite|randread\n");
		return 2;
	}
	norn_log_init("bench", stderr, getenv("BENCH_VERBOSE") ? NORN_LOG_INFO : NORN_LOG_WARN);
	double secs = atof(argv[2]);
	const char *mode = argv[3];
	struct store_options o;
	store_options_init(&o, NULL, argv[1]);
	o.size_bytes = 2ull << 30;
	o.osd_id = 0;
	if (getenv("BENCH_QD"))
		g_qd = atoi(getenv("BENCH_QD")) > 0 ? atoi(getenv("BENCH_QD")) : 32;
	if (getenv("BENCH_COMMIT_WAIT_US"))
		o.commit_wait_us = (uint32_t)atoi(getenv("BENCH_COMMIT_WAIT_US"));
	if (getenv("BENCH_BATCH_MAX"))
		o.commit_batch_max = (uint32_t)atoi(getenv("BENCH_BATCH_MAX"));
	if (getenv("BENCH_HEAP_BUFFERS"))
		o.heap_buffers = atoi(getenv("BENCH_HEAP_BUFFERS")) != 0;
	if (getenv("BENCH_WAL_DATA"))
		o.wal_data_max_bytes = (uint32_t)atoi(getenv("BENCH_WAL_DATA"));
	if (getenv("BENCH_GROUP_TXNS"))
		o.wal_group_txns = (uint32_t)atoi(getenv("BENCH_GROUP_TXNS"));
	if (getenv("BENCH_WAL_GROUPS"))
		o.wal_groups = (uint32_t)atoi(getenv("BENCH_WAL_GROUPS"));
	int rc;
	bool fresh = !strcmp(mode, "seq");
	if (fresh && (rc = store_mkfs(&o)))
		die("mkfs", rc);
	uv_loop_init(&loop);
	if (!strcmp(mode, "seqfresh")) {
		o.size_bytes = 4ull << 30;   /* room for 700 objects: runs of a few seconds */
		rc = store_mkfs(&o);
		if (rc && rc != -EEXIST)
			die("mkfs", rc);
		if ((rc = store_open(&loop, &o, &st)))
			die("open", rc);
		struct store_txn *t = store_txn_new();
		store_txn_coll_create(t, "1.0");
		rc = store_apply_sync(st, t);
		if (rc && rc != -EEXIST)
			die("coll", rc);
		struct store_names n;
		if ((rc = store_list_objects(st, "1.0", NULL, SIZE_MAX, &n)))
			die("list", rc);
		for (size_t i = 0; i < n.n; i++) {
			t = store_txn_new();
			store_txn_remove(t, "1.0", n.v[i]);
			if ((rc = store_apply_sync(st, t)))
				die("remove", rc);
		}
		store_names_free(&n);
		store_close_sync(st);   /* the removed objects' blocks are free now */
		if ((rc = store_open(&loop, &o, &st)))
			die("open", rc);
		wbuf = malloc(OBJ);
		for (size_t i = 0; i < OBJ; i++)
			wbuf[i] = (uint8_t)(i * 7 + (i >> 12));
		nobj_max = 700;
		double objs = run(seq_submit, secs);
		printf("seqwrite_MBps %.1f\n", objs * OBJ / 1e6);
		if (done_ops)
			printf("seqwrite_cpu_us_per_obj %.0f\n", (double)run_cpu_us / (double)done_ops);
		store_close_sync(st);
		free(wbuf);
		return 0;
	}
	if ((rc = store_open(&loop, &o, &st)))
		die("open", rc);
	norn_rand_seed(&rnd, (uint64_t)time(NULL));
	wbuf = malloc(OBJ);
	for (size_t i = 0; i < OBJ; i++)
		wbuf[i] = (uint8_t)(i * 7 + (i >> 12));
	if (fresh) {
		struct store_txn *t = store_txn_new();
		store_txn_coll_create(t, "1.0");
		if ((rc = store_apply_sync(st, t)))
			die("coll", rc);
		/* at most ~1.2 GiB of objects so random writes keep free space */
		nobj_max = 300;
		double objs = run(seq_submit, secs);
		printf("seqwrite_MBps %.1f\n", objs * OBJ / 1e6);
		if (done_ops)
			printf("seqwrite_cpu_us_per_obj %.0f\n", (double)run_cpu_us / (double)done_ops);
		printf("objects %" PRIu64 "\n", nobj_written);
		store_close_sync(st);
		/* metadata overhead for the 4 MiB objects */
		char meta[4200];
		snprintf(meta, sizeof(meta), "%s/meta", argv[1]);
		MDB_env *env;
		mdb_env_create(&env);
		mdb_env_set_maxdbs(env, 8);
		if (mdb_env_open(env, meta, MDB_RDONLY, 0644) == 0) {
			MDB_envinfo info;
			MDB_stat ms;
			mdb_env_info(env, &info);
			mdb_env_stat(env, &ms);
			double used = (double)(info.me_last_pgno + 1) * ms.ms_psize;
			printf("lmdb_bytes %.0f\n", used);
			printf("meta_overhead_pct %.4f\n", 100.0 * used / ((double)nobj_written * OBJ));
			mdb_env_close(env);
		}
		free(wbuf);
		return 0;
	}
	struct store_names n;
	if ((rc = store_list_objects(st, "1.0", NULL, SIZE_MAX, &n)))
		die("list", rc);
	nobj_written = n.n;
	store_names_free(&n);
	if (!nobj_written)
		die("no objects (run seq first)", -ENOENT);
	if (!strcmp(mode, "seqover")) {
		g_over = true;
		double objs = run(seq_submit, secs);
		printf("seqwrite_MBps %.1f\n", objs * OBJ / 1e6);
		if (done_ops)
			printf("seqwrite_cpu_us_per_obj %.0f\n", (double)run_cpu_us / (double)done_ops);
	} else if (!strcmp(mode, "randwrite")) {
		uint64_t w0 = io_write_bytes();
		printf("randwrite_txn_per_s %.0f\n", run(rw_submit, secs));
		uint64_t ntx = done_ops;
		if (ntx)
			printf("randwrite_cpu_us_per_txn %.1f\n", (double)run_cpu_us / (double)ntx);
		store_close_sync(st);   /* count what close still writes */
		st = NULL;
		if (ntx)
			printf("randwrite_bytes_per_txn %.0f\n", (double)(io_write_bytes() - w0) / (double)ntx);
	} else {
		printf("randread_per_s %.0f\n", run(rr_submit, secs));
		if (done_ops)
			printf("randread_cpu_us_per_read %.1f\n", (double)run_cpu_us / (double)done_ops);
	}
	if (st)
		store_close_sync(st);
	free(wbuf);
	return 0;
}
