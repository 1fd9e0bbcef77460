/* Encoding of the client <-> OSD operation messages (proto_osd.h). */
#include <errno.h>
#include <string.h>
#include "common/proto_osd.h"
#include "common/assert.h"
#include "norn/errors.h"

#define OSD_OP_MSG_VERSION 1
#define OSD_OP_REPLY_VERSION 1

int osd_op_is_write(uint16_t code)
{
	return code >= OSD_OP_CREATE && code <= OSD_OP_ROLLBACK;
}

static int code_known(uint16_t code)
{
	return (code >= OSD_OP_READ && code <= OSD_OP_OMAP_CMP) ||
	       (code >= OSD_OP_CREATE && code <= OSD_OP_ROLLBACK);
}

const char *osd_op_name(uint16_t code)
{
	static const char *const names[] = {
		[OSD_OP_READ] = "read", [OSD_OP_STAT] = "stat",
		[OSD_OP_GETXATTR] = "getxattr", [OSD_OP_GETXATTRS] = "getxattrs",
		[OSD_OP_OMAP_GET_VALS] = "omap-get-vals", [OSD_OP_OMAP_GET_BY_KEYS] = "omap-get-by-keys",
		[OSD_OP_PG_LIST] = "pg-list", [OSD_OP_ASSERT_EXISTS] = "assert-exists",
		[OSD_OP_CMPXATTR] = "cmpxattr", [OSD_OP_OMAP_CMP] = "omap-cmp",
		[OSD_OP_CREATE] = "create",
		[OSD_OP_WRITE] = "write", [OSD_OP_WRITE_FULL] = "write-full",
		[OSD_OP_APPEND] = "append", [OSD_OP_TRUNCATE] = "truncate",
		[OSD_OP_ZERO] = "zero", [OSD_OP_DELETE] = "delete",
		[OSD_OP_SETXATTR] = "setxattr", [OSD_OP_RMXATTR] = "rmxattr",
		[OSD_OP_OMAP_SET] = "omap-set", [OSD_OP_OMAP_RM_KEYS] = "omap-rm-keys",
		[OSD_OP_OMAP_CLEAR] = "omap-clear", [OSD_OP_ROLLBACK] = "rollback",
	};
	if (code < NORN_ARRAY_SIZE(names) && names[code])
		return names[code];
	return "unknown";
}

static void enc_reqid(struct enc *e, const struct osd_reqid *r)
{
	enc_str(e, r->entity);
	enc_u64(e, r->inc);
	enc_u64(e, r->tid);
}

static void dec_reqid(struct dec *d, struct osd_reqid *r)
{
	dec_str(d, r->entity, sizeof(r->entity));
	r->inc = dec_u64(d);
	r->tid = dec_u64(d);
}

static int encode_msg(struct enc *e, const struct osd_op_msg *m, int split,
                      const uint8_t **tail, size_t *tail_len)
{
	size_t tok;

	NORN_ASSERT(m->n_steps <= OSD_OP_MAX_STEPS);
	NORN_ASSERT(m->n_snaps <= OSD_OP_MAX_SNAPS);
	tok = enc_struct_begin(e, OSD_OP_MSG_VERSION, 1);
	enc_u64(e, m->epoch);
	enc_s64(e, m->pool);
	enc_u32(e, m->pg_seed);
	enc_blob(e, m->oid, m->oid_len);
	enc_reqid(e, &m->reqid);
	enc_u32(e, m->flags);
	enc_u64(e, m->snap_seq);
	enc_u32(e, m->n_snaps);
	enc_bytes(e, m->snaps, (size_t)m->n_snaps * 8);
	enc_u64(e, m->read_snap);
	enc_u32(e, m->n_steps);
	for (uint32_t i = 0; i < m->n_steps; i++) {
		const struct osd_op_step *s = &m->steps[i];
		enc_u16(e, s->code);
		enc_u16(e, s->flags);
		enc_u64(e, s->off);
		enc_u64(e, s->len);
		enc_u32(e, s->max);
		enc_blob(e, s->name, s->name_len);
		enc_blob(e, s->name2, s->name2_len);
		if (split && i + 1 == m->n_steps) {
			/* length prefix only; the bytes travel as their own iovec */
			enc_u32(e, (uint32_t)s->data_len);
			*tail = s->data;
			*tail_len = s->data_len;
		} else {
			enc_blob(e, s->data, s->data_len);
		}
	}
	if (split && m->n_steps == 0) {
		*tail = NULL;
		*tail_len = 0;
	}
	/* The struct length must cover the tail bytes too. */
	if (!e->err) {
		size_t body = e->len - tok - 4 + (split ? *tail_len : 0);
		if (body > UINT32_MAX)
			e->err = -EOVERFLOW;
		else
			norn_put_le32(e->buf + tok, (uint32_t)body);
	}
	return enc_error(e);
}

