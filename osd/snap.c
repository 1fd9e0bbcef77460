/* Snapshots in norn-osd: see snap.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/encode.h"
#include "common/log.h"
#include "norn/errors.h"
#include "osd/snap.h"

#define SNAPSET_VERSION 1

void snapset_encode(struct enc *e, const struct snapset *ss)
{
	size_t tok = enc_struct_begin(e, SNAPSET_VERSION, 1);
	enc_u64(e, ss->seq);
	enc_u32(e, ss->n_clones);
	for (uint32_t i = 0; i < ss->n_clones; i++) {
		const struct snap_clone *c = &ss->clones[i];
		enc_u64(e, c->id);
		enc_u64(e, c->size);
		enc_u32(e, c->n);
		for (uint32_t k = 0; k < c->n; k++)
			enc_u64(e, ss->ids[c->first + k]);
	}
	enc_struct_end(e, tok);
}

int snapset_decode(struct snapset *ss, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;

	memset(ss, 0, offsetof(struct snapset, clones));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, SNAPSET_VERSION, &ver, &tok);
	ss->seq = dec_u64(&d);
	ss->n_clones = dec_count(&d, SNAP_MAX_CLONES, 20);
	for (uint32_t i = 0; i < ss->n_clones && !dec_error(&d); i++) {
		struct snap_clone *c = &ss->clones[i];
		c->id = dec_u64(&d);
		c->size = dec_u64(&d);
		c->n = dec_count(&d, SNAP_MAX_IDS, 8);
		c->first = ss->n_ids;
		if (c->n == 0 || c->n > SNAP_MAX_IDS - ss->n_ids) {
			dec_fail(&d, NORN_ECORRUPT);
			break;
		}
		for (uint32_t k = 0; k < c->n; k++)
			ss->ids[ss->n_ids++] = dec_u64(&d);
		/* clones oldest first, ids within (previous clone, id] */
		if (c->id > ss->seq || (i && c->id <= ss->clones[i - 1].id))
			dec_fail(&d, NORN_ECORRUPT);
	}
	dec_struct_end(&d, &tok);
	if (dec_error(&d)) {
		ss->n_clones = ss->n_ids = 0;
		return dec_error(&d) == NORN_EVERSION ? NORN_EVERSION : NORN_ECORRUPT;
	}
	return 0;
}

int snap_clone_name(char *out, const char *oid, uint64_t id)
{
	int n = snprintf(out, STORE_OID_MAX + 1, "%cc.%s.%016" PRIx64, SNAP_HIDDEN_BYTE, oid, id);
	return n < 0 || n > (int)STORE_OID_MAX ? -ENAMETOOLONG : 0;
}

int snap_dir_name(char *out, const char *oid)
{
	int n = snprintf(out, STORE_OID_MAX + 1, "%cd.%s", SNAP_HIDDEN_BYTE, oid);
	return n < 0 || n > (int)STORE_OID_MAX ? -ENAMETOOLONG : 0;
}

int snap_is_hidden(const char *name)
{
	return (unsigned char)name[0] == SNAP_HIDDEN_BYTE;
}

void snap_filter_names(struct store_names *names)
{
	size_t k = 0;
	for (size_t i = 0; i < names->n; i++) {
		if (snap_is_hidden(names->v[i]))
			free(names->v[i]);
		else
			names->v[k++] = names->v[i];
	}
	names->n = k;
}

/* Load the snapset of @oid from the head (if it exists) or its snapdir.
 * *@head_exists, *@head_size, *@head_had (xattr present on the head),
 * *@dir_exists are filled. A missing snapset is an empty one. */
static int snapset_load(struct store *s, const char *cid, const char *oid, struct snapset *ss,
                        int *head_exists, uint64_t *head_size, int *head_had, int *dir_exists)
{
	struct store_stat st;
	char dir[STORE_OID_MAX + 1];
	uint8_t *v = NULL;
	size_t vl = 0;
	int rc;

	memset(ss, 0, offsetof(struct snapset, clones));
	*head_had = *dir_exists = 0;
	*head_size = 0;
	rc = store_stat(s, cid, oid, &st);
	if (rc && rc != -ENOENT)
		return rc;
	*head_exists = rc == 0;
	if (*head_exists) {
		*head_size = st.size;
		rc = store_getxattr(s, cid, oid, SNAP_XATTR, &v, &vl);
		if (rc == 0)
			*head_had = 1;
	} else {
		rc = -ENOENT;
	}
	if (snap_dir_name(dir, oid) == 0 && store_stat(s, cid, dir, &st) == 0) {
		*dir_exists = 1;
		if (!*head_had) {
			rc = store_getxattr(s, cid, dir, SNAP_XATTR, &v, &vl);
		}
	}
	if (rc == -ENOENT || rc == -ENODATA)
		return 0;
	if (rc)
		return rc;
	rc = snapset_decode(ss, v, vl);
	free(v);
	if (rc)
		NLOG(OSD, ERR, "pg %s: object %s: undecodable snapset: %s", cid, oid, norn_strerror(rc));
	return rc;
}

