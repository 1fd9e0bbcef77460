/* `norn bench POOL SECONDS write|seq|rand [-b SIZE] [-t N] [--no-cleanup]`:
 * a load generator like `rados bench`.
 *
 * write  keeps N whole-object writes (write_full of SIZE bytes, default
 *        4 MiB) in flight for SECONDS, each to a new object
 *        benchmark_data_<host>_<pid>_object<K>; with --no-cleanup the
 *        objects stay and benchmark_last_metadata records them for a
 *        later seq/rand run, otherwise they are removed at the end.
 * seq    reads those objects in order (stops early when all were read).
 * rand   reads random ones of them until SECONDS pass.
 *
 * N operations are in flight at once (-t, default 16): every completion
 * callback (on libnorn's I/O thread) records the latency and issues the
 * next operation, so the client adds no queueing of its own. Latencies go
 * to a histogram (1 us buckets below 100 ms, 100 us ones up to 10 s; max
 * is tracked exactly). A progress line is printed
 * every second, then a summary with MiB/s, IOPS, average, p50 and p99
 * latency. Exit: 0 ok, 1 errors, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/config.h"
#include "common/env.h"
#include "common/log.h"
#include "norn/norn.h"
#include "tools/cli.h"

/* Latency histogram: 1 us buckets below 100 ms, then 100 us buckets up
 * to 10 s (slower ones land in the last bucket). */
#define BENCH_FINE_US 100000u
#define BENCH_COARSE_US 100u
#define BENCH_HIST_N (BENCH_FINE_US + (10000000u - BENCH_FINE_US) / BENCH_COARSE_US)
#define BENCH_MAX_INFLIGHT 1024
#define BENCH_META "benchmark_last_metadata"
#define BENCH_MAX_SIZE (64u << 20)

enum bench_mode { B_WRITE, B_SEQ, B_RAND };

struct bench;

struct bench_slot {
	struct bench *b;
	uint8_t *buf;               /* reads: this slot's buffer */
	uint64_t start_ns;
	uint64_t obj;
	struct norn_rand rnd;       /* rand: per slot, so no locking */
};

struct bench {
	norn_ioctx_t *io;
	enum bench_mode mode;
	size_t size;
	uint64_t n_objects;         /* seq/rand: objects available */
	char prefix[128];
	const uint8_t *wbuf;
	atomic_int stop;
	atomic_int inflight;
	atomic_uint_fast64_t done, errors, next_obj;
	atomic_int first_err;
	/* I/O thread only */
	uint64_t *hist;
	uint64_t lat_max_ns;
	atomic_uint_fast64_t lat_sum_ns;   /* also read by the progress line */
	struct norn_rand rnd;
};

static void bench_issue(struct bench_slot *s);

static uint32_t hist_bucket(uint64_t us)
{
	if (us < BENCH_FINE_US)
		return (uint32_t)us;
	us = BENCH_FINE_US + (us - BENCH_FINE_US) / BENCH_COARSE_US;
	return us < BENCH_HIST_N ? (uint32_t)us : BENCH_HIST_N - 1;
}

/* Lower edge of bucket @i in microseconds. */
static uint64_t hist_us(uint32_t i)
{
	if (i < BENCH_FINE_US)
		return i;
	return BENCH_FINE_US + (uint64_t)(i - BENCH_FINE_US) * BENCH_COARSE_US;
}

static void bench_cb(norn_completion_t *c, void *arg)
{
	struct bench_slot *s = arg;
	struct bench *b = s->b;
	ssize_t r = norn_completion_result(c);
	uint64_t lat = norn_mono_ns() - s->start_ns;

	norn_completion_release(c);
	if (r < 0 || (b->mode != B_WRITE && (size_t)r != b->size)) {
		int z = 0;
		atomic_fetch_add(&b->errors, 1);
		atomic_compare_exchange_strong(&b->first_err, &z, r < 0 ? (int)r : -EIO);
	} else {
		b->hist[hist_bucket(lat / 1000)]++;
		atomic_fetch_add_explicit(&b->lat_sum_ns, lat, memory_order_relaxed);
		if (lat > b->lat_max_ns)
			b->lat_max_ns = lat;
		atomic_fetch_add(&b->done, 1);
	}
	if (atomic_load(&b->stop)) {
		atomic_fetch_sub(&b->inflight, 1);
		return;
	}
	bench_issue(s);
}

