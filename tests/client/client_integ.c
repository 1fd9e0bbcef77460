/* client_integ: libnorn against a real cluster (driven by
 * test_client_integ.py, which starts norn-mon x3 + norn-osd x4).
 *
 *   client_integ CONF POOL SCENARIO [ARG]
 *
 * Scenarios: sizes, ops, compound, concurrent, async, list, threads,
 * failover (the driver kills an OSD meanwhile), timeout (the driver
 * stops every OSD), badkey KEYRING. Each prints "ok SCENARIO" and exits 0, or prints what
 * went wrong and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encode.h"
#include "common/env.h"
#include "common/log.h"
#include <unistd.h>
#include "norn/norn.h"

static const char *g_conf, *g_pool;
static int g_fail;

#define EXPECT(cond, ...) do { if (!(cond)) { \
	fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); g_fail = 1; return; } } while (0)

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static void open_io(norn_cluster_t **cl, norn_ioctx_t **io)
{
	int rc = norn_connect(g_conf, NULL, NULL, cl);
	if (rc) {
		fprintf(stderr, "FAIL connect: %s\n", norn_strerror(rc));
		exit(1);
	}
	rc = norn_ioctx_create(*cl, g_pool, io);
	if (rc) {
		fprintf(stderr, "FAIL ioctx %s: %s\n", g_pool, norn_strerror(rc));
		exit(1);
	}
}

/* ---- objects from 0 bytes to 64 MiB, whole and in pieces --------------------- */

static void sc_sizes(norn_ioctx_t *io)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 65536 + 3, 1u << 20, (4u << 20) + 1,
	                                16u << 20, 64u << 20 };
	uint8_t *want = malloc(64u << 20), *got = malloc((64u << 20) + 4096);
	char name[64];

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		uint64_t size = 1, mtime = 0;
		fill(want, n, n + 1);
		snprintf(name, sizeof(name), "sizes-%zu", n);
		int rc = norn_write_full(io, name, want, n);
		EXPECT(rc == 0, "write_full %zu: %s", n, norn_strerror(rc));
		rc = norn_stat(io, name, &size, &mtime);
		EXPECT(rc == 0 && size == n && mtime > 0, "stat %zu: rc %d size %" PRIu64, n, rc, size);
		memset(got, 0xee, n + 4096);
		ssize_t r = norn_read(io, name, got, n + 4096, 0);
		EXPECT(r == (ssize_t)n, "read %zu got %zd", n, r);
		EXPECT(!memcmp(got, want, n), "data of %zu differs", n);
		/* overwrite in 1 MiB pieces at offsets, read a middle range */
		if (n >= (1u << 20)) {
			fill(want, n, n + 2);
			for (size_t off = 0; off < n; off += 1u << 20) {
				size_t piece = n - off < (1u << 20) ? n - off : (1u << 20);
				rc = norn_write(io, name, want + off, piece, off);
				EXPECT(rc == 0, "write piece %zu@%zu: %s", piece, off, norn_strerror(rc));
			}
			r = norn_read(io, name, got, 12345, n / 2 - 17);
			EXPECT(r == 12345 && !memcmp(got, want + n / 2 - 17, 12345), "middle read of %zu", n);
			r = norn_read(io, name, got, n, 0);
			EXPECT(r == (ssize_t)n && !memcmp(got, want, n), "piecewise data of %zu", n);
		}
		/* shrinking write_full replaces the whole object */
		rc = norn_write_full(io, name, "xy", 2);
		EXPECT(rc == 0, "shrink");
		r = norn_read(io, name, got, 100, 0);
		EXPECT(r == 2 && !memcmp(got, "xy", 2), "after shrink got %zd", r);
	}
	free(want);
	free(got);
}

/* ---- every single-object call ---------------------------------------------------- */