/* The write snap context's ids (newest first on the wire). */
static int snapc_has(const struct osd_op_msg *m, uint64_t id)
{
	for (uint32_t i = 0; i < m->n_snaps; i++)
		if (norn_get_le64(m->snaps + (size_t)i * 8) == id)
			return 1;
	return 0;
}

struct snap_wstate {
	int head_had, dir_exists, dirty;
	struct snapset ss;
};

/* Remove clone @i (object and record). */
static int clone_drop(struct store_txn *t, const char *cid, const char *oid, struct snapset *ss,
                      uint32_t i)
{
	char cn[STORE_OID_MAX + 1];
	int rc = snap_clone_name(cn, oid, ss->clones[i].id);
	if (rc)
		return rc;
	rc = store_txn_remove(t, cid, cn);
	if (rc)
		return rc;
	memmove(&ss->clones[i], &ss->clones[i + 1], (ss->n_clones - i - 1) * sizeof(ss->clones[0]));
	ss->n_clones--;
	return 0;
}

/* Compact ids after clones changed. */
static void ids_compact(struct snapset *ss)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < ss->n_clones; i++) {
		struct snap_clone *c = &ss->clones[i];
		memmove(&ss->ids[k], &ss->ids[c->first], c->n * sizeof(ss->ids[0]));
		c->first = k;
		k += c->n;
	}
	ss->n_ids = k;
}

int snap_write_begin(struct store *s, struct store_txn *t, const char *cid, const char *oid,
                     const struct osd_op_msg *m, struct snap_wstate **stp)
{
	struct snap_wstate *st;
	int head_exists, rc;
	uint64_t head_size;

	*stp = NULL;
	if (m->snap_seq == 0)
		return 0;                 /* a writer that never saw a snapshot */
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = snapset_load(s, cid, oid, &st->ss, &head_exists, &head_size, &st->head_had,
	                  &st->dir_exists);
	if (rc) {
		free(st);
		return rc;
	}
	st->dirty = 0;
	struct snapset *ss = &st->ss;
	if (m->snap_seq >= ss->seq) {
		/* trim: ids <= seq that are not in the context were removed */
		for (uint32_t i = 0; i < ss->n_clones; i++) {
			struct snap_clone *c = &ss->clones[i];
			uint32_t k = 0;
			for (uint32_t j = 0; j < c->n; j++) {
				uint64_t id = ss->ids[c->first + j];
				if (id > m->snap_seq || snapc_has(m, id))
					ss->ids[c->first + k++] = id;
			}
			if (k != c->n)
				st->dirty = 1;
			c->n = k;
		}
		for (uint32_t i = ss->n_clones; i-- > 0;)
			if (ss->clones[i].n == 0 && (rc = clone_drop(t, cid, oid, ss, i)))
				goto fail;
		ids_compact(ss);
	}
	if (m->snap_seq > ss->seq) {
		/* clone: the head stands for the snapshots in (ss->seq, snap_seq] */
		uint32_t n = 0;
		for (uint32_t i = 0; i < m->n_snaps; i++) {
			uint64_t id = norn_get_le64(m->snaps + (size_t)i * 8);
			if (id > ss->seq && id <= m->snap_seq)
				n++;
		}
		if (head_exists && n) {
			char cn[STORE_OID_MAX + 1];
			if (ss->n_clones >= SNAP_MAX_CLONES || n > SNAP_MAX_IDS - ss->n_ids) {
				rc = -E2BIG;
				goto fail;
			}
			if ((rc = snap_clone_name(cn, oid, m->snap_seq)) ||
			    (rc = store_txn_clone(t, cid, oid, cn)))
				goto fail;
			if (st->head_had && (rc = store_txn_rmxattr(t, cid, cn, SNAP_XATTR)))
				goto fail;
			struct snap_clone *c = &ss->clones[ss->n_clones++];
			c->id = m->snap_seq;
			c->size = head_size;
			c->first = ss->n_ids;
			c->n = 0;
			/* ids oldest first within a clone */
			for (uint32_t i = m->n_snaps; i-- > 0;) {
				uint64_t id = norn_get_le64(m->snaps + (size_t)i * 8);
				if (id > ss->seq && id <= m->snap_seq)
					ss->ids[ss->n_ids + c->n++] = id;
			}
			ss->n_ids += c->n;
		}
		ss->seq = m->snap_seq;
		st->dirty = 1;
	}
	*stp = st;
	return 0;
fail:
	free(st);
	return rc;
}

int snap_write_end(struct store_txn *t, const char *cid, const char *oid, int deleted_at_end,
                   struct snap_wstate *st, int rc)
{
	char dir[STORE_OID_MAX + 1];
	struct enc e;

