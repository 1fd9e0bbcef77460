/* norn-drill: the recovery drill's writer and verifier (issue 6).
 *
 *   norn-drill -c CONF --pool P [--objects N] [--size BYTES] [--threads T]
 *              [--seconds S] [--passes N] [--rate OPS] [--prefix NAME] [--state FILE]
 *              [--csv FILE] [--verify-only] [--verify-timeout S]
 *              [--op-timeout MS] [-n ENTITY] [-k KEYRING]
 *
 * Writer phase: T threads write and overwrite N objects of BYTES bytes
 * continuously (object i belongs to thread i % T, so the writes of one
 * object are strictly sequential). Every write carries self-describing
 * content: a header (magic, run id, object index, generation, size, name)
 * and a pseudo-random body derived from them, closed by a CRC-32C of
 * everything before it. For every object the drill remembers the last
 * ACKNOWLEDGED generation and the highest generation SENT (a write that
 * failed or timed out may or may not have landed). Once a second it prints
 * a line (writes/s, MB/s, errors, max latency) and rewrites the state file
 * (atomically, tmp + rename). SIGINT/SIGTERM, --seconds or --passes (every
 * object written N times) end the phase. Every stretch of at least 0.5 s
 * without any acknowledged write is printed as a "STALL:" line.
 *
 * Verify phase (at the end, or alone with --verify-only --state FILE):
 * every object is read back. It must hold a generation g with
 * acked <= g <= sent (any g >= acked if the state file was not closed
 * cleanly) of this run, with a valid header and checksum; an object never
 * acknowledged may be missing. Anything else is a LOST or CORRUPT write,
 * printed loudly; the exit code is then 1.
 *
 * At the end the drill also prints the longest stretch without any
 * acknowledged write ("longest I/O stall"), with wall-clock start and end,
 * so a script can measure how long client I/O stopped after a failure.
 *
 * Exit codes: 0 all acknowledged writes verified, 1 lost/corrupt/unreadable
 * objects, 2 usage, 3 cannot connect / set up.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/crc32c.h"
#include "common/env.h"
#include "common/log.h"
#include "norn/norn.h"

#define DRILL_MAGIC 0x314c5244524e524eull /* "NRNRDRL1" little-endian */
#define DRILL_HDR_NAME 48
#define DRILL_HDR_LEN (8 + 8 + 8 + 8 + 8 + DRILL_HDR_NAME) /* magic run idx gen size name */
#define DRILL_MIN_SIZE (DRILL_HDR_LEN + 4)
#define DRILL_MAX_SIZE (64u << 20)
#define DRILL_MAX_OBJECTS 10000000u
#define DRILL_MAX_THREADS 256
#define DRILL_PREFIX_MAX 64
#define DRILL_VERIFY_RETRIES 60
#define DRILL_STALL_REPORT_NS 500000000ull  /* print every stall at least this long */

struct drill_obj {
	uint64_t acked;     /* last acknowledged generation (0: none) */
	uint64_t sent;      /* highest generation handed to the library */
};

