/* LMDB persistence of Raft state: the implementation of raft_store.h.
 *
 * Record framing: a versioned struct (common/encode.h) followed by the
 * crc32c of the struct bytes. LMDB errors map to negative errnos; LMDB's
 * own codes (MDB_MAP_FULL, MDB_CORRUPTED...) map to -ENOSPC / NORN_ECORRUPT
 * / -EIO. Any failure inside a write transaction aborts it and marks the
 * store failed for good.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mon/raft_store.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "common/log.h"
#include "norn/errors.h"

struct raft_store {
	MDB_env *env;
	MDB_dbi meta, log;
	int failed;
	char path[512];
};

static const char KEY_HS[] = "hs";
static const char KEY_SNAP[] = "snap";
static const char KEY_SNAPDATA[] = "snapdata";

static int map_err(int rc)
{
	switch (rc) {
	case 0: return 0;
	case MDB_MAP_FULL: return -ENOSPC;
	case MDB_CORRUPTED: case MDB_INVALID: case MDB_VERSION_MISMATCH: return NORN_ECORRUPT;
	case MDB_NOTFOUND: return -ENOENT;
	default: return rc < 0 ? -EIO : -rc;
	}
}

static void key_of(uint8_t k[8], uint64_t index)
{
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(index >> (56 - 8 * i));
}

static uint64_t key_index(const MDB_val *k)
{
	const uint8_t *p = k->mv_data;
	uint64_t v = 0;

	NORN_ASSERT(k->mv_size == 8);
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- records ------------------------------------------------------------ */

static void rec_seal(struct enc *e, size_t start)
{
	if (!enc_error(e))
		enc_u32(e, norn_crc32c(0, e->buf + start, e->len - start));
}

/* Check the trailing crc and open the struct inside. */
static int rec_open(const MDB_val *v, struct dec *d, struct dec_struct *tok, const char *what)
{
	uint8_t ver;

	if (v->mv_size < 10 ||
	    norn_crc32c(0, v->mv_data, v->mv_size - 4) !=
	    norn_get_le32((const uint8_t *)v->mv_data + v->mv_size - 4)) {
		NLOG(RAFT, ERR, "raft store: bad crc in %s record", what);
		return NORN_ECORRUPT;
	}
	dec_init(d, v->mv_data, v->mv_size - 4);
	dec_struct_begin(d, 1, &ver, tok);
	return dec_error(d);
}

static int put_enc(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, struct enc *e)
{
	MDB_val k = { klen, (void *)key }, v;

	if (enc_error(e))
		return enc_error(e);
	v.mv_size = e->len;
	v.mv_data = e->buf;
	return map_err(mdb_put(txn, dbi, &k, &v, 0));
}

static int put_entry(MDB_txn *txn, MDB_dbi dbi, const struct raft_entry *en, struct enc *e)
{
	uint8_t key[8];
	size_t tok;

	enc_reset(e);
	tok = enc_struct_begin(e, 1, 1);
	enc_u64(e, en->term);
	enc_u64(e, en->index);
	enc_u8(e, en->type);
	enc_blob(e, en->data, en->len);
	enc_struct_end(e, tok);
	rec_seal(e, 0);
	key_of(key, en->index);
	return put_enc(txn, dbi, key, 8, e);
}

static int put_hs(MDB_txn *txn, MDB_dbi dbi, const struct raft_hardstate *hs, struct enc *e)
{
	size_t tok;

	enc_reset(e);
	tok = enc_struct_begin(e, 1, 1);
	enc_u64(e, hs->term);
	enc_u64(e, hs->vote);
	enc_u64(e, hs->commit);
	enc_struct_end(e, tok);
	rec_seal(e, 0);
	return put_enc(txn, dbi, KEY_HS, sizeof(KEY_HS) - 1, e);
}