static void sc_ops(norn_ioctx_t *io)
{
	char buf[256];
	void *val = NULL;
	uint64_t size = 0;
	ssize_t r;
	int rc;

	norn_remove(io, "ops");
	EXPECT(norn_read(io, "ops", buf, 10, 0) == -ENOENT, "read of a missing object");
	EXPECT(norn_stat(io, "ops", &size, NULL) == -ENOENT, "stat of a missing object");
	EXPECT(norn_remove(io, "ops") == -ENOENT, "remove of a missing object");
	EXPECT(norn_append(io, "ops", "abc", 3) == 0, "append 1");
	EXPECT(norn_append(io, "ops", "def", 3) == 0, "append 2");
	r = norn_read(io, "ops", buf, sizeof(buf), 0);
	EXPECT(r == 6 && !memcmp(buf, "abcdef", 6), "appends read %zd", r);
	EXPECT(norn_write(io, "ops", "Z", 1, 10) == 0, "sparse write");
	r = norn_read(io, "ops", buf, sizeof(buf), 0);
	EXPECT(r == 11 && !memcmp(buf, "abcdef\0\0\0\0Z", 11), "sparse read %zd", r);
	EXPECT(norn_read(io, "ops", buf, 10, 100) == 0, "read past the end");
	EXPECT(norn_zero(io, "ops", 1, 2) == 0, "zero");
	r = norn_read(io, "ops", buf, 3, 0);
	EXPECT(r == 3 && !memcmp(buf, "a\0\0", 3), "zeroed range");
	EXPECT(norn_truncate(io, "ops", 4) == 0, "truncate");
	EXPECT(norn_stat(io, "ops", &size, NULL) == 0 && size == 4, "size after truncate %" PRIu64, size);
	/* xattrs */
	EXPECT(norn_setxattr(io, "ops", "color", "blue", 4) == 0, "setxattr");
	r = norn_getxattr(io, "ops", "color", &val);
	EXPECT(r == 4 && val && !memcmp(val, "blue", 4), "getxattr %zd", r);
	free(val);
	val = NULL;
	r = norn_getxattr(io, "ops", "nope", &val);
	EXPECT(r == -ENODATA, "missing xattr gave %zd", r);
	EXPECT(norn_rmxattr(io, "ops", "color") == 0, "rmxattr");
	EXPECT(norn_getxattr(io, "ops", "color", &val) == -ENODATA, "xattr after rm");
	/* omap */
	{
		const char *keys[4] = { "a1", "a2", "b1", "c" };
		const void *vals[4] = { "1", "22", "333", "" };
		size_t vl[4] = { 1, 2, 3, 0 };
		struct norn_list l;
		rc = norn_omap_set(io, "ops", keys, vals, vl, 4);
		EXPECT(rc == 0, "omap_set: %s", norn_strerror(rc));
		r = norn_omap_get(io, "ops", "b1", &val);
		EXPECT(r == 3 && !memcmp(val, "333", 3), "omap_get %zd", r);
		free(val);
		val = NULL;
		EXPECT(norn_omap_get(io, "ops", "zz", &val) == -ENOENT, "omap_get missing");
		rc = norn_omap_get_vals(io, "ops", "", "a", 100, &l);
		EXPECT(rc == 0 && l.n == 2 && !strcmp(l.items[0].key, "a1") && !strcmp(l.items[1].key, "a2") &&
		       l.items[1].val_len == 2 && !l.more, "prefix listing rc %d n %zu", rc, l.n);
		norn_list_free(&l);
		rc = norn_omap_get_vals(io, "ops", "a1", "", 2, &l);
		EXPECT(rc == 0 && l.n == 2 && !strcmp(l.items[0].key, "a2") && !strcmp(l.items[1].key, "b1") &&
		       l.more, "paged listing rc %d n %zu more %d", rc, l.n, l.more);
		norn_list_free(&l);
		const char *rm[2] = { "a1", "c" };
		EXPECT(norn_omap_rm_keys(io, "ops", rm, 2) == 0, "omap_rm_keys");
		rc = norn_omap_get_vals(io, "ops", "", "", 100, &l);
		EXPECT(rc == 0 && l.n == 2, "after rm n %zu", l.n);
		norn_list_free(&l);
		EXPECT(norn_omap_clear(io, "ops") == 0, "omap_clear");
		rc = norn_omap_get_vals(io, "ops", "", "", 100, &l);
		EXPECT(rc == 0 && l.n == 0, "after clear n %zu", l.n);
		norn_list_free(&l);
	}
	/* a compound read: stat + read + getxattr in one request */
	{
		norn_read_op_t *rop = norn_read_op_create();
		uint64_t sz = 0;
		size_t got = 0, xl = 0;
		int r1 = 1, r2 = 1, r3 = 1;
		void *xv = NULL;
		EXPECT(norn_write_full(io, "ops-rop", "0123456789", 10) == 0, "rop setup");
		EXPECT(norn_setxattr(io, "ops-rop", "tag", "T", 1) == 0, "rop setxattr");
		norn_read_op_stat(rop, &sz, NULL, &r1);
		norn_read_op_read(rop, 2, 5, buf, &got, &r2);
		norn_read_op_getxattr(rop, "tag", &xv, &xl, &r3);
		rc = norn_read_op_operate(rop, io, "ops-rop");
		EXPECT(rc == 0 && r1 == 0 && r2 == 0 && r3 == 0, "read op rc %d (%d %d %d)", rc, r1, r2, r3);
		EXPECT(sz == 10 && got == 5 && !memcmp(buf, "23456", 5) && xl == 1 && xv &&
		       !memcmp(xv, "T", 1), "read op outputs");
		free(xv);
		norn_read_op_release(rop);
		rop = norn_read_op_create();
		norn_read_op_stat(rop, &sz, NULL, &r1);
		EXPECT(norn_read_op_operate(rop, io, "ops-rop-missing") == -ENOENT, "read op on a missing object");
		norn_read_op_release(rop);
		norn_remove(io, "ops-rop");
	}
	EXPECT(norn_remove(io, "ops") == 0, "remove");
	EXPECT(norn_stat(io, "ops", &size, NULL) == -ENOENT, "stat after remove");
	/* a pool created after we connected is found (the client fetches the
	 * newer map), and mon commands work through the handle */
	{
		norn_cluster_t *cl2;
		norn_ioctx_t *io2;
		char *out = NULL, *st = NULL;
		int rc2 = norn_connect(g_conf, NULL, NULL, &cl2);
		EXPECT(rc2 == 0, "second connect");
		rc2 = norn_mon_command(cl2, "{\"prefix\":\"pool create\",\"pool\":\"late\",\"pg_num\":8,"
		                            "\"size\":3}", &out, NULL, &st);
		EXPECT(rc2 == 0, "pool create: %d %s", rc2, st ? st : "");
		free(out);
		free(st);
		rc2 = norn_ioctx_create(cl2, "late", &io2);
		EXPECT(rc2 == 0, "ioctx on a new pool: %s", norn_strerror(rc2));
		EXPECT(norn_write_full(io2, "late-obj", "x", 1) == 0, "write to the new pool");
		EXPECT(norn_read(io2, "late-obj", buf, 4, 0) == 1, "read from the new pool");
		norn_ioctx_destroy(io2);
		EXPECT(norn_ioctx_create(cl2, "no-such-pool", &io2) == -ENOENT, "missing pool");
		rc2 = norn_mon_command(cl2, "{\"prefix\":\"no such command\"}", &out, NULL, &st);
		EXPECT(rc2 < 0, "unknown mon command gave %d", rc2);
		free(out);
		free(st);
		norn_shutdown(cl2);
	}
	/* bad arguments never reach the wire */
	EXPECT(norn_write_full(io, "", "x", 1) == -EINVAL, "empty name");
	EXPECT(norn_setxattr(io, "ops", "", "x", 1) == -EINVAL, "empty xattr name");
}

