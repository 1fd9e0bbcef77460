/* Unit tests of the object store: every op, reads after writes, ordering,
 * checksums, version refusal, fault injection and fsck. Each test makes
 * its own store in a fresh directory under $TMPDIR (O_DIRECT needs a real
 * filesystem, not tmpfs). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include "common/assert.h"
#include "common/encode.h"
#include "common/env.h"
#include "norn/errors.h"
#include "common/crc32c.h"
#include "osd/store/store.h"
#include "tests/harness.h"

static char g_dir[256];
static uv_loop_t g_loop;
static int64_t g_wal_data = -1;   /* mk(): store_wal_data_bytes when >= 0 */

static void mkdir_tmp(void)
{
	const char *base = getenv("NORN_TEST_DIR");
	snprintf(g_dir, sizeof(g_dir), "%s/norn-store-XXXXXX", base ? base : "/var/tmp");
	CHECK(mkdtemp(g_dir) != NULL);
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/s", g_dir);
	snprintf(g_dir + strlen(g_dir), sizeof(g_dir) - strlen(g_dir), "/s");
	(void)sub;
}

static void rm_tmp(void)
{
	char cmd[600];
	char *slash = strrchr(g_dir, '/');
	*slash = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	CHECK(system(cmd) == 0);
}

static struct store *mk(struct store_fault *f)
{
	mkdir_tmp();
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	o.size_bytes = 64u << 20;
	o.osd_id = 7;
	o.lmdb_map_bytes = 64u << 20;
	CHECK_EQ(store_mkfs(&o), 0);
	CHECK_EQ(store_mkfs(&o), -EEXIST);
	if (f)
		o.fault = *f;
	if (g_wal_data >= 0)
		o.wal_data_max_bytes = (uint32_t)g_wal_data;
	CHECK_EQ(uv_loop_init(&g_loop), 0);
	struct store *s;
	CHECK_EQ(store_open(&g_loop, &o, &s), 0);
	CHECK_EQ(store_osd_id(s), 7);
	return s;
}

static struct store *reopen(void)
{
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	o.lmdb_map_bytes = 64u << 20;
	struct store *s;
	CHECK_EQ(store_open(&g_loop, &o, &s), 0);
	return s;
}

static void mkcoll(struct store *s, const char *cid)
{
	struct store_txn *t = store_txn_new();
	CHECK_EQ(store_txn_coll_create(t, cid), 0);
	CHECK_EQ(store_apply_sync(s, t), 0);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void check_read(struct store *s, const char *cid, const char *oid, uint64_t off,
                       const uint8_t *want, size_t n)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ(store_read_sync(s, cid, oid, off, n, &buf, &len), 0);
	CHECK_EQ(len, n);
	CHECK(n == 0 || memcmp(buf, want, n) == 0);
	free(buf);
}

TEST(write_read_partial)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.0");
	static uint8_t model[200000], data[70000];
	memset(model, 0, sizeof(model));
	uint64_t size = 0;
	struct { uint64_t off; size_t len; } w[] = {
		{ 0, 4096 }, { 100, 10 }, { 4090, 20 }, { 12345, 70000 }, { 8192, 4096 },
		{ 150000, 1 }, { 5, 4091 }, { 60000, 3 },
	};
	for (unsigned i = 0; i < NORN_ARRAY_SIZE(w); i++) {
		fill(data, w[i].len, i + 1);
		struct store_txn *t = store_txn_new();
		CHECK_EQ(store_txn_write(t, "1.0", "obj", w[i].off, data, w[i].len), 0);
		CHECK_EQ(store_apply_sync(s, t), 0);
		memcpy(model + w[i].off, data, w[i].len);
		if (w[i].off + w[i].len > size)
			size = w[i].off + w[i].len;
		check_read(s, "1.0", "obj", 0, model, size);
	}
	check_read(s, "1.0", "obj", 4000, model + 4000, 9000);
	struct store_stat st;
	CHECK_EQ(store_stat(s, "1.0", "obj", &st), 0);
	CHECK_EQ(st.size, size);
	CHECK_EQ(st.version, NORN_ARRAY_SIZE(w));
	/* zero and truncate */
	struct store_txn *t = store_txn_new();
	CHECK_EQ(store_txn_zero(t, "1.0", "obj", 3000, 20000), 0);
	CHECK_EQ(store_txn_truncate(t, "1.0", "obj", 100001), 0);
	CHECK_EQ(store_txn_truncate(t, "1.0", "obj", 120000), 0);
	CHECK_EQ(store_apply_sync(s, t), 0);
	memset(model + 3000, 0, 20000);
	memset(model + 100001, 0, sizeof(model) - 100001);
	check_read(s, "1.0", "obj", 0, model, 120000);
	/* beyond the end */
	uint8_t *buf;
	size_t len;
	CHECK_EQ(store_read_sync(s, "1.0", "obj", 119990, 100, &buf, &len), 0);
	CHECK_EQ(len, 10);
	free(buf);
	CHECK_EQ(store_read_sync(s, "1.0", "nope", 0, 100, &buf, &len), -ENOENT);
	CHECK_EQ(store_fsck(s, stderr), 0);
	CHECK_EQ(store_close_sync(s), 0);
	s = reopen();
	check_read(s, "1.0", "obj", 0, model, 120000);
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