/* Issue the slot's next op (any thread). */
static void bench_issue(struct bench_slot *s)
{
	struct bench *b = s->b;
	norn_completion_t *c;
	char name[200];
	int rc;

	if (b->mode == B_RAND) {
		s->obj = norn_rand_below(&s->rnd, b->n_objects);
	} else {
		s->obj = atomic_fetch_add(&b->next_obj, 1);
		if (b->mode == B_SEQ && s->obj >= b->n_objects) {
			atomic_fetch_sub(&b->inflight, 1);
			return;
		}
	}
	snprintf(name, sizeof(name), "%s%" PRIu64, b->prefix, s->obj);
	c = norn_completion_create(bench_cb, s);
	if (!c) {
		rc = -ENOMEM;
		goto fail;
	}
	s->start_ns = norn_mono_ns();
	if (b->mode == B_WRITE)
		rc = norn_aio_write_full(b->io, name, c, b->wbuf, b->size);
	else
		rc = norn_aio_read(b->io, name, c, s->buf, b->size, 0);
	if (rc == 0)
		return;
	norn_completion_release(c);
fail:
	{
		int z = 0;
		atomic_fetch_add(&b->errors, 1);
		atomic_compare_exchange_strong(&b->first_err, &z, rc);
		atomic_fetch_sub(&b->inflight, 1);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: norn bench POOL SECONDS write|seq|rand [-b SIZE] [-t N] [--no-cleanup]\n"
	                "  -b SIZE       object size for write (default 4M; K/M suffixes)\n"
	                "  -t N          operations in flight (default 16)\n"
	                "  --no-cleanup  keep the written objects for seq/rand\n");
	return 2;
}

static uint64_t hist_pct(const uint64_t *h, uint64_t n, double pct)
{
	uint64_t want = (uint64_t)((double)n * pct / 100.0), acc = 0;
	if (want >= n && n)
		want = n - 1;
	for (uint32_t i = 0; i < BENCH_HIST_N; i++) {
		acc += h[i];
		if (acc > want)
			return hist_us(i);
	}
	return hist_us(BENCH_HIST_N - 1);
}

static int read_meta(norn_ioctx_t *io, struct bench *b)
{
	char buf[512];
	ssize_t n = norn_read(io, BENCH_META, buf, sizeof(buf) - 1, 0);
	unsigned long long objs = 0, size = 0;
	char prefix[128];

	if (n < 0)
		return (int)n;
	buf[n] = 0;
	if (sscanf(buf, "prefix=%127s objects=%llu size=%llu", prefix, &objs, &size) != 3 || !objs ||
	    !size || size > BENCH_MAX_SIZE)
		return -EINVAL;
	snprintf(b->prefix, sizeof(b->prefix), "%s", prefix);
	b->n_objects = objs;
	b->size = (size_t)size;
	return 0;
}

/* Remove objects prefix0..n-1 with @t in flight. */
static int cleanup(norn_ioctx_t *io, const char *prefix, uint64_t n, int t)
{
	norn_completion_t **c = calloc((size_t)t, sizeof(*c));
	char name[200];
	int bad = 0;

	if (!c)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		int k = (int)(i % (uint64_t)t);
		if (c[k]) {
			if (norn_completion_wait(c[k]) < 0)
				bad++;
			norn_completion_release(c[k]);
			c[k] = NULL;
		}
		snprintf(name, sizeof(name), "%s%" PRIu64, prefix, i);
		c[k] = norn_completion_create(NULL, NULL);
		if (!c[k] || norn_aio_remove(io, name, c[k])) {
			norn_completion_release(c[k]);
			c[k] = NULL;
			bad++;
		}
	}
	for (int k = 0; k < t; k++)
		if (c[k]) {
			if (norn_completion_wait(c[k]) < 0)
				bad++;
			norn_completion_release(c[k]);
		}
	free(c);
	return bad ? -EIO : 0;
}