static int put_snap(MDB_txn *txn, MDB_dbi dbi, const struct raft_snapshot_meta *m,
                    const void *data, size_t len, struct enc *e)
{
	size_t tok;
	MDB_val k = { sizeof(KEY_SNAPDATA) - 1, (void *)KEY_SNAPDATA }, v = { len, (void *)data };
	int rc;

	enc_reset(e);
	tok = enc_struct_begin(e, 1, 1);
	enc_u64(e, m->index);
	enc_u64(e, m->term);
	raft_config_encode(e, &m->conf);
	enc_u32(e, norn_crc32c(0, data, len));
	enc_u64(e, len);
	enc_struct_end(e, tok);
	rec_seal(e, 0);
	rc = put_enc(txn, dbi, KEY_SNAP, sizeof(KEY_SNAP) - 1, e);
	if (rc)
		return rc;
	return map_err(mdb_put(txn, dbi, &k, &v, 0));
}

/* Delete log records with index in [lo, hi]. */
static int del_range(MDB_txn *txn, MDB_dbi dbi, uint64_t lo, uint64_t hi)
{
	MDB_cursor *c;
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &c);
	if (rc)
		return map_err(rc);
	/* Re-seek after each delete: simple, and O(log n) per record. */
	for (;;) {
		key_of(key, lo);
		k.mv_size = 8;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc)
			break;
		if (k.mv_size != 8 || key_index(&k) > hi)
			break;
		lo = key_index(&k);
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

/* ---- lifecycle ---------------------------------------------------------- */

int raft_store_open(const char *dir, uint64_t map_bytes, struct raft_store **out)
{
	struct raft_store *s;
	MDB_txn *txn;
	struct stat st;
	int rc;

	*out = NULL;
	if (stat(dir, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", dir);
	rc = mdb_env_create(&s->env);
	if (rc)
		goto fail_free;
	rc = mdb_env_set_maxdbs(s->env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, map_bytes ? map_bytes : (1ull << 30));
	if (rc == 0)
		rc = mdb_env_open(s->env, dir, 0, 0600);
	if (rc)
		goto fail_env;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto fail_env;
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->log);
	if (rc) {
		mdb_txn_abort(txn);
		goto fail_env;
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto fail_env;
	*out = s;
	return 0;
fail_env:
	NLOG(RAFT, ERR, "raft store %s: open: %s", dir, mdb_strerror(rc));
	mdb_env_close(s->env);
fail_free:
	free(s);
	return map_err(rc);
}

void raft_store_close(struct raft_store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s);
}

/* ---- load --------------------------------------------------------------- */

void raft_store_loaded_free(struct raft_store_loaded *l)
{
	free(l->ents);
	free(l->snap_data);
	free(l->arena);
	memset(l, 0, sizeof(*l));
}

static int load_meta(struct raft_store *s, MDB_txn *txn, struct raft_store_loaded *l)
{
	MDB_val k = { sizeof(KEY_HS) - 1, (void *)KEY_HS }, v;
	struct dec d;
	struct dec_struct tok;
	int rc;

	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == 0) {
		rc = rec_open(&v, &d, &tok, "hard state");
		if (rc)
			return rc;
		l->boot.hs.term = dec_u64(&d);
		l->boot.hs.vote = dec_u64(&d);
		l->boot.hs.commit = dec_u64(&d);
		dec_struct_end(&d, &tok);
		if (dec_error(&d))
			return NORN_ECORRUPT;
	} else if (rc != MDB_NOTFOUND) {
		return map_err(rc);
	}
	k.mv_data = (void *)KEY_SNAP;
	k.mv_size = sizeof(KEY_SNAP) - 1;
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == 0) {
		uint32_t crc;
		uint64_t len;
		MDB_val dk = { sizeof(KEY_SNAPDATA) - 1, (void *)KEY_SNAPDATA }, dv;

		rc = rec_open(&v, &d, &tok, "snapshot meta");
		if (rc)
			return rc;
		l->boot.snap.index = dec_u64(&d);
		l->boot.snap.term = dec_u64(&d);
		raft_config_decode(&d, &l->boot.snap.conf);
		crc = dec_u32(&d);
		len = dec_u64(&d);
		dec_struct_end(&d, &tok);
		if (dec_error(&d) || len > RAFT_MAX_SNAPSHOT_BYTES)
			return NORN_ECORRUPT;
		rc = mdb_get(txn, s->meta, &dk, &dv);
		if (rc)
			return rc == MDB_NOTFOUND ? NORN_ECORRUPT : map_err(rc);
		if (dv.mv_size != len || norn_crc32c(0, dv.mv_data, dv.mv_size) != crc) {
			NLOG(RAFT, ERR, "raft store %s: snapshot blob at %llu fails its crc",
			     s->path, (unsigned long long)l->boot.snap.index);
			return NORN_ECORRUPT;
		}
		if (len) {
			l->snap_data = malloc(len);
			if (!l->snap_data)
				return -ENOMEM;
			memcpy(l->snap_data, dv.mv_data, len);
		}
		l->boot.snap_data = l->snap_data;
		l->boot.snap_len = len;
	} else if (rc != MDB_NOTFOUND) {
		return map_err(rc);
	}
	return 0;
}