int osd_op_encode(struct enc *e, const struct osd_op_msg *m)
{
	return encode_msg(e, m, 0, NULL, NULL);
}

int osd_op_encode_split(struct enc *e, const struct osd_op_msg *m,
                        const uint8_t **tail, size_t *tail_len)
{
	return encode_msg(e, m, 1, tail, tail_len);
}

int osd_op_decode(struct osd_op_msg *m, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(m, 0, sizeof(*m));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, OSD_OP_MSG_VERSION, &v, &tok);
	m->epoch = dec_u64(&d);
	m->pool = dec_s64(&d);
	m->pg_seed = dec_u32(&d);
	m->oid = dec_blob(&d, &m->oid_len);
	if (!d.err && m->oid_len > OSD_OP_NAME_MAX)
		dec_fail(&d, NORN_ECORRUPT);
	dec_reqid(&d, &m->reqid);
	m->flags = dec_u32(&d);
	m->snap_seq = dec_u64(&d);
	m->n_snaps = dec_count(&d, OSD_OP_MAX_SNAPS, 8);
	m->snaps = dec_bytes(&d, (size_t)m->n_snaps * 8);
	m->read_snap = dec_u64(&d);
	m->n_steps = dec_count(&d, OSD_OP_MAX_STEPS, 32);
	for (uint32_t i = 0; i < m->n_steps && !d.err; i++) {
		struct osd_op_step *s = &m->steps[i];
		s->code = dec_u16(&d);
		s->flags = dec_u16(&d);
		s->off = dec_u64(&d);
		s->len = dec_u64(&d);
		s->max = dec_u32(&d);
		s->name = dec_blob(&d, &s->name_len);
		s->name2 = dec_blob(&d, &s->name2_len);
		s->data = dec_blob(&d, &s->data_len);
		if (!d.err && (!code_known(s->code) || s->name_len > OSD_OP_NAME_MAX ||
		               s->name2_len > OSD_OP_NAME_MAX))
			dec_fail(&d, NORN_ECORRUPT);
	}
	dec_struct_end(&d, &tok);
	if (!d.err && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (!d.err && m->oid_len == 0 && !(m->flags & OSD_OPF_PG_OP))
		dec_fail(&d, NORN_ECORRUPT);
	if (d.err)
		memset(m, 0, sizeof(*m));
	return d.err;
}

int osd_op_reply_encode(struct enc *e, const struct osd_op_reply *r)
{
	size_t tok;

	NORN_ASSERT(r->n_steps <= OSD_OP_MAX_STEPS);
	tok = enc_struct_begin(e, OSD_OP_REPLY_VERSION, 1);
	enc_s32(e, r->result);
	enc_u64(e, r->epoch);
	enc_u64(e, r->version);
	enc_reqid(e, &r->reqid);
	enc_u32(e, r->n_steps);
	for (uint32_t i = 0; i < r->n_steps; i++) {
		enc_s32(e, r->steps[i].rval);
		enc_blob(e, r->steps[i].out, r->steps[i].out_len);
	}
	enc_struct_end(e, tok);
	return enc_error(e);
}

int osd_op_reply_decode(struct osd_op_reply *r, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	memset(r, 0, sizeof(*r));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, OSD_OP_REPLY_VERSION, &v, &tok);
	r->result = dec_s32(&d);
	r->epoch = dec_u64(&d);
	r->version = dec_u64(&d);
	dec_reqid(&d, &r->reqid);
	r->n_steps = dec_count(&d, OSD_OP_MAX_STEPS, 8);
	for (uint32_t i = 0; i < r->n_steps && !d.err; i++) {
		r->steps[i].rval = dec_s32(&d);
		r->steps[i].out = dec_blob(&d, &r->steps[i].out_len);
	}
	dec_struct_end(&d, &tok);
	if (!d.err && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (d.err)
		memset(r, 0, sizeof(*r));
	return d.err;
}

void osd_kv_list_begin(struct enc *e, uint32_t n)
{
	enc_u32(e, n);
}

void osd_kv_list_add(struct enc *e, const void *key, size_t klen, const void *val, size_t vlen)
{
	enc_blob(e, key, klen);
	enc_blob(e, val, vlen);
}

int osd_kv_list_next(struct dec *d, uint32_t *left, const void **key, size_t *klen,
                     const void **val, size_t *vlen)
{
	if (d->err)
		return d->err;
	if (*left == 0)
		return 0;
	*key = dec_blob(d, klen);
	*val = dec_blob(d, vlen);
	if (d->err)
		return d->err;
	(*left)--;
	return 1;
}
