/* Client operations and primary-copy replication.
 *
 * An OSD_OP arrives on a client connection. After the checks that need no
 * PG (decode, caps, map epoch) it joins its PG's queue. The queue starts
 * ops in arrival order; an op whose object is busy (another started op on
 * it has not finished) blocks the queue behind it, so ops on one object
 * apply in arrival order and each sees the committed result of the one
 * before. A PG with fewer than min_size acting members starts nothing.
 *
 * Writes: the primary checks the steps against the committed object (the
 * store's metadata reads are synchronous LMDB lookups), turns them into
 * position-independent "resolved" steps (append -> write at the old size,
 * write_full -> truncate 0 + write, create -> touch), assigns the next
 * version (map epoch, v + 1), and queues ONE store transaction with the
 * data, the object's version xattr, the PG log entry, the log trim and the
 * PG info. The same resolved steps and log entry go to every other acting
 * member as a REPOP; each applies them in one transaction in version order
 * and answers once durable. The client hears back only when the local
 * transaction and every acting replica's are durable.
 *
 * Duplicates: a write whose reqid is in the PG log (the log is the dup
 * index and bounded like it) is answered with the logged result without
 * being applied again; one whose reqid matches a write still in flight
 * takes over that write's reply.
 *
 * Reads run at the primary only: metadata steps synchronously, data reads
 * through store_read() one step after the other.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "norn/errors.h"
#include "common/crc32c.h"
#include "osd/osd_int.h"
#include "osd/snap.h"

#define RESOLVED_MAX OSD_OP_MAX_STEPS

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1); \
	     (var) = (tvar))
#endif

/* ---- replies ---------------------------------------------------------------- */

/* The memory budget: client op payloads held by this OSD. Above half
 * the budget the connection that sent the op stops being read (TCP then
 * slows the client); below 40 % every paused connection resumes. */
static void budget_add(struct osd *o, struct msgr_conn *c, size_t len)
{
	o->op_bytes += len;
	if (o->op_bytes <= o->cfg.osd_memory_budget_bytes / 2 || !c)
		return;
	for (uint32_t i = 0; i < o->n_paused; i++)
		if (o->paused[i] == c)
			return;
	if (o->n_paused >= OSD_PAUSED_MAX)
		return;
	if (!o->n_paused)
		NLOG(OSD, INFO, "client ops hold %" PRIu64 " bytes (budget %" PRIu64 "): pausing reads",
		     o->op_bytes, o->cfg.osd_memory_budget_bytes);
	msgr_conn_get(c);
	msgr_conn_pause_read(c);
	o->paused[o->n_paused++] = c;
}

static void budget_sub(struct osd *o, size_t len)
{
	NORN_ASSERT(o->op_bytes >= len);
	o->op_bytes -= len;
	if (!o->n_paused || o->op_bytes > o->cfg.osd_memory_budget_bytes * 2 / 5)
		return;
	for (uint32_t i = 0; i < o->n_paused; i++) {
		msgr_conn_resume_read(o->paused[i]);
		msgr_conn_put(o->paused[i]);
	}
	o->n_paused = 0;
}

void osd_op_free(struct osd_op *op)
{
	if (op->payload)
		budget_sub(op->osd, op->len);
	for (uint32_t i = 0; i < OSD_OP_MAX_STEPS; i++)
		free(op->outs[i]);
	if (op->conn)
		msgr_conn_put(op->conn);
	free(op->payload);
	free(op->repop);
	free(op);
}

static void maybe_free(struct osd_op *op)
{
	if (op->done && op->repop_refs == 0)
		osd_op_free(op);
}

static void send_reply(struct osd_op *op)
{
	struct enc e;
	struct osd *o = op->osd;

	op->r.epoch = o->map.epoch;
	op->r.reqid = op->m.reqid;
	if (op->r.n_steps > op->m.n_steps)
		op->r.n_steps = op->m.n_steps;
	enc_init(&e, 256);
	if (osd_op_reply_encode(&e, &op->r) == 0 && op->conn)
		osd_send_enc(op->conn, MSG_T_OSD_OP_REPLY, op->tid, o->map.epoch, &e);
	enc_free(&e);
}

void osd_op_reply_err(struct osd_op *op, int err)
{
	memset(&op->r, 0, sizeof(op->r));
	op->r.result = err;
	op->r.n_steps = 0;
	send_reply(op);
	op->done = 1;
	maybe_free(op);
}

/* ---- object helpers -------------------------------------------------------- */

static int xattr_name(char *buf, size_t cap, const char *name, size_t len)
{
	if (len == 0 || len + 2 > STORE_XATTR_NAME_MAX || len + 3 > cap ||
	    memchr(name, 0, len))
		return -EINVAL;
	memcpy(buf, OSD_XATTR_USER_PREFIX, 2);
	memcpy(buf + 2, name, len);
	buf[len + 2] = 0;
	return 0;
}

static int set_out(struct osd_op *op, uint32_t i, struct enc *e)
{
	if (enc_error(e)) {
		enc_free(e);
		return -ENOMEM;
	}
	size_t n;
	uint8_t *b = enc_take(e, &n);
	free(op->outs[i]);
	op->outs[i] = b;
	op->r.steps[i].out = b;
	op->r.steps[i].out_len = b ? n : 0;
	return 0;
}

