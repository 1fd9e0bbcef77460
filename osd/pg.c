/* PG log, dup index, info and their encodings (see pg.h). */
#include "osd/pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "norn/errors.h"

int pg_ev_cmp(const struct pg_eversion *a, const struct pg_eversion *b)
{
	if (a->epoch != b->epoch)
		return a->epoch < b->epoch ? -1 : 1;
	if (a->v != b->v)
		return a->v < b->v ? -1 : 1;
	return 0;
}

int pg_reqid_eq(const struct osd_reqid *a, const struct osd_reqid *b)
{
	return a->tid == b->tid && a->inc == b->inc && !strcmp(a->entity, b->entity);
}

static void ev_enc(struct enc *e, const struct pg_eversion *v)
{
	enc_u64(e, v->epoch);
	enc_u64(e, v->v);
}

static void ev_dec(struct dec *d, struct pg_eversion *v)
{
	v->epoch = dec_u64(d);
	v->v = dec_u64(d);
}

void pg_log_entry_encode(struct enc *e, const struct pg_log_entry *le)
{
	size_t t = enc_struct_begin(e, 1, 1);
	ev_enc(e, &le->ver);
	ev_enc(e, &le->prior);
	enc_str(e, le->reqid.entity);
	enc_u64(e, le->reqid.inc);
	enc_u64(e, le->reqid.tid);
	enc_u8(e, le->op);
	enc_s32(e, le->result);
	enc_str(e, le->oid);
	enc_struct_end(e, t);
}

int pg_log_entry_decode(struct dec *d, struct pg_log_entry *le)
{
	struct dec_struct tok;
	uint8_t ver;

	memset(le, 0, sizeof(*le));
	dec_struct_begin(d, 1, &ver, &tok);
	ev_dec(d, &le->ver);
	ev_dec(d, &le->prior);
	dec_str(d, le->reqid.entity, sizeof(le->reqid.entity));
	le->reqid.inc = dec_u64(d);
	le->reqid.tid = dec_u64(d);
	le->op = dec_u8(d);
	le->result = dec_s32(d);
	dec_str(d, le->oid, sizeof(le->oid));
	dec_struct_end(d, &tok);
	if (!dec_error(d) && le->op != PG_LOG_MODIFY && le->op != PG_LOG_DELETE)
		dec_fail(d, NORN_ECORRUPT);
	if (!dec_error(d) && pg_ev_cmp(&le->prior, &le->ver) >= 0)
		dec_fail(d, NORN_ECORRUPT);
	return dec_error(d);
}

static void hex16(char *out, uint64_t x)
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, x >>= 4)
		out[i] = digits[x & 15];
}

/* Built by hand: two of these per write, and snprintf's format parsing
 * showed in the write path's profile. Same bytes as
 * "log.%016llx.%016llx" (a golden unit test pins them). */
int pg_log_key(char *buf, const struct pg_eversion *v)
{
	const size_t pl = sizeof(PG_CMETA_LOG_PREFIX) - 1;
	memcpy(buf, PG_CMETA_LOG_PREFIX, pl);
	hex16(buf + pl, v->epoch);
	buf[pl + 16] = '.';
	hex16(buf + pl + 17, v->v);
	buf[pl + 33] = 0;
	NORN_ASSERT(pl + 33 == PG_LOG_KEY_LEN);
	return PG_LOG_KEY_LEN;
}

void pg_info_encode(struct enc *e, const struct pg_info *i)
{
	size_t t = enc_struct_begin(e, 2, 1);
	ev_enc(e, &i->last_update);
	ev_enc(e, &i->last_complete);
	ev_enc(e, &i->log_tail);
	enc_u64(e, i->last_epoch_started);
	enc_u64(e, i->same_interval_since);
	enc_u8(e, i->incomplete);
	enc_struct_end(e, t);
}

int pg_info_complete(const struct pg_info *i)
{
	return !i->incomplete && pg_ev_cmp(&i->last_complete, &i->last_update) == 0;
}

int pg_info_decode(const void *buf, size_t len, struct pg_info *i)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;

	memset(i, 0, sizeof(*i));
	dec_init(&d, buf, len);
	dec_struct_begin(&d, 2, &ver, &tok);
	ev_dec(&d, &i->last_update);
	ev_dec(&d, &i->last_complete);
	ev_dec(&d, &i->log_tail);
	i->last_epoch_started = dec_u64(&d);
	i->same_interval_since = dec_u64(&d);
	if (ver >= 2)
		i->incomplete = dec_u8(&d);
	dec_struct_end(&d, &tok);
	if (!dec_error(&d) && i->incomplete > 1)
		dec_fail(&d, NORN_ECORRUPT);
	if (!dec_error(&d) && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (!dec_error(&d) && (pg_ev_cmp(&i->last_complete, &i->last_update) > 0 ||
	                       pg_ev_cmp(&i->log_tail, &i->last_update) > 0))
		dec_fail(&d, NORN_ECORRUPT);
	return dec_error(&d);
}