/* ---- compound ops: all or nothing ----------------------------------------------- */

static void sc_compound(norn_ioctx_t *io)
{
	norn_write_op_t *op;
	char buf[64];
	void *val = NULL;
	ssize_t r;
	int rc;
	const char *k[1] = { "idx" };
	const void *v[1] = { "one" };
	size_t vl[1] = { 3 };

	norn_remove(io, "cmp");
	op = norn_write_op_create();
	norn_write_op_create_obj(op, 1);
	norn_write_op_write_full(op, "hello", 5);
	norn_write_op_setxattr(op, "ver", "1", 1);
	norn_write_op_omap_set(op, k, v, vl, 1);
	rc = norn_write_op_operate(op, io, "cmp");
	EXPECT(rc == 0, "compound create: %s", norn_strerror(rc));
	/* the same exclusive create again fails as a whole */
	rc = norn_write_op_operate(op, io, "cmp");
	EXPECT(rc == -EEXIST, "exclusive create again gave %d", rc);
	norn_write_op_release(op);

	/* a failed compare leaves everything as it was */
	op = norn_write_op_create();
	norn_write_op_cmpxattr(op, "ver", "2", 1);
	norn_write_op_write_full(op, "CLOBBERED", 9);
	norn_write_op_setxattr(op, "ver", "3", 1);
	rc = norn_write_op_operate(op, io, "cmp");
	EXPECT(rc == -ECANCELED, "cmpxattr mismatch gave %d", rc);
	norn_write_op_release(op);
	r = norn_read(io, "cmp", buf, sizeof(buf), 0);
	EXPECT(r == 5 && !memcmp(buf, "hello", 5), "data changed by a failed op (%zd)", r);
	r = norn_getxattr(io, "cmp", "ver", &val);
	EXPECT(r == 1 && !memcmp(val, "1", 1), "xattr changed by a failed op");
	free(val);
	val = NULL;

	/* a matching compare applies every step */
	op = norn_write_op_create();
	norn_write_op_cmpxattr(op, "ver", "1", 1);
	norn_write_op_append(op, " world", 6);
	norn_write_op_setxattr(op, "ver", "2", 1);
	norn_write_op_omap_rm_keys(op, k, 1);
	rc = norn_write_op_operate(op, io, "cmp");
	EXPECT(rc == 0, "cmpxattr match: %s", norn_strerror(rc));
	norn_write_op_release(op);
	r = norn_read(io, "cmp", buf, sizeof(buf), 0);
	EXPECT(r == 11 && !memcmp(buf, "hello world", 11), "compound append (%zd)", r);
	r = norn_getxattr(io, "cmp", "ver", &val);
	EXPECT(r == 1 && !memcmp(val, "2", 1), "compound setxattr");
	free(val);
	val = NULL;
	EXPECT(norn_omap_get(io, "cmp", "idx", &val) == -ENOENT, "compound omap rm");

	/* assert_exists on a missing object */
	op = norn_write_op_create();
	norn_write_op_assert_exists(op);
	norn_write_op_write_full(op, "x", 1);
	rc = norn_write_op_operate(op, io, "cmp-missing");
	EXPECT(rc == -ENOENT, "assert_exists gave %d", rc);
	norn_write_op_release(op);
	EXPECT(norn_stat(io, "cmp-missing", NULL, NULL) == -ENOENT, "assert_exists created it");

	/* remove inside a compound op */
	op = norn_write_op_create();
	norn_write_op_remove(op);
	EXPECT(norn_write_op_operate(op, io, "cmp") == 0, "compound remove");
	norn_write_op_release(op);
	EXPECT(norn_stat(io, "cmp", NULL, NULL) == -ENOENT, "compound remove left the object");
}