/* Metadata read steps (everything but READ and PG_LIST). */
static int do_meta_read(struct osd_op *op, uint32_t i)
{
	struct osd *o = op->osd;
	const struct osd_op_step *s = &op->m.steps[i];
	const char *cid = op->pg->cid;
	struct store_stat st;
	struct enc e;
	char xn[STORE_XATTR_NAME_MAX + 1];
	int rc;

	switch (s->code) {
	case OSD_OP_STAT:
		rc = store_stat(o->store, cid, op->oid, &st);
		if (rc)
			return rc;
		enc_init(&e, 16);
		enc_u64(&e, st.size);
		enc_u64(&e, st.mtime_ns);
		return set_out(op, i, &e);
	case OSD_OP_ASSERT_EXISTS:
		return store_stat(o->store, cid, op->oid, &st);
	case OSD_OP_GETXATTR:
	case OSD_OP_CMPXATTR: {
		uint8_t *v = NULL;
		size_t vl = 0;
		if (xattr_name(xn, sizeof(xn), s->name, s->name_len))
			return -EINVAL;
		rc = store_stat(o->store, cid, op->oid, &st);
		if (rc)
			return rc;
		rc = store_getxattr(o->store, cid, op->oid, xn, &v, &vl);
		if (rc == -ENOENT)
			rc = -ENODATA;
		if (rc == -ENODATA && s->code == OSD_OP_CMPXATTR)
			return s->data_len ? -ECANCELED : 0;   /* missing == empty (norn.h) */
		if (rc)
			return rc;
		if (s->code == OSD_OP_CMPXATTR) {
			rc = (vl == s->data_len && !memcmp(v, s->data, vl)) ? 0 : -ECANCELED;
			free(v);
			return rc;
		}
		enc_init(&e, vl + 1);
		enc_bytes(&e, v, vl);
		free(v);
		return set_out(op, i, &e);
	}
	case OSD_OP_OMAP_CMP: {
		/* A per-key compare-and-swap guard (the S3 gateway's index
		 * entries): a missing key, or object, equals a zero-length value. */
		uint8_t *v = NULL;
		size_t vl = 0;
		if (s->name_len == 0 || s->name_len > STORE_OMAP_KEY_MAX)
			return -EINVAL;
		rc = store_stat(o->store, cid, op->oid, &st);
		if (rc == 0)
			rc = store_omap_get(o->store, cid, op->oid, s->name, s->name_len, &v, &vl);
		if (rc == -ENOENT)
			return s->data_len ? -ECANCELED : 0;
		if (rc)
			return rc;
		rc = (vl == s->data_len && (vl == 0 || !memcmp(v, s->data, vl))) ? 0 : -ECANCELED;
		free(v);
		return rc;
	}
	case OSD_OP_GETXATTRS: {
		struct store_kvs kv = { 0 };
		uint32_t n = 0;
		rc = store_getxattrs(o->store, cid, op->oid, &kv);
		if (rc)
			return rc;
		for (size_t k = 0; k < kv.n; k++)
			if (kv.v[k].klen > 2 && !memcmp(kv.v[k].key, OSD_XATTR_USER_PREFIX, 2))
				n++;
		enc_init(&e, 256);
		osd_kv_list_begin(&e, n);
		for (size_t k = 0; k < kv.n; k++)
			if (kv.v[k].klen > 2 && !memcmp(kv.v[k].key, OSD_XATTR_USER_PREFIX, 2))
				osd_kv_list_add(&e, kv.v[k].key + 2, kv.v[k].klen - 2, kv.v[k].val,
				                kv.v[k].vlen);
		store_kvs_free(&kv);
		return set_out(op, i, &e);
	}
	case OSD_OP_OMAP_GET_VALS: {
		struct store_kvs kv = { 0 };
		uint32_t max = s->max ? s->max : 1000;
		uint32_t n = 0, more = 0;
		size_t cnt_off;
		const void *after = s->name_len ? s->name : NULL;
		size_t alen = s->name_len;
		if (max > 10000)
			max = 10000;
		if (s->name_len > STORE_OMAP_KEY_MAX || s->name2_len > STORE_OMAP_KEY_MAX)
			return -EINVAL;
		rc = store_stat(o->store, cid, op->oid, &st);
		if (rc)
			return rc;
		enc_init(&e, 256);
		cnt_off = e.len;
		enc_u32(&e, 0);
		/* keys >= prefix: the prefix itself, then keys > prefix */
		if (s->name2_len && (!after || alen < s->name2_len ||
		                     memcmp(after, s->name2, s->name2_len) < 0)) {
			uint8_t *v = NULL;
			size_t vl = 0;
			if (store_omap_get(o->store, cid, op->oid, s->name2, s->name2_len, &v, &vl) == 0) {
				osd_kv_list_add(&e, s->name2, s->name2_len, v, vl);
				n++;
			}
			free(v);
			after = s->name2;
			alen = s->name2_len;
		}
		rc = store_omap_list(o->store, cid, op->oid, after, after ? alen : 0, NULL, 0,
		                     (size_t)max + 1, &kv);
		if (rc) {
			enc_free(&e);
			return rc;
		}
		for (size_t k = 0; k < kv.n; k++) {
			if (s->name2_len && (kv.v[k].klen < s->name2_len ||
			                     memcmp(kv.v[k].key, s->name2, s->name2_len)))
				break;
			if (n == max) {
				more = 1;
				break;
			}
			osd_kv_list_add(&e, kv.v[k].key, kv.v[k].klen, kv.v[k].val, kv.v[k].vlen);
			n++;
		}
		enc_u8(&e, (uint8_t)more);
		store_kvs_free(&kv);
		if (!enc_error(&e))
			norn_put_le32(e.buf + cnt_off, n);
		return set_out(op, i, &e);
	}
	case OSD_OP_OMAP_GET_BY_KEYS: {
		struct dec d;
		uint32_t n, found = 0;
		size_t cnt_off;
		rc = store_stat(o->store, cid, op->oid, &st);
		if (rc)
			return rc;
		dec_init(&d, s->data, s->data_len);
		n = dec_count(&d, 100000, 4);
		if (dec_error(&d))
			return -EINVAL;
		enc_init(&e, 256);
		cnt_off = e.len;
		enc_u32(&e, 0);
		for (uint32_t k = 0; k < n; k++) {
			size_t kl;
			const void *key = dec_blob(&d, &kl);
			uint8_t *v = NULL;
			size_t vl = 0;
			if (!key)
				break;
			if (kl == 0 || kl > STORE_OMAP_KEY_MAX)
				continue;
			if (store_omap_get(o->store, cid, op->oid, key, kl, &v, &vl) == 0) {
				osd_kv_list_add(&e, key, kl, v, vl);
				found++;
			}
			free(v);
		}
		if (dec_error(&d)) {
			enc_free(&e);
			return -EINVAL;
		}
		if (!enc_error(&e))
			norn_put_le32(e.buf + cnt_off, found);
		return set_out(op, i, &e);
	}
	default:
		return -EOPNOTSUPP;
	}
}

static int do_pg_list(struct osd_op *op, uint32_t i)
{
	const struct osd_op_step *s = &op->m.steps[i];
	struct store_names names = { 0 };
	char after[STORE_OID_MAX + 1];
	struct enc e;
	uint32_t max = s->max ? s->max : 1000;
	int rc;

	if (max > 10000)
		max = 10000;
	if (s->name_len > STORE_OID_MAX || memchr(s->name, 0, s->name_len))
		return -EINVAL;
	memcpy(after, s->name, s->name_len);
	after[s->name_len] = 0;
	rc = store_list_objects(op->osd->store, op->pg->cid, s->name_len ? after : NULL,
	                        (size_t)max + 1, &names);
	if (rc == -ENOENT) {
		names.n = 0;
		names.v = NULL;
	} else if (rc) {
		return rc;
	}
	snap_filter_names(&names);      /* snapshot clones are not listed */
	uint32_t n = names.n > max ? max : (uint32_t)names.n;
	enc_init(&e, 256);
	enc_u32(&e, n);
	for (uint32_t k = 0; k < n; k++)
		enc_blob(&e, names.v[k], strlen(names.v[k]));
	enc_u8(&e, names.n > max);
	store_names_free(&names);
	return set_out(op, i, &e);
}

/* ---- reads ------------------------------------------------------------------ */

static void op_finish(struct osd_op *op);
static void read_next(struct osd_op *op);

static void read_cb(void *arg, int err, uint8_t *buf, size_t len)
{
	struct osd_op *op = arg;
	uint32_t i = op->step;

	op->r.steps[i].rval = err;
	if (err) {
		op->r.result = err;
		op->r.n_steps = i + 1;
		op_finish(op);
		return;
	}
	op->outs[i] = buf;
	op->r.steps[i].out = buf;
	op->r.steps[i].out_len = len;
	op->step++;
	read_next(op);
}

static void read_next(struct osd_op *op)
{
	while (op->step < op->m.n_steps) {
		uint32_t i = op->step;
		const struct osd_op_step *s = &op->m.steps[i];
		int rc;
		if (s->code == OSD_OP_READ) {
			uint64_t len = s->len;
			if (len == 0)
				len = op->osd->cfg.store_max_object_bytes;
			rc = store_read(op->osd->store, op->pg->cid, op->oid, s->off, len, read_cb, op);
			if (rc == 0)
				return;
		} else if (s->code == OSD_OP_PG_LIST) {
			rc = do_pg_list(op, i);
		} else {
			rc = do_meta_read(op, i);
		}
		op->r.steps[i].rval = rc;
		if (rc) {
			op->r.result = rc;
			op->r.n_steps = i + 1;
			op_finish(op);
			return;
		}
		op->step++;
	}
	op->r.n_steps = op->m.n_steps;
	op_finish(op);
}

