/* Crash test of the object store.
 *
 * A child process mounts the store and runs an endless stream of
 * transactions (several in flight), writing the id of every acknowledged
 * one to a pipe. The parent SIGKILLs it at a random moment, remounts and
 * checks that the store equals the model after exactly L transactions,
 * where L (read back from collection meta that every transaction sets) is
 * at least the last acknowledged id: every acknowledged transaction is
 * fully visible and nothing of transaction L+1 is partly visible. Every
 * transaction touches 2-3 objects (data, an xattr, an omap key) plus the
 * collection meta, so a partial application cannot match the model. Then
 * fsck must be clean.
 *
 * Transactions are generated from (seed, id), so the parent replays them
 * into its model without talking to the child. NORN_CRASH_CYCLES (default
 * 100) and NORN_CRASH_SEED override the defaults; a failure prints the seed.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/env.h"
#include "norn/errors.h"
#include "osd/store/store.h"
#include "tests/harness.h"

#define NOBJ 8
#define OBJ_MAX (96u << 10)
#define NKEYS 16
#define QD 8

struct mobj {
	bool exists;
	uint64_t size;
	uint8_t data[OBJ_MAX];
	bool hasx;
	uint64_t x;
	bool omap[NKEYS];
	uint64_t oval[NKEYS];
};
static struct mobj model[NOBJ];
static uint64_t model_at;
static uint64_t g_seed;
static char g_dir[320];

enum { K_WRITE, K_ZERO, K_TRUNC, K_REMOVE, K_CLONE };
struct gop { int obj, kind, key, obj2; uint64_t off, len; };
struct gtxn { int n; struct gop op[3]; };

static void gen(uint64_t id, struct gtxn *g)
{
	struct norn_rand r;
	norn_rand_seed(&r, g_seed * 1000003u + id);
	g->n = 2 + (int)norn_rand_below(&r, 2);
	int used = 0;
	for (int i = 0; i < g->n; i++) {
		struct gop *o = &g->op[i];
		do o->obj = (int)norn_rand_below(&r, NOBJ); while (used & (1 << o->obj));
		used |= 1 << o->obj;
		uint64_t p = norn_rand_below(&r, 100);
		o->kind = p < 80 ? K_WRITE : p < 88 ? K_ZERO : p < 94 ? K_TRUNC : p < 97 ? K_REMOVE : K_CLONE;
		o->off = norn_rand_below(&r, 64u << 10);
		o->len = 1 + norn_rand_below(&r, norn_rand_below(&r, 2) ? 4096 : (24u << 10));
		o->key = (int)norn_rand_below(&r, NKEYS);
		o->obj2 = (int)norn_rand_below(&r, NOBJ);
	}
}

static uint8_t pat(uint64_t id, int obj, uint64_t i)
{
	return (uint8_t)(id * 37 + (uint64_t)obj * 11 + i * 13 + (i >> 8));
}

static void oname(char *b, int i) { snprintf(b, 16, "obj%d", i); }

/* Apply transaction @id to the model op by op and, when @t is not NULL,
 * append the same ops to the store transaction. The model's semantics
 * mirror the store's (see store.h); ops that would fail (remove or clone
 * of a missing object) are skipped on both sides. */
static void step(uint64_t id, struct store_txn *t)
{
	struct gtxn g;
	gen(id, &g);
	static uint8_t buf[OBJ_MAX];
	for (int i = 0; i < g.n; i++) {
		struct gop *o = &g.op[i];
		struct mobj *m = &model[o->obj];
		char nm[16], nm2[16];
		oname(nm, o->obj);
		oname(nm2, o->obj2);
		uint64_t end = o->off + o->len;
		switch (o->kind) {
		case K_REMOVE:
			if (m->exists) {
				if (t)
					store_txn_remove(t, "1.0", nm);
				memset(m, 0, sizeof(*m));
			}
			break;
		case K_CLONE:
			if (model[o->obj2].exists && o->obj2 != o->obj) {
				if (t)
					store_txn_clone(t, "1.0", nm2, nm);
				*m = model[o->obj2];
			}
			break;
		case K_WRITE:
			for (uint64_t b = 0; b < o->len; b++)
				buf[b] = pat(id, o->obj, b);
			if (t)
				store_txn_write(t, "1.0", nm, o->off, buf, o->len);
			memcpy(m->data + o->off, buf, o->len);
			if (end > m->size)
				m->size = end;
			m->exists = true;
			break;
		case K_ZERO:
			if (t)
				store_txn_zero(t, "1.0", nm, o->off, o->len);
			memset(m->data + o->off, 0, o->len);
			if (end > m->size)
				m->size = end;
			m->exists = true;
			break;
		default:
			if (t)
				store_txn_truncate(t, "1.0", nm, o->off);
			if (o->off < m->size)
				memset(m->data + o->off, 0, OBJ_MAX - o->off);
			m->size = o->off;
			m->exists = true;
			break;
		}
		if (m->exists) {
			uint8_t v[8];
			memcpy(v, &id, 8);
			char k[8];
			snprintf(k, sizeof(k), "k%02d", o->key);
			if (t) {
				store_txn_setxattr(t, "1.0", nm, "t", v, 8);
				store_txn_omap_set(t, "1.0", nm, k, 3, v, 8);
			}
			m->hasx = true;
			m->x = id;
			m->omap[o->key] = true;
			m->oval[o->key] = id;
		}
	}
	if (t) {
		uint8_t v[8];
		memcpy(v, &id, 8);
		store_txn_cmeta_set(t, "1.0", "last", 4, v, 8);
	}
}