	if (!st)
		return rc;
	if (rc)
		goto out;
	rc = snap_dir_name(dir, oid);
	if (rc)
		goto out;
	enc_init(&e, 64 + st->ss.n_ids * 8);
	snapset_encode(&e, &st->ss);
	if (enc_error(&e)) {
		rc = -ENOMEM;
	} else if (!deleted_at_end) {
		/* always rewritten: a rollback replaced the head's xattrs */
		rc = store_txn_setxattr(t, cid, oid, SNAP_XATTR, e.buf, e.len);
		if (!rc && st->dir_exists)
			rc = store_txn_remove(t, cid, dir);
	} else if (st->ss.n_clones) {
		rc = store_txn_touch(t, cid, dir);
		if (!rc)
			rc = store_txn_setxattr(t, cid, dir, SNAP_XATTR, e.buf, e.len);
	} else if (st->dir_exists) {
		rc = store_txn_remove(t, cid, dir);
	}
	enc_free(&e);
out:
	free(st);
	return rc;
}

int snap_rollback_resolve(struct store *s, const char *cid, const char *oid,
                          const struct osd_op_msg *m, uint64_t snapid, int *exists,
                          uint64_t *size, struct osd_op_step *x, char *namebuf)
{
	struct snapset *ss;
	int head_exists, head_had, dir_exists, rc;
	uint64_t head_size;

	memset(x, 0, sizeof(*x));
	namebuf[0] = 0;
	if (snapid == 0) {
		/* applies the snap context only (trim); also for a deleted head
		 * whose clones wait in its snapdir (the step leaves it deleted) */
		struct store_stat st;
		if (*exists || (snap_dir_name(namebuf, oid) == 0 &&
		                store_stat(s, cid, namebuf, &st) == 0))
			*x = (struct osd_op_step){ .code = OSD_OP_ROLLBACK, .name = namebuf };
		namebuf[0] = 0;
		return 0;
	}
	if (m->n_snaps && !snapc_has(m, snapid))
		return -ENOENT;
	ss = malloc(sizeof(*ss));
	if (!ss)
		return -ENOMEM;
	rc = snapset_load(s, cid, oid, ss, &head_exists, &head_size, &head_had, &dir_exists);
	if (rc)
		goto out;
	if (snapid > ss->seq) {
		/* unchanged since the snapshot (as far as committed state goes) */
		if (*exists)
			*x = (struct osd_op_step){ .code = OSD_OP_ROLLBACK, .name = namebuf };
		goto out;
	}
	for (uint32_t i = 0; i < ss->n_clones; i++) {
		const struct snap_clone *c = &ss->clones[i];
		for (uint32_t k = 0; k < c->n; k++) {
			if (ss->ids[c->first + k] != snapid)
				continue;
			rc = snap_clone_name(namebuf, oid, c->id);
			if (rc)
				goto out;
			*x = (struct osd_op_step){ .code = OSD_OP_ROLLBACK, .name = namebuf,
			                           .name_len = strlen(namebuf) };
			*exists = 1;
			*size = c->size;
			goto out;
		}
	}
	/* it did not exist at snapid */
	if (*exists)
		*x = (struct osd_op_step){ .code = OSD_OP_DELETE };
	*exists = 0;
	*size = 0;
out:
	free(ss);
	return rc;
}

int snap_apply_rollback(struct store_txn *t, const char *cid, const char *oid,
                        const struct osd_op_step *x)
{
	char src[STORE_OID_MAX + 1];

	if (x->name_len == 0)
		return 0;
	if (x->name_len > STORE_OID_MAX || memchr(x->name, 0, x->name_len) ||
	    (unsigned char)x->name[0] != SNAP_HIDDEN_BYTE)
		return -EINVAL;
	memcpy(src, x->name, x->name_len);
	src[x->name_len] = 0;
	return store_txn_clone(t, cid, src, oid);
}

int snap_read_redirect(struct store *s, const char *cid, char *oid, uint64_t read_snap)
{
	struct snapset *ss;
	int head_exists, head_had, dir_exists, rc;
	uint64_t head_size;

	if (read_snap == 0 || oid[0] == 0)
		return 0;
	ss = malloc(sizeof(*ss));
	if (!ss)
		return -ENOMEM;
	rc = snapset_load(s, cid, oid, ss, &head_exists, &head_size, &head_had, &dir_exists);
	if (rc)
		goto out;
	if (read_snap > ss->seq) {
		rc = head_exists ? 0 : -ENOENT;
		goto out;
	}
	rc = -ENOENT;
	for (uint32_t i = 0; i < ss->n_clones && rc; i++) {
		const struct snap_clone *c = &ss->clones[i];
		for (uint32_t k = 0; k < c->n; k++)
			if (ss->ids[c->first + k] == read_snap) {
				char cn[STORE_OID_MAX + 1];
				struct store_stat st;
				rc = snap_clone_name(cn, oid, c->id);
				if (!rc && store_stat(s, cid, cn, &st) != 0) {
					/* recorded but absent here (a copy recovery did not
					 * bring): an error, never "did not exist" (zeros) */
					NLOG(OSD, ERR, "pg %s: %s: clone %" PRIu64 " for snapshot %" PRIu64
					     " is missing", cid, oid, c->id, read_snap);
					rc = -EIO;
				}
				if (!rc)
					memcpy(oid, cn, strlen(cn) + 1);
				break;
			}
	}
out:
	free(ss);
	return rc;
}