/* ---- writes ----------------------------------------------------------------- */

struct resolved {
	uint32_t n;
	struct osd_op_step s[RESOLVED_MAX];
};

static int add_res(struct resolved *rs, const struct osd_op_step *s)
{
	if (rs->n >= RESOLVED_MAX)
		return -E2BIG;
	rs->s[rs->n++] = *s;
	return 0;
}

/* Apply resolved steps + the version xattr to @t (primary and replicas
 * run exactly this). */
static int apply_resolved(struct store_txn *t, const char *cid, const char *oid,
                          const struct osd_op_step *steps, uint32_t n, const struct pg_eversion *ver,
                          int deleted_at_end)
{
	char xn[STORE_XATTR_NAME_MAX + 1];
	int rc = 0;

	for (uint32_t i = 0; i < n && !rc; i++) {
		const struct osd_op_step *s = &steps[i];
		switch (s->code) {
		case OSD_OP_CREATE:
			rc = store_txn_touch(t, cid, oid);
			break;
		case OSD_OP_WRITE:
			rc = s->data_len ? store_txn_write(t, cid, oid, s->off, s->data, s->data_len)
			                 : store_txn_touch(t, cid, oid);
			break;
		case OSD_OP_TRUNCATE:
			rc = store_txn_truncate(t, cid, oid, s->off);
			break;
		case OSD_OP_ZERO:
			rc = store_txn_zero(t, cid, oid, s->off, s->len);
			break;
		case OSD_OP_DELETE:
			rc = store_txn_remove(t, cid, oid);
			break;
		case OSD_OP_SETXATTR:
			rc = xattr_name(xn, sizeof(xn), s->name, s->name_len);
			if (!rc)
				rc = store_txn_setxattr(t, cid, oid, xn, s->data, s->data_len);
			break;
		case OSD_OP_RMXATTR:
			rc = xattr_name(xn, sizeof(xn), s->name, s->name_len);
			if (!rc)
				rc = store_txn_rmxattr(t, cid, oid, xn);
			break;
		case OSD_OP_OMAP_SET: {
			struct dec d;
			uint32_t left;
			const void *k, *v;
			size_t kl, vl;
			int r;
			dec_init(&d, s->data, s->data_len);
			left = dec_count(&d, 1u << 20, 8);
			while ((r = osd_kv_list_next(&d, &left, &k, &kl, &v, &vl)) == 1 && !rc)
				rc = store_txn_omap_set(t, cid, oid, k, kl, v, vl);
			if (r < 0 || dec_error(&d))
				rc = -EINVAL;
			break;
		}
		case OSD_OP_OMAP_RM_KEYS: {
			struct dec d;
			uint32_t left;
			dec_init(&d, s->data, s->data_len);
			left = dec_count(&d, 1u << 20, 4);
			for (uint32_t k = 0; k < left && !rc && !dec_error(&d); k++) {
				size_t kl;
				const void *key = dec_blob(&d, &kl);
				if (key)
					rc = store_txn_omap_rm(t, cid, oid, key, kl);
			}
			if (dec_error(&d))
				rc = -EINVAL;
			break;
		}
		case OSD_OP_OMAP_CLEAR:
			rc = store_txn_omap_clear(t, cid, oid);
			break;
		case OSD_OP_ROLLBACK:
			rc = snap_apply_rollback(t, cid, oid, s);
			break;
		default:
			rc = -EINVAL;
		}
	}
	if (!rc && !deleted_at_end) {
		uint8_t vb[16];
		norn_put_le64(vb, ver->epoch);
		norn_put_le64(vb + 8, ver->v);
		rc = store_txn_setxattr(t, cid, oid, OSD_XATTR_VERSION, vb, sizeof(vb));
	}
	return rc;
}

/* Add the log entry, the trim and the info to @t and append to the log. */
static int log_and_info(struct pg *pg, struct store_txn *t, const struct pg_log_entry *le)
{
	char key[PG_LOG_KEY_LEN + 1];
	struct pg_eversion trimmed;
	struct enc e;
	int rc;

	enc_init(&e, 256);
	pg_log_entry_encode(&e, le);
	pg_log_key(key, &le->ver);
	rc = enc_error(&e) ? -ENOMEM : store_txn_cmeta_set(t, pg->cid, key, PG_LOG_KEY_LEN, e.buf, e.len);
	enc_free(&e);
	if (rc)
		return rc;
	if (pg_log_append(&pg->log, le, &trimmed)) {
		pg_log_key(key, &trimmed);
		rc = store_txn_cmeta_rm(t, pg->cid, key, PG_LOG_KEY_LEN);
		if (rc)
			return rc;
		pg->info.log_tail = trimmed;
	}
	/* last_complete follows only a gapless history: a write on top of a
	 * gap recovery has not filled yet (a replica being recovered) leaves
	 * it behind, so peering never takes this copy as complete */
	if (pg_ev_cmp(&pg->info.last_complete, &pg->info.last_update) == 0 &&
	    pg_ev_cmp(&le->prior, &pg->info.last_update) == 0)
		pg->info.last_complete = le->ver;
	pg->info.last_update = le->ver;
	enc_init(&e, 128);
	pg_info_encode(&e, &pg->info);
	rc = enc_error(&e) ? -ENOMEM
	                   : store_txn_cmeta_set(t, pg->cid, PG_CMETA_INFO, strlen(PG_CMETA_INFO), e.buf, e.len);
	enc_free(&e);
	return rc;
}

static void repop_free_cb(void *arg, int status)
{
	struct osd_op *op = arg;
	(void)status;
	NORN_ASSERT(op->repop_refs > 0);
	op->repop_refs--;
	maybe_free(op);
}

static int in_list(const int32_t *l, uint32_t n, int32_t x)
{
	for (uint32_t i = 0; i < n; i++)
		if (l[i] == x)
			return 1;
	return 0;
}

/* The REPOP's payload crc, computed once for all replicas. Its tail is
 * normally the tail of the client's message, whose crc the messenger
 * verified: the tail's crc then follows from that and a pass over the
 * client message's head alone, so the data is not read again. */
static uint32_t repop_crc(const struct osd_op *op)
{
	uint32_t tail;
	size_t tl = op->repop_tail_len;
	if (tl && op->payload && op->repop_tail + tl == op->payload + op->len)
		tail = norn_crc32c_tail(op->payload_crc, norn_crc32c(0, op->payload, op->len - tl), tl);
	else
		tail = norn_crc32c(0, op->repop_tail, tl);
	return norn_crc32c_combine(norn_crc32c(0, op->repop, op->repop_len), tail, tl);
}

static void send_repop_to(struct osd_op *op, int32_t peer)
{
	struct osd *o = op->osd;
	struct msgr_conn *c = osd_peer_conn(o, peer);
	struct iovec iov[2] = { { op->repop, op->repop_len },
	                        { (void *)op->repop_tail, op->repop_tail_len } };

	if (!in_list(op->sent, op->n_sent, peer) && op->n_sent < OSDMAP_MAX_POOL_SIZE)
		op->sent[op->n_sent++] = peer;
	if (!c) {
		NLOG(OSD, DEBUG, "pg %s: no connection to osd.%d yet; repop waits", op->pg->cid, peer);
		return;
	}
	op->repop_refs++;
	int rc = msgr_send_crc(c, MSG_T_OSD_REPOP, op->le.ver.v, o->map.epoch, iov,
	                       op->repop_tail_len ? 2 : 1, op->repop_crc, repop_free_cb, op);
	if (rc) {
		op->repop_refs--;
		NLOG(OSD, WARN, "pg %s: repop to osd.%d: %s (resent on reconnect)", op->pg->cid, peer,
		     norn_strerror(rc));
	}
}