/* ---- concurrent writers: the result equals some serial order ------------------- */

#define CW_THREADS 8
#define CW_ROUNDS 20
#define CW_REC 1000

struct cw {
	norn_ioctx_t *io;
	int id;
	int err;
};

static void *cw_full(void *arg)
{
	struct cw *w = arg;
	uint8_t *b = malloc(256 * 1024);
	for (int r = 0; r < CW_ROUNDS && !w->err; r++) {
		size_t n = 4096 + (size_t)((w->id * 7919 + r * 104729) % (250 * 1024));
		memset(b, 0, 8);
		b[0] = (uint8_t)w->id;
		b[1] = (uint8_t)r;
		fill(b + 8, n - 8, (uint64_t)w->id * 1000 + (uint64_t)r);
		norn_put_le32(b + 2, (uint32_t)n);
		w->err = norn_write_full(w->io, "concurrent-full", b, n);
	}
	free(b);
	return NULL;
}

static void *cw_append(void *arg)
{
	struct cw *w = arg;
	uint8_t rec[CW_REC];
	for (int r = 0; r < CW_ROUNDS && !w->err; r++) {
		memset(rec, 'a' + w->id, sizeof(rec));
		rec[0] = (uint8_t)w->id;
		rec[1] = (uint8_t)r;
		w->err = norn_append(w->io, "concurrent-append", rec, sizeof(rec));
	}
	return NULL;
}