struct drill {
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	const char *pool;
	char pool_buf[256];     /* pool name from a state file */
	const char *state_path;
	const char *csv_path;
	char prefix[DRILL_PREFIX_MAX];
	uint32_t n_objects;
	uint32_t size;
	uint32_t n_threads;
	uint32_t seconds;
	uint32_t rate;          /* total writes/s, 0 = unlimited */
	uint32_t passes;        /* stop after writing every object this often (0: no limit) */
	uint32_t active_writers;
	uint32_t verify_timeout_s;
	uint64_t run_id;
	int state_clean;        /* state file loaded was closed cleanly */
	struct drill_obj *objs;
	/* counters, updated with atomics by writers, read by the reporter */
	uint64_t writes, bytes, errors, max_lat_ns;
	uint64_t total_writes, total_errors;
	/* acknowledgement gaps (under lock) */
	pthread_mutex_t lock;
	uint64_t last_ack_mono, last_ack_real;
	uint64_t stall_ns, stall_start_real, stall_end_real;
	int last_error;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void obj_name(const struct drill *d, uint32_t idx, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%u", d->prefix, idx);
}

/* Fill @buf (d->size bytes) with generation @gen of object @idx. */
static void make_content(const struct drill *d, uint32_t idx, uint64_t gen, uint8_t *buf)
{
	uint64_t seed = d->run_id ^ ((uint64_t)idx << 32) ^ (gen * 0x2545f4914f6cdd1dull);
	size_t body_end = d->size - 4, off;
	uint32_t crc;

	memset(buf, 0, DRILL_HDR_LEN);
	put64(buf, DRILL_MAGIC);
	put64(buf + 8, d->run_id);
	put64(buf + 16, idx);
	put64(buf + 24, gen);
	put64(buf + 32, d->size);
	{
		char name[DRILL_PREFIX_MAX + 16];
		obj_name(d, idx, name, sizeof(name));
		memcpy(buf + 40, name, NORN_MIN(strlen(name), (size_t)DRILL_HDR_NAME));
	}
	for (off = DRILL_HDR_LEN; off + 8 <= body_end; off += 8)
		put64(buf + off, splitmix(&seed));
	for (uint64_t r = splitmix(&seed); off < body_end; off++, r >>= 8)
		buf[off] = (uint8_t)r;
	crc = norn_crc32c(0, buf, body_end);
	buf[body_end] = (uint8_t)crc;
	buf[body_end + 1] = (uint8_t)(crc >> 8);
	buf[body_end + 2] = (uint8_t)(crc >> 16);
	buf[body_end + 3] = (uint8_t)(crc >> 24);
}

/* Validate content read back for object @idx: 0 and *gen, or a negative
 * code with a reason in @why. */
static int check_content(const struct drill *d, uint32_t idx, const uint8_t *buf, size_t len,
                         uint64_t *gen, char *why, size_t why_len)
{
	char name[DRILL_PREFIX_MAX + 16];
	uint8_t *want;
	uint32_t crc, stored;

	if (len != d->size) {
		snprintf(why, why_len, "size %zu, expected %u", len, d->size);
		return -1;
	}
	if (get64(buf) != DRILL_MAGIC) {
		snprintf(why, why_len, "no drill header (magic %016" PRIx64 ")", get64(buf));
		return -1;
	}
	crc = norn_crc32c(0, buf, len - 4);
	stored = (uint32_t)buf[len - 4] | (uint32_t)buf[len - 3] << 8 | (uint32_t)buf[len - 2] << 16 |
	         (uint32_t)buf[len - 1] << 24;
	if (crc != stored) {
		snprintf(why, why_len, "checksum mismatch (stored %08x, computed %08x)", stored, crc);
		return -1;
	}
	if (get64(buf + 8) != d->run_id) {
		snprintf(why, why_len, "content of another drill run (run id %016" PRIx64 ")",
		         get64(buf + 8));
		return -1;
	}
	obj_name(d, idx, name, sizeof(name));
	if (get64(buf + 16) != idx || memcmp(buf + 40, name, NORN_MIN(strlen(name), (size_t)DRILL_HDR_NAME))) {
		snprintf(why, why_len, "content of object %" PRIu64 " instead", get64(buf + 16));
		return -1;
	}
	*gen = get64(buf + 24);
	/* regenerate to check the body byte for byte */
	want = malloc(d->size);
	if (!want) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	make_content(d, idx, *gen, want);
	if (memcmp(want, buf, d->size)) {
		free(want);
		snprintf(why, why_len, "body differs from generation %" PRIu64, *gen);
		return -1;
	}
	free(want);
	return 0;
}

/* ---- state file ------------------------------------------------------------ */

static int state_save(struct drill *d, int clean)
{
	char tmp[4096];
	FILE *f;
	int rc = 0;

	if (!d->state_path)
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", d->state_path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "norn-drill-state 1\nrun_id %016" PRIx64 "\npool %s\nprefix %s\nobjects %u\n"
	        "size %u\nclean %d\n", d->run_id, d->pool, d->prefix, d->n_objects, d->size, clean);
	for (uint32_t i = 0; i < d->n_objects; i++) {
		uint64_t a = __atomic_load_n(&d->objs[i].acked, __ATOMIC_ACQUIRE);
		uint64_t s = __atomic_load_n(&d->objs[i].sent, __ATOMIC_ACQUIRE);
		if (s)
			fprintf(f, "%u %" PRIu64 " %" PRIu64 "\n", i, a, s);
	}
	if (fflush(f) || ferror(f) || fsync(fileno(f)))
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -EIO;
	if (!rc && rename(tmp, d->state_path))
		rc = -errno;
	return rc;
}