/* Complete a write once the local commit and every current acting
 * replica's commit are in. */
static void write_check_done(struct osd_op *op)
{
	struct pg *pg = op->pg;
	struct osd *o = op->osd;

	if (op->done || !op->local_done)
		return;
	if (pg->primary != o->id) {
		/* no longer primary: the client resends (same reqid) to the new one */
		op->r.result = NORN_ESTALE;
		op_finish(op);
		return;
	}
	for (uint32_t i = 0; i < pg->acting_n; i++) {
		int32_t a = pg->acting[i];
		if (a == OSD_NONE || a == o->id || in_list(op->skip, op->n_skip, a))
			continue;      /* a skipped backfill target gets the object by backfill */
		if (!in_list(op->acked, op->n_acked, a))
			return;
	}
	/* never acknowledge below min_size durable copies */
	if (op->n_acked + 1 < pg->min_size)
		return;
	op_finish(op);
}

static void local_commit_cb(void *arg, int err)
{
	struct osd_op *op = arg;
	if (err) {
		NLOG(OSD, ERR, "pg %s: local transaction for %s failed: %s", op->pg->cid, op->oid,
		     norn_strerror(err));
		if (err == NORN_EFAILED) {
			NLOG(OSD, ERR, "store failed: stopping");
			exit(1);
		}
	}
	op->local_done = 1;
	if (op->pg->ps)
		osd_pg_recovery_resume(op->pg);
	write_check_done(op);
}

static void started_err(struct osd_op *op, int err)
{
	memset(&op->r, 0, sizeof(op->r));
	op->r.result = err;
	op_finish(op);
}

