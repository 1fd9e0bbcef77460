/* osd/snap.c over a real store (see tests/snap/CMakeLists.txt). The
 * "osd" here is this test: it runs the begin / steps / end sequence the
 * primary and the replicas run for each write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/encode.h"
#include "norn/errors.h"
#include "osd/snap.h"
#include "tests/harness.h"

static char g_dir[512];
static uv_loop_t g_loop;
static const char *CID = "1.0";

static struct store *mk(void)
{
	const char *base = getenv("NORN_TEST_DIR");
	snprintf(g_dir, sizeof(g_dir), "%s/norn-snap-XXXXXX", base ? base : "/var/tmp");
	CHECK(mkdtemp(g_dir) != NULL);
	snprintf(g_dir + strlen(g_dir), sizeof(g_dir) - strlen(g_dir), "/s");
	struct store_options o;
	store_options_init(&o, NULL, g_dir);
	o.size_bytes = 64u << 20;
	o.osd_id = 1;
	o.lmdb_map_bytes = 64u << 20;
	CHECK_EQ(store_mkfs(&o), 0);
	CHECK_EQ(uv_loop_init(&g_loop), 0);
	struct store *s;
	CHECK_EQ(store_open(&g_loop, &o, &s), 0);
	struct store_txn *t = store_txn_new();
	CHECK_EQ(store_txn_coll_create(t, CID), 0);
	CHECK_EQ(store_apply_sync(s, t), 0);
	return s;
}

static void done(struct store *s)
{
	char cmd[600];
	CHECK_EQ(store_close_sync(s), 0);
	*strrchr(g_dir, '/') = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	CHECK(system(cmd) == 0);
}

/* A message with snap context (seq; ids newest first). */
static void snapc(struct osd_op_msg *m, uint8_t *buf, uint64_t seq, const uint64_t *ids, uint32_t n)
{
	memset(m, 0, sizeof(*m));
	m->snap_seq = seq;
	m->n_snaps = n;
	for (uint32_t i = 0; i < n; i++)
		norn_put_le64(buf + i * 8, ids[i]);
	m->snaps = buf;
}

/* One write: the whole object becomes @fill x @len (or deleted if len 0). */
static int put(struct store *s, const struct osd_op_msg *m, const char *oid, char fill, size_t len)
{
	struct store_txn *t = store_txn_new();
	struct snap_wstate *st;
	char buf[8192];
	int rc;
	memset(buf, fill, sizeof(buf));
	rc = snap_write_begin(s, t, CID, oid, m, &st);
	if (!rc && len)
		rc = store_txn_truncate(t, CID, oid, 0);
	if (!rc && len)
		rc = store_txn_write(t, CID, oid, 0, buf, len);
	if (!rc && !len)
		rc = store_txn_remove(t, CID, oid);
	rc = snap_write_end(t, CID, oid, len == 0, st, rc);
	if (rc) {
		store_txn_free(t);
		return rc;
	}
	return store_apply_sync(s, t);
}

/* Read @oid as of @snap: returns the fill byte, 0 for ENOENT, -1 otherwise. */
static int get(struct store *s, const char *oid, uint64_t snap, size_t *len)
{
	char name[STORE_OID_MAX + 1];
	uint8_t *b = NULL;
	size_t n = 0;
	snprintf(name, sizeof(name), "%s", oid);
	int rc = snap_read_redirect(s, CID, name, snap);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return -1;
	rc = store_read_sync(s, CID, name, 0, 8192, &b, &n);
	if (rc == -ENOENT)
		return 0;
	int c = n ? b[0] : -1;
	free(b);
	if (len)
		*len = n;
	return c;
}

static size_t hidden(struct store *s)
{
	struct store_names n;
	size_t k = 0;
	CHECK_EQ(store_list_objects(s, CID, NULL, 1000, &n), 0);
	for (size_t i = 0; i < n.n; i++)
		k += snap_is_hidden(n.v[i]);
	store_names_free(&n);
	return k;
}

