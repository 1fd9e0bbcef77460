/* The monitor's replicated state: lifecycle, genesis, snapshot codec,
 * incremental history and config keys. The commands that change it live
 * in mon_cmd.c. See mon_state.h for the model. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/crc32c.h"
#include "crush/crush.h"
#include "mon/mon_state.h"
#include "norn/errors.h"

#define MON_STATE_VERSION 1

void mon_result_init(struct mon_result *r)
{
	memset(r, 0, sizeof(*r));
	enc_init(&r->out, 256);
}

void mon_result_free(struct mon_result *r)
{
	enc_free(&r->out);
}

int mon_result_set(struct mon_result *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->status, sizeof(r->status), fmt, ap);
	va_end(ap);
	r->rc = rc;
	return rc;
}

void mon_state_init(struct mon_state *st)
{
	memset(st, 0, sizeof(*st));
	monmap_init(&st->monmap);
	osdmap_init(&st->osdmap);
	authmap_init(&st->authmap);
}

static void hist_clear(struct mon_state *st)
{
	for (uint32_t i = 0; i < MON_STATE_HIST; i++) {
		free(st->hist[i]);
		st->hist[i] = NULL;
		st->hist_len[i] = 0;
	}
	st->n_hist = 0;
	st->hist_first = 0;
	st->hist_head = 0;
}

static void kv_clear(struct mon_state *st)
{
	for (uint32_t i = 0; i < st->n_kv; i++)
		free(st->kv[i].val);
	free(st->kv);
	st->kv = NULL;
	st->n_kv = 0;
}

void mon_state_free(struct mon_state *st)
{
	osdmap_free(&st->osdmap);
	authmap_free(&st->authmap);
	kv_clear(st);
	free(st->auto_out);
	hist_clear(st);
	mon_state_init(st);
}

void mon_state_hist_push(struct mon_state *st, uint64_t epoch, uint8_t *buf, size_t len)
{
	if (st->n_hist && epoch != st->hist_first + st->n_hist)
		hist_clear(st);         /* a gap (snapshot install): start over */
	if (st->n_hist == 0) {
		st->hist_first = epoch;
		st->hist_head = 0;
	}
	if (st->n_hist == MON_STATE_HIST) {
		free(st->hist[st->hist_head]);
		st->hist[st->hist_head] = NULL;
		st->hist_head = (st->hist_head + 1) % MON_STATE_HIST;
		st->hist_first++;
		st->n_hist--;
	}
	uint32_t slot = (st->hist_head + st->n_hist) % MON_STATE_HIST;
	NORN_ASSERT(st->hist[slot] == NULL);
	st->hist[slot] = buf;
	st->hist_len[slot] = len;
	st->n_hist++;
}

const uint8_t *mon_state_hist(const struct mon_state *st, uint64_t epoch, size_t *len_out)
{
	if (!st->n_hist || epoch < st->hist_first || epoch >= st->hist_first + st->n_hist)
		return NULL;
	uint32_t slot = (uint32_t)((st->hist_head + (epoch - st->hist_first)) % MON_STATE_HIST);
	*len_out = st->hist_len[slot];
	return st->hist[slot];
}

const char *mon_state_kv_get(const struct mon_state *st, const char *key)
{
	for (uint32_t i = 0; i < st->n_kv; i++)
		if (!strcmp(st->kv[i].key, key))
			return st->kv[i].val;
	return NULL;
}

/* ---- genesis ------------------------------------------------------------ */

static int genesis_crush(struct crush_map **out)
{
	struct crush_map *c = NULL;
	int root = 0, rc;
	int type_root, type_host;

	rc = crush_create(&c);
	if (rc)
		return rc;
	type_root = crush_type_by_name(c, "root");
	type_host = crush_type_by_name(c, "host");
	if (type_root < 0 || type_host < 0) {
		rc = -EINVAL;
		goto fail;
	}
	rc = crush_add_bucket(c, 0, type_root, "default", &root);
	if (rc)
		goto fail;
	struct crush_rule_step steps[3] = {
		{ CRUSH_OP_TAKE, root, 0 },
		{ CRUSH_OP_CHOOSELEAF_FIRSTN, 0, type_host },
		{ CRUSH_OP_EMIT, 0, 0 },
	};
	rc = crush_add_rule(c, 0, "replicated_rule", CRUSH_RULE_REPLICATED, steps, 3, NULL);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	crush_destroy(c);
	return rc;
}

int mon_state_genesis(struct mon_state *st, const uint8_t fsid[MAP_UUID_LEN],
                      const struct monmap *mm, uint32_t n, const char *const *entities,
                      const uint8_t (*keys)[AUTH_SECRET_LEN])
{
	struct crush_map *c = NULL;
	int rc;

	mon_state_free(st);
	st->monmap = *mm;
	st->monmap.epoch = 1;
	memcpy(st->monmap.fsid, fsid, MAP_UUID_LEN);
	st->osdmap.epoch = 1;
	memcpy(st->osdmap.fsid, fsid, MAP_UUID_LEN);
	st->osdmap.next_pool_id = 1;
	rc = genesis_crush(&c);
	if (rc)
		goto fail;
	osdmap_set_crush(&st->osdmap, c);
	st->authmap.epoch = 1;
	for (uint32_t i = 0; i < n; i++) {
		rc = authmap_set(&st->authmap, entities[i], keys[i], "mon 'allow *' osd 'allow *'");
		if (rc)
			goto fail;
	}
	return 0;
fail:
	mon_state_free(st);
	return rc;
}