static void do_write(struct osd_op *op)
{
	struct osd *o = op->osd;
	struct pg *pg = op->pg;
	struct store_stat st;
	struct resolved rs = { 0 };
	int exists, rc = 0, deleted = 0, created = 0;
	uint64_t size;
	char xn[STORE_XATTR_NAME_MAX + 1];
	char snap_src[STORE_OID_MAX + 1];   /* a ROLLBACK step's clone name */
	int n_rollback = 0;

	rc = store_stat(o->store, pg->cid, op->oid, &st);
	exists = rc == 0;
	if (rc && rc != -ENOENT) {
		started_err(op, rc);
		return;
	}
	size = exists ? st.size : 0;
	uint64_t old_size = size;
	int old_exists = exists;
	rc = 0;
	op->r.n_steps = op->m.n_steps;
	for (uint32_t i = 0; i < op->m.n_steps && !rc; i++) {
		struct osd_op_step s = op->m.steps[i];
		struct osd_op_step x;
		switch (s.code) {
		case OSD_OP_STAT:
		case OSD_OP_GETXATTR:
		case OSD_OP_GETXATTRS:
		case OSD_OP_CMPXATTR:
		case OSD_OP_OMAP_CMP:
		case OSD_OP_ASSERT_EXISTS:
		case OSD_OP_OMAP_GET_VALS:
		case OSD_OP_OMAP_GET_BY_KEYS:
			/* guards see the state before this op's writes */
			rc = exists || s.code == OSD_OP_GETXATTRS || s.code == OSD_OP_OMAP_CMP
			             ? do_meta_read(op, i) : -ENOENT;
			break;
		case OSD_OP_READ:
		case OSD_OP_PG_LIST:
			rc = -EINVAL;       /* data reads go in a separate op */
			break;
		case OSD_OP_CREATE:
			if (exists && (s.flags & OSD_OP_F_EXCL)) {
				rc = -EEXIST;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_CREATE };
			rc = add_res(&rs, &x);
			exists = 1;
			break;
		case OSD_OP_WRITE:
			if (s.off + s.data_len > o->cfg.store_max_object_bytes || s.off + s.data_len < s.off) {
				rc = -EFBIG;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_WRITE, .off = s.off, .data = s.data,
			                          .data_len = s.data_len };
			rc = add_res(&rs, &x);
			exists = 1;
			if (s.off + s.data_len > size)
				size = s.off + s.data_len;
			break;
		case OSD_OP_WRITE_FULL:
			if (s.data_len > o->cfg.store_max_object_bytes) {
				rc = -EFBIG;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_TRUNCATE, .off = 0 };
			rc = add_res(&rs, &x);
			x = (struct osd_op_step){ .code = OSD_OP_WRITE, .off = 0, .data = s.data,
			                          .data_len = s.data_len };
			if (!rc)
				rc = add_res(&rs, &x);
			exists = 1;
			size = s.data_len;
			break;
		case OSD_OP_APPEND:
			if (size + s.data_len > o->cfg.store_max_object_bytes) {
				rc = -EFBIG;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_WRITE, .off = size, .data = s.data,
			                          .data_len = s.data_len };
			rc = add_res(&rs, &x);
			exists = 1;
			size += s.data_len;
			break;
		case OSD_OP_TRUNCATE:
			if (s.off > o->cfg.store_max_object_bytes) {
				rc = -EFBIG;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_TRUNCATE, .off = s.off };
			rc = add_res(&rs, &x);
			exists = 1;
			size = s.off;
			break;
		case OSD_OP_ZERO:
			if (!exists) {
				rc = -ENOENT;
				break;
			}
			if (s.off >= size || s.len == 0)
				break;
			x = (struct osd_op_step){ .code = OSD_OP_ZERO, .off = s.off,
			                          .len = NORN_MIN(s.len, size - s.off) };
			rc = add_res(&rs, &x);
			break;
		case OSD_OP_DELETE:
			if (!exists) {
				rc = -ENOENT;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_DELETE };
			rc = add_res(&rs, &x);
			exists = 0;
			size = 0;
			break;
		case OSD_OP_SETXATTR:
			if (xattr_name(xn, sizeof(xn), s.name, s.name_len) || s.data_len > STORE_XATTR_VALUE_MAX) {
				rc = -EINVAL;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_SETXATTR, .name = s.name,
			                          .name_len = s.name_len, .data = s.data, .data_len = s.data_len };
			rc = add_res(&rs, &x);
			exists = 1;
			break;
		case OSD_OP_RMXATTR: {
			uint8_t *v = NULL;
			size_t vl;
			if (xattr_name(xn, sizeof(xn), s.name, s.name_len)) {
				rc = -EINVAL;
				break;
			}
			if (!exists) {
				rc = -ENOENT;
				break;
			}
			/* only checks the committed state; an xattr set earlier in
			 * this op counts as present */
			int had = store_getxattr(o->store, pg->cid, op->oid, xn, &v, &vl) == 0;
			free(v);
			int set_here = 0;
			for (uint32_t k = 0; k < rs.n; k++)
				if (rs.s[k].code == OSD_OP_SETXATTR && rs.s[k].name_len == s.name_len &&
				    !memcmp(rs.s[k].name, s.name, s.name_len))
					set_here = 1;
			if (!had && !set_here) {
				rc = -ENODATA;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_RMXATTR, .name = s.name, .name_len = s.name_len };
			rc = add_res(&rs, &x);
			break;
		}
		case OSD_OP_OMAP_SET: {
			struct dec d;
			uint32_t left;
			const void *k, *v;
			size_t kl, vl;
			int r;
			dec_init(&d, s.data, s.data_len);
			left = dec_count(&d, 1u << 20, 8);
			while ((r = osd_kv_list_next(&d, &left, &k, &kl, &v, &vl)) == 1)
				if (kl == 0 || kl > STORE_OMAP_KEY_MAX || vl > STORE_OMAP_VALUE_MAX)
					r = -EINVAL;
			if (r < 0 || dec_error(&d) || dec_left(&d)) {
				rc = -EINVAL;
				break;
			}
			x = (struct osd_op_step){ .code = OSD_OP_OMAP_SET, .data = s.data, .data_len = s.data_len };
			rc = add_res(&rs, &x);
			exists = 1;
			break;
		}
		case OSD_OP_OMAP_RM_KEYS:
		case OSD_OP_OMAP_CLEAR: {
			if (!exists) {
				rc = -ENOENT;
				break;
			}
			if (s.code == OSD_OP_OMAP_RM_KEYS) {
				struct dec d;
				dec_init(&d, s.data, s.data_len);
				uint32_t n = dec_count(&d, 1u << 20, 4);
				for (uint32_t k = 0; k < n && !dec_error(&d); k++) {
					size_t kl;
					dec_blob(&d, &kl);
					if (kl == 0 || kl > STORE_OMAP_KEY_MAX)
						dec_fail(&d, NORN_ECORRUPT);
				}
				if (dec_error(&d) || dec_left(&d)) {
					rc = -EINVAL;
					break;
				}
			}
			/* the store refuses these on a missing object; make
			 * sure it exists when an earlier step of this op
			 * created it */
			if (!old_exists || deleted) {
				x = (struct osd_op_step){ .code = OSD_OP_CREATE };
				rc = add_res(&rs, &x);
			}
			x = (struct osd_op_step){ .code = s.code, .data = s.data, .data_len = s.data_len };
			if (!rc)
				rc = add_res(&rs, &x);
			break;
		}
		case OSD_OP_ROLLBACK:
			if (n_rollback++) {
				rc = -EINVAL;       /* one rollback per op */
				break;
			}
			rc = snap_rollback_resolve(o->store, pg->cid, op->oid, &op->m, s.off, &exists,
			                           &size, &x, snap_src);
			if (!rc && x.code)
				rc = add_res(&rs, &x);
			break;
		default:
			rc = -EOPNOTSUPP;
			break;
		}
		op->r.steps[i].rval = rc;
		if (rc) {
			op->r.n_steps = i + 1;
			op->r.result = rc;
		}
		if ((s.code == OSD_OP_DELETE || (s.code == OSD_OP_ROLLBACK && !exists)) && !rc)
			deleted = 1;
		else if (osd_op_is_write(s.code) && !rc)
			deleted = 0;
	}
	(void)created;
	if (rc || rs.n == 0) {
		/* nothing to apply: answer now (failed writes are not logged) */
		op_finish(op);
		return;
	}
	/* A full OSD refuses client writes that add data (deletes, truncates
	 * and recovery still run), so a full cluster answers ENOSPC at once
	 * instead of failing the store transaction after a version was given
	 * out (the client then waited for its op timeout). */
	if (!deleted) {
		uint64_t add = 0, total, avail;
		for (uint32_t i = 0; i < rs.n; i++)
			add += rs.s[i].data_len;
		store_statfs(o->store, &total, &avail);
		if (add && total - avail + add > total / 100 * (uint64_t)o->cfg.osd_full_pct) {
			if (!pg->warned_full)
				NLOG(OSD, WARN, "pg %s: store %" PRIu64 " of %" PRIu64 " MiB used (full at %d %%): "
				     "writes refused with ENOSPC", pg->cid, (total - avail) >> 20, total >> 20,
				     (int)o->cfg.osd_full_pct);
			pg->warned_full = 1;
			op->r.result = NORN_ENOSPC;
			op_finish(op);
			return;
		}
		pg->warned_full = 0;
	}
	/* a version and the log entry */
	struct pg_log_entry *le = &op->le;
	memset(le, 0, sizeof(*le));
	le->prior = pg->info.last_update;
	le->ver.epoch = o->map.epoch;
	le->ver.v = pg->info.last_update.v + 1;
	if (pg_ev_cmp(&le->ver, &le->prior) <= 0)
		le->ver.epoch = le->prior.epoch;
	le->reqid = op->m.reqid;
	le->op = deleted ? PG_LOG_DELETE : PG_LOG_MODIFY;
	le->result = 0;
	snprintf(le->oid, sizeof(le->oid), "%s", op->oid);

	struct store_txn *t = store_txn_new();
	if (!t) {
		started_err(op, -ENOMEM);
		return;
	}
	struct snap_wstate *sw;
	rc = snap_write_begin(o->store, t, pg->cid, op->oid, &op->m, &sw);
	if (!rc)
		rc = apply_resolved(t, pg->cid, op->oid, rs.s, rs.n, &le->ver, deleted);
	rc = snap_write_end(t, pg->cid, op->oid, deleted, sw, rc);
	if (rc) {
		store_txn_free(t);
		op->r.result = rc;
		op_finish(op);
		return;
	}
	/* the REPOP carries the resolved steps */
	struct osd_op_msg *rm = malloc(sizeof(*rm));
	struct enc e1, e2;
	if (!rm) {
		store_txn_free(t);
		started_err(op, -ENOMEM);
		return;
	}
	memset(rm, 0, sizeof(*rm));
	rm->epoch = o->map.epoch;
	rm->pool = pg->id.pool;
	rm->pg_seed = pg->id.seed;
	rm->oid = op->oid;
	rm->oid_len = strlen(op->oid);
	rm->reqid = op->m.reqid;
	rm->flags = OSD_OPF_WRITE;
	rm->snap_seq = op->m.snap_seq;      /* replicas clone and trim alike */
	rm->n_snaps = op->m.n_snaps;
	rm->snaps = op->m.snaps;
	rm->n_steps = rs.n;
	memcpy(rm->steps, rs.s, rs.n * sizeof(rs.s[0]));
	enc_init(&e1, 256);
	/* the data of the last step travels as a second iovec, uncopied */
	osd_op_encode_split(&e1, rm, &op->repop_tail, &op->repop_tail_len);
	free(rm);
	struct osd_repop rp = { .pool = pg->id.pool, .seed = pg->id.seed, .epoch = o->map.epoch,
	                        .entry = *le, .ops = e1.buf, .ops_len = e1.len };
	enc_init(&e2, e1.len + 256);
	if (enc_error(&e1) || osd_repop_encode_split(&e2, &rp, op->repop_tail_len)) {
		enc_free(&e1);
		enc_free(&e2);
		store_txn_free(t);
		started_err(op, -ENOMEM);
		return;
	}
	enc_free(&e1);
	op->repop = enc_take(&e2, &op->repop_len);
	op->repop_crc = repop_crc(op);
	rc = log_and_info(pg, t, le);
	if (rc) {
		store_txn_free(t);
		NORN_ASSERT(!"log_and_info failed after pg_log_append");
	}
	/* stats */
	if (!old_exists && !deleted)
		pg->objects++;
	else if (old_exists && deleted)
		pg->objects = pg->objects ? pg->objects - 1 : 0;
	pg->bytes = pg->bytes - NORN_MIN(pg->bytes, old_size) + (deleted ? 0 : size);
	op->r.version = le->ver.v;
	rc = store_queue_txn(o->store, t, local_commit_cb, op);
	if (rc) {
		NLOG(OSD, ERR, "pg %s: queueing a transaction failed: %s", pg->cid, norn_strerror(rc));
		if (rc == NORN_EFAILED)
			exit(1);
		/* the log already has the entry: treat as fatal for the PG */
		started_err(op, rc);
		return;
	}
	for (uint32_t i = 0; i < pg->acting_n; i++) {
		int32_t a = pg->acting[i];
		if (a != OSD_NONE && a != o->id && !in_list(op->skip, op->n_skip, a))
			send_repop_to(op, a);
	}
}

