/* OSD <-> OSD message codecs (see proto_osdosd.h). */
#include "osd/proto_osdosd.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "norn/errors.h"

static int finish(struct dec *d)
{
	if (!dec_error(d) && dec_left(d))
		dec_fail(d, NORN_ECORRUPT);
	return dec_error(d);
}

int osd_repop_encode(struct enc *e, const struct osd_repop *r)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_s64(e, r->pool);
	enc_u32(e, r->seed);
	enc_u64(e, r->epoch);
	pg_log_entry_encode(e, &r->entry);
	enc_blob(e, r->ops, r->ops_len);
	enc_struct_end(e, t);
	return enc_error(e);
}

/* A struct ended at @t whose last field's bytes continue past the encoder
 * as a separate iovec of @tail_len bytes (sent uncopied): grow the
 * struct's body length to cover them. */
static int struct_covers_tail(struct enc *e, size_t t, size_t tail_len)
{
	if (enc_error(e))
		return enc_error(e);
	uint32_t body = norn_get_le32(e->buf + t);
	if ((uint64_t)body + tail_len > UINT32_MAX) {
		e->err = -EOVERFLOW;
		return enc_error(e);
	}
	norn_put_le32(e->buf + t, (uint32_t)(body + tail_len));
	return 0;
}

int osd_repop_encode_split(struct enc *e, const struct osd_repop *r, size_t tail_len)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_s64(e, r->pool);
	enc_u32(e, r->seed);
	enc_u64(e, r->epoch);
	pg_log_entry_encode(e, &r->entry);
	if (r->ops_len + tail_len > UINT32_MAX || r->ops_len + tail_len < r->ops_len) {
		e->err = -EOVERFLOW;
		return enc_error(e);
	}
	enc_u32(e, (uint32_t)(r->ops_len + tail_len));
	enc_bytes(e, r->ops, r->ops_len);
	enc_struct_end(e, t);
	return struct_covers_tail(e, t, tail_len);
}

int osd_repop_decode(struct osd_repop *r, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(r, 0, sizeof(*r));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, 1, &v, &tok);
	r->pool = dec_s64(&d);
	r->seed = dec_u32(&d);
	r->epoch = dec_u64(&d);
	pg_log_entry_decode(&d, &r->entry);
	r->ops = dec_blob(&d, &r->ops_len);
	dec_struct_end(&d, &tok);
	if (!dec_error(&d) && r->pool < 0)
		dec_fail(&d, NORN_ECORRUPT);
	return finish(&d);
}

int osd_repop_reply_encode(struct enc *e, const struct osd_repop_reply *r)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_s64(e, r->pool);
	enc_u32(e, r->seed);
	enc_u64(e, r->ver.epoch);
	enc_u64(e, r->ver.v);
	enc_s32(e, r->result);
	enc_struct_end(e, t);
	return enc_error(e);
}

int osd_repop_reply_decode(struct osd_repop_reply *r, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(r, 0, sizeof(*r));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, 1, &v, &tok);
	r->pool = dec_s64(&d);
	r->seed = dec_u32(&d);
	r->ver.epoch = dec_u64(&d);
	r->ver.v = dec_u64(&d);
	r->result = dec_s32(&d);
	dec_struct_end(&d, &tok);
	return finish(&d);
}

int osd_ping_encode(struct enc *e, const struct osd_ping *p)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_s32(e, p->from);
	enc_u64(e, p->epoch);
	enc_u64(e, p->stamp_ns);
	enc_struct_end(e, t);
	return enc_error(e);
}

int osd_ping_decode(struct osd_ping *p, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(p, 0, sizeof(*p));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, 1, &v, &tok);
	p->from = dec_s32(&d);
	p->epoch = dec_u64(&d);
	p->stamp_ns = dec_u64(&d);
	dec_struct_end(&d, &tok);
	return finish(&d);
}

/* ---- peering and recovery ---------------------------------------------------- */