static int load_log(struct raft_store *s, MDB_txn *txn, struct raft_store_loaded *l)
{
	MDB_cursor *c;
	MDB_stat st;
	MDB_val k, v;
	size_t cap, n = 0, arena_bytes = 0, off = 0;
	uint64_t expect = l->boot.snap.index + 1;
	int rc, pass;

	rc = mdb_stat(txn, s->log, &st);
	if (rc)
		return map_err(rc);
	cap = st.ms_entries;
	if (cap == 0)
		return 0;
	l->ents = calloc(cap, sizeof(*l->ents));
	if (!l->ents)
		return -ENOMEM;
	rc = mdb_cursor_open(txn, s->log, &c);
	if (rc)
		return map_err(rc);
	/* Pass 0 validates and sizes the payload arena, pass 1 copies. */
	for (pass = 0; pass < 2; pass++) {
		n = 0;
		expect = l->boot.snap.index + 1;
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		while (rc == 0) {
			struct dec d;
			struct dec_struct tok;
			struct raft_entry e;
			const void *data;
			size_t len;
			uint64_t idx;

			if (k.mv_size != 8) {
				rc = NORN_ECORRUPT;
				break;
			}
			idx = key_index(&k);
			if (idx < expect) {   /* covered by the snapshot: ignore */
				rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
				continue;
			}
			rc = rec_open(&v, &d, &tok, "log entry");
			if (rc)
				break;
			e.term = dec_u64(&d);
			e.index = dec_u64(&d);
			e.type = dec_u8(&d);
			data = dec_blob(&d, &len);
			dec_struct_end(&d, &tok);
			if (dec_error(&d) || e.index != idx || idx != expect || n >= cap ||
			    len > RAFT_MAX_ENTRY_BYTES) {
				NLOG(RAFT, ERR, "raft store %s: bad or missing log entry at %llu",
				     s->path, (unsigned long long)expect);
				rc = NORN_ECORRUPT;
				break;
			}
			e.len = (uint32_t)len;
			if (pass == 0) {
				arena_bytes += len;
			} else {
				memcpy(l->arena + off, data, len);
				e.data = len ? l->arena + off : NULL;
				off += len;
				l->ents[n] = e;
			}
			n++;
			expect++;
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
		if (rc != MDB_NOTFOUND && rc != 0)
			break;
		rc = 0;
		if (pass == 0 && arena_bytes) {
			l->arena = malloc(arena_bytes);
			if (!l->arena) {
				rc = -ENOMEM;
				break;
			}
		}
	}
	mdb_cursor_close(c);
	if (rc)
		return rc < 0 && rc > -4096 ? rc : map_err(rc);
	NORN_ASSERT(off == arena_bytes);
	l->boot.entries = l->ents;
	l->boot.n_entries = n;
	return 0;
}

int raft_store_load(struct raft_store *s, struct raft_store_loaded *l)
{
	MDB_txn *txn;
	int rc;

	memset(l, 0, sizeof(*l));
	if (s->failed)
		return NORN_EFAILED;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return map_err(rc);
	rc = load_meta(s, txn, l);
	if (rc == 0)
		rc = load_log(s, txn, l);
	mdb_txn_abort(txn);
	if (rc)
		raft_store_loaded_free(l);
	return rc;
}

/* ---- writes ------------------------------------------------------------- */

static int commit_or_fail(struct raft_store *s, MDB_txn *txn, int rc)
{
	if (rc == 0) {
		rc = map_err(mdb_txn_commit(txn));
	} else {
		mdb_txn_abort(txn);
	}
	if (rc) {
		s->failed = 1;
		NLOG(RAFT, ERR, "raft store %s: write failed (%s); store is now failed",
		     s->path, norn_strerror(rc));
		return rc;
	}
	return 0;
}

int raft_store_apply_ready(struct raft_store *s, const struct raft_ready *rd)
{
	MDB_txn *txn;
	struct enc e;
	int rc;

	if (s->failed)
		return NORN_EFAILED;
	if (!rd->snapshot && !rd->n_entries && !rd->hs_changed)
		return 0;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		s->failed = 1;
		return map_err(rc);
	}
	enc_init(&e, 4096);
	if (rd->snapshot) {
		rc = map_err(mdb_drop(txn, s->log, 0));
		if (rc == 0)
			rc = put_snap(txn, s->meta, rd->snapshot, rd->snapshot_data,
			              rd->snapshot_len, &e);
	}
	if (rc == 0 && rd->n_entries) {
		NORN_ASSERT(rd->entries[0].index > 0);
		rc = del_range(txn, s->log, rd->entries[0].index, UINT64_MAX);
		for (size_t i = 0; rc == 0 && i < rd->n_entries; i++) {
			NORN_ASSERT(rd->entries[i].index == rd->entries[0].index + i);
			rc = put_entry(txn, s->log, &rd->entries[i], &e);
		}
	}
	if (rc == 0 && rd->hs_changed)
		rc = put_hs(txn, s->meta, &rd->hs, &e);
	enc_free(&e);
	return commit_or_fail(s, txn, rc);
}