/* ---- the queue --------------------------------------------------------------- */

static void op_finish(struct osd_op *op)
{
	struct pg *pg = op->pg;

	if (op->done)
		return;
	send_reply(op);
	op->done = 1;
	if (pg) {
		TAILQ_REMOVE(&pg->inflight, op, q);
		pg->n_inflight--;
	}
	NLOG(OSD, DEBUG, "op %s %s tid %" PRIu64 " -> %d", pg ? pg->cid : "-", op->oid, op->tid,
	     op->r.result);
	maybe_free(op);
	if (pg)
		osd_pg_kick(pg);
}

static int oid_busy(struct pg *pg, const struct osd_op *op)
{
	struct osd_op *x;
	if (op->m.flags & OSD_OPF_PG_OP)
		return 0;
	TAILQ_FOREACH(x, &pg->inflight, q)
		if (!strcmp(x->oid, op->oid))
			return 1;
	return 0;
}

static void op_start(struct osd_op *op)
{
	struct pg *pg = op->pg;

	if (op->is_write) {
		/* duplicate of a logged write? */
		const struct pg_log_entry *le = pg_log_find_reqid(&pg->log, &op->m.reqid);
		if (le) {
			NLOG(OSD, INFO, "pg %s: dup request %s:%" PRIu64 " answered from the log", pg->cid,
			     op->m.reqid.entity, op->m.reqid.tid);
			memset(&op->r, 0, sizeof(op->r));
			op->r.result = le->result;
			op->r.version = le->ver.v;
			op->r.n_steps = op->m.n_steps;
			send_reply(op);
			op->done = 1;
			maybe_free(op);
			return;
		}
	}
	TAILQ_INSERT_TAIL(&pg->inflight, op, q);
	pg->n_inflight++;
	int rc;
	if (op->is_write)
		do_write(op);
	else if ((rc = snap_read_redirect(op->osd->store, pg->cid, op->oid, op->m.read_snap)))
		started_err(op, rc);
	else
		read_next(op);
}

static int pg_active(struct pg *pg)
{
	uint32_t n = 0;
	/* while the primary itself catches up nothing starts; once it holds
	 * the authoritative state (pushing to replicas) ops run, except
	 * writes to objects a replica still misses (osd_pg_kick) */
	if (pg->peering && pg->peering != PG_PEER_PUSH && pg->peering != PG_PEER_LOGSYNC)
		return 0;
	for (uint32_t i = 0; i < pg->acting_n; i++)
		if (pg->acting[i] != OSD_NONE)
			n++;
	return n >= pg->min_size;
}

/* FNV-1a of an object name: the per-object order key of osd_pg_kick. */
static uint64_t oid_hash(const char *oid)
{
	uint64_t h = 1469598103934665603ull;
	for (; *oid; oid++)
		h = (h ^ (uint8_t)*oid) * 1099511628211ull;
	return h;
}

static int hash_in(const uint64_t *v, uint32_t n, uint64_t h)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] == h)
			return 1;
	return 0;
}

int osd_pg_oid_writing(const struct pg *pg, const char *base, size_t blen)
{
	const struct osd_op *x;
	TAILQ_FOREACH(x, &pg->inflight, q)
		if (x->is_write && !x->local_done && strlen(x->oid) == blen && !memcmp(x->oid, base, blen))
			return 1;
	return 0;
}

/* One pass over the queue: start every op that may start. An op waits
 * (alone) while its object has an op in flight or, for a write, is not
 * recovered yet on some member (its recovery is moved to the front); a
 * later op on the same object waits behind it (per-object order, tracked
 * by name hash: a collision only makes an op wait longer), ops on other
 * objects go ahead. */
static void kick_pass(struct pg *pg)
{
	uint64_t blocked[OSD_KICK_BLOCKED_MAX];
	uint32_t n_blocked = 0, guard = 0;
	struct osd_op *op, *nx;

	for (op = TAILQ_FIRST(&pg->queue); op; op = nx) {
		NORN_ASSERT(guard++ <= OSD_PG_QUEUE_MAX + 1);
		nx = TAILQ_NEXT(op, q);
		if (pg->kick_again || pg->n_inflight >= OSD_PG_INFLIGHT_MAX || !pg_active(pg))
			return;
		if (!(op->m.flags & OSD_OPF_PG_OP)) {
			uint64_t h = oid_hash(op->oid);
			int wait = hash_in(blocked, n_blocked, h) || oid_busy(pg, op);
			op->n_skip = 0;
			if (!wait && op->is_write && pg->peering &&
			    osd_pg_write_plan(pg, op->oid, op->m.snap_seq || op->m.n_snaps, op->skip, &op->n_skip)) {
				osd_pg_recover_first(pg, op->oid);   /* recovered first, then written */
				wait = 1;
			}
			if (wait) {
				if (n_blocked >= OSD_KICK_BLOCKED_MAX)
					return;        /* cannot track more: the rest keeps its order */
				blocked[n_blocked++] = h;
				continue;
			}
		}
		TAILQ_REMOVE(&pg->queue, op, q);
		pg->n_queued--;
		op_start(op);          /* a nested osd_pg_kick only sets kick_again */
	}
}

void osd_pg_kick(struct pg *pg)
{
	uint32_t rounds = 0;

	if (pg->kicking) {
		pg->kick_again = 1;
		return;
	}
	if (!TAILQ_EMPTY(&pg->queue) && !pg_active(pg)) {
		if (!pg->warned_min_size && !pg->peering) {
			NLOG(OSD, WARN, "pg %s: %u acting replicas < min_size %u: %u ops wait",
			     pg->cid, pg->acting_n, pg->min_size, pg->n_queued);
			pg->warned_min_size = 1;
		}
		return;
	}
	pg->warned_min_size = 0;
	pg->kicking = 1;
	do {
		/* each round starts at least one op or ends: bounded by the queue */
		NORN_ASSERT(rounds++ <= OSD_PG_QUEUE_MAX + 1);
		pg->kick_again = 0;
		kick_pass(pg);
	} while (pg->kick_again);
	pg->kicking = 0;
}

/* ---- admission --------------------------------------------------------------- */

static struct osd_sess *sess_of(struct msgr_conn *c)
{
	struct osd_sess *s = msgr_conn_user(c);
	if (s || msgr_conn_is_outgoing(c))
		return msgr_conn_is_outgoing(c) ? NULL : s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->peer_osd = -1;
	if (auth_caps_parse(msgr_conn_caps(c), &s->caps) == 0)
		s->caps_ok = 1;
	const char *ent = msgr_conn_peer_entity(c);
	if (!strncmp(ent, "osd.", 4)) {
		char *end;
		long v = strtol(ent + 4, &end, 10);
		if (*end == 0 && v >= 0 && v < OSDMAP_MAX_OSD)
			s->peer_osd = (int32_t)v;
	}
	msgr_conn_set_user(c, s);
	return s;
}