/* Load a state file: header first (sets pool if unset, prefix, sizes,
 * run id), then the per-object lines. */
static int state_load(struct drill *d, const char *path)
{
	char line[512], key[32], val[256];
	FILE *f = fopen(path, "r");
	unsigned long long run_id = 0;
	int have_hdr = 0, clean = 0, lineno = 0;
	int rc = -EINVAL;

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, "norn-drill-state 1\n"))
		goto out;
	while (fgets(line, sizeof(line), f)) {
		unsigned long idx;
		unsigned long long a, s;
		lineno++;
		if (sscanf(line, "%lu %llu %llu", &idx, &a, &s) == 3) {
			if (!have_hdr) {
				if (!d->n_objects || !d->size || d->n_objects > DRILL_MAX_OBJECTS)
					goto out;
				d->objs = calloc(d->n_objects, sizeof(*d->objs));
				if (!d->objs) {
					rc = -ENOMEM;
					goto out;
				}
				have_hdr = 1;
			}
			if (idx >= d->n_objects || a > s)
				goto out;
			d->objs[idx].acked = a;
			d->objs[idx].sent = s;
			continue;
		}
		if (sscanf(line, "%31s %255s", key, val) != 2)
			goto out;
		if (have_hdr)
			goto out;
		if (!strcmp(key, "run_id"))
			run_id = strtoull(val, NULL, 16);
		else if (!strcmp(key, "pool")) {
			memcpy(d->pool_buf, val, strlen(val) + 1);
			if (!d->pool)
				d->pool = d->pool_buf;
		} else if (!strcmp(key, "prefix")) {
			if (strlen(val) >= sizeof(d->prefix))
				goto out;
			memcpy(d->prefix, val, strlen(val) + 1);
		} else if (!strcmp(key, "objects"))
			d->n_objects = (uint32_t)strtoul(val, NULL, 10);
		else if (!strcmp(key, "size"))
			d->size = (uint32_t)strtoul(val, NULL, 10);
		else if (!strcmp(key, "clean"))
			clean = atoi(val);
	}
	if (!have_hdr) {  /* no object was ever written */
		if (!d->n_objects || d->n_objects > DRILL_MAX_OBJECTS)
			goto out;
		d->objs = calloc(d->n_objects, sizeof(*d->objs));
		if (!d->objs) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (!run_id || d->size < DRILL_MIN_SIZE || d->size > DRILL_MAX_SIZE)
		goto out;
	d->run_id = run_id;
	d->state_clean = clean;
	rc = 0;
out:
	if (rc == -EINVAL)
		fprintf(stderr, "norn-drill: %s: not a valid state file (line %d)\n", path, lineno + 1);
	if (rc) {
		free(d->objs);
		d->objs = NULL;
	}
	fclose(f);
	return rc;
}

/* ---- writers ----------------------------------------------------------------- */

struct writer {
	struct drill *d;
	uint32_t id;
	pthread_t th;
};