int osd_pg_msg_encode(struct enc *e, const struct osd_pg_msg *m)
{
	size_t t = enc_struct_begin(e, 2, 1);
	enc_s64(e, m->pool);
	enc_u32(e, m->seed);
	enc_u64(e, m->epoch);
	enc_s32(e, m->result);
	enc_blob(e, m->oid, m->oid_len);
	enc_u64(e, m->off);               /* v2 */
	enc_struct_end(e, t);
	return enc_error(e);
}

int osd_pg_msg_decode(struct osd_pg_msg *m, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(m, 0, sizeof(*m));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, 2, &v, &tok);
	m->pool = dec_s64(&d);
	m->seed = dec_u32(&d);
	m->epoch = dec_u64(&d);
	m->result = dec_s32(&d);
	m->oid = dec_blob(&d, &m->oid_len);
	if (v >= 2)
		m->off = dec_u64(&d);
	dec_struct_end(&d, &tok);
	if (!dec_error(&d) && (m->pool < 0 || m->oid_len > STORE_OID_MAX ||
	                       memchr(m->oid, 0, m->oid_len) || m->off > OSD_PUSH_MAX_OBJECT_BYTES))
		dec_fail(&d, NORN_ECORRUPT);
	return finish(&d);
}

int osd_pg_notify_encode(struct enc *e, const struct osd_pg_notify *n)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_s64(e, n->pool);
	enc_u32(e, n->seed);
	enc_u64(e, n->epoch);
	pg_info_encode(e, &n->info);
	enc_u32(e, n->n_entries);
	for (uint32_t i = 0; i < n->n_entries; i++)
		pg_log_entry_encode(e, &n->entries[i]);
	enc_u32(e, n->n_objs);
	for (uint32_t i = 0; i < n->n_objs; i++)
		enc_blob(e, n->objs[i], n->obj_lens[i]);
	enc_struct_end(e, t);
	return enc_error(e);
}

void osd_pg_notify_free(struct osd_pg_notify *n)
{
	free(n->entries);
	free(n->objs);
	free(n->obj_lens);
	n->entries = NULL;
	n->objs = NULL;
	n->obj_lens = NULL;
}

int osd_pg_notify_decode(struct osd_pg_notify *n, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(n, 0, sizeof(*n));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, 1, &v, &tok);
	n->pool = dec_s64(&d);
	n->seed = dec_u32(&d);
	n->epoch = dec_u64(&d);
	{
		/* info is a nested versioned struct: decode it from its bytes */
		size_t start = d.off;
		struct dec_struct it;
		uint8_t iv;
		dec_struct_begin(&d, 1, &iv, &it);
		dec_struct_end(&d, &it);
		if (!dec_error(&d) && pg_info_decode(d.p + start, d.off - start, &n->info))
			dec_fail(&d, NORN_ECORRUPT);
	}
	n->n_entries = dec_count(&d, PG_LOG_MAX_ENTRIES, 16);
	if (!dec_error(&d) && n->n_entries) {
		n->entries = calloc(n->n_entries, sizeof(*n->entries));
		if (!n->entries)
			dec_fail(&d, -ENOMEM);
	}
	for (uint32_t i = 0; i < n->n_entries && !dec_error(&d); i++) {
		pg_log_entry_decode(&d, &n->entries[i]);
		if (!dec_error(&d) && i && pg_ev_cmp(&n->entries[i - 1].ver, &n->entries[i].ver) >= 0)
			dec_fail(&d, NORN_ECORRUPT);
	}
	n->n_objs = dec_count(&d, OSD_NOTIFY_MAX_OBJECTS, 4);
	if (!dec_error(&d) && n->n_objs) {
		n->objs = calloc(n->n_objs, sizeof(*n->objs));
		n->obj_lens = calloc(n->n_objs, sizeof(*n->obj_lens));
		if (!n->objs || !n->obj_lens)
			dec_fail(&d, -ENOMEM);
	}
	for (uint32_t i = 0; i < n->n_objs && !dec_error(&d); i++) {
		n->objs[i] = dec_blob(&d, &n->obj_lens[i]);
		if (!dec_error(&d) && (n->obj_lens[i] == 0 || n->obj_lens[i] > STORE_OID_MAX ||
		                       memchr(n->objs[i], 0, n->obj_lens[i])))
			dec_fail(&d, NORN_ECORRUPT);
	}
	dec_struct_end(&d, &tok);
	if (!dec_error(&d) && n->pool < 0)
		dec_fail(&d, NORN_ECORRUPT);
	int rc = finish(&d);
	if (rc)
		osd_pg_notify_free(n);
	return rc;
}