/* Dispatch a decoded op against the current map: park, refuse or queue. */
static void op_dispatch(struct osd *o, struct osd_op *op)
{
	const struct osdmap_pool *pool;
	struct pg *pg;

	if (op->m.epoch > o->map.epoch) {
		if (o->n_wait_map >= OSD_WAIT_MAP_MAX) {
			osd_op_reply_err(op, NORN_EAGAIN);
			return;
		}
		NLOG(OSD, DEBUG, "op from epoch %" PRIu64 " > ours %" PRIu64 ": waiting for the map",
		     op->m.epoch, o->map.epoch);
		TAILQ_INSERT_TAIL(&o->wait_map, op, q);
		o->n_wait_map++;
		monc_renew_subs(o->mc);
		return;
	}
	pool = osdmap_pool(&o->map, op->m.pool);
	if (!pool) {
		osd_op_reply_err(op, -ENOENT);
		return;
	}
	if (op->m.pg_seed >= pool->pg_num) {
		osd_op_reply_err(op, NORN_ESTALE);
		return;
	}
	if (!(op->m.flags & OSD_OPF_PG_OP)) {
		struct pg_id want = osdmap_object_to_pg(pool, op->oid, strlen(op->oid));
		if (want.seed != op->m.pg_seed) {
			osd_op_reply_err(op, NORN_ESTALE);
			return;
		}
	}
	pg = osd_pg_get(o, op->m.pool, op->m.pg_seed);
	if (!pg || pg->primary != o->id || op->m.epoch < pg->info.same_interval_since) {
		osd_op_reply_err(op, NORN_ESTALE);
		return;
	}
	if (op->is_write && (o->map.flags & OSDMAP_FLAG_FULL || pool->flags & POOL_FLAG_FULL)) {
		osd_op_reply_err(op, -ENOSPC);
		return;
	}
	if (pg->n_queued >= OSD_PG_QUEUE_MAX) {
		osd_op_reply_err(op, NORN_EAGAIN);
		return;
	}
	op->pg = pg;
	TAILQ_INSERT_TAIL(&pg->queue, op, q);
	pg->n_queued++;
	osd_pg_kick(pg);
}

void osd_wait_map_retry(struct osd *o)
{
	struct osd_op_list l;
	struct osd_op *op;

	TAILQ_INIT(&l);
	while ((op = TAILQ_FIRST(&o->wait_map)) != NULL) {
		TAILQ_REMOVE(&o->wait_map, op, q);
		o->n_wait_map--;
		TAILQ_INSERT_TAIL(&l, op, q);
	}
	while ((op = TAILQ_FIRST(&l)) != NULL) {
		TAILQ_REMOVE(&l, op, q);
		op_dispatch(o, op);
	}
}

void osd_handle_op(struct osd *o, struct msgr_conn *c, struct msg_in *in)
{
	struct osd_sess *s = sess_of(c);
	struct osd_op *op;
	int rc;

	if (!s) {
		osd_conn_drop(c);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return;
	op->osd = o;
	op->tid = in->hdr.tid;
	op->start_ns = norn_mono_ns();
	op->len = in->len;
	op->payload_crc = in->hdr.payload_crc;
	op->payload = msg_in_steal(in);
	if (!op->payload && in->len) {
		free(op);
		return;
	}
	if (op->payload)
		budget_add(o, c, op->len);
	msgr_conn_get(c);
	op->conn = c;
	rc = op->payload ? osd_op_decode(&op->m, op->payload, op->len) : NORN_ECORRUPT;
	if (rc || op->m.oid_len > STORE_OID_MAX || memchr(op->m.oid, 0, op->m.oid_len) ||
	    (op->m.oid_len == 0 && !(op->m.flags & OSD_OPF_PG_OP)) || op->m.n_steps == 0) {
		NLOG(OSD, WARN, "malformed OSD_OP from %s (%s): closing the connection",
		     msgr_conn_peer_addr(c), norn_strerror(rc ? rc : NORN_ECORRUPT));
		osd_op_free(op);
		osd_conn_drop(c);
		return;
	}
	memcpy(op->oid, op->m.oid, op->m.oid_len);
	op->oid[op->m.oid_len] = 0;
	if (snap_is_hidden(op->oid)) {
		osd_op_reply_err(op, -EINVAL);  /* names starting 0xff are the OSD's (snap.h) */
		return;
	}
	for (uint32_t i = 0; i < op->m.n_steps; i++)
		if (osd_op_is_write(op->m.steps[i].code))
			op->is_write = 1;
	/* caps */
	const struct osdmap_pool *pool = osdmap_pool(&o->map, op->m.pool);
	unsigned want = op->is_write ? AUTH_CAP_W : AUTH_CAP_R;
	if (s->peer_osd < 0 && (!s->caps_ok || !auth_caps_allow(&s->caps, AUTH_SVC_OSD, op->m.pool,
	                                                        pool ? pool->name : NULL, want))) {
		NLOG(OSD, INFO, "%s may not %s pool %" PRId64, msgr_conn_peer_entity(c),
		     op->is_write ? "write" : "read", op->m.pool);
		osd_op_reply_err(op, -EPERM);
		return;
	}
	op_dispatch(o, op);
}

/* ---- interval changes ------------------------------------------------------------ */

void osd_pg_interval_changed(struct pg *pg, const int32_t *old_acting, uint32_t old_n,
                             int was_primary)
{
	struct osd *o = pg->osd;
	struct osd_op *op, *tmp;
	(void)old_acting;
	(void)old_n;

	if (pg->primary != o->id) {
		/* queued ops: the client must go to the new primary */
		while ((op = TAILQ_FIRST(&pg->queue)) != NULL) {
			TAILQ_REMOVE(&pg->queue, op, q);
			pg->n_queued--;
			op->pg = NULL;
			osd_op_reply_err(op, NORN_ESTALE);
		}
		TAILQ_FOREACH_SAFE(op, &pg->inflight, q, tmp)
			if (op->is_write)
				write_check_done(op);
		(void)was_primary;
		return;
	}
	/* still (or newly) primary: writes in flight wait for the new acting set */
	TAILQ_FOREACH_SAFE(op, &pg->inflight, q, tmp) {
		if (!op->is_write || !op->repop)
			continue;
		for (uint32_t i = 0; i < pg->acting_n; i++) {
			int32_t a = pg->acting[i];
			if (a != OSD_NONE && a != o->id && !in_list(op->sent, op->n_sent, a) &&
			    !in_list(op->skip, op->n_skip, a))
				send_repop_to(op, a);
		}
		write_check_done(op);
	}
	osd_pg_kick(pg);
}

void osd_resend_repops(struct osd *o, int32_t peer)
{
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			struct osd_op *op;
			if (pg->primary != o->id)
				continue;
			TAILQ_FOREACH(op, &pg->inflight, q)
				if (op->is_write && op->repop && in_list(op->sent, op->n_sent, peer) &&
				    !in_list(op->acked, op->n_acked, peer))
					send_repop_to(op, peer);
		}
}

/* ---- replica side --------------------------------------------------------------- */

struct repop_ctx {
	struct osd *o;
	struct msgr_conn *conn;
	struct osd_repop_reply rr;
	uint64_t tid;
};