int raft_store_save_snapshot(struct raft_store *s, const struct raft_snapshot_meta *meta,
                             const void *data, size_t len)
{
	MDB_txn *txn;
	struct enc e;
	int rc;

	NORN_ASSERT(meta->index > 0 && len <= RAFT_MAX_SNAPSHOT_BYTES);
	if (s->failed)
		return NORN_EFAILED;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		s->failed = 1;
		return map_err(rc);
	}
	enc_init(&e, 256);
	rc = put_snap(txn, s->meta, meta, data, len, &e);
	if (rc == 0)
		rc = del_range(txn, s->log, 0, meta->index);
	enc_free(&e);
	return commit_or_fail(s, txn, rc);
}

int raft_store_stat(struct raft_store *s, struct raft_store_stat *st)
{
	MDB_txn *txn;
	MDB_stat ms;
	MDB_envinfo info;
	MDB_cursor *c;
	MDB_val k, v;
	struct stat fst;
	char path[600];
	int rc;

	memset(st, 0, sizeof(*st));
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return map_err(rc);
	rc = mdb_stat(txn, s->log, &ms);
	if (rc == 0) {
		st->n_entries = ms.ms_entries;
		rc = mdb_cursor_open(txn, s->log, &c);
	}
	if (rc == 0) {
		if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8)
			st->first_index = key_index(&k);
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
			st->last_index = key_index(&k);
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	if (rc)
		return map_err(rc);
	rc = mdb_env_info(s->env, &info);
	if (rc == 0 && mdb_env_stat(s->env, &ms) == 0)
		st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	snprintf(path, sizeof(path), "%s/data.mdb", s->path);
	if (stat(path, &fst) == 0)
		st->file_bytes = (uint64_t)fst.st_size;
	return map_err(rc);
}
