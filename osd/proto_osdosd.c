/* OSD <-> OSD message codecs (see proto_osdosd.h). */
#include "osd/proto_osdosd.h"

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