static void sc_concurrent(norn_ioctx_t *io)
{
	pthread_t t[CW_THREADS];
	struct cw w[CW_THREADS];
	/* big enough for either object */
	uint8_t *got = malloc(CW_THREADS * CW_ROUNDS * CW_REC + (256 * 1024)), *want = malloc(256 * 1024);
	int seen[CW_THREADS][CW_ROUNDS];
	ssize_t r;

	norn_remove(io, "concurrent-full");
	norn_remove(io, "concurrent-append");
	for (int i = 0; i < CW_THREADS; i++) {
		w[i] = (struct cw){ io, i, 0 };
		pthread_create(&t[i], NULL, i % 2 ? cw_full : cw_append, &w[i]);
	}
	for (int i = 0; i < CW_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < CW_THREADS; i++)
		EXPECT(w[i].err == 0, "writer %d: %s", i, norn_strerror(w[i].err));
	/* write_full: the object is exactly one of the writes, whole */
	r = norn_read(io, "concurrent-full", got, 256 * 1024, 0);
	EXPECT(r > 8, "read concurrent-full %zd", r);
	{
		int id = got[0], rd = got[1];
		size_t n = norn_get_le32(got + 2);
		EXPECT(id < CW_THREADS && id % 2 == 1 && rd < CW_ROUNDS && (ssize_t)n == r,
		       "header id %d round %d n %zu r %zd", id, rd, n, r);
		memset(want, 0, 8);
		want[0] = (uint8_t)id;
		want[1] = (uint8_t)rd;
		fill(want + 8, n - 8, (uint64_t)id * 1000 + (uint64_t)rd);
		EXPECT(!memcmp(got + 8, want + 8, n - 8), "concurrent-full is a mix of writes");
	}
	/* appends: every record exactly once, whole, and each writer's in order */
	r = norn_read(io, "concurrent-append", got, CW_THREADS * CW_ROUNDS * CW_REC + 4096, 0);
	EXPECT(r == (CW_THREADS / 2) * CW_ROUNDS * CW_REC, "appended %zd bytes", r);
	memset(seen, 0, sizeof(seen));
	{
		int last[CW_THREADS];
		for (int i = 0; i < CW_THREADS; i++)
			last[i] = -1;
		for (ssize_t off = 0; off < r; off += CW_REC) {
			int id = got[off], rd = got[off + 1];
			EXPECT(id < CW_THREADS && rd < CW_ROUNDS && id % 2 == 0, "bad record at %zd", off);
			for (int j = 2; j < CW_REC; j++)
				EXPECT(got[off + j] == 'a' + id, "torn record at %zd", off);
			EXPECT(!seen[id][rd], "record %d/%d twice", id, rd);
			EXPECT(rd > last[id], "writer %d out of order", id);
			last[id] = rd;
			seen[id][rd] = 1;
		}
	}
	free(got);
	free(want);
}