TEST(clone_on_first_write_and_reads)
{
	struct store *s = mk();
	struct osd_op_msg m;
	uint8_t sb[64];
	size_t len;

	snapc(&m, sb, 0, NULL, 0);
	CHECK_EQ(put(s, &m, "a", 'A', 4096), 0);            /* before any snapshot */
	CHECK_EQ(hidden(s), 0u);
	uint64_t s1[] = { 1 };
	snapc(&m, sb, 1, s1, 1);
	CHECK_EQ(put(s, &m, "a", 'B', 8192), 0);            /* first write after snap 1 */
	CHECK_EQ(hidden(s), 1u);
	CHECK_EQ(put(s, &m, "a", 'C', 100), 0);             /* second: no new clone */
	CHECK_EQ(hidden(s), 1u);
	CHECK_EQ(get(s, "a", 0, &len), 'C');
	CHECK_EQ(len, 100u);
	CHECK_EQ(get(s, "a", 1, &len), 'A');
	CHECK_EQ(len, 4096u);
	CHECK_EQ(get(s, "a", 2, NULL), 'C');                /* a later snap: unchanged head */
	/* a recorded clone that is missing here is an error, not zeros */
	{
		char cn[STORE_OID_MAX + 1], name[STORE_OID_MAX + 1] = "a";
		uint8_t *keep = NULL;
		size_t kl = 0;
		CHECK_EQ(snap_clone_name(cn, "a", 1), 0);
		CHECK_EQ(store_read_sync(s, CID, cn, 0, 8192, &keep, &kl), 0);
		struct store_txn *t = store_txn_new();
		CHECK_EQ(store_txn_remove(t, CID, cn), 0);
		CHECK_EQ(store_apply_sync(s, t), 0);
		CHECK_EQ(snap_read_redirect(s, CID, name, 1), -EIO);
		t = store_txn_new();
		CHECK_EQ(store_txn_write(t, CID, cn, 0, keep, kl), 0);
		CHECK_EQ(store_apply_sync(s, t), 0);
		free(keep);
		CHECK_EQ(get(s, "a", 1, NULL), 'A');
	}
	/* an object created after snapshot 1 did not exist at 1 */
	CHECK_EQ(put(s, &m, "b", 'X', 10), 0);
	CHECK_EQ(get(s, "b", 1, NULL), 0);
	CHECK_EQ(get(s, "b", 0, NULL), 'X');
	/* the listing filter drops the clone */
	struct store_names n;
	CHECK_EQ(store_list_objects(s, CID, NULL, 1000, &n), 0);
	CHECK_EQ(n.n, 3u);
	snap_filter_names(&n);
	CHECK_EQ(n.n, 2u);
	store_names_free(&n);
	done(s);
}

TEST(two_snapshots_trim_and_delete)
{
	struct store *s = mk();
	struct osd_op_msg m;
	uint8_t sb[64];

	uint64_t c1[] = { 1 };
	snapc(&m, sb, 1, c1, 1);
	CHECK_EQ(put(s, &m, "o", 'A', 4096), 0);            /* created at seq 1 */
	uint64_t c2[] = { 2, 1 };
	snapc(&m, sb, 2, c2, 2);
	CHECK_EQ(put(s, &m, "o", 'B', 4096), 0);            /* clone for snap 2 */
	uint64_t c3[] = { 3, 2, 1 };
	snapc(&m, sb, 3, c3, 3);
	CHECK_EQ(put(s, &m, "o", 'C', 4096), 0);            /* clone for snap 3 */
	CHECK_EQ(hidden(s), 2u);
	CHECK_EQ(get(s, "o", 1, NULL), 0);                  /* did not exist at 1 */
	CHECK_EQ(get(s, "o", 2, NULL), 'A');
	CHECK_EQ(get(s, "o", 3, NULL), 'B');
	/* delete the head: clones stay, reads of snapshots still work */
	CHECK_EQ(put(s, &m, "o", 0, 0), 0);
	CHECK_EQ(get(s, "o", 0, NULL), 0);
	CHECK_EQ(get(s, "o", 2, NULL), 'A');
	CHECK_EQ(get(s, "o", 3, NULL), 'B');
	CHECK_EQ(hidden(s), 3u);                             /* + the snapdir */
	/* a no-op ROLLBACK(0) on the deleted head resolves to a step (trim) */
	{
		struct osd_op_step x;
		char nb[STORE_OID_MAX + 1];
		int ex = 0;
		uint64_t sz = 0;
		CHECK_EQ(snap_rollback_resolve(s, CID, "o", &m, 0, &ex, &sz, &x, nb), 0);
		CHECK_EQ(x.code, OSD_OP_ROLLBACK);
		CHECK_EQ(x.name_len, 0u);
		CHECK_EQ(ex, 0);
		CHECK_EQ(snap_rollback_resolve(s, CID, "never", &m, 0, &ex, &sz, &x, nb), 0);
		CHECK_EQ(x.code, 0);
	}
	/* remove snapshot 2: a write with the new context trims its clone */
	uint64_t c4[] = { 3, 1 };
	snapc(&m, sb, 3, c4, 2);
	CHECK_EQ(put(s, &m, "o", 'D', 4096), 0);            /* recreates the head */
	CHECK_EQ(hidden(s), 1u);                             /* clone(3) only; snapdir gone */
	CHECK_EQ(get(s, "o", 3, NULL), 'B');
	CHECK_EQ(get(s, "o", 0, NULL), 'D');
	/* delete the head again, then drop every snapshot: the trim of a
	 * deleted head (what ROLLBACK(0) runs: no steps, deleted at end)
	 * removes the clones and the snapdir */
	CHECK_EQ(put(s, &m, "o", 0, 0), 0);
	CHECK_EQ(hidden(s), 2u);
	snapc(&m, sb, 3, NULL, 0);
	{
		struct store_txn *t = store_txn_new();
		struct snap_wstate *st;
		int rc = snap_write_begin(s, t, CID, "o", &m, &st);
		CHECK_EQ(snap_write_end(t, CID, "o", 1, st, rc), 0);
		CHECK_EQ(store_apply_sync(s, t), 0);
	}
	CHECK_EQ(hidden(s), 0u);
	CHECK_EQ(get(s, "o", 3, NULL), 0);
	CHECK_EQ(put(s, &m, "o", 'E', 4096), 0);
	CHECK_EQ(hidden(s), 0u);
	done(s);
}