static void note_ack(struct drill *d, uint64_t lat_ns)
{
	uint64_t now, real, cur;

	pthread_mutex_lock(&d->lock);
	now = norn_mono_ns();   /* under the lock: acks are ordered in time */
	real = norn_real_ns();
	if (d->last_ack_mono && now - d->last_ack_mono > d->stall_ns) {
		d->stall_ns = now - d->last_ack_mono;
		d->stall_start_real = d->last_ack_real;
		d->stall_end_real = real;
	}
	if (d->last_ack_mono && now - d->last_ack_mono >= DRILL_STALL_REPORT_NS)
		printf("STALL: no acknowledged write for %.3f s (from %.3f to %.3f unix time)\n",
		       (double)(now - d->last_ack_mono) / 1e9, (double)d->last_ack_real / 1e9,
		       (double)real / 1e9);
	d->last_ack_mono = now;
	d->last_ack_real = real;
	pthread_mutex_unlock(&d->lock);
	__atomic_add_fetch(&d->writes, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&d->total_writes, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&d->bytes, d->size, __ATOMIC_RELAXED);
	cur = __atomic_load_n(&d->max_lat_ns, __ATOMIC_RELAXED);
	while (lat_ns > cur &&
	       !__atomic_compare_exchange_n(&d->max_lat_ns, &cur, lat_ns, 0, __ATOMIC_RELAXED,
	                                    __ATOMIC_RELAXED))
		;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct drill *d = w->d;
	uint8_t *buf = malloc(d->size);
	uint32_t idx = w->id, passes = 0;
	uint64_t next_ns = norn_mono_ns();
	uint64_t period_ns = d->rate ? 1000000000ull * d->n_threads / d->rate : 0;

	if (!buf) {
		fprintf(stderr, "norn-drill: out of memory\n");
		g_stop = 1;
		__atomic_sub_fetch(&d->active_writers, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	while (!g_stop) {
		char name[DRILL_PREFIX_MAX + 16];
		struct drill_obj *o = &d->objs[idx];
		uint64_t gen = o->sent + 1, t0, lat;
		int rc;

		if (period_ns) {
			uint64_t now = norn_mono_ns();
			if (now < next_ns) {
				struct timespec ts = { (time_t)((next_ns - now) / 1000000000ull),
				                       (long)((next_ns - now) % 1000000000ull) };
				nanosleep(&ts, NULL);
				continue;
			}
			next_ns += period_ns;
			if (next_ns + 1000000000ull < now)  /* do not burst after a stall */
				next_ns = now;
		}
		obj_name(d, idx, name, sizeof(name));
		make_content(d, idx, gen, buf);
		__atomic_store_n(&o->sent, gen, __ATOMIC_RELEASE);
		t0 = norn_mono_ns();
		rc = norn_write_full(d->io, name, buf, d->size);
		lat = norn_mono_ns() - t0;
		if (rc == 0) {
			__atomic_store_n(&o->acked, gen, __ATOMIC_RELEASE);
			note_ack(d, lat);
		} else {
			__atomic_add_fetch(&d->errors, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&d->total_errors, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&d->last_error, rc, __ATOMIC_RELAXED);
			/* keep trying the same object: the failure is what the drill is about */
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		idx += d->n_threads;
		if (idx >= d->n_objects) {
			idx = w->id;
			if (d->passes && ++passes >= d->passes)
				break;
		}
	}
	free(buf);
	__atomic_sub_fetch(&d->active_writers, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Once a second: the progress line, the CSV line, the state file. */
static void report_loop(struct drill *d, FILE *csv)
{
	uint64_t start = norn_mono_ns(), next = start + 1000000000ull;

	while (!g_stop) {
		uint64_t now = norn_mono_ns(), w, b, e, l;
		int last_err;
		if (!__atomic_load_n(&d->active_writers, __ATOMIC_ACQUIRE))
			break;   /* --passes done */
		if (now < next) {
			uint64_t left = next - now;
			struct timespec ts = { 0, (long)(left > 100000000ull ? 100000000ull : left) };
			nanosleep(&ts, NULL);
			continue;
		}
		next += 1000000000ull;
		w = __atomic_exchange_n(&d->writes, 0, __ATOMIC_RELAXED);
		b = __atomic_exchange_n(&d->bytes, 0, __ATOMIC_RELAXED);
		e = __atomic_exchange_n(&d->errors, 0, __ATOMIC_RELAXED);
		l = __atomic_exchange_n(&d->max_lat_ns, 0, __ATOMIC_RELAXED);
		last_err = __atomic_load_n(&d->last_error, __ATOMIC_RELAXED);
		printf("[%6.1fs] %6" PRIu64 " writes/s %8.2f MB/s  errors %" PRIu64 "%s%s%s  max lat %" PRIu64
		       " ms%s\n", (double)(now - start) / 1e9, w, (double)b / 1e6, e, e ? " (" : "",
		       e ? norn_strerror(last_err) : "", e ? ")" : "", l / 1000000,
		       w == 0 ? "  <-- I/O STALLED" : "");
		fflush(stdout);
		if (csv) {
			fprintf(csv, "%.3f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.1f\n", (double)norn_real_ns() / 1e9,
			        w, b, e, (double)l / 1e6);
			fflush(csv);
		}
		if (state_save(d, 0))
			fprintf(stderr, "norn-drill: cannot write state file %s\n", d->state_path);
		if (d->seconds && now - start >= (uint64_t)d->seconds * 1000000000ull)
			g_stop = 1;
	}
}

/* ---- verify ------------------------------------------------------------------- */

static int verify(struct drill *d, int after_clean_run)
{
	uint8_t *buf = malloc((size_t)d->size + 1);
	uint64_t deadline = norn_mono_ns() + (uint64_t)d->verify_timeout_s * 1000000000ull;
	uint64_t checked = 0, missing_ok = 0, newer = 0;
	uint32_t lost = 0, corrupt = 0, unreadable = 0;

	if (!buf) {
		fprintf(stderr, "norn-drill: out of memory\n");
		return 3;
	}
	printf("verifying %u objects of pool %s (run %016" PRIx64 ")...\n", d->n_objects, d->pool,
	       d->run_id);
	fflush(stdout);
	for (uint32_t i = 0; i < d->n_objects; i++) {
		char name[DRILL_PREFIX_MAX + 16], why[160];
		uint64_t acked = d->objs[i].acked, sent = d->objs[i].sent, gen = 0;
		ssize_t n = -EIO;

		if (!sent)
			continue;
		obj_name(d, i, name, sizeof(name));
		for (int tries = 0; tries < DRILL_VERIFY_RETRIES; tries++) {
			n = norn_read(d->io, name, buf, (size_t)d->size + 1, 0);
			if (n >= 0 || n == -ENOENT || norn_mono_ns() > deadline)
				break;
			sleep(1);
		}
		checked++;
		if (n == -ENOENT) {
			if (acked) {
				printf("LOST WRITE: %s: object missing, generation %" PRIu64 " was acknowledged\n",
				       name, acked);
				lost++;
			} else {
				missing_ok++;
			}
			continue;
		}
		if (n < 0) {
			printf("UNREADABLE: %s: %s (acknowledged generation %" PRIu64 ")\n", name,
			       norn_strerror((int)n), acked);
			unreadable++;
			continue;
		}
		if (check_content(d, i, buf, (size_t)n, &gen, why, sizeof(why))) {
			printf("CORRUPT: %s: %s (acknowledged generation %" PRIu64 ")\n", name, why, acked);
			corrupt++;
			continue;
		}
		if (gen < acked) {
			printf("LOST WRITE: %s holds generation %" PRIu64 ", generation %" PRIu64
			       " was acknowledged\n", name, gen, acked);
			lost++;
		} else if (gen > sent && after_clean_run) {
			printf("CORRUPT: %s holds generation %" PRIu64 ", never sent (highest sent %" PRIu64
			       ")\n", name, gen, sent);
			corrupt++;
		} else if (gen > acked) {
			newer++;  /* an unacknowledged write that landed: allowed */
		}
	}
	free(buf);
	printf("verified %" PRIu64 " objects: %" PRIu64 " hold their last acknowledged generation, %"
	       PRIu64 " a later unacknowledged one, %" PRIu64 " never acknowledged and absent; "
	       "%u lost, %u corrupt, %u unreadable\n", checked,
	       checked - newer - missing_ok - lost - corrupt - unreadable, newer, missing_ok, lost,
	       corrupt, unreadable);
	if (lost || corrupt || unreadable) {
		printf("VERIFY FAILED: %u acknowledged writes lost, %u objects corrupt, %u unreadable\n",
		       lost, corrupt, unreadable);
		return 1;
	}
	printf("VERIFY OK: every acknowledged write reads back\n");
	return 0;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
	        "usage: norn-drill -c CONF --pool POOL [--objects N] [--size BYTES] [--threads T]\n"
	        "                  [--seconds S] [--passes N] [--rate OPS] [--prefix NAME] [--state FILE]\n"
	        "                  [--csv FILE] [--verify-only] [--verify-timeout S]\n"
	        "                  [--op-timeout MS] [-n ENTITY] [-k KEYRING]\n"
	        "Writes and overwrites objects with self-describing content, records every\n"
	        "acknowledged write, and verifies at the end (Ctrl-C ends the writing) that\n"
	        "each object holds its last acknowledged generation. Exit 1 on any lost write.\n");
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end || v < lo || v > hi)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "conf", required_argument, NULL, 'c' }, { "name", required_argument, NULL, 'n' },
		{ "keyring", required_argument, NULL, 'k' }, { "pool", required_argument, NULL, 'p' },
		{ "objects", required_argument, NULL, 'o' }, { "size", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' }, { "seconds", required_argument, NULL, 'S' },
		{ "rate", required_argument, NULL, 'r' }, { "prefix", required_argument, NULL, 'P' },
		{ "state", required_argument, NULL, 'f' }, { "csv", required_argument, NULL, 'C' },
		{ "verify-only", no_argument, NULL, 'V' }, { "verify-timeout", required_argument, NULL, 'T' },
		{ "op-timeout", required_argument, NULL, 'O' }, { "passes", required_argument, NULL, 'X' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct drill d;
	const char *conf = NULL, *entity = NULL, *keyring = NULL;
	uint32_t op_timeout = 0;
	int verify_only = 0, c, rc = 3, resumed = 0, prefix_set = 0;
	struct writer *ws = NULL;
	char ov_buf[64];
	const char *ov[1] = { ov_buf };
	FILE *csv = NULL;
	struct sigaction sa;

	memset(&d, 0, sizeof(d));
	d.n_objects = 1000;
	d.size = 4096;
	d.n_threads = 4;
	d.verify_timeout_s = 300;
	snprintf(d.prefix, sizeof(d.prefix), "drill");
	while ((c = getopt_long(argc, argv, "c:n:k:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'n': entity = optarg; break;
		case 'k': keyring = optarg; break;
		case 'p': d.pool = optarg; break;
		case 'o':
			if (parse_u32(optarg, 1, DRILL_MAX_OBJECTS, &d.n_objects))
				goto bad;
			break;
		case 's':
			if (parse_u32(optarg, DRILL_MIN_SIZE, DRILL_MAX_SIZE, &d.size))
				goto bad;
			break;
		case 't':
			if (parse_u32(optarg, 1, DRILL_MAX_THREADS, &d.n_threads))
				goto bad;
			break;
		case 'S':
			if (parse_u32(optarg, 0, 86400 * 365, &d.seconds))
				goto bad;
			break;
		case 'r':
			if (parse_u32(optarg, 0, 10000000, &d.rate))
				goto bad;
			break;
		case 'P':
			if (!*optarg || strlen(optarg) >= sizeof(d.prefix) - 1 || strchr(optarg, ' '))
				goto bad;
			snprintf(d.prefix, sizeof(d.prefix), "%s", optarg);
			prefix_set = 1;
			break;
		case 'f': d.state_path = optarg; break;
		case 'C': d.csv_path = optarg; break;
		case 'V': verify_only = 1; break;
		case 'T':
			if (parse_u32(optarg, 1, 86400, &d.verify_timeout_s))
				goto bad;
			break;
		case 'O':
			if (parse_u32(optarg, 100, 86400000, &op_timeout))
				goto bad;
			break;
		case 'X':
			if (parse_u32(optarg, 0, 1000000, &d.passes))
				goto bad;
			break;
		case 'h': usage(); return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (verify_only && !d.state_path) {
		fprintf(stderr, "norn-drill: --verify-only needs --state FILE\n");
		return 2;
	}
	(void)prefix_set;
	norn_log_init("client.drill", stderr, getenv("NORN_DRILL_DEBUG") ? NORN_LOG_DEBUG : NORN_LOG_ERR);

	/* a state file from an earlier run: continue it (same run id, prefix, size) */
	if (d.state_path && access(d.state_path, F_OK) == 0) {
		int lrc = state_load(&d, d.state_path);
		if (lrc) {
			fprintf(stderr, "norn-drill: cannot load %s: %s\n", d.state_path, norn_strerror(lrc));
			return 3;
		}
		resumed = 1;
		if (d.n_threads > d.n_objects)
			d.n_threads = d.n_objects;
	} else if (verify_only) {
		fprintf(stderr, "norn-drill: %s: %s\n", d.state_path, strerror(errno));
		return 3;
	}
	if (!d.pool)
		goto bad;
	if (!resumed) {
		if (norn_random_bytes(&d.run_id, sizeof(d.run_id)) || !d.run_id)
			d.run_id = norn_real_ns() | 1;
		d.objs = calloc(d.n_objects, sizeof(*d.objs));
		if (!d.objs) {
			fprintf(stderr, "norn-drill: out of memory\n");
			return 3;
		}
		if (d.n_threads > d.n_objects)
			d.n_threads = d.n_objects;
	}
	pthread_mutex_init(&d.lock, NULL);

	snprintf(ov_buf, sizeof(ov_buf), "client_op_timeout_ms=%u", op_timeout ? op_timeout : 30000);
	rc = norn_connect2(conf, entity, keyring, ov, 1, &d.cl);
	if (rc) {
		fprintf(stderr, "norn-drill: cannot connect: %s\n", norn_strerror(rc));
		rc = 3;
		goto out;
	}
	rc = norn_ioctx_create(d.cl, d.pool, &d.io);
	if (rc) {
		fprintf(stderr, "norn-drill: pool %s: %s\n", d.pool, norn_strerror(rc));
		rc = 3;
		goto out;
	}
	if (verify_only) {
		rc = verify(&d, d.state_clean);
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (d.csv_path) {
		csv = fopen(d.csv_path, "a");
		if (!csv) {
			fprintf(stderr, "norn-drill: %s: %s\n", d.csv_path, strerror(errno));
			rc = 3;
			goto out;
		}
	}
	printf("norn-drill: pool %s, %u objects of %u bytes, %u writer threads%s, run %016" PRIx64
	       "%s; Ctrl-C stops and verifies\n", d.pool, d.n_objects, d.size, d.n_threads,
	       d.rate ? " (rate-limited)" : "", d.run_id, resumed ? " (resumed from state file)" : "");
	fflush(stdout);
	d.active_writers = d.n_threads;
	ws = calloc(d.n_threads, sizeof(*ws));
	if (!ws) {
		rc = 3;
		goto out;
	}
	for (uint32_t i = 0; i < d.n_threads; i++) {
		ws[i].d = &d;
		ws[i].id = i;
		if (pthread_create(&ws[i].th, NULL, writer_main, &ws[i])) {
			fprintf(stderr, "norn-drill: cannot start thread %u\n", i);
			g_stop = 1;
			for (uint32_t j = 0; j < i; j++)
				pthread_join(ws[j].th, NULL);
			rc = 3;
			goto out;
		}
	}
	report_loop(&d, csv);
	for (uint32_t i = 0; i < d.n_threads; i++)
		pthread_join(ws[i].th, NULL);
	if (state_save(&d, 1))
		fprintf(stderr, "norn-drill: cannot write state file %s\n", d.state_path);
	printf("wrote %" PRIu64 " acknowledged writes, %" PRIu64 " errors\n", d.total_writes,
	       d.total_errors);
	printf("longest I/O stall: %.3f s (from %.3f to %.3f unix time)\n", (double)d.stall_ns / 1e9,
	       (double)d.stall_start_real / 1e9, (double)d.stall_end_real / 1e9);
	fflush(stdout);
	rc = verify(&d, 1);
out:
	if (csv)
		fclose(csv);
	free(ws);
	if (d.io)
		norn_ioctx_destroy(d.io);
	if (d.cl)
		norn_shutdown(d.cl);
	free(d.objs);
	pthread_mutex_destroy(&d.lock);
	return rc;
bad:
	usage();
	return 2;
}