/* ---- async ops with callbacks ------------------------------------------------------- */

#define AS_N 200

struct as_state {
	pthread_mutex_t mu;
	int done, failed;
};

static void as_cb(norn_completion_t *c, void *arg)
{
	struct as_state *s = arg;
	ssize_t r = norn_completion_result(c);
	pthread_mutex_lock(&s->mu);
	s->done++;
	if (r < 0)
		s->failed++;
	pthread_mutex_unlock(&s->mu);
	norn_completion_release(c);
}

static void sc_async(norn_ioctx_t *io)
{
	static uint8_t data[AS_N][3000], back[AS_N][3000];
	norn_completion_t *rc_[AS_N];
	struct as_state s = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
	char name[32];
	int rc;

	for (int i = 0; i < AS_N; i++) {
		fill(data[i], sizeof(data[i]), (uint64_t)i + 77);
		snprintf(name, sizeof(name), "async-%d", i);
		norn_completion_t *c = norn_completion_create(as_cb, &s);
		rc = norn_aio_write_full(io, name, c, data[i], sizeof(data[i]));
		EXPECT(rc == 0, "aio_write_full %d: %s", i, norn_strerror(rc));
	}
	EXPECT(norn_flush(io) == 0, "flush");
	pthread_mutex_lock(&s.mu);
	int done = s.done, failed = s.failed;
	pthread_mutex_unlock(&s.mu);
	EXPECT(done == AS_N && failed == 0, "after flush: %d done, %d failed", done, failed);
	for (int i = 0; i < AS_N; i++) {
		snprintf(name, sizeof(name), "async-%d", i);
		rc_[i] = norn_completion_create(NULL, NULL);
		rc = norn_aio_read(io, name, rc_[i], back[i], sizeof(back[i]), 0);
		EXPECT(rc == 0, "aio_read %d", i);
	}
	for (int i = 0; i < AS_N; i++) {
		EXPECT(norn_completion_wait(rc_[i]) == (int)sizeof(back[i]), "aio_read %d result", i);
		EXPECT(norn_completion_is_complete(rc_[i]), "complete flag");
		EXPECT(!memcmp(back[i], data[i], sizeof(data[i])), "aio data %d", i);
		norn_completion_release(rc_[i]);
	}
	/* async stat + remove */
	uint64_t size = 0, mt = 0;
	norn_completion_t *c = norn_completion_create(NULL, NULL);
	EXPECT(norn_aio_stat(io, "async-0", c, &size, &mt) == 0, "aio_stat");
	EXPECT(norn_completion_wait(c) == 0 && size == sizeof(data[0]), "aio_stat result");
	norn_completion_release(c);
	c = norn_completion_create(NULL, NULL);
	EXPECT(norn_aio_remove(io, "async-0", c) == 0, "aio_remove");
	EXPECT(norn_completion_wait(c) == 0, "aio_remove result");
	norn_completion_release(c);
	/* async compound op; the op may be released right after queueing */
	norn_write_op_t *op = norn_write_op_create();
	norn_write_op_write_full(op, "compound-async", 14);
	norn_write_op_setxattr(op, "k", "v", 1);
	c = norn_completion_create(NULL, NULL);
	EXPECT(norn_aio_write_op_operate(op, io, "async-op", c) == 0, "aio op");
	norn_write_op_release(op);
	EXPECT(norn_completion_wait(c) == 0, "aio op result");
	norn_completion_release(c);
	char buf[32];
	EXPECT(norn_read(io, "async-op", buf, sizeof(buf), 0) == 14 && !memcmp(buf, "compound-async", 14),
	       "aio op data");
}

/* ---- listing -------------------------------------------------------------------------- */