TEST(rollback)
{
	struct store *s = mk();
	struct osd_op_msg m;
	uint8_t sb[64];
	struct osd_op_step x;
	char nb[STORE_OID_MAX + 1];
	int exists = 1;
	uint64_t size = 0;

	snapc(&m, sb, 0, NULL, 0);
	CHECK_EQ(put(s, &m, "r", 'A', 4096), 0);
	uint64_t c1[] = { 1 };
	snapc(&m, sb, 1, c1, 1);
	CHECK_EQ(put(s, &m, "r", 'B', 2048), 0);
	CHECK_EQ(snap_rollback_resolve(s, CID, "r", &m, 1, &exists, &size, &x, nb), 0);
	CHECK_EQ(x.code, OSD_OP_ROLLBACK);
	CHECK(x.name_len > 0);
	CHECK_EQ(size, 4096u);
	struct store_txn *t = store_txn_new();
	struct snap_wstate *st;
	int rc = snap_write_begin(s, t, CID, "r", &m, &st);
	if (!rc)
		rc = snap_apply_rollback(t, CID, "r", &x);
	CHECK_EQ(snap_write_end(t, CID, "r", 0, st, rc), 0);
	CHECK_EQ(store_apply_sync(s, t), 0);
	size_t len;
	CHECK_EQ(get(s, "r", 0, &len), 'A');
	CHECK_EQ(len, 4096u);
	CHECK_EQ(get(s, "r", 1, NULL), 'A');                /* the snapshot is intact */
	/* unknown snapshot id */
	CHECK_EQ(snap_rollback_resolve(s, CID, "r", &m, 7, &exists, &size, &x, nb), -ENOENT);
	/* an object that did not exist at the snapshot resolves to a delete */
	CHECK_EQ(put(s, &m, "new", 'N', 10), 0);
	exists = 1;
	CHECK_EQ(snap_rollback_resolve(s, CID, "new", &m, 1, &exists, &size, &x, nb), 0);
	CHECK_EQ(x.code, OSD_OP_DELETE);
	CHECK_EQ(exists, 0);
	done(s);
}

TEST(snapset_codec_rejects_garbage)
{
	static struct snapset ss, back;
	struct enc e;

	memset(&ss, 0, sizeof(ss));
	ss.seq = 9;
	ss.n_clones = 2;
	ss.clones[0] = (struct snap_clone){ .id = 3, .size = 10, .first = 0, .n = 2 };
	ss.clones[1] = (struct snap_clone){ .id = 9, .size = 20, .first = 2, .n = 1 };
	ss.ids[0] = 2;
	ss.ids[1] = 3;
	ss.ids[2] = 7;
	ss.n_ids = 3;
	enc_init(&e, 64);
	snapset_encode(&e, &ss);
	CHECK_EQ(enc_error(&e), 0);
	CHECK_EQ(snapset_decode(&back, e.buf, e.len), 0);
	CHECK_EQ(back.seq, 9u);
	CHECK_EQ(back.n_clones, 2u);
	CHECK_EQ(back.clones[1].id, 9u);
	CHECK_EQ(back.ids[2], 7u);
	/* every truncation and every single-byte flip: an error or a valid set */
	for (size_t n = 0; n < e.len; n++)
		CHECK(snapset_decode(&back, e.buf, n) != 0);
	for (size_t i = 0; i < e.len; i++) {
		uint8_t save = e.buf[i];
		e.buf[i] ^= 0xff;
		int rc = snapset_decode(&back, e.buf, e.len);
		CHECK(rc == 0 || rc == NORN_ECORRUPT || rc == NORN_EVERSION);
		if (rc == 0)
			CHECK(back.n_ids <= SNAP_MAX_IDS && back.n_clones <= SNAP_MAX_CLONES);
		e.buf[i] = save;
	}
	/* clones out of order */
	ss.clones[1].id = 2;
	enc_reset(&e);
	snapset_encode(&e, &ss);
	CHECK_EQ(snapset_decode(&back, e.buf, e.len), NORN_ECORRUPT);
	enc_free(&e);
	/* names: too long for a clone */
	char big[STORE_OID_MAX + 1], out[STORE_OID_MAX + 1];
	memset(big, 'x', 250);
	big[250] = 0;
	CHECK_EQ(snap_clone_name(out, big, 1), -ENAMETOOLONG);
	CHECK_EQ(snap_clone_name(out, "abc", 0x10), 0);
	CHECK(snap_is_hidden(out));
}

TEST_MAIN_TIMEOUT(120, TEST_ENTRY(clone_on_first_write_and_reads),
                  TEST_ENTRY(two_snapshots_trim_and_delete), TEST_ENTRY(rollback),
                  TEST_ENTRY(snapset_codec_rejects_garbage))