static int cli_bench(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	struct bench b;
	struct bench_slot *slots = NULL;
	norn_cluster_t *cl = NULL;
	norn_ioctx_t *io = NULL;
	uint64_t secs, t = 16, size = 4u << 20;
	int no_cleanup = 0, rc = 0, ret = 1;
	char o1[64], host[64];
	const char *ov[1] = { o1 };
	uint8_t *wbuf = NULL;
	char *end;

	if (argc < 4)
		return usage();
	secs = strtoull(argv[2], &end, 10);
	if (*end || secs == 0 || secs > 86400)
		return usage();
	memset(&b, 0, sizeof(b));
	if (!strcmp(argv[3], "write"))
		b.mode = B_WRITE;
	else if (!strcmp(argv[3], "seq"))
		b.mode = B_SEQ;
	else if (!strcmp(argv[3], "rand"))
		b.mode = B_RAND;
	else
		return usage();
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--no-cleanup")) {
			no_cleanup = 1;
		} else if (!strcmp(argv[i], "-b") && i + 1 < argc) {
			if (norn_parse_size(argv[++i], &size) || size == 0 || size > BENCH_MAX_SIZE) {
				fprintf(stderr, "norn bench: -b must be 1 .. 64M\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			t = strtoull(argv[++i], &end, 10);
			if (*end || t == 0 || t > BENCH_MAX_INFLIGHT) {
				fprintf(stderr, "norn bench: -t must be 1 .. %d\n", BENCH_MAX_INFLIGHT);
				return 2;
			}
		} else {
			return usage();
		}
	}

	norn_log_init(ctx->entity, stderr, getenv("NORN_CLI_DEBUG") ? NORN_LOG_DEBUG : NORN_LOG_ERR);
	snprintf(o1, sizeof(o1), "client_mount_timeout_ms=%d", ctx->timeout_ms);
	rc = norn_connect2(ctx->conf_path, ctx->entity, ctx->keyring, ov, 1, &cl);
	if (rc) {
		fprintf(stderr, "Error: cannot connect: %s\n", norn_strerror(rc));
		return 1;
	}
	rc = norn_ioctx_create(cl, argv[1], &io);
	if (rc) {
		fprintf(stderr, "Error: pool '%s': %s\n", argv[1], norn_strerror(rc));
		goto out;
	}
	b.io = io;
	b.hist = calloc(BENCH_HIST_N, sizeof(uint64_t));
	slots = calloc((size_t)t, sizeof(*slots));
	if (!b.hist || !slots) {
		fprintf(stderr, "Error: out of memory\n");
		goto out;
	}
	norn_rand_seed_entropy(&b.rnd);
	if (b.mode == B_WRITE) {
		if (gethostname(host, sizeof(host)))
			snprintf(host, sizeof(host), "host");
		host[sizeof(host) - 1] = 0;
		snprintf(b.prefix, sizeof(b.prefix), "benchmark_data_%s_%d_object", host, (int)getpid());
		b.size = (size_t)size;
		wbuf = malloc(b.size);
		if (!wbuf) {
			fprintf(stderr, "Error: out of memory\n");
			goto out;
		}
		for (size_t i = 0; i < b.size; i++)
			wbuf[i] = (uint8_t)norn_rand_u64(&b.rnd);
		b.wbuf = wbuf;
	} else {
		rc = read_meta(io, &b);
		if (rc) {
			fprintf(stderr, "Error: no benchmark data in pool '%s' (%s): run `norn bench %s N write "
			        "--no-cleanup` first\n", argv[1], norn_strerror(rc), argv[1]);
			goto out;
		}
	}
	for (uint64_t i = 0; i < t; i++) {
		slots[i].b = &b;
		norn_rand_seed(&slots[i].rnd, norn_rand_u64(&b.rnd));
		if (b.mode != B_WRITE && !(slots[i].buf = malloc(b.size))) {
			fprintf(stderr, "Error: out of memory\n");
			goto out;
		}
	}
	printf("%s bench: %s objects of %zu bytes, %" PRIu64 " in flight, %" PRIu64 " s%s\n",
	       argv[3], b.mode == B_WRITE ? "writing" : "reading", b.size, t, secs,
	       b.mode == B_SEQ ? " (or until every object was read)" : "");
	printf("%5s %8s %10s %10s %10s %10s %12s\n", "sec", "inflight", "finished", "avg MiB/s",
	       "cur MiB/s", "cur IOPS", "avg lat ms");
	fflush(stdout);

	uint64_t t0 = norn_mono_ns(), last_done = 0, last_ns = t0;
	atomic_store(&b.inflight, (int)t);
	for (uint64_t i = 0; i < t; i++)
		bench_issue(&slots[i]);
	for (uint64_t sec = 1;; sec++) {
		uint64_t wake = t0 + sec * 1000000000ull;
		while (norn_mono_ns() < wake && atomic_load(&b.inflight) > 0) {
			uint64_t left = wake - norn_mono_ns();
			usleep((useconds_t)NORN_MIN(left / 1000 + 1, 20000));
		}
		uint64_t now = norn_mono_ns(), done = atomic_load(&b.done);
		double el = (double)(now - t0) / 1e9, dt = (double)(now - last_ns) / 1e9;
		double mb = (double)b.size / (1024.0 * 1024.0);
		printf("%5" PRIu64 " %8d %10" PRIu64 " %10.2f %10.2f %10.0f %12.3f\n", sec,
		       atomic_load(&b.inflight), done, (double)done * mb / el,
		       dt > 0 ? (double)(done - last_done) * mb / dt : 0.0,
		       dt > 0 ? (double)(done - last_done) / dt : 0.0,
		       done ? (double)atomic_load(&b.lat_sum_ns) / (double)done / 1e6 : 0.0);
		fflush(stdout);
		last_done = done;
		last_ns = now;
		if (sec >= secs || atomic_load(&b.inflight) == 0)
			break;
	}
	atomic_store(&b.stop, 1);
	while (atomic_load(&b.inflight) > 0)
		usleep(1000);
	{
		uint64_t done = atomic_load(&b.done), errs = atomic_load(&b.errors);
		double el = (double)(norn_mono_ns() - t0) / 1e9;
		double mib = (double)done * (double)b.size / (1024.0 * 1024.0);
		printf("Total time run:         %.3f s\n", el);
		printf("Total %-16s  %" PRIu64 "\n", b.mode == B_WRITE ? "writes made:" : "reads made:", done);
		printf("%s size:             %zu\n", b.mode == B_WRITE ? "Write" : "Read ", b.size);
		printf("Operations in flight:   %" PRIu64 "\n", t);
		printf("Bandwidth (MiB/s):      %.2f\n", mib / el);
		printf("Average IOPS:           %.0f\n", (double)done / el);
		printf("Average latency (ms):   %.3f\n", done ? (double)atomic_load(&b.lat_sum_ns) / (double)done / 1e6 : 0.0);
		printf("p50 latency (ms):       %.3f\n", (double)hist_pct(b.hist, done, 50) / 1000.0);
		printf("p99 latency (ms):       %.3f\n", (double)hist_pct(b.hist, done, 99) / 1000.0);
		printf("Max latency (ms):       %.3f\n", (double)b.lat_max_ns / 1e6);
		printf("Errors:                 %" PRIu64 "%s%s\n", errs, errs ? " (first: " : "",
		       errs ? norn_strerror(atomic_load(&b.first_err)) : "");
		if (errs)
			printf(")\n");
		ret = errs ? 1 : 0;
		if (b.mode == B_WRITE) {
			uint64_t written = atomic_load(&b.next_obj);
			if (no_cleanup) {
				char meta[256];
				int n = snprintf(meta, sizeof(meta), "prefix=%s objects=%" PRIu64 " size=%zu\n",
				                 b.prefix, done, b.size);
				/* seq/rand read objects 0..done-1: with errors some may be
				 * missing, which they then report */
				rc = norn_write_full(io, BENCH_META, meta, (size_t)n);
				if (rc) {
					fprintf(stderr, "Error: writing %s: %s\n", BENCH_META, norn_strerror(rc));
					ret = 1;
				}
			} else {
				printf("Cleaning up (deleting benchmark objects)\n");
				fflush(stdout);
				rc = cleanup(io, b.prefix, written, (int)t);
				if (rc)
					fprintf(stderr, "Warning: some benchmark objects could not be removed\n");
				printf("Clean up completed\n");
			}
		}
	}
out:
	if (slots)
		for (uint64_t i = 0; i < t; i++)
			free(slots[i].buf);
	free(slots);
	free(b.hist);
	free(wbuf);
	if (io)
		norn_ioctx_destroy(io);
	if (cl)
		norn_shutdown(cl);
	return ret;
}
NORN_CLI_COMMAND("bench", cli_bench, "load generator: bench POOL SECONDS write|seq|rand [-b SIZE] [-t N] [--no-cleanup]")
