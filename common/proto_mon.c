/* Encoding of the monitor protocol messages (proto_mon.h). Each message is
 * one versioned struct; decoders are zero-copy where they return byte
 * ranges and reject trailing garbage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/proto_mon.h"
#include "common/assert.h"
#include "norn/errors.h"

#define V1 1

/* Open a message: versioned struct over the whole payload. */
static void open_msg(struct dec *d, struct dec_struct *tok, const void *buf, size_t len)
{
	uint8_t v;
	dec_init(d, buf, len);
	dec_struct_begin(d, V1, &v, tok);
}

static int close_msg(struct dec *d, struct dec_struct *tok)
{
	dec_struct_end(d, tok);
	if (!d->err && dec_left(d))
		dec_fail(d, NORN_ECORRUPT);
	return d->err;
}

int mon_command_encode(struct enc *e, const struct mon_command *c)
{
	size_t t = enc_struct_begin(e, V1, 1);
	enc_blob(e, c->json, c->json_len);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_command_decode(struct mon_command *c, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	open_msg(&d, &t, buf, len);
	c->json = dec_blob(&d, &c->json_len);
	if (!d.err && c->json_len > MON_CMD_MAX_BYTES)
		dec_fail(&d, NORN_ECORRUPT);
	return close_msg(&d, &t);
}

int mon_command_reply_encode(struct enc *e, const struct mon_command_reply *r)
{
	size_t t = enc_struct_begin(e, V1, 1);
	enc_s32(e, r->result);
	enc_blob(e, r->status, r->status_len);
	enc_blob(e, r->out, r->out_len);
	enc_s32(e, r->leader_rank);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_command_reply_decode(struct mon_command_reply *r, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	open_msg(&d, &t, buf, len);
	r->result = dec_s32(&d);
	r->status = dec_blob(&d, &r->status_len);
	r->out = dec_blob(&d, &r->out_len);
	r->leader_rank = dec_s32(&d);
	return close_msg(&d, &t);
}

int mon_subscribe_encode(struct enc *e, const struct mon_subscribe *s)
{
	size_t t = enc_struct_begin(e, V1, 1);
	enc_u32(e, s->what);
	enc_u64(e, s->osdmap_have);
	enc_u64(e, s->monmap_have);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_subscribe_decode(struct mon_subscribe *s, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	open_msg(&d, &t, buf, len);
	s->what = dec_u32(&d);
	s->osdmap_have = dec_u64(&d);
	s->monmap_have = dec_u64(&d);
	return close_msg(&d, &t);
}

int mon_osdmap_msg_encode(struct enc *e, const struct mon_osdmap_msg *m)
{
	NORN_ASSERT(m->n_incs <= MON_MAX_INCS_PER_MSG);
	size_t t = enc_struct_begin(e, V1, 1);
	enc_u64(e, m->full_epoch);
	enc_blob(e, m->full, m->full_len);
	enc_u64(e, m->first_inc);
	enc_u32(e, m->n_incs);
	for (uint32_t i = 0; i < m->n_incs; i++)
		enc_blob(e, m->incs[i], m->inc_lens[i]);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_osdmap_msg_decode(struct mon_osdmap_msg *m, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	memset(m, 0, sizeof(*m));
	open_msg(&d, &t, buf, len);
	m->full_epoch = dec_u64(&d);
	m->full = dec_blob(&d, &m->full_len);
	m->first_inc = dec_u64(&d);
	m->n_incs = dec_count(&d, MON_MAX_INCS_PER_MSG, 4);
	for (uint32_t i = 0; i < m->n_incs && !d.err; i++)
		m->incs[i] = dec_blob(&d, &m->inc_lens[i]);
	if (!d.err && m->full_epoch == 0 && m->full_len)
		dec_fail(&d, NORN_ECORRUPT);
	return close_msg(&d, &t);
}

int mon_get_ticket_encode(struct enc *e, const struct mon_get_ticket *g)
{
	size_t t = enc_struct_begin(e, V1, 1);
	enc_u32(e, g->service);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_get_ticket_decode(struct mon_get_ticket *g, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	open_msg(&d, &t, buf, len);
	g->service = dec_u32(&d);
	return close_msg(&d, &t);
}

int mon_ticket_encode(struct enc *e, const struct mon_ticket *k)
{
	size_t t = enc_struct_begin(e, V1, 1);
	enc_s32(e, k->result);
	enc_u64(e, k->expires_ns);
	enc_blob(e, k->ticket, k->ticket_len);
	enc_blob(e, k->enc_session_key, k->enc_session_key_len);
	enc_blob(e, k->service_key, k->service_key_len);
	enc_u64(e, k->service_key_id);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_ticket_decode(struct mon_ticket *k, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	open_msg(&d, &t, buf, len);
	k->result = dec_s32(&d);
	k->expires_ns = dec_u64(&d);
	k->ticket = dec_blob(&d, &k->ticket_len);
	k->enc_session_key = dec_blob(&d, &k->enc_session_key_len);
	k->service_key = dec_blob(&d, &k->service_key_len);
	k->service_key_id = dec_u64(&d);
	return close_msg(&d, &t);
}

int mon_osd_boot_encode(struct enc *e, const struct mon_osd_boot *b)
{
	size_t t = enc_struct_begin(e, V1, 1);
	enc_s32(e, b->osd);
	enc_bytes(e, b->uuid, sizeof(b->uuid));
	map_addr_encode(e, &b->addr);
	enc_str(e, b->host);
	enc_u64(e, b->capacity_bytes);
	enc_u64(e, b->used_bytes);
	enc_u64(e, b->have_epoch);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_osd_boot_decode(struct mon_osd_boot *b, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	memset(b, 0, sizeof(*b));
	open_msg(&d, &t, buf, len);
	b->osd = dec_s32(&d);
	dec_copy(&d, b->uuid, sizeof(b->uuid));
	map_addr_decode(&d, &b->addr);
	dec_str(&d, b->host, sizeof(b->host));
	b->capacity_bytes = dec_u64(&d);
	b->used_bytes = dec_u64(&d);
	b->have_epoch = dec_u64(&d);
	if (!d.err && b->osd < 0)
		dec_fail(&d, NORN_ECORRUPT);
	return close_msg(&d, &t);
}

int pg_state_format(uint32_t state, char *buf, size_t cap)
{
	static const char *const names[] = {
		"active", "clean", "peering", "degraded", "undersized", "recovering",
		"backfilling", "remapped", "down", "incomplete", "stale",
		"recovery_wait", "backfill_wait", "creating", "inconsistent", "scrubbing",
	};
	size_t n = 0;
	int w;

	if (cap)
		buf[0] = 0;
	if (!state)
		return snprintf(buf, cap, "unknown");
	for (unsigned i = 0; i < NORN_ARRAY_SIZE(names); i++) {
		if (!(state & (1u << i)))
			continue;
		w = snprintf(buf + NORN_MIN(n, cap), n < cap ? cap - n : 0, "%s%s",
		             n ? "+" : "", names[i]);
		n += (size_t)w;
	}
	return (int)n;
}

static void enc_pg_stat(struct enc *e, const struct mon_pg_stat *s)
{
	enc_s64(e, s->pool);
	enc_u32(e, s->seed);
	enc_u32(e, s->state);
	enc_u64(e, s->epoch);
	enc_u64(e, s->version);
	enc_u64(e, s->objects);
	enc_u64(e, s->bytes);
	enc_u64(e, s->objects_degraded);
	enc_u64(e, s->objects_misplaced);
	enc_u64(e, s->objects_unfound);
	enc_u64(e, s->recovery_left_objects);
	enc_u64(e, s->recovery_left_bytes);
	enc_u64(e, s->recovery_bytes_per_s);
	enc_u32(e, s->n_acting);
	for (uint32_t i = 0; i < s->n_acting; i++)
		enc_s32(e, s->acting[i]);
}

static void dec_pg_stat(struct dec *d, struct mon_pg_stat *s)
{
	s->pool = dec_s64(d);
	s->seed = dec_u32(d);
	s->state = dec_u32(d);
	s->epoch = dec_u64(d);
	s->version = dec_u64(d);
	s->objects = dec_u64(d);
	s->bytes = dec_u64(d);
	s->objects_degraded = dec_u64(d);
	s->objects_misplaced = dec_u64(d);
	s->objects_unfound = dec_u64(d);
	s->recovery_left_objects = dec_u64(d);
	s->recovery_left_bytes = dec_u64(d);
	s->recovery_bytes_per_s = dec_u64(d);
	s->n_acting = dec_count(d, NORN_ARRAY_SIZE(s->acting), 4);
	for (uint32_t i = 0; i < s->n_acting; i++)
		s->acting[i] = dec_s32(d);
}

int mon_osd_beacon_encode(struct enc *e, const struct mon_osd_beacon *b)
{
	NORN_ASSERT(b->n_pgs <= MON_MAX_PG_STATS);
	size_t t = enc_struct_begin(e, V1, 1);
	enc_s32(e, b->osd);
	enc_u64(e, b->epoch);
	enc_u64(e, b->capacity_bytes);
	enc_u64(e, b->used_bytes);
	enc_u32(e, b->n_pgs);
	for (uint32_t i = 0; i < b->n_pgs; i++)
		enc_pg_stat(e, &b->pgs[i]);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_osd_beacon_decode(struct mon_osd_beacon *b, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	memset(b, 0, sizeof(*b));
	open_msg(&d, &t, buf, len);
	b->osd = dec_s32(&d);
	b->epoch = dec_u64(&d);
	b->capacity_bytes = dec_u64(&d);
	b->used_bytes = dec_u64(&d);
	b->n_pgs = dec_count(&d, MON_MAX_PG_STATS, 96);
	if (!d.err && b->n_pgs) {
		b->pgs = calloc(b->n_pgs, sizeof(*b->pgs));
		if (!b->pgs)
			dec_fail(&d, -ENOMEM);
	}
	for (uint32_t i = 0; i < b->n_pgs && !d.err; i++)
		dec_pg_stat(&d, &b->pgs[i]);
	if (!d.err && b->osd < 0)
		dec_fail(&d, NORN_ECORRUPT);
	int r = close_msg(&d, &t);
	if (r)
		mon_osd_beacon_free(b);
	return r;
}

void mon_osd_beacon_free(struct mon_osd_beacon *b)
{
	free(b->pgs);
	b->pgs = NULL;
	b->n_pgs = 0;
}

int mon_osd_failure_encode(struct enc *e, const struct mon_osd_failure *f)
{
	size_t t = enc_struct_begin(e, V1, 1);
	enc_s32(e, f->target);
	enc_s32(e, f->reporter);
	enc_u64(e, f->epoch);
	enc_u32(e, f->failed_for_ms);
	enc_u8(e, f->still_failed);
	enc_struct_end(e, t);
	return enc_error(e);
}

int mon_osd_failure_decode(struct mon_osd_failure *f, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct t;
	open_msg(&d, &t, buf, len);
	f->target = dec_s32(&d);
	f->reporter = dec_s32(&d);
	f->epoch = dec_u64(&d);
	f->failed_for_ms = dec_u32(&d);
	f->still_failed = dec_u8(&d);
	return close_msg(&d, &t);
}