TEST(meta_ops)
{
	struct store *s = mk(NULL);
	mkcoll(s, "2.1f");
	struct store_txn *t = store_txn_new();
	CHECK_EQ(store_txn_coll_create(t, "2.1f"), 0);
	CHECK_EQ(store_apply_sync(s, t), -EEXIST);
	t = store_txn_new();
	store_txn_touch(t, "9.9", "x");
	CHECK_EQ(store_apply_sync(s, t), -ENOENT);
	t = store_txn_new();
	CHECK_EQ(store_txn_setxattr(t, "2.1f", "a", "user.k", "v1", 2), 0);
	CHECK_EQ(store_txn_setxattr(t, "2.1f", "a", "user.k2", "vv", 2), 0);
	CHECK_EQ(store_txn_rmxattr(t, "2.1f", "a", "user.k2"), 0);
	for (int i = 0; i < 20; i++) {
		char k[16], v[16];
		snprintf(k, sizeof(k), "key%02d", i);
		snprintf(v, sizeof(v), "val%d", i);
		CHECK_EQ(store_txn_omap_set(t, "2.1f", "a", k, strlen(k), v, strlen(v)), 0);
	}
	CHECK_EQ(store_txn_omap_rm(t, "2.1f", "a", "key03", 5), 0);
	CHECK_EQ(store_txn_omap_rmrange(t, "2.1f", "a", "key10", 5, "key15", 5), 0);
	CHECK_EQ(store_txn_write(t, "2.1f", "a", 0, "hello", 5), 0);
	CHECK_EQ(store_txn_cmeta_set(t, "2.1f", "log.0001", 8, "e1", 2), 0);
	CHECK_EQ(store_txn_cmeta_set(t, "2.1f", "log.0002", 8, "e2", 2), 0);
	CHECK_EQ(store_txn_cmeta_set(t, "2.1f", "log.0003", 8, "e3", 2), 0);
	CHECK_EQ(store_txn_cmeta_rm(t, "2.1f", "log.0002", 8), 0);
	CHECK_EQ(store_txn_clone(t, "2.1f", "a", "b"), 0);
	CHECK_EQ(store_txn_write(t, "2.1f", "b", 1, "EL", 2), 0);
	CHECK_EQ(store_apply_sync(s, t), 0);
	uint8_t *v;
	size_t vl;
	CHECK_EQ(store_getxattr(s, "2.1f", "a", "user.k", &v, &vl), 0);
	CHECK(vl == 2 && !memcmp(v, "v1", 2));
	free(v);
	CHECK_EQ(store_getxattr(s, "2.1f", "a", "user.k2", &v, &vl), -ENOENT);
	struct store_kvs l;
	CHECK_EQ(store_omap_list(s, "2.1f", "a", NULL, 0, NULL, 0, 100, &l), 0);
	CHECK_EQ(l.n, 14);
	CHECK(l.v[0].klen == 5 && !memcmp(l.v[0].key, "key00", 5));
	CHECK(!memcmp(l.v[3].key, "key04", 5));
	CHECK(!memcmp(l.v[9].key, "key15", 5));
	store_kvs_free(&l);
	CHECK_EQ(store_omap_list(s, "2.1f", "a", "key04", 5, "key17", 5, 3, &l), 0);
	CHECK_EQ(l.n, 3);
	CHECK(!memcmp(l.v[0].key, "key05", 5) && !memcmp(l.v[2].key, "key07", 5));
	store_kvs_free(&l);
	CHECK_EQ(store_omap_list(s, "2.1f", "b", NULL, 0, NULL, 0, 100, &l), 0);
	CHECK_EQ(l.n, 14);
	store_kvs_free(&l);
	CHECK_EQ(store_omap_get(s, "2.1f", "b", "key19", 5, &v, &vl), 0);
	CHECK(vl == 5 && !memcmp(v, "val19", 5));
	free(v);
	check_read(s, "2.1f", "a", 0, (const uint8_t *)"hello", 5);
	check_read(s, "2.1f", "b", 0, (const uint8_t *)"hELlo", 5);
	CHECK_EQ(store_cmeta_list(s, "2.1f", NULL, 0, NULL, 0, 10, &l), 0);
	CHECK_EQ(l.n, 2);
	CHECK(!memcmp(l.v[1].key, "log.0003", 8) && !memcmp(l.v[1].val, "e3", 2));
	store_kvs_free(&l);
	/* listing with a cursor */
	t = store_txn_new();
	for (int i = 0; i < 10; i++) {
		char o[16];
		snprintf(o, sizeof(o), "o%d", i);
		store_txn_touch(t, "2.1f", o);
	}
	CHECK_EQ(store_apply_sync(s, t), 0);
	struct store_names n;
	CHECK_EQ(store_list_objects(s, "2.1f", NULL, 5, &n), 0);
	CHECK_EQ(n.n, 5);
	CHECK_STREQ(n.v[0], "a");
	CHECK_STREQ(n.v[2], "o0");
	store_names_free(&n);
	CHECK_EQ(store_list_objects(s, "2.1f", "o5", 100, &n), 0);
	CHECK_EQ(n.n, 4);
	CHECK_STREQ(n.v[0], "o6");
	store_names_free(&n);
	CHECK_EQ(store_list_colls(s, &n), 0);
	CHECK_EQ(n.n, 1);
	CHECK_STREQ(n.v[0], "2.1f");
	store_names_free(&n);
	/* collection removal needs it empty */
	t = store_txn_new();
	store_txn_coll_remove(t, "2.1f");
	CHECK_EQ(store_apply_sync(s, t), -ENOTEMPTY);
	CHECK_EQ(store_list_objects(s, "2.1f", NULL, 100, &n), 0);
	t = store_txn_new();
	for (size_t i = 0; i < n.n; i++)
		store_txn_remove(t, "2.1f", n.v[i]);
	store_txn_coll_remove(t, "2.1f");
	store_names_free(&n);
	CHECK_EQ(store_apply_sync(s, t), 0);
	CHECK_EQ(store_coll_exists(s, "2.1f"), -ENOENT);
	/* a failed txn leaves nothing behind */
	mkcoll(s, "3.0");
	t = store_txn_new();
	store_txn_write(t, "3.0", "z", 0, "abc", 3);
	store_txn_remove(t, "3.0", "missing");
	CHECK_EQ(store_apply_sync(s, t), -ENOENT);
	struct store_stat st;
	CHECK_EQ(store_stat(s, "3.0", "z", &st), -ENOENT);
	/* Freed blocks count as free once the metadata change that freed
	 * them is durable in LMDB (a few ms after the acknowledgement). */
	uint64_t tot, fr;
	for (int i = 0; i < 2000; i++) {
		store_statfs(s, &tot, &fr);
		if (tot == fr)
			break;
		uv_run(&g_loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	CHECK_EQ(tot, fr);
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

struct ord { int n; int seen[64]; };
static void ord_cb(void *arg, int err)
{
	struct ord *o = arg;
	CHECK_EQ(err, 0);
	o->seen[o->n++] = 1;
}
struct ordi { struct ord *o; int i; };
static void ordi_cb(void *arg, int err)
{
	struct ordi *x = arg;
	CHECK_EQ(err, 0);
	CHECK_EQ(x->o->n, x->i);   /* completions in submission order */
	x->o->n++;
}

TEST(ordering_concurrent)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.1");
	static uint8_t buf[64][5000];
	struct ord o = { 0 };
	struct ordi xs[64];
	for (int i = 0; i < 64; i++) {
		memset(buf[i], 'a' + i % 26, sizeof(buf[i]));
		struct store_txn *t = store_txn_new();
		/* overlapping, unaligned: each depends on the previous one */
		store_txn_write(t, "1.1", "same", (uint64_t)i * 100, buf[i], sizeof(buf[i]));
		char k[8];
		snprintf(k, sizeof(k), "%02d", i);
		store_txn_omap_set(t, "1.1", "same", k, 2, k, 2);
		xs[i] = (struct ordi){ &o, i };
		CHECK_EQ(store_queue_txn(s, t, ordi_cb, &xs[i]), 0);
	}
	(void)ord_cb;
	while (o.n < 64)
		uv_run(&g_loop, UV_RUN_ONCE);
	static uint8_t model[63 * 100 + 5000];
	for (int i = 0; i < 64; i++)
		memcpy(model + i * 100, buf[i], sizeof(buf[i]));
	check_read(s, "1.1", "same", 0, model, sizeof(model));
	struct store_kvs l;
	CHECK_EQ(store_omap_list(s, "1.1", "same", NULL, 0, NULL, 0, 1000, &l), 0);
	CHECK_EQ(l.n, 64);
	store_kvs_free(&l);
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

TEST(crc_mismatch_detected)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.0");
	uint8_t data[8192];
	fill(data, sizeof(data), 3);
	struct store_txn *t = store_txn_new();
	store_txn_write(t, "1.0", "victim", 0, data, sizeof(data));
	CHECK_EQ(store_apply_sync(s, t), 0);
	store_close_sync(s);
	/* flip a byte in every data block of the file past the reserved area */
	char path[400];
	snprintf(path, sizeof(path), "%s/data", g_dir);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	for (off_t b = 256; b < 300; b++) {
		uint8_t c;
		CHECK_EQ(pread(fd, &c, 1, b * 4096 + 10), 1);
		c ^= 0x40;
		CHECK_EQ(pwrite(fd, &c, 1, b * 4096 + 10), 1);
	}
	fsync(fd);
	close(fd);
	s = reopen();
	uint8_t *buf = (uint8_t *)1;
	size_t len;
	CHECK_EQ(store_read_sync(s, "1.0", "victim", 0, 8192, &buf, &len), NORN_ECRC);
	CHECK(buf == NULL);
	CHECK(store_fsck(s, stderr) >= 1);
	store_close_sync(s);
	rm_tmp();
}

TEST(version_refused)
{
	struct store *s = mk(NULL);
	store_close_sync(s);
	char path[400];
	snprintf(path, sizeof(path), "%s/data", g_dir);
	int fd = open(path, O_RDWR);
	uint8_t v[4];
	norn_put_le32(v, 99);
	CHECK_EQ(pwrite(fd, v, 4, 8), 4);
	close(fd);
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	CHECK_EQ(store_open(&g_loop, &o, &s), NORN_EVERSION);
	norn_put_le32(v, 1);
	fd = open(path, O_RDWR);
	CHECK_EQ(pwrite(fd, v, 4, 8), 4);
	uint8_t junk = 0xff;
	CHECK_EQ(pwrite(fd, &junk, 1, 20), 1);   /* uuid byte: crc now wrong */
	close(fd);
	CHECK_EQ(store_open(&g_loop, &o, &s), NORN_ECORRUPT);
	o.dir = "/nonexistent/x";
	CHECK_EQ(store_open(&g_loop, &o, &s), -ENOENT);
	rm_tmp();
}

/* Fault injection: a failing or torn write, fsync or commit fails the
 * store; everything acknowledged before survives a remount, fsck clean.
 * The transaction that saw the failure has an unknown outcome, like one
 * in flight at a crash: after the remount it is wholly there or wholly
 * absent. A failed LMDB commit happens after the acknowledgement (the
 * log already made it durable), so the store fails a little later: keep
 * going until it does (bounded). */
static void fault_case(struct store_fault f)
{
	struct store *s = mk(&f);
	mkcoll(s, "1.0");
	uint8_t data[12288];
	int acked = 0, failed = 0;
	for (int i = 0; i < 5000 && failed < 2; i++) {
		fill(data, sizeof(data), (unsigned)i);
		struct store_txn *t = store_txn_new();
		char oid[16];
		snprintf(oid, sizeof(oid), "o%d", i % 4);
		store_txn_write(t, "1.0", oid, 0, data, sizeof(data));
		store_txn_setxattr(t, "1.0", oid, "txn", &i, sizeof(i));
		int rc = store_apply_sync(s, t);
		if (rc == 0) {
			CHECK_EQ(failed, 0);
			acked = i + 1;
		} else {
			CHECK_EQ(rc, NORN_EFAILED);
			failed++;
		}
		if (i % 8 == 7)
			usleep(3000);   /* let the metadata apply run */
	}
	CHECK(failed > 0);
	CHECK_EQ(store_failed(s), NORN_EFAILED);
	struct store_txn *t = store_txn_new();
	store_txn_touch(t, "1.0", "x");
	CHECK_EQ(store_queue_txn(s, t, NULL, NULL), NORN_EFAILED);
	store_close_sync(s);
	s = reopen();
	for (int i = 0; i < 4 && i < acked; i++) {
		int last = -1;
		for (int j = 0; j < acked; j++)
			if (j % 4 == i)
				last = j;
		char oid[16];
		snprintf(oid, sizeof(oid), "o%d", i);
		uint8_t *v;
		size_t vl;
		CHECK_EQ(store_getxattr(s, "1.0", oid, "txn", &v, &vl), 0);
		int got;
		memcpy(&got, v, sizeof(got));
		free(v);
		/* the last acknowledged one, or the one that failed */
		CHECK(got == last || (got == acked && acked % 4 == i));
		fill(data, sizeof(data), (unsigned)got);
		check_read(s, "1.0", oid, 0, data, sizeof(data));
	}
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

TEST(fault_write) { fault_case((struct store_fault){ .fail_write_n = 5 }); }
TEST(fault_tear) { fault_case((struct store_fault){ .tear_write_n = 4 }); }
/* The 12 KiB writes above carry their data in the log; these keep it out
 * (a failed or torn data write of the acknowledgement path). */
TEST(fault_write_nolog) { g_wal_data = 0; fault_case((struct store_fault){ .fail_write_n = 5 }); }
TEST(fault_tear_nolog) { g_wal_data = 0; fault_case((struct store_fault){ .tear_write_n = 4 }); }
/* The commit thread fails to write logged data to its blocks (after the
 * acknowledgement): the store fails, the remount writes it from the log. */
TEST(fault_apply) { fault_case((struct store_fault){ .fail_apply_n = 3 }); }
/* A later write torn (a log write or logged data written to its blocks). */
TEST(fault_tear_late) { fault_case((struct store_fault){ .tear_write_n = 12 }); }
TEST(fault_fsync) { fault_case((struct store_fault){ .fail_fsync_n = 6 }); }
TEST(fault_commit) { fault_case((struct store_fault){ .fail_commit_n = 3 }); }

/* The same through the environment seam the daemons honour. */
TEST(fault_env)
{
	setenv("NORN_STORE_FAULT", "tear:6", 1);
	fault_case((struct store_fault){ 0 });
}

TEST(big_object)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.0");
	size_t n = 4u << 20;
	uint8_t *d = malloc(n);
	fill(d, n, 9);
	struct store_txn *t = store_txn_new();
	store_txn_write(t, "1.0", "big", 0, d, n);
	CHECK_EQ(store_apply_sync(s, t), 0);
	check_read(s, "1.0", "big", 0, d, n);
	t = store_txn_new();
	store_txn_clone(t, "1.0", "big", "big2");
	store_txn_remove(t, "1.0", "big");
	CHECK_EQ(store_apply_sync(s, t), 0);
	check_read(s, "1.0", "big2", 0, d, n);
	free(d);
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

/* Block-map shards (3 blocks each here): random writes, zeroes, growing
 * and shrinking truncates, clones and removes over objects that start
 * small (inline map) and grow (sharded), checked against a model after
 * every step and after a remount; fsck clean. */
TEST(sharded_block_map)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.0");
	store_close_sync(s);
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	o.lmdb_map_bytes = 64u << 20;
	o.onode_shard_blocks = 3;
	CHECK_EQ(store_open(&g_loop, &o, &s), 0);
	enum { NO = 3, MAXB = 90000 };
	static uint8_t model[NO][MAXB], data[MAXB];
	uint64_t size[NO] = { 0 };
	bool ex[NO] = { false };
	struct norn_rand r;
	norn_rand_seed(&r, 42);
	for (int step = 0; step < 300; step++) {
		int i = (int)norn_rand_below(&r, NO), k = (int)norn_rand_below(&r, 10);
		char oid[8], oid2[8];
		snprintf(oid, sizeof(oid), "o%d", i);
		struct store_txn *t = store_txn_new();
		uint64_t off = norn_rand_below(&r, MAXB - 1);
		uint64_t len = 1 + norn_rand_below(&r, NORN_MIN(MAXB - off, 20000));
		if (k < 5) {
			fill(data, len, (unsigned)step);
			store_txn_write(t, "1.0", oid, off, data, len);
			memcpy(model[i] + off, data, len);
			size[i] = NORN_MAX(size[i], off + len);
			ex[i] = true;
		} else if (k < 6) {
			store_txn_zero(t, "1.0", oid, off, len);
			memset(model[i] + off, 0, len);
			size[i] = NORN_MAX(size[i], off + len);
			ex[i] = true;
		} else if (k < 8) {
			store_txn_truncate(t, "1.0", oid, off);
			if (off < size[i])
				memset(model[i] + off, 0, size[i] - off);
			size[i] = off;
			ex[i] = true;
		} else if (k < 9 && ex[i]) {
			int j = (i + 1) % NO;
			snprintf(oid2, sizeof(oid2), "o%d", j);
			store_txn_clone(t, "1.0", oid, oid2);
			memcpy(model[j], model[i], MAXB);
			size[j] = size[i];
			ex[j] = true;
		} else if (ex[i]) {
			store_txn_remove(t, "1.0", oid);
			memset(model[i], 0, MAXB);
			size[i] = 0;
			ex[i] = false;
		} else {
			store_txn_touch(t, "1.0", oid);
			ex[i] = true;
		}
		CHECK_EQ(store_apply_sync(s, t), 0);
		if (step % 50 == 49) {
			CHECK_EQ(store_fsck(s, stderr), 0);
			store_close_sync(s);
			CHECK_EQ(store_open(&g_loop, &o, &s), 0);
		}
		for (int j = 0; j < NO; j++) {
			snprintf(oid2, sizeof(oid2), "o%d", j);
			struct store_stat st;
			int rc = store_stat(s, "1.0", oid2, &st);
			CHECK_EQ(rc, ex[j] ? 0 : -ENOENT);
			if (ex[j]) {
				CHECK_EQ(st.size, size[j]);
				check_read(s, "1.0", oid2, 0, model[j], size[j]);
				uint64_t a = norn_rand_below(&r, size[j] + 1);
				check_read(s, "1.0", oid2, a, model[j] + a,
				           (size_t)NORN_MIN(size[j] - a, 5000));
			}
		}
	}
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

/* The write-ahead log: a small ring wraps many times and runs full (the
 * loop waits for the metadata apply), a transaction too big for the log
 * commits straight to LMDB in order with the rest, and everything is
 * there after a remount (replaying whatever LMDB did not have). */
struct wal_ctx { int done, next_cb, bad; };
static struct wal_ctx g_wal;

static void wal_cb(void *arg, int err)
{
	int id = (int)(intptr_t)arg;
	if (err || id != g_wal.next_cb)
		g_wal.bad++;
	g_wal.next_cb = id + 1;
	g_wal.done++;
}

TEST(wal_wrap_and_big_txn)
{
	mkdir_tmp();
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	o.size_bytes = 64u << 20;
	o.lmdb_map_bytes = 64u << 20;
	o.wal_bytes = 256u << 10;   /* the smallest ring: groups of <= 64 KiB */
	CHECK_EQ(store_mkfs(&o), 0);
	CHECK_EQ(uv_loop_init(&g_loop), 0);
	struct store *s;
	CHECK_EQ(store_open(&g_loop, &o, &s), 0);
	mkcoll(s, "1.0");
	enum { N = 2400, OBJS = 16 };
	static uint8_t big[100u << 10];
	fill(big, sizeof(big), 99);
	uint8_t data[4096], val[1024];
	memset(&g_wal, 0, sizeof(g_wal));
	for (int i = 0; i < N; i++) {
		char oid[16], key[16];
		snprintf(oid, sizeof(oid), "o%d", i % OBJS);
		snprintf(key, sizeof(key), "k%d", i % 64);
		fill(data, sizeof(data), (unsigned)i);
		fill(val, sizeof(val), (unsigned)i + 7);
		struct store_txn *t = store_txn_new();
		store_txn_write(t, "1.0", oid, (uint64_t)(i % 8) * 4096, data, sizeof(data));
		store_txn_omap_set(t, "1.0", oid, key, strlen(key), val, sizeof(val));
		if (i == N / 2)   /* over a quarter of the ring: bypasses the log */
			store_txn_omap_set(t, "1.0", "bigobj", "v", 1, big, sizeof(big));
		CHECK_EQ(store_queue_txn(s, t, wal_cb, (void *)(intptr_t)i), 0);
		while (i - g_wal.done > 24)
			uv_run(&g_loop, UV_RUN_ONCE);
	}
	while (g_wal.done < N)
		uv_run(&g_loop, UV_RUN_ONCE);
	CHECK_EQ(g_wal.bad, 0);
	uint8_t *v;
	size_t vl;
	CHECK_EQ(store_omap_get(s, "1.0", "bigobj", "v", 1, &v, &vl), 0);
	CHECK(vl == sizeof(big) && !memcmp(v, big, vl));
	free(v);
	for (int round = 0; round < 2; round++) {
		if (round) {
			store_close_sync(s);
			s = reopen();
		}
		for (int i = N - 64; i < N; i++) {
			char oid[16], key[16];
			snprintf(oid, sizeof(oid), "o%d", i % OBJS);
			snprintf(key, sizeof(key), "k%d", i % 64);
			fill(data, sizeof(data), (unsigned)i);
			if (i >= N - OBJS)   /* the last write of each (object, offset) */
				check_read(s, "1.0", oid, (uint64_t)(i % 8) * 4096, data, sizeof(data));
			{
				fill(val, sizeof(val), (unsigned)i + 7);
				CHECK_EQ(store_omap_get(s, "1.0", oid, key, strlen(key), &v, &vl), 0);
				CHECK(vl == sizeof(val) && !memcmp(v, val, vl));
				free(v);
			}
		}
		CHECK_EQ(store_fsck(s, stderr), 0);
	}
	store_close_sync(s);
	rm_tmp();
}

/* Omap reads right after the acknowledgement, while LMDB does not have
 * the changes yet (the apply waits up to 100 ms for more): set, remove,
 * remove a range, clear, clone (the copy makes the read wait for LMDB),
 * remove and recreate the object. */
static void omap_expect(struct store *s, const char *oid, const char *key, const char *want)
{
	uint8_t *v = NULL;
	size_t vl = 0;
	int rc = store_omap_get(s, "1.0", oid, key, strlen(key), &v, &vl);
	if (!want) {
		CHECK_EQ(rc, -ENOENT);
	} else {
		CHECK_EQ(rc, 0);
		CHECK(vl == strlen(want) && !memcmp(v, want, vl));
	}
	free(v);
}

TEST(omap_read_after_ack)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.0");
	struct store_txn *t = store_txn_new();
	store_txn_omap_set(t, "1.0", "x", "a", 1, "1", 1);
	store_txn_omap_set(t, "1.0", "x", "b", 1, "2", 1);
	store_txn_omap_set(t, "1.0", "x", "c", 1, "3", 1);
	CHECK_EQ(store_apply_sync(s, t), 0);
	omap_expect(s, "x", "a", "1");
	omap_expect(s, "x", "b", "2");
	omap_expect(s, "x", "z", NULL);
	t = store_txn_new();
	store_txn_omap_set(t, "1.0", "x", "a", 1, "11", 2);
	store_txn_omap_rm(t, "1.0", "x", "b", 1);
	CHECK_EQ(store_apply_sync(s, t), 0);
	omap_expect(s, "x", "a", "11");
	omap_expect(s, "x", "b", NULL);
	omap_expect(s, "x", "c", "3");
	t = store_txn_new();
	store_txn_omap_rmrange(t, "1.0", "x", "b", 1, "d", 1);
	CHECK_EQ(store_apply_sync(s, t), 0);
	omap_expect(s, "x", "a", "11");
	omap_expect(s, "x", "c", NULL);
	t = store_txn_new();
	store_txn_omap_set(t, "1.0", "x", "d", 1, "4", 1);
	store_txn_clone(t, "1.0", "x", "y");
	CHECK_EQ(store_apply_sync(s, t), 0);
	omap_expect(s, "y", "a", "11");
	omap_expect(s, "y", "d", "4");
	omap_expect(s, "y", "c", NULL);
	t = store_txn_new();
	store_txn_omap_clear(t, "1.0", "x");
	CHECK_EQ(store_apply_sync(s, t), 0);
	omap_expect(s, "x", "a", NULL);
	omap_expect(s, "y", "a", "11");
	t = store_txn_new();
	store_txn_remove(t, "1.0", "y");
	store_txn_omap_set(t, "1.0", "y", "n", 1, "new", 3);
	CHECK_EQ(store_apply_sync(s, t), 0);
	omap_expect(s, "y", "a", NULL);
	omap_expect(s, "y", "n", "new");
	struct store_kvs l;
	CHECK_EQ(store_omap_list(s, "1.0", "y", NULL, 0, NULL, 0, 10, &l), 0);
	CHECK_EQ(l.n, 1u);
	store_kvs_free(&l);
	store_close_sync(s);
	s = reopen();
	omap_expect(s, "x", "a", NULL);
	omap_expect(s, "y", "n", "new");
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

/* An upgrade from format 1 interrupted after LMDB has version 2 but before
 * block 0 does: the mount accepts it and finishes (block 0 says 2). */
TEST(format_upgrade_resumes)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.0");
	struct store_txn *t = store_txn_new();
	store_txn_write(t, "1.0", "a", 0, "hello", 5);
	CHECK_EQ(store_apply_sync(s, t), 0);
	store_close_sync(s);
	char path[400];
	snprintf(path, sizeof(path), "%s/data", g_dir);
	int fd = open(path, O_RDWR);
	uint8_t b[44];
	CHECK_EQ(pread(fd, b, 44, 0), 44);
	CHECK_EQ(norn_get_le32(b + 8), STORE_FORMAT_VERSION);
	norn_put_le32(b + 8, 1);
	norn_put_le32(b + 40, norn_crc32c(0, b, 40));
	CHECK_EQ(pwrite(fd, b, 44, 0), 44);
	fsync(fd);
	s = reopen();
	uint8_t *buf;
	size_t len;
	CHECK_EQ(store_read_sync(s, "1.0", "a", 0, 5, &buf, &len), 0);
	CHECK(len == 5 && !memcmp(buf, "hello", 5));
	free(buf);
	store_close_sync(s);
	CHECK_EQ(pread(fd, b, 44, 0), 44);
	CHECK_EQ(norn_get_le32(b + 8), STORE_FORMAT_VERSION);
	close(fd);
	s = reopen();
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

/* Small writes acknowledged with their data only in the log: a child
 * applies the log to LMDB and the blocks only every second, writes and
 * reads back (from memory: partial writes merge with blocks that are only
 * in the log), then is killed. The remount must show every write (replay
 * writes the logged data to its blocks) and fsck must be clean. */
#define LD_OBJS 6
#define LD_SIZE (48u << 10)
#define LD_TXNS 48

static void ld_gen(int i, int *obj, uint64_t *off, uint64_t *len, uint8_t *buf)
{
	*obj = i % LD_OBJS;
	if (i < LD_OBJS) {
		*off = 0;
		*len = LD_SIZE / 2;   /* 6 blocks: above the 16 KiB limit used here */
	} else {
		*off = ((uint64_t)i * 5003u) % (LD_SIZE - 9000);
		*len = 1 + ((uint64_t)i * 7777u) % 9000u;   /* up to 3 blocks, unaligned */
	}
	for (uint64_t b = 0; b < *len; b++)
		buf[b] = (uint8_t)(i * 29 + b * 3 + (b >> 10));
}

TEST(log_data_crash)
{
	struct store *s = mk(NULL);
	mkcoll(s, "1.0");
	store_close_sync(s);
	static uint8_t model[LD_OBJS][LD_SIZE];
	uint64_t msize[LD_OBJS] = { 0 };
	uint8_t buf[LD_SIZE];
	memset(model, 0, sizeof(model));
	for (int i = 0; i < LD_TXNS; i++) {
		int obj;
		uint64_t off, len;
		ld_gen(i, &obj, &off, &len, buf);
		memcpy(model[obj] + off, buf, len);
		msize[obj] = NORN_MAX(msize[obj], off + len);
	}
	int p[2];
	CHECK_EQ(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		uv_loop_t loop;
		uv_loop_init(&loop);
		struct store_options o;
		store_options_init(&o, NULL, g_dir);
		o.lmdb_map_bytes = 64u << 20;
		o.commit_wait_us = 1000000;
		o.wal_data_max_bytes = 16384;
		if (store_open(&loop, &o, &s))
			_exit(2);
		for (int i = 0; i < LD_TXNS; i++) {
			int obj;
			uint64_t off, len;
			ld_gen(i, &obj, &off, &len, buf);
			char oid[16];
			snprintf(oid, sizeof(oid), "ld%d", obj);
			struct store_txn *t = store_txn_new();
			store_txn_write(t, "1.0", oid, off, buf, len);
			if (store_apply_sync(s, t))
				_exit(3);
		}
		for (int obj = 0; obj < LD_OBJS; obj++) {
			char oid[16];
			snprintf(oid, sizeof(oid), "ld%d", obj);
			uint8_t *rb;
			size_t rl;
			if (store_read_sync(s, "1.0", oid, 0, LD_SIZE, &rb, &rl) || rl != msize[obj] ||
			    memcmp(rb, model[obj], rl))
				_exit(4);
			free(rb);
		}
		char ok = 1;
		if (write(p[1], &ok, 1) != 1)
			_exit(5);
		raise(SIGKILL);
		_exit(6);
	}
	close(p[1]);
	char ok = 0;
	CHECK_EQ(read(p[0], &ok, 1), 1);   /* the child read everything back */
	close(p[0]);
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	s = reopen();
	for (int obj = 0; obj < LD_OBJS; obj++) {
		char oid[16];
		snprintf(oid, sizeof(oid), "ld%d", obj);
		struct store_stat sst;
		CHECK_EQ(store_stat(s, "1.0", oid, &sst), 0);
		CHECK_EQ(sst.size, msize[obj]);
		check_read(s, "1.0", oid, 0, model[obj], msize[obj]);
	}
	CHECK_EQ(store_fsck(s, stderr), 0);
	store_close_sync(s);
	rm_tmp();
}

TEST_MAIN_TIMEOUT(120, TEST_ENTRY(write_read_partial), TEST_ENTRY(meta_ops),
                  TEST_ENTRY(ordering_concurrent), TEST_ENTRY(crc_mismatch_detected),
                  TEST_ENTRY(version_refused), TEST_ENTRY(fault_write), TEST_ENTRY(fault_tear),
                  TEST_ENTRY(fault_fsync), TEST_ENTRY(fault_commit), TEST_ENTRY(fault_env),
                  TEST_ENTRY(big_object), TEST_ENTRY(sharded_block_map),
                  TEST_ENTRY(wal_wrap_and_big_txn), TEST_ENTRY(omap_read_after_ack),
                  TEST_ENTRY(format_upgrade_resumes), TEST_ENTRY(fault_write_nolog),
                  TEST_ENTRY(fault_tear_nolog), TEST_ENTRY(fault_apply),
                  TEST_ENTRY(fault_tear_late), TEST_ENTRY(log_data_crash))