static void sc_list(norn_ioctx_t *io)
{
	enum { N = 300 };
	char name[64];
	int *found = calloc(N, sizeof(int));
	char *cursor = NULL;
	struct norn_list l;
	int more, pages = 0, total = 0;

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "list-%04d", i);
		EXPECT(norn_write_full(io, name, name, strlen(name)) == 0, "write %s", name);
	}
	do {
		int rc = norn_list_objects(io, &cursor, 37, &l);
		EXPECT(rc == 0, "list: %s", norn_strerror(rc));
		EXPECT(l.n <= 37, "page of %zu", l.n);
		for (size_t i = 0; i < l.n; i++) {
			int k;
			total++;
			if (sscanf(l.items[i].key, "list-%d", &k) == 1 && k >= 0 && k < N &&
			    !strncmp(l.items[i].key, "list-", 5)) {
				EXPECT(!found[k], "%s listed twice", l.items[i].key);
				found[k] = 1;
			}
		}
		more = l.more;
		norn_list_free(&l);
		pages++;
		EXPECT(pages < 1000, "listing does not end");
	} while (more);
	for (int i = 0; i < N; i++)
		EXPECT(found[i], "list-%04d missing from the listing", i);
	free(cursor);
	free(found);
	printf("listed %d objects in %d pages\n", total, pages);
	/* a bad cursor is refused */
	cursor = strdup("zz");
	EXPECT(norn_list_objects(io, &cursor, 10, &l) == -EINVAL, "bad cursor");
	free(cursor);
}

/* ---- many threads on one handle --------------------------------------------------------- */

struct th {
	norn_ioctx_t *io;
	int id;
	int err;
};

static void *th_main(void *arg)
{
	struct th *t = arg;
	uint8_t w[4096], r[4096];
	char name[32];
	for (int i = 0; i < 100 && !t->err; i++) {
		snprintf(name, sizeof(name), "th-%d-%d", t->id, i % 10);
		fill(w, sizeof(w), (uint64_t)t->id * 100000 + (uint64_t)i);
		if ((t->err = norn_write_full(t->io, name, w, sizeof(w))))
			break;
		ssize_t n = norn_read(t->io, name, r, sizeof(r), 0);
		if (n != (ssize_t)sizeof(r) || memcmp(r, w, sizeof(r)))
			t->err = n < 0 ? (int)n : -EIO;
	}
	return NULL;
}