/* ---- the in-memory log ------------------------------------------------- */

#define HASH_SIZE (1u << PG_DUP_HASH_BITS)

static uint32_t reqid_hash(const struct osd_reqid *r)
{
	uint64_t h = r->tid * 0x9e3779b97f4a7c15ull ^ r->inc;
	for (const char *p = r->entity; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	h ^= h >> 29;
	return (uint32_t)(h & (HASH_SIZE - 1));
}

int pg_log_init(struct pg_log *l, uint32_t max)
{
	memset(l, 0, sizeof(*l));
	if (max < 1 || max > PG_LOG_MAX_ENTRIES)
		return -EINVAL;
	l->hash = malloc(HASH_SIZE * sizeof(*l->hash));
	if (!l->hash)
		return -ENOMEM;
	for (uint32_t i = 0; i < HASH_SIZE; i++)
		l->hash[i] = -1;
	l->cap = max;
	return 0;
}

void pg_log_free(struct pg_log *l)
{
	free(l->ring);
	free(l->hash);
	free(l->next);
	memset(l, 0, sizeof(*l));
}

/* Grow the ring (entries re-laid from slot 0, hash rebuilt). */
static int grow(struct pg_log *l)
{
	uint32_t na = l->alloc ? l->alloc * 2 : 16;
	if (na > l->cap)
		na = l->cap;
	struct pg_log_entry *r = malloc(na * sizeof(*r));
	int32_t *nx = malloc(na * sizeof(*nx));
	if (!r || !nx) {
		free(r);
		free(nx);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < l->n; i++)
		r[i] = l->ring[(l->head + i) % l->alloc];
	free(l->ring);
	free(l->next);
	l->ring = r;
	l->next = nx;
	l->alloc = na;
	l->head = 0;
	for (uint32_t i = 0; i < HASH_SIZE; i++)
		l->hash[i] = -1;
	for (uint32_t i = 0; i < l->n; i++) {
		uint32_t b = reqid_hash(&r[i].reqid);
		nx[i] = l->hash[b];
		l->hash[b] = (int32_t)i;
	}
	/* chains must run newest first: rebuilt oldest-to-newest above, so
	 * each bucket's head is its newest entry */
	return 0;
}

static void unlink_slot(struct pg_log *l, uint32_t slot)
{
	uint32_t b = reqid_hash(&l->ring[slot].reqid);
	int32_t *pp = &l->hash[b];
	uint32_t guard = 0;

	while (*pp >= 0) {
		NORN_ASSERT(guard++ <= l->alloc);
		if ((uint32_t)*pp == slot) {
			*pp = l->next[slot];
			l->next[slot] = -1;
			return;
		}
		pp = &l->next[*pp];
	}
	NORN_ASSERT(!"pg_log: slot missing from its hash chain");
}

int pg_log_append(struct pg_log *l, const struct pg_log_entry *le, struct pg_eversion *trimmed)
{
	int dropped = 0;
	uint32_t slot;

	if (l->n) {
		struct pg_eversion h = pg_log_head(l);
		NORN_ASSERT(pg_ev_cmp(&le->ver, &h) > 0);
	}
	if (l->n == l->alloc && l->alloc < l->cap && grow(l)) {
		/* out of memory: keep the smaller window rather than fail a
		 * write that is already durable */
		l->cap = l->alloc ? l->alloc : 1;
		if (!l->alloc && grow(l))
			NORN_ASSERT(!"pg_log: no memory for one entry");
	}
	if (l->n == l->cap) {
		slot = l->head;
		l->tail = l->ring[slot].ver;
		if (trimmed)
			*trimmed = l->ring[slot].ver;
		unlink_slot(l, slot);
		l->head = (l->head + 1) % l->alloc;
		l->n--;
		dropped = 1;
	}
	slot = (l->head + l->n) % l->alloc;
	l->ring[slot] = *le;
	uint32_t b = reqid_hash(&le->reqid);
	l->next[slot] = l->hash[b];
	l->hash[b] = (int32_t)slot;
	l->n++;
	return dropped;
}

const struct pg_log_entry *pg_log_find_reqid(const struct pg_log *l, const struct osd_reqid *r)
{
	if (!l->cap || !l->hash)
		return NULL;
	int32_t s = l->hash[reqid_hash(r)];
	uint32_t guard = 0;
	while (s >= 0) {
		NORN_ASSERT(guard++ <= l->alloc);
		if (pg_reqid_eq(&l->ring[s].reqid, r))
			return &l->ring[s];
		s = l->next[s];
	}
	return NULL;
}

const struct pg_log_entry *pg_log_at(const struct pg_log *l, uint32_t i)
{
	if (i >= l->n)
		return NULL;
	return &l->ring[(l->head + i) % l->alloc];
}

struct pg_eversion pg_log_head(const struct pg_log *l)
{
	if (!l->n)
		return l->tail;
	return l->ring[(l->head + l->n - 1) % l->alloc].ver;
}