/* A whole object (off 0, size = data_len) keeps the version 1 layout,
 * which older OSDs read; a piece is version 2 with compat 2 (an older
 * reader refuses it instead of taking a piece for the whole object). The
 * data blob comes last in both, so it can travel as a separate iovec. */
static int push_encode(struct enc *e, const struct osd_pg_push *p, size_t tail_len)
{
	int piece = p->off != 0 || p->size != p->data_len;
	size_t dlen = p->data_len + tail_len;
	size_t t = enc_struct_begin(e, piece ? 2 : 1, piece ? 2 : 1);
	enc_s64(e, p->pool);
	enc_u32(e, p->seed);
	enc_u64(e, p->epoch);
	enc_blob(e, p->oid, p->oid_len);
	enc_u8(e, p->exists);
	enc_blob(e, p->xattrs, p->xattrs_len);
	enc_blob(e, p->omap, p->omap_len);
	if (piece) {
		enc_u64(e, p->off);
		enc_u64(e, p->size);
	}
	if (dlen > UINT32_MAX || dlen < p->data_len) {
		e->err = -EOVERFLOW;
		return enc_error(e);
	}
	enc_u32(e, (uint32_t)dlen);
	enc_bytes(e, p->data, p->data_len);
	enc_struct_end(e, t);
	return struct_covers_tail(e, t, tail_len);
}

int osd_pg_push_encode(struct enc *e, const struct osd_pg_push *p)
{
	return push_encode(e, p, 0);
}

int osd_pg_push_encode_split(struct enc *e, const struct osd_pg_push *p)
{
	struct osd_pg_push h = *p;
	h.data = NULL;
	h.data_len = 0;
	if (p->off == 0 && p->size == p->data_len)
		h.size = 0;                   /* still a whole object: version 1 */
	return push_encode(e, &h, p->data_len);
}

int osd_pg_push_decode(struct osd_pg_push *p, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(p, 0, sizeof(*p));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, 2, &v, &tok);
	p->pool = dec_s64(&d);
	p->seed = dec_u32(&d);
	p->epoch = dec_u64(&d);
	p->oid = dec_blob(&d, &p->oid_len);
	p->exists = dec_u8(&d);
	p->xattrs = dec_blob(&d, &p->xattrs_len);
	p->omap = dec_blob(&d, &p->omap_len);
	if (v >= 2) {
		p->off = dec_u64(&d);
		p->size = dec_u64(&d);
	}
	p->data = dec_blob(&d, &p->data_len);
	dec_struct_end(&d, &tok);
	if (v < 2)
		p->size = p->data_len;
	if (!dec_error(&d) && (p->pool < 0 || p->oid_len == 0 || p->oid_len > STORE_OID_MAX ||
	                       memchr(p->oid, 0, p->oid_len) || p->exists > 1))
		dec_fail(&d, NORN_ECORRUPT);
	/* a piece: inside the object; only the first carries xattrs and omap;
	 * an absent object is one message with nothing in it */
	if (!dec_error(&d) && (p->size > OSD_PUSH_MAX_OBJECT_BYTES || p->off > p->size ||
	                       p->data_len > p->size - p->off ||
	                       (p->off && (p->xattrs_len || p->omap_len || !p->data_len)) ||
	                       (!p->exists && (p->size || p->data_len || p->xattrs_len || p->omap_len))))
		dec_fail(&d, NORN_ECORRUPT);
	return finish(&d);
}