static void model_apply(uint64_t id) { step(id, NULL); }

static struct store_txn *build(uint64_t id)
{
	struct store_txn *t = store_txn_new();
	CHECK(t);
	step(id, t);
	return t;
}

/* ---- child ----------------------------------------------------------- */

static int c_pipe;
static uint64_t c_next, c_acked;
static struct store *c_store;
static int c_inflight;

static void c_submit(void);
static void c_done(void *arg, int err)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	if (err) {
		fprintf(stderr, "child: txn %llu failed: %s\n", (unsigned long long)id, norn_strerror(err));
		_exit(3);
	}
	if (id != c_acked + 1)
		_exit(4);
	c_acked = id;
	if (write(c_pipe, &id, 8) != 8)
		_exit(5);
	c_inflight--;
	c_submit();
}

static void c_submit(void)
{
	while (c_inflight < QD) {
		uint64_t id = c_next++;
		struct store_txn *t = build(id);   /* the child's model runs ahead */
		c_inflight++;
		if (store_queue_txn(c_store, t, c_done, (void *)(uintptr_t)id))
			_exit(6);
	}
}

/* Odd cycles apply the log to LMDB only every 300 ms, so at the kill the
 * data of acknowledged small writes (carried in the log records) is often
 * in the log only, not yet in its blocks; even cycles apply at once. Every
 * third cycle keeps all data out of the log records; every fourth sends a
 * log group as soon as 3 transactions are prepared. */
static void child(uint64_t start, int cycle)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	o.lmdb_map_bytes = 64u << 20;
	o.commit_wait_us = cycle % 2 ? 300000 : 100;
	if (cycle % 3 == 2)
		o.wal_data_max_bytes = 0;
	if (cycle % 4 == 1)
		o.wal_group_txns = 3;   /* groups go out as soon as 3 are prepared */
	o.onode_shard_blocks = 4;   /* objects above 16 KiB get a sharded block map */
	if (store_open(&loop, &o, &c_store))
		_exit(7);
	c_next = start;
	c_acked = start - 1;
	c_submit();
	for (;;)
		uv_run(&loop, UV_RUN_DEFAULT);
}

/* ---- parent ---------------------------------------------------------- */