/* ---- snapshot codec ----------------------------------------------------- */

static int enc_sub(struct enc *e, int (*fn)(const void *, struct enc *), const void *obj)
{
	struct enc t;
	int rc;

	enc_init(&t, 4096);
	rc = fn(obj, &t);
	if (!rc)
		rc = enc_error(&t);
	if (!rc)
		enc_blob(e, t.buf, t.len);
	enc_free(&t);
	return rc;
}

static int monmap_enc_fn(const void *o, struct enc *e) { return monmap_encode(o, e); }
static int osdmap_enc_fn(const void *o, struct enc *e) { return osdmap_encode(o, e); }
static int authmap_enc_fn(const void *o, struct enc *e) { return authmap_encode(o, e); }

int mon_state_encode(const struct mon_state *st, struct enc *e)
{
	size_t start = e->len;
	int rc;

	enc_u32(e, MON_STATE_MAGIC);
	size_t tok = enc_struct_begin(e, MON_STATE_VERSION, 1);
	rc = enc_sub(e, monmap_enc_fn, &st->monmap);
	if (!rc)
		rc = enc_sub(e, osdmap_enc_fn, &st->osdmap);
	if (!rc)
		rc = enc_sub(e, authmap_enc_fn, &st->authmap);
	if (rc)
		return rc;
	enc_u32(e, st->n_kv);
	for (uint32_t i = 0; i < st->n_kv; i++) {
		enc_str(e, st->kv[i].key);
		enc_str(e, st->kv[i].val);
	}
	enc_u32(e, st->n_auto_out);
	for (uint32_t i = 0; i < st->n_auto_out; i++)
		enc_s32(e, st->auto_out[i]);
	enc_struct_end(e, tok);
	if (enc_error(e))
		return enc_error(e);
	enc_u32(e, norn_crc32c(0, e->buf + start, e->len - start));
	return enc_error(e);
}

int mon_state_decode(struct mon_state *st, const void *buf, size_t len)
{
	struct mon_state n;
	struct dec d;
	struct dec_struct tok;
	const void *p;
	size_t pl;
	uint8_t ver;
	int rc;

	if (len < 8)
		return NORN_ECORRUPT;
	if (norn_get_le32(buf) != MON_STATE_MAGIC)
		return NORN_ECORRUPT;
	if (norn_crc32c(0, buf, len - 4) != norn_get_le32((const uint8_t *)buf + len - 4))
		return NORN_ECRC;
	mon_state_init(&n);
	dec_init(&d, (const uint8_t *)buf + 4, len - 8);
	dec_struct_begin(&d, MON_STATE_VERSION, &ver, &tok);
	p = dec_blob(&d, &pl);
	if (d.err || (rc = monmap_decode(&n.monmap, p, pl)))
		goto bad;
	p = dec_blob(&d, &pl);
	if (d.err || (rc = osdmap_decode(&n.osdmap, p, pl)))
		goto bad;
	p = dec_blob(&d, &pl);
	if (d.err || (rc = authmap_decode(&n.authmap, p, pl)))
		goto bad;
	n.n_kv = dec_count(&d, MON_KV_MAX, 8);
	if (n.n_kv) {
		n.kv = calloc(n.n_kv, sizeof(*n.kv));
		if (!n.kv) {
			n.n_kv = 0;
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (uint32_t i = 0; i < n.n_kv && !d.err; i++) {
		size_t vl;
		dec_str(&d, n.kv[i].key, sizeof(n.kv[i].key));
		const char *v = dec_blob(&d, &vl);
		if (d.err || vl >= MON_KV_VAL_MAX)
			break;
		n.kv[i].val = malloc(vl + 1);
		if (!n.kv[i].val) {
			rc = -ENOMEM;
			goto fail;
		}
		memcpy(n.kv[i].val, v, vl);
		n.kv[i].val[vl] = 0;
	}
	n.n_auto_out = dec_count(&d, OSDMAP_MAX_OSD, 4);
	if (n.n_auto_out) {
		n.auto_out = calloc(n.n_auto_out, sizeof(int32_t));
		if (!n.auto_out) {
			n.n_auto_out = 0;
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (uint32_t i = 0; i < n.n_auto_out; i++)
		n.auto_out[i] = dec_s32(&d);
	dec_struct_end(&d, &tok);
	if (!d.err && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (d.err) {
		rc = d.err;
		goto fail;
	}
	for (uint32_t i = 0; i < n.n_kv; i++)
		if (!n.kv[i].val) {
			rc = NORN_ECORRUPT;
			goto fail;
		}
	mon_state_free(st);
	*st = n;
	return 0;
bad:
	if (d.err)
		rc = d.err;
fail:
	mon_state_free(&n);
	return rc ? rc : NORN_ECORRUPT;
}