static void repop_commit_cb(void *arg, int err)
{
	struct repop_ctx *x = arg;
	struct enc e;

	if (err == NORN_EFAILED) {
		NLOG(OSD, ERR, "store failed: stopping");
		exit(1);
	}
	x->rr.result = err;
	enc_init(&e, 64);
	if (osd_repop_reply_encode(&e, &x->rr) == 0)
		osd_send_enc(x->conn, MSG_T_OSD_REPOP_REPLY, x->tid, x->o->map.epoch, &e);
	enc_free(&e);
	msgr_conn_put(x->conn);
	free(x);
}

static void repop_reply_now(struct osd *o, struct msgr_conn *c, uint64_t tid,
                            const struct osd_repop *rp, int rc)
{
	struct osd_repop_reply rr = { .pool = rp->pool, .seed = rp->seed, .ver = rp->entry.ver,
	                              .result = rc };
	struct enc e;
	enc_init(&e, 64);
	if (osd_repop_reply_encode(&e, &rr) == 0)
		osd_send_enc(c, MSG_T_OSD_REPOP_REPLY, tid, o->map.epoch, &e);
	enc_free(&e);
}

void osd_handle_repop(struct osd *o, struct msgr_conn *c, struct msg_in *in)
{
	struct osd_sess *s = sess_of(c);
	struct osd_repop rp;
	struct osd_op_msg *m = NULL;
	struct pg *pg;
	int rc;

	if (!s || s->peer_osd < 0) {
		NLOG(OSD, WARN, "REPOP from non-OSD %s: closing", msgr_conn_peer_entity(c));
		osd_conn_drop(c);
		return;
	}
	rc = osd_repop_decode(&rp, in->payload, in->len);
	if (!rc) {
		m = malloc(sizeof(*m));
		rc = m ? osd_op_decode(m, rp.ops, rp.ops_len) : -ENOMEM;
	}
	if (rc || m->oid_len == 0 || m->oid_len > STORE_OID_MAX || memchr(m->oid, 0, m->oid_len)) {
		NLOG(OSD, WARN, "malformed REPOP from %s: closing", msgr_conn_peer_entity(c));
		free(m);
		osd_conn_drop(c);
		return;
	}
	pg = osd_pg_get_or_create(o, rp.pool, rp.seed);
	if (!pg) {
		repop_reply_now(o, c, in->hdr.tid, &rp, -ENOENT);
		free(m);
		return;
	}
	if (rp.epoch < pg->info.same_interval_since && s->peer_osd != pg->primary) {
		/* from a primary of an earlier interval that has not seen the map
		 * replacing it (e.g. it was cut off the network): never apply nor
		 * ack it, or it would acknowledge a write the new interval's
		 * primary does not know (lost on the next peering); and it must
		 * not pass as "already applied" below just because our log has
		 * moved past its version */
		NLOG(OSD, INFO, "pg %s: repop %" PRIu64 "'%" PRIu64 " from osd.%d at e%" PRIu64
		     " predates our interval (e%" PRIu64 ", primary osd.%d): refused", pg->cid,
		     rp.entry.ver.epoch, rp.entry.ver.v, s->peer_osd, rp.epoch,
		     pg->info.same_interval_since, pg->primary);
		repop_reply_now(o, c, in->hdr.tid, &rp, NORN_ESTALE);
		free(m);
		return;
	}
	if (pg_ev_cmp(&rp.entry.ver, &pg->info.last_update) <= 0) {
		/* already applied (a resend after a reconnect) */
		repop_reply_now(o, c, in->hdr.tid, &rp, 0);
		free(m);
		return;
	}
	if (pg_ev_cmp(&rp.entry.prior, &pg->info.last_update) != 0)
		NLOG(OSD, DEBUG, "pg %s: repop %" PRIu64 "'%" PRIu64 " follows %" PRIu64 "'%" PRIu64
		     " but we are at %" PRIu64 "'%" PRIu64 " (recovery fills the gap)", pg->cid,
		     rp.entry.ver.epoch, rp.entry.ver.v, rp.entry.prior.epoch, rp.entry.prior.v,
		     pg->info.last_update.epoch, pg->info.last_update.v);
	char oid[STORE_OID_MAX + 1];
	memcpy(oid, m->oid, m->oid_len);
	oid[m->oid_len] = 0;
	struct store_txn *t = store_txn_new();
	struct repop_ctx *x = calloc(1, sizeof(*x));
	if (!t || !x) {
		store_txn_free(t);
		free(x);
		free(m);
		return;
	}
	int deleted = rp.entry.op == PG_LOG_DELETE;
	struct store_stat st;
	int exists = store_stat(o->store, pg->cid, oid, &st) == 0;
	/* a delete of an object this replica lacks (it missed its creation)
	 * must not fail the whole transaction */
	uint32_t n = m->n_steps;
	rc = 0;
	if (!exists && n && m->steps[0].code == OSD_OP_DELETE)
		n = 0;
	struct snap_wstate *sw;
	rc = snap_write_begin(o->store, t, pg->cid, oid, m, &sw);
	if (n && !rc)
		rc = apply_resolved(t, pg->cid, oid, m->steps, n, &rp.entry.ver, deleted);
	rc = snap_write_end(t, pg->cid, oid, deleted, sw, rc);
	if (!rc)
		rc = log_and_info(pg, t, &rp.entry);
	free(m);
	if (rc) {
		store_txn_free(t);
		free(x);
		repop_reply_now(o, c, in->hdr.tid, &rp, rc);
		return;
	}
	if (!exists && !deleted)
		pg->objects++;
	else if (exists && deleted && pg->objects)
		pg->objects--;
	x->o = o;
	x->conn = c;
	msgr_conn_get(c);
	x->tid = in->hdr.tid;
	x->rr = (struct osd_repop_reply){ .pool = rp.pool, .seed = rp.seed, .ver = rp.entry.ver };
	rc = store_queue_txn(o->store, t, repop_commit_cb, x);
	if (rc) {
		if (rc == NORN_EFAILED)
			exit(1);
		msgr_conn_put(c);
		free(x);
		repop_reply_now(o, c, in->hdr.tid, &rp, rc);
	}
}

void osd_handle_repop_reply(struct osd *o, struct msgr_conn *c, struct msg_in *in)
{
	struct osd_repop_reply rr;
	struct pg *pg;
	struct osd_op *op;
	int32_t from = -1;

	if (osd_repop_reply_decode(&rr, in->payload, in->len)) {
		NLOG(OSD, WARN, "malformed REPOP_REPLY from %s", msgr_conn_peer_entity(c));
		return;
	}
	const char *ent = msgr_conn_peer_entity(c);
	if (!strncmp(ent, "osd.", 4))
		from = (int32_t)strtol(ent + 4, NULL, 10);
	pg = osd_pg_get(o, rr.pool, rr.seed);
	if (!pg || from < 0)
		return;
	TAILQ_FOREACH(op, &pg->inflight, q) {
		if (!op->is_write || pg_ev_cmp(&op->le.ver, &rr.ver) != 0)
			continue;
		if (rr.result) {
			NLOG(OSD, ERR, "pg %s: osd.%d failed to apply %" PRIu64 "'%" PRIu64 ": %s", pg->cid,
			     from, rr.ver.epoch, rr.ver.v, norn_strerror(rr.result));
			return;       /* not acked: the client times out */
		}
		if (!in_list(op->acked, op->n_acked, from) && op->n_acked < OSDMAP_MAX_POOL_SIZE)
			op->acked[op->n_acked++] = from;
		write_check_done(op);
		return;
	}
}