static void sc_threads(norn_ioctx_t *io)
{
	enum { T = 16 };
	pthread_t p[T];
	struct th t[T];
	for (int i = 0; i < T; i++) {
		t[i] = (struct th){ io, i, 0 };
		pthread_create(&p[i], NULL, th_main, &t[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < T; i++)
		EXPECT(t[i].err == 0, "thread %d: %s", i, norn_strerror(t[i].err));
}


/* ---- an OSD dies during writes: every write completes and reads back ---------- */

#define FO_N 400
#define FO_SIZE 65536
#define FO_WINDOW 16

/* Writes FO_N objects (FO_WINDOW in flight) while the driver kills an OSD;
 * prints "started" when half-way so the driver knows when to kill. */
static void sc_failover(norn_ioctx_t *io)
{
	static uint8_t data[FO_WINDOW][FO_SIZE];
	norn_completion_t *c[FO_WINDOW] = { 0 };
	uint8_t *back = malloc(FO_SIZE);
	char name[64];
	uint64_t t0 = norn_mono_ns();

	for (int i = 0; i < FO_N; i++) {
		int k = i % FO_WINDOW;
		if (c[k]) {
			int r = norn_completion_wait(c[k]);
			norn_completion_release(c[k]);
			c[k] = NULL;
			EXPECT(r == 0, "write %d failed: %s", i - FO_WINDOW, norn_strerror(r));
		}
		if (i == 20) {
			printf("started\n");
			fflush(stdout);
		}
		if (i >= 20 && i < 220)
			usleep(20000);   /* spread the writes over the kill and the map change */
		fill(data[k], FO_SIZE, (uint64_t)i);
		snprintf(name, sizeof(name), "fo-%d", i);
		c[k] = norn_completion_create(NULL, NULL);
		EXPECT(norn_aio_write_full(io, name, c[k], data[k], FO_SIZE) == 0, "queue %d", i);
	}
	for (int k = 0; k < FO_WINDOW; k++)
		if (c[k]) {
			int r = norn_completion_wait(c[k]);
			norn_completion_release(c[k]);
			EXPECT(r == 0, "last writes: %s", norn_strerror(r));
		}
	for (int i = 0; i < FO_N; i++) {
		uint8_t want[FO_SIZE];
		snprintf(name, sizeof(name), "fo-%d", i);
		fill(want, FO_SIZE, (uint64_t)i);
		ssize_t r = norn_read(io, name, back, FO_SIZE, 0);
		EXPECT(r == FO_SIZE && !memcmp(back, want, FO_SIZE), "read back %s: %zd", name, r);
	}
	printf("failover: %d writes in %.1f s\n", FO_N, (double)(norn_mono_ns() - t0) / 1e9);
	free(back);
}

/* With every OSD stopped (SIGSTOP by the driver) a write fails with
 * -ETIMEDOUT after about client_op_timeout_ms, and the client shuts down. */
static void sc_timeout(void)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	const char *ov[1] = { "client_op_timeout_ms=1500" };
	int rc = norn_connect2(g_conf, NULL, NULL, ov, 1, &cl);
	EXPECT(rc == 0, "connect: %s", norn_strerror(rc));
	rc = norn_ioctx_create(cl, g_pool, &io);
	EXPECT(rc == 0, "ioctx");
	printf("connected\n");
	fflush(stdout);
	/* the driver stops the OSDs after "connected" */
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	uint64_t t0 = norn_mono_ns();
	rc = norn_write_full(io, "timeout-obj", "x", 1);
	double el = (double)(norn_mono_ns() - t0) / 1e9;
	printf("write gave %d (%s) after %.2f s\n", rc, norn_strerror(rc), el);
	EXPECT(rc == -ETIMEDOUT && el >= 1.4 && el < 5.0, "want -ETIMEDOUT after ~1.5 s");
	norn_ioctx_destroy(io);
	norn_shutdown(cl);
}

int main(int argc, char **argv)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	const char *sc;

	if (argc < 4) {
		fprintf(stderr, "usage: client_integ CONF POOL SCENARIO [ARG]\n");
		return 2;
	}
	norn_log_init("client_integ", stderr, NORN_LOG_WARN);
	g_conf = argv[1];
	g_pool = argv[2];
	sc = argv[3];
	if (!strcmp(sc, "badkey")) {
		int rc = norn_connect(g_conf, NULL, argc > 4 ? argv[4] : NULL, &cl);
		if (rc != NORN_EAUTH) {
			fprintf(stderr, "FAIL badkey: connect gave %d (%s)\n", rc, norn_strerror(rc));
			if (!rc)
				norn_shutdown(cl);
			return 1;
		}
		printf("ok badkey\n");
		return 0;
	}
	if (!strcmp(sc, "timeout")) {
		sc_timeout();
		if (!g_fail)
			printf("ok timeout\n");
		return g_fail;
	}
	open_io(&cl, &io);
	if (!strcmp(sc, "sizes"))
		sc_sizes(io);
	else if (!strcmp(sc, "ops"))
		sc_ops(io);
	else if (!strcmp(sc, "compound"))
		sc_compound(io);
	else if (!strcmp(sc, "concurrent"))
		sc_concurrent(io);
	else if (!strcmp(sc, "async"))
		sc_async(io);
	else if (!strcmp(sc, "list"))
		sc_list(io);
	else if (!strcmp(sc, "threads"))
		sc_threads(io);
	else if (!strcmp(sc, "failover"))
		sc_failover(io);
	else {
		fprintf(stderr, "unknown scenario %s\n", sc);
		g_fail = 2;
	}
	norn_ioctx_destroy(io);
	norn_shutdown(cl);
	if (!g_fail)
		printf("ok %s\n", sc);
	return g_fail;
}