static void verify(struct store *s, uint64_t acked)
{
	uint8_t *v;
	size_t vl;
	uint64_t L = 0;
	int rc = store_cmeta_get(s, "1.0", "last", 4, &v, &vl);
	if (rc == 0) {
		CHECK_EQ(vl, 8);
		memcpy(&L, v, 8);
		free(v);
	} else {
		CHECK_EQ(rc, -ENOENT);
	}
	if (L < acked || L < model_at) {
		fprintf(stderr, "seed %llu: durable state %llu but acked %llu / previous %llu\n",
		        (unsigned long long)g_seed, (unsigned long long)L, (unsigned long long)acked,
		        (unsigned long long)model_at);
		CHECK(0);
	}
	while (model_at < L)
		model_apply(++model_at);
	for (int i = 0; i < NOBJ; i++) {
		char nm[16];
		oname(nm, i);
		struct mobj *m = &model[i];
		struct store_stat st;
		rc = store_stat(s, "1.0", nm, &st);
		if (!m->exists) {
			CHECK_EQ(rc, -ENOENT);
			continue;
		}
		CHECK_EQ(rc, 0);
		if (st.size != m->size)
			fprintf(stderr, "seed %llu at %llu: %s size %llu, model %llu\n",
			        (unsigned long long)g_seed, (unsigned long long)L, nm,
			        (unsigned long long)st.size, (unsigned long long)m->size);
		CHECK_EQ(st.size, m->size);
		uint8_t *buf;
		size_t len;
		CHECK_EQ(store_read_sync(s, "1.0", nm, 0, OBJ_MAX, &buf, &len), 0);
		CHECK_EQ(len, m->size);
		CHECK(len == 0 || !memcmp(buf, m->data, len));
		free(buf);
		rc = store_getxattr(s, "1.0", nm, "t", &v, &vl);
		CHECK_EQ(rc, m->hasx ? 0 : -ENOENT);
		if (!rc) {
			uint64_t x;
			memcpy(&x, v, 8);
			free(v);
			CHECK_EQ(x, m->x);
		}
		struct store_kvs l;
		CHECK_EQ(store_omap_list(s, "1.0", nm, NULL, 0, NULL, 0, 100, &l), 0);
		size_t n = 0;
		for (int k = 0; k < NKEYS; k++)
			if (m->omap[k]) {
				CHECK(n < l.n);
				char kk[8];
				snprintf(kk, sizeof(kk), "k%02d", k);
				CHECK(l.v[n].klen == 3 && !memcmp(l.v[n].key, kk, 3));
				uint64_t x;
				memcpy(&x, l.v[n].val, 8);
				CHECK_EQ(x, m->oval[k]);
				n++;
			}
		CHECK_EQ(n, l.n);
		store_kvs_free(&l);
	}
	CHECK_EQ(store_fsck(s, stderr), 0);
}

TEST(crash_cycles)
{
	const char *e = getenv("NORN_CRASH_SEED");
	g_seed = e ? strtoull(e, NULL, 10) : (uint64_t)time(NULL);
	e = getenv("NORN_CRASH_CYCLES");
	int cycles = e ? atoi(e) : 100;
	printf("crash test: seed %llu, %d cycles\n", (unsigned long long)g_seed, cycles);
	fflush(stdout);
	const char *base = getenv("NORN_TEST_DIR");
	char root[256];
	snprintf(root, sizeof(root), "%s/norn-crash-XXXXXX", base ? base : "/var/tmp");
	CHECK(mkdtemp(root));
	snprintf(g_dir, sizeof(g_dir), "%s/s", root);
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	o.size_bytes = 64u << 20;
	o.lmdb_map_bytes = 64u << 20;
	CHECK_EQ(store_mkfs(&o), 0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s;
	CHECK_EQ(store_open(&loop, &o, &s), 0);
	struct store_txn *t = store_txn_new();
	store_txn_coll_create(t, "1.0");
	CHECK_EQ(store_apply_sync(s, t), 0);
	store_close_sync(s);
	struct norn_rand r;
	norn_rand_seed(&r, g_seed);
	uint64_t total_acked = 0;
	for (int c = 0; c < cycles; c++) {
		int p[2];
		CHECK_EQ(pipe(p), 0);
		struct mobj *saved = malloc(sizeof(model));
		memcpy(saved, model, sizeof(model));
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			c_pipe = p[1];
			child(model_at + 1, c);
		}
		close(p[1]);
		uint64_t acked = model_at, id;
		uint64_t wait_ms = 5 + norn_rand_below(&r, 200);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			struct timespec t1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			int64_t el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			if (el >= (int64_t)wait_ms)
				break;
			struct pollfd pf = { p[0], POLLIN, 0 };
			if (poll(&pf, 1, (int)(wait_ms - (uint64_t)el)) > 0) {
				ssize_t n = read(p[0], &id, 8);
				if (n == 8)
					acked = id;
				else
					break;
			}
		}
		kill(pid, SIGKILL);
		while (read(p[0], &id, 8) == 8)
			acked = id;
		close(p[0]);
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		total_acked += acked - model_at;
		memcpy(model, saved, sizeof(model));   /* the parent's model is at model_at */
		free(saved);
		CHECK_EQ(store_open(&loop, &o, &s), 0);
		verify(s, acked);
		store_close_sync(s);
	}
	printf("crash test: %d cycles, %llu acknowledged transactions, final state %llu\n", cycles,
	       (unsigned long long)total_acked, (unsigned long long)model_at);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

TEST_MAIN_TIMEOUT(1200000, TEST_ENTRY(crash_cycles))
