/* The osdmap: state, full and incremental encodings, apply, placement and
 * dumps. See map_osd.h for the model.
 *
 * Invariants of a valid map (osdmap__validate checks them after every
 * decode and every apply, so a map that reached a caller always holds
 * them):
 *  - a non-existent OSD slot is all zeros; an existing one has a weight
 *    <= 0x10000, up in {0,1}, a valid address when up, a legal host;
 *  - pools are sorted by strictly ascending id < next_pool_id, each pool is
 *    valid on its own, names are unique, and each pool's rule exists in
 *    the CRUSH map (so a map with pools always has one).
 * Apply works on a deep copy and swaps it in only when every change
 * succeeded and the result validates: all-or-nothing by construction.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/map_osd.h"
#include "common/assert.h"
#include "crush/crush.h"
#include "norn/errors.h"

#define OSDMAP_VERSION 1
#define OSDMAP_INC_VERSION 1

/* ---- CRUSH adapter ------------------------------------------------------
 * Every call into the CRUSH library goes through these few functions. */

static void crush_put(struct crush_map *c)
{
	if (c)
		crush_destroy(c);
}

/* Append crush_encode() bytes to @e. */
static int crush_to_blob(const struct crush_map *c, struct enc *e)
{
	size_t need = 0;
	uint8_t *dst;
	int rc;

	rc = crush_encode(c, NULL, 0, &need);
	if (rc && rc != -ERANGE)
		return rc;
	if (need > OSDMAP_CRUSH_BLOB_MAX)
		return -EOVERFLOW;
	dst = enc_reserve(e, need);
	if (!dst)
		return enc_error(e);
	rc = crush_encode(c, dst, need, &need);
	return rc ? rc : enc_error(e);
}

static int crush_from_blob(const void *buf, size_t len, struct crush_map **out)
{
	struct crush_map *c = NULL;
	int rc;

	*out = NULL;
	if (len == 0 || len > OSDMAP_CRUSH_BLOB_MAX)
		return NORN_ECORRUPT;
	rc = crush_decode(&c, buf, len);
	if (rc)
		return rc == -ENOMEM ? -ENOMEM : NORN_ECORRUPT;
	*out = c;
	return 0;
}

static int crush_dup(const struct crush_map *c, struct crush_map **out)
{
	struct enc e;
	int rc;

	*out = NULL;
	if (!c)
		return 0;
	enc_init(&e, 4096);
	rc = crush_to_blob(c, &e);
	if (!rc)
		rc = crush_from_blob(e.buf, e.len, out);
	enc_free(&e);
	return rc == NORN_ECORRUPT ? -EIO : rc;
}

static int crush_has_rule(const struct crush_map *c, int32_t rule)
{
	return c && rule >= 0 && (uint32_t)rule < c->max_rules && c->rules[rule] != NULL;
}

/* ---- flags and names --------------------------------------------------- */

static const struct { const char *name; uint32_t flag; } flag_names[] = {
	{ "noup", OSDMAP_FLAG_NOUP },
	{ "nodown", OSDMAP_FLAG_NODOWN },
	{ "noout", OSDMAP_FLAG_NOOUT },
	{ "noin", OSDMAP_FLAG_NOIN },
	{ "norecover", OSDMAP_FLAG_NORECOVER },
	{ "nobackfill", OSDMAP_FLAG_NOBACKFILL },
	{ "norebalance", OSDMAP_FLAG_NOREBALANCE },
	{ "noscrub", OSDMAP_FLAG_NOSCRUB },
	{ "full", OSDMAP_FLAG_FULL },
	{ "pauserd", OSDMAP_FLAG_PAUSERD },
	{ "pausewr", OSDMAP_FLAG_PAUSEWR },
};

int osdmap_flag_parse(const char *name, uint32_t *flag)
{
	if (!name)
		return -EINVAL;
	if (!strcmp(name, "pause")) {
		*flag = OSDMAP_FLAG_PAUSERD | OSDMAP_FLAG_PAUSEWR;
		return 0;
	}
	for (size_t i = 0; i < NORN_ARRAY_SIZE(flag_names); i++) {
		if (!strcmp(name, flag_names[i].name)) {
			*flag = flag_names[i].flag;
			return 0;
		}
	}
	return -EINVAL;
}

const char *osdmap_flag_name(uint32_t flag)
{
	for (size_t i = 0; i < NORN_ARRAY_SIZE(flag_names); i++)
		if (flag_names[i].flag == flag)
			return flag_names[i].name;
	return NULL;
}

int osdmap_flags_format(uint32_t flags, char *buf, size_t cap)
{
	size_t o = 0;

	NORN_ASSERT(cap > 0);
	buf[0] = 0;
	for (size_t i = 0; i < NORN_ARRAY_SIZE(flag_names); i++) {
		int n;

		if (!(flags & flag_names[i].flag))
			continue;
		n = snprintf(buf + o, cap - o, "%s%s", o ? "," : "", flag_names[i].name);
		if (n < 0 || (size_t)n >= cap - o)
			return -ENOSPC;
		o += (size_t)n;
	}
	return (int)o;
}

static const char *const pool_field_names[POOL_FIELD_MAX] = {
	[POOL_FIELD_SIZE] = "size",
	[POOL_FIELD_MIN_SIZE] = "min_size",
	[POOL_FIELD_PG_NUM] = "pg_num",
	[POOL_FIELD_PGP_NUM] = "pgp_num",
	[POOL_FIELD_CRUSH_RULE] = "crush_rule",
	[POOL_FIELD_FLAGS] = "flags",
	[POOL_FIELD_QUOTA_MAX_BYTES] = "quota_max_bytes",
	[POOL_FIELD_QUOTA_MAX_OBJECTS] = "quota_max_objects",
};

int osdmap_pool_field_parse(const char *name, enum osdmap_pool_field *out)
{
	for (int f = 1; f < POOL_FIELD_MAX; f++) {
		if (name && !strcmp(name, pool_field_names[f])) {
			*out = (enum osdmap_pool_field)f;
			return 0;
		}
	}
	return -EINVAL;
}

const char *osdmap_pool_field_name(enum osdmap_pool_field f)
{
	return f > 0 && f < POOL_FIELD_MAX ? pool_field_names[f] : NULL;
}

/* Names of pools, applications and hosts: [A-Za-z0-9_.-]+, shorter than
 * @cap (hosts may be empty). */
static int name_ok(const char *s, size_t cap, int allow_empty)
{
	size_t n = strnlen(s, cap);

	if (n >= cap || (n == 0 && !allow_empty))
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return 0;
	}
	return 1;
}

/* ---- pools ------------------------------------------------------------- */

static uint32_t mask_for(uint32_t n)
{
	uint32_t m = 0;

	NORN_ASSERT(n >= 1);
	while (m < n - 1)
		m = m << 1 | 1;
	return m;
}

void osdmap_pool_calc_masks(struct osdmap_pool *p)
{
	p->pg_num_mask = p->pg_num ? mask_for(p->pg_num) : 0;
	p->pgp_num_mask = p->pgp_num ? mask_for(p->pgp_num) : 0;
}

int osdmap_pool_validate(const struct osdmap_pool *p)
{
	if (p->id < 0 || !name_ok(p->name, sizeof(p->name), 0))
		return -EINVAL;
	if (!name_ok(p->application, sizeof(p->application), 1))
		return -EINVAL;
	if (p->size < 1 || p->size > OSDMAP_MAX_POOL_SIZE || p->min_size < 1 || p->min_size > p->size)
		return -EINVAL;
	if (p->type == POOL_TYPE_REPLICATED) {
		if (p->ec_k || p->ec_m || p->ec_stripe_unit)
			return -EINVAL;
	} else if (p->type == POOL_TYPE_ERASURE) {
		if (p->ec_k < 1 || p->ec_m < 1 || p->ec_k + p->ec_m != p->size || p->min_size < p->ec_k)
			return -EINVAL;
		if (p->ec_stripe_unit == 0 || p->ec_stripe_unit > (1u << 24) || p->ec_stripe_unit % 512)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (p->pg_num < 1 || p->pg_num > OSDMAP_MAX_PG_NUM || p->pgp_num < 1 || p->pgp_num > p->pg_num)
		return -EINVAL;
	if (p->crush_rule < 0 || (p->flags & ~POOL_FLAG_ALL))
		return -EINVAL;
	return 0;
}

void osdmap_pool_defaults(struct osdmap_pool *p, const char *name, uint32_t pg_num)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->type = POOL_TYPE_REPLICATED;
	p->size = 3;
	p->min_size = 2;
	p->pg_num = pg_num;
	p->pgp_num = pg_num;
	p->crush_rule = 0;
	osdmap_pool_calc_masks(p);
}

/* ---- map lifecycle ----------------------------------------------------- */

void osdmap_init(struct osdmap *m)
{
	memset(m, 0, sizeof(*m));
}

void osdmap_free(struct osdmap *m)
{
	free(m->osds);
	free(m->pools);
	free(m->pg_temp);
	crush_put(m->crush);
	osdmap_init(m);
}

int osdmap_copy(struct osdmap *dst, const struct osdmap *src)
{
	struct osdmap t = *src;
	int rc;

	t.osds = NULL;
	t.pools = NULL;
	t.pg_temp = NULL;
	t.crush = NULL;
	t.cap_pools = src->n_pools;
	t.cap_pg_temp = src->n_pg_temp;
	if (src->max_osd) {
		t.osds = malloc((size_t)src->max_osd * sizeof(t.osds[0]));
		if (!t.osds)
			goto fail_nomem;
		memcpy(t.osds, src->osds, (size_t)src->max_osd * sizeof(t.osds[0]));
	}
	if (src->n_pools) {
		t.pools = malloc((size_t)src->n_pools * sizeof(t.pools[0]));
		if (!t.pools)
			goto fail_nomem;
		memcpy(t.pools, src->pools, (size_t)src->n_pools * sizeof(t.pools[0]));
	}
	if (src->n_pg_temp) {
		t.pg_temp = malloc((size_t)src->n_pg_temp * sizeof(t.pg_temp[0]));
		if (!t.pg_temp)
			goto fail_nomem;
		memcpy(t.pg_temp, src->pg_temp, (size_t)src->n_pg_temp * sizeof(t.pg_temp[0]));
	}
	rc = crush_dup(src->crush, &t.crush);
	if (rc)
		goto fail;
	osdmap_free(dst);
	*dst = t;
	return 0;

fail_nomem:
	rc = -ENOMEM;
fail:
	free(t.osds);
	free(t.pools);
	free(t.pg_temp);
	return rc;
}

int osdmap_set_max_osd(struct osdmap *m, uint32_t max_osd)
{
	struct osdmap_osd *n;

	if (max_osd > OSDMAP_MAX_OSD)
		return -EINVAL;
	for (uint32_t i = max_osd; i < m->max_osd; i++)
		if (m->osds[i].exists)
			return -EINVAL;
	if (max_osd == 0) {
		free(m->osds);
		m->osds = NULL;
		m->max_osd = 0;
		return 0;
	}
	n = realloc(m->osds, (size_t)max_osd * sizeof(*n));
	if (!n)
		return -ENOMEM;
	if (max_osd > m->max_osd)
		memset(&n[m->max_osd], 0, (size_t)(max_osd - m->max_osd) * sizeof(*n));
	m->osds = n;
	m->max_osd = max_osd;
	return 0;
}

void osdmap_set_crush(struct osdmap *m, struct crush_map *crush)
{
	if (m->crush != crush)
		crush_put(m->crush);
	m->crush = crush;
}

/* ---- accessors --------------------------------------------------------- */

const struct osdmap_osd *osdmap_osd(const struct osdmap *m, int32_t id)
{
	if (id < 0 || (uint32_t)id >= m->max_osd || !m->osds[id].exists)
		return NULL;
	return &m->osds[id];
}

int osdmap_osd_exists(const struct osdmap *m, int32_t id)
{
	return osdmap_osd(m, id) != NULL;
}

int osdmap_osd_is_up(const struct osdmap *m, int32_t id)
{
	const struct osdmap_osd *o = osdmap_osd(m, id);

	return o && o->up;
}

int osdmap_osd_is_in(const struct osdmap *m, int32_t id)
{
	const struct osdmap_osd *o = osdmap_osd(m, id);

	return o && o->weight > 0;
}

void osdmap_osd_counts(const struct osdmap *m, uint32_t *n_exist, uint32_t *n_up, uint32_t *n_in)
{
	uint32_t e = 0, u = 0, in = 0;

	for (uint32_t i = 0; i < m->max_osd; i++) {
		if (!m->osds[i].exists)
			continue;
		e++;
		u += m->osds[i].up ? 1 : 0;
		in += m->osds[i].weight ? 1 : 0;
	}
	if (n_exist)
		*n_exist = e;
	if (n_up)
		*n_up = u;
	if (n_in)
		*n_in = in;
}

static long pool_idx(const struct osdmap *m, int64_t id)
{
	size_t lo = 0, hi = m->n_pools;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->pools[mid].id == id)
			return (long)mid;
		if (m->pools[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const struct osdmap_pool *osdmap_pool(const struct osdmap *m, int64_t id)
{
	long i = pool_idx(m, id);

	return i >= 0 ? &m->pools[i] : NULL;
}

const struct osdmap_pool *osdmap_pool_by_name(const struct osdmap *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_pools; i++)
		if (!strcmp(m->pools[i].name, name))
			return &m->pools[i];
	return NULL;
}

/* ---- whole-map validation ---------------------------------------------- */

static int osd_valid(const struct osdmap_osd *o)
{
	static const struct osdmap_osd zero;

	if (!o->exists)
		return memcmp(o, &zero, sizeof(zero)) == 0;
	if (o->exists != 1 || o->up > 1 || o->weight > OSDMAP_WEIGHT_IN)
		return 0;
	if (!name_ok(o->host, sizeof(o->host), 1))
		return 0;
	if (o->up && !map_addr_valid(&o->addr))
		return 0;
	if (!o->up && o->addr.host[0] && !map_addr_valid(&o->addr))
		return 0;
	return 1;
}

static int pg_cmp(int64_t pa, uint32_t sa, int64_t pb, uint32_t sb)
{
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return sa < sb ? -1 : sa > sb;
}

/* Index of the pg_temp entry of (pool, seed), or -(insert position) - 1. */
static long pg_temp_idx(const struct osdmap *m, int64_t pool, uint32_t seed)
{
	size_t lo = 0, hi = m->n_pg_temp;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = pg_cmp(m->pg_temp[mid].pg.pool, m->pg_temp[mid].pg.seed, pool, seed);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

const struct osdmap_pg_temp *osdmap_pg_temp_get(const struct osdmap *m, int64_t pool, uint32_t seed)
{
	long i = pg_temp_idx(m, pool, seed);

	return i >= 0 ? &m->pg_temp[i] : NULL;
}

/* Is this pg_temp entry consistent with the map (pool, seed, size, OSDs)? */
static int pg_temp_valid(const struct osdmap *m, const struct osdmap_pg_temp *t)
{
	const struct osdmap_pool *p = osdmap_pool(m, t->pg.pool);
	uint32_t real = 0;

	if (!p || t->pg.seed >= p->pg_num || t->n < 1 || t->n > p->size)
		return 0;
	for (uint32_t i = 0; i < t->n; i++) {
		int32_t o = t->osds[i];

		if (o == OSD_NONE) {
			if (p->type != POOL_TYPE_ERASURE)
				return 0;
			continue;
		}
		if (!osdmap_osd_exists(m, o))
			return 0;
		for (uint32_t j = 0; j < i; j++)
			if (t->osds[j] == o)
				return 0;
		real++;
	}
	for (uint32_t i = t->n; i < OSDMAP_MAX_POOL_SIZE; i++)
		if (t->osds[i] != 0)
			return 0;        /* canonical: unused slots are zero */
	return real > 0;
}

/* Drop pg_temp entries the other changes of an incremental made invalid
 * (pool removed, pg_num or size shrunk, OSD removed). */
static void pg_temp_prune(struct osdmap *m)
{
	uint32_t o = 0;

	for (uint32_t i = 0; i < m->n_pg_temp; i++)
		if (pg_temp_valid(m, &m->pg_temp[i]))
			m->pg_temp[o++] = m->pg_temp[i];
	m->n_pg_temp = o;
}

/* Returns 0 or -EINVAL. */
static int osdmap__validate(const struct osdmap *m)
{
	if (m->max_osd > OSDMAP_MAX_OSD || m->n_pools > OSDMAP_MAX_POOLS)
		return -EINVAL;
	if (m->flags & ~OSDMAP_FLAG_ALL)
		return -EINVAL;
	if (m->next_pool_id < 0)
		return -EINVAL;
	for (uint32_t i = 0; i < m->max_osd; i++)
		if (!osd_valid(&m->osds[i]))
			return -EINVAL;
	for (uint32_t i = 0; i < m->n_pools; i++) {
		const struct osdmap_pool *p = &m->pools[i];

		if (osdmap_pool_validate(p) || p->id >= m->next_pool_id)
			return -EINVAL;
		if (i > 0 && p->id <= m->pools[i - 1].id)
			return -EINVAL;
		if (!crush_has_rule(m->crush, p->crush_rule))
			return -EINVAL;
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(m->pools[j].name, p->name))
				return -EINVAL;
	}
	if (m->n_pg_temp > OSDMAP_MAX_PG_TEMP)
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_pg_temp; i++) {
		const struct osdmap_pg_temp *t = &m->pg_temp[i];

		if (!pg_temp_valid(m, t))
			return -EINVAL;
		if (i > 0 && pg_cmp(m->pg_temp[i - 1].pg.pool, m->pg_temp[i - 1].pg.seed,
		                    t->pg.pool, t->pg.seed) >= 0)
			return -EINVAL;
	}
	return 0;
}

/* ---- full map encoding ------------------------------------------------- */

static void osd_encode(struct enc *e, const struct osdmap_osd *o)
{
	size_t st = enc_struct_begin(e, 1, 1);

	enc_u8(e, o->exists);
	enc_u8(e, o->up);
	enc_u32(e, o->weight);
	map_addr_encode(e, &o->addr);
	enc_str(e, o->host);
	enc_bytes(e, o->uuid, MAP_UUID_LEN);
	enc_u64(e, o->up_from);
	enc_u64(e, o->up_thru);
	enc_u64(e, o->down_at);
	enc_u64(e, o->last_clean_begin);
	enc_u64(e, o->last_clean_end);
	enc_struct_end(e, st);
}

static void osd_decode(struct dec *d, struct osdmap_osd *o)
{
	struct dec_struct tok;
	uint8_t v;

	memset(o, 0, sizeof(*o));
	dec_struct_begin(d, 1, &v, &tok);
	o->exists = dec_u8(d);
	o->up = dec_u8(d);
	o->weight = dec_u32(d);
	map_addr_decode(d, &o->addr);
	dec_str(d, o->host, sizeof(o->host));
	dec_copy(d, o->uuid, MAP_UUID_LEN);
	o->up_from = dec_u64(d);
	o->up_thru = dec_u64(d);
	o->down_at = dec_u64(d);
	o->last_clean_begin = dec_u64(d);
	o->last_clean_end = dec_u64(d);
	map__struct_end(d, &tok, v, 1);
}

static void pool_encode(struct enc *e, const struct osdmap_pool *p)
{
	size_t st = enc_struct_begin(e, 1, 1);

	enc_s64(e, p->id);
	enc_str(e, p->name);
	enc_u8(e, p->type);
	enc_u8(e, p->size);
	enc_u8(e, p->min_size);
	enc_u8(e, p->ec_k);
	enc_u8(e, p->ec_m);
	enc_u32(e, p->ec_stripe_unit);
	enc_u32(e, p->pg_num);
	enc_u32(e, p->pgp_num);
	enc_s32(e, p->crush_rule);
	enc_u32(e, p->flags);
	enc_u64(e, p->created_epoch);
	enc_u64(e, p->quota_max_bytes);
	enc_u64(e, p->quota_max_objects);
	enc_str(e, p->application);
	enc_struct_end(e, st);
}

/* Decodes and checks the pool on its own (fails the decoder). */
static void pool_decode(struct dec *d, struct osdmap_pool *p)
{
	struct dec_struct tok;
	uint8_t v;

	memset(p, 0, sizeof(*p));
	dec_struct_begin(d, 1, &v, &tok);
	p->id = dec_s64(d);
	dec_str(d, p->name, sizeof(p->name));
	p->type = dec_u8(d);
	p->size = dec_u8(d);
	p->min_size = dec_u8(d);
	p->ec_k = dec_u8(d);
	p->ec_m = dec_u8(d);
	p->ec_stripe_unit = dec_u32(d);
	p->pg_num = dec_u32(d);
	p->pgp_num = dec_u32(d);
	p->crush_rule = dec_s32(d);
	p->flags = dec_u32(d);
	p->created_epoch = dec_u64(d);
	p->quota_max_bytes = dec_u64(d);
	p->quota_max_objects = dec_u64(d);
	dec_str(d, p->application, sizeof(p->application));
	map__struct_end(d, &tok, v, 1);
	if (d->err)
		return;
	if (osdmap_pool_validate(p)) {
		dec_fail(d, NORN_ECORRUPT);
		return;
	}
	osdmap_pool_calc_masks(p);
}

int osdmap_encode(const struct osdmap *m, struct enc *e)
{
	size_t frame = map__frame_begin(e, OSDMAP_MAGIC);
	size_t st = enc_struct_begin(e, OSDMAP_VERSION, 1);
	int rc = 0;

	enc_u64(e, m->epoch);
	enc_bytes(e, m->fsid, MAP_UUID_LEN);
	enc_u64(e, m->created_ns);
	enc_u64(e, m->modified_ns);
	enc_u32(e, m->flags);
	enc_s64(e, m->next_pool_id);
	enc_u32(e, m->max_osd);
	for (uint32_t i = 0; i < m->max_osd; i++)
		osd_encode(e, &m->osds[i]);
	enc_u32(e, m->n_pools);
	for (uint32_t i = 0; i < m->n_pools; i++)
		pool_encode(e, &m->pools[i]);
	enc_u32(e, m->n_pg_temp);
	for (uint32_t i = 0; i < m->n_pg_temp; i++) {
		const struct osdmap_pg_temp *t = &m->pg_temp[i];

		enc_s64(e, t->pg.pool);
		enc_u32(e, t->pg.seed);
		enc_u8(e, (uint8_t)t->n);
		for (uint32_t j = 0; j < t->n; j++)
			enc_s32(e, t->osds[j]);
	}
	/* CRUSH blob: u32 length + crush_encode() bytes (length 0: none). */
	if (m->crush) {
		size_t lenpos = e->len;

		enc_u32(e, 0);
		rc = crush_to_blob(m->crush, e);
		if (!rc && !e->err) {
			size_t n = e->len - lenpos - 4;

			if (n > OSDMAP_CRUSH_BLOB_MAX)
				rc = -EOVERFLOW;
			else
				norn_put_le32(e->buf + lenpos, (uint32_t)n);
		}
	} else {
		enc_u32(e, 0);
	}
	enc_struct_end(e, st);
	map__frame_end(e, frame);
	if (rc && !e->err)
		e->err = rc;
	return enc_error(e);
}

int osdmap_decode(struct osdmap *m, const void *buf, size_t len)
{
	struct osdmap t;
	struct dec d;
	struct dec_struct tok;
	uint8_t v;
	uint32_t n;
	const void *blob;
	size_t blob_len;
	int rc;

	osdmap_init(&t);
	rc = map__frame_open(buf, len, OSDMAP_MAGIC, &d);
	if (rc)
		return rc;
	dec_struct_begin(&d, OSDMAP_VERSION, &v, &tok);
	t.epoch = dec_u64(&d);
	dec_copy(&d, t.fsid, MAP_UUID_LEN);
	t.created_ns = dec_u64(&d);
	t.modified_ns = dec_u64(&d);
	t.flags = dec_u32(&d);
	t.next_pool_id = dec_s64(&d);
	/* An OSD entry is at least 78 bytes (osd_encode with empty strings),
	 * so a short input cannot make us allocate many slots. */
	n = dec_count(&d, OSDMAP_MAX_OSD, 78);
	if (n) {
		t.osds = calloc(n, sizeof(t.osds[0]));
		if (!t.osds) {
			rc = -ENOMEM;
			goto fail;
		}
		t.max_osd = n;
	}
	for (uint32_t i = 0; i < n && !d.err; i++)
		osd_decode(&d, &t.osds[i]);
	n = dec_count(&d, OSDMAP_MAX_POOLS, 6);
	if (n) {
		t.pools = calloc(n, sizeof(t.pools[0]));
		if (!t.pools) {
			rc = -ENOMEM;
			goto fail;
		}
		t.cap_pools = n;
	}
	for (uint32_t i = 0; i < n && !d.err; i++) {
		pool_decode(&d, &t.pools[i]);
		if (!d.err)
			t.n_pools++;
	}
	n = dec_count(&d, OSDMAP_MAX_PG_TEMP, 8 + 4 + 1 + 4);
	if (n) {
		t.pg_temp = calloc(n, sizeof(t.pg_temp[0]));
		if (!t.pg_temp) {
			rc = -ENOMEM;
			goto fail;
		}
		t.cap_pg_temp = n;
	}
	for (uint32_t i = 0; i < n && !d.err; i++) {
		struct osdmap_pg_temp *pt = &t.pg_temp[i];

		pt->pg.pool = dec_s64(&d);
		pt->pg.seed = dec_u32(&d);
		pt->n = dec_u8(&d);
		if (pt->n > OSDMAP_MAX_POOL_SIZE) {
			dec_fail(&d, NORN_ECORRUPT);
			break;
		}
		for (uint32_t j = 0; j < pt->n; j++)
			pt->osds[j] = dec_s32(&d);
		if (!d.err)
			t.n_pg_temp++;
	}
	blob = dec_blob(&d, &blob_len);
	map__struct_end(&d, &tok, v, OSDMAP_VERSION);
	if (!d.err && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (d.err) {
		rc = d.err;
		goto fail;
	}
	if (blob_len) {
		rc = crush_from_blob(blob, blob_len, &t.crush);
		if (rc)
			goto fail;
	}
	if (osdmap__validate(&t)) {
		rc = NORN_ECORRUPT;
		goto fail;
	}
	osdmap_free(m);
	*m = t;
	return 0;
fail:
	osdmap_free(&t);
	return rc;
}

/* ---- incrementals: building -------------------------------------------- */

void osdmap_inc_init(struct osdmap_inc *inc, const struct osdmap *m, uint64_t modified_ns)
{
	memset(inc, 0, sizeof(*inc));
	inc->epoch = m->epoch + 1;
	memcpy(inc->fsid, m->fsid, MAP_UUID_LEN);
	inc->modified_ns = modified_ns;
}

void osdmap_inc_free(struct osdmap_inc *inc)
{
	for (uint32_t i = 0; i < inc->n; i++)
		free(inc->ch[i].blob);
	free(inc->ch);
	memset(inc, 0, sizeof(*inc));
}

/* Append a zeroed change of @type; NULL with *rc set on failure. */
static struct osdmap_change *inc_add(struct osdmap_inc *inc, uint8_t type, int *rc)
{
	struct osdmap_change *c;

	if (inc->n >= OSDMAP_INC_MAX_CHANGES) {
		*rc = -E2BIG;
		return NULL;
	}
	if (inc->n == inc->cap) {
		uint32_t nc = inc->cap ? inc->cap * 2 : 8;
		struct osdmap_change *nch;

		if (nc > OSDMAP_INC_MAX_CHANGES)
			nc = OSDMAP_INC_MAX_CHANGES;
		nch = realloc(inc->ch, (size_t)nc * sizeof(*nch));
		if (!nch) {
			*rc = -ENOMEM;
			return NULL;
		}
		inc->ch = nch;
		inc->cap = nc;
	}
	c = &inc->ch[inc->n++];
	memset(c, 0, sizeof(*c));
	c->type = type;
	*rc = 0;
	return c;
}

static int osd_id_ok(int32_t osd)
{
	return osd >= 0 && osd < OSDMAP_MAX_OSD;
}

int osdmap_inc_max_osd(struct osdmap_inc *inc, uint32_t max_osd)
{
	struct osdmap_change *c;
	int rc;

	if (max_osd > OSDMAP_MAX_OSD)
		return -EINVAL;
	c = inc_add(inc, OSDMAP_CH_MAX_OSD, &rc);
	if (c)
		c->u32 = max_osd;
	return rc;
}

int osdmap_inc_new_osd(struct osdmap_inc *inc, int32_t osd, const uint8_t uuid[MAP_UUID_LEN],
                       const char *host)
{
	struct osdmap_change *c;
	int rc;

	if (!osd_id_ok(osd) || !name_ok(host ? host : "", MAP_HOST_MAX, 1))
		return -EINVAL;
	c = inc_add(inc, OSDMAP_CH_NEW_OSD, &rc);
	if (c) {
		c->osd = osd;
		if (uuid)
			memcpy(c->uuid, uuid, MAP_UUID_LEN);
		snprintf(c->str, sizeof(c->str), "%s", host ? host : "");
	}
	return rc;
}

static int inc_osd_only(struct osdmap_inc *inc, uint8_t type, int32_t osd,
                        struct osdmap_change **out)
{
	int rc;

	*out = NULL;
	if (!osd_id_ok(osd))
		return -EINVAL;
	*out = inc_add(inc, type, &rc);
	if (*out)
		(*out)->osd = osd;
	return rc;
}

int osdmap_inc_rm_osd(struct osdmap_inc *inc, int32_t osd)
{
	struct osdmap_change *c;

	return inc_osd_only(inc, OSDMAP_CH_RM_OSD, osd, &c);
}

int osdmap_inc_osd_up(struct osdmap_inc *inc, int32_t osd, const struct map_addr *addr)
{
	struct osdmap_change *c;
	int rc;

	if (!addr || !map_addr_valid(addr))
		return -EINVAL;
	rc = inc_osd_only(inc, OSDMAP_CH_OSD_UP, osd, &c);
	if (c)
		c->addr = *addr;
	return rc;
}

int osdmap_inc_osd_down(struct osdmap_inc *inc, int32_t osd)
{
	struct osdmap_change *c;

	return inc_osd_only(inc, OSDMAP_CH_OSD_DOWN, osd, &c);
}

int osdmap_inc_osd_weight(struct osdmap_inc *inc, int32_t osd, uint32_t weight)
{
	struct osdmap_change *c;
	int rc;

	if (weight > OSDMAP_WEIGHT_IN)
		return -EINVAL;
	rc = inc_osd_only(inc, OSDMAP_CH_OSD_WEIGHT, osd, &c);
	if (c)
		c->u32 = weight;
	return rc;
}

int osdmap_inc_osd_host(struct osdmap_inc *inc, int32_t osd, const char *host)
{
	struct osdmap_change *c;
	int rc;

	if (!host || !name_ok(host, MAP_HOST_MAX, 1))
		return -EINVAL;
	rc = inc_osd_only(inc, OSDMAP_CH_OSD_HOST, osd, &c);
	if (c)
		snprintf(c->str, sizeof(c->str), "%s", host);
	return rc;
}

int osdmap_inc_osd_up_thru(struct osdmap_inc *inc, int32_t osd, uint64_t up_thru)
{
	struct osdmap_change *c;
	int rc = inc_osd_only(inc, OSDMAP_CH_OSD_UP_THRU, osd, &c);

	if (c)
		c->u64 = up_thru;
	return rc;
}

int osdmap_inc_osd_last_clean(struct osdmap_inc *inc, int32_t osd, uint64_t begin, uint64_t end)
{
	struct osdmap_change *c;
	int rc;

	if (begin > end)
		return -EINVAL;
	rc = inc_osd_only(inc, OSDMAP_CH_OSD_LAST_CLEAN, osd, &c);
	if (c) {
		c->u64 = begin;
		c->u64b = end;
	}
	return rc;
}

int osdmap_inc_pool_create(struct osdmap_inc *inc, const struct osdmap_pool *p)
{
	struct osdmap_change *c;
	int rc;

	if (osdmap_pool_validate(p))
		return -EINVAL;
	c = inc_add(inc, OSDMAP_CH_POOL_CREATE, &rc);
	if (c) {
		c->pool = p->id;
		c->pool_def = *p;
		osdmap_pool_calc_masks(&c->pool_def);
	}
	return rc;
}

static int inc_pool_only(struct osdmap_inc *inc, uint8_t type, int64_t pool,
                         struct osdmap_change **out)
{
	int rc;

	*out = NULL;
	if (pool < 0)
		return -EINVAL;
	*out = inc_add(inc, type, &rc);
	if (*out)
		(*out)->pool = pool;
	return rc;
}

int osdmap_inc_pool_rm(struct osdmap_inc *inc, int64_t pool)
{
	struct osdmap_change *c;

	return inc_pool_only(inc, OSDMAP_CH_POOL_RM, pool, &c);
}

int osdmap_inc_pool_set(struct osdmap_inc *inc, int64_t pool, enum osdmap_pool_field f, uint64_t v)
{
	struct osdmap_change *c;
	int rc;

	if (f <= 0 || f >= POOL_FIELD_MAX)
		return -EINVAL;
	rc = inc_pool_only(inc, OSDMAP_CH_POOL_SET, pool, &c);
	if (c) {
		c->u32 = (uint32_t)f;
		c->u64 = v;
	}
	return rc;
}

int osdmap_inc_pool_rename(struct osdmap_inc *inc, int64_t pool, const char *name)
{
	struct osdmap_change *c;
	int rc;

	if (!name || !name_ok(name, OSDMAP_POOL_NAME_MAX, 0))
		return -EINVAL;
	rc = inc_pool_only(inc, OSDMAP_CH_POOL_RENAME, pool, &c);
	if (c)
		snprintf(c->str, sizeof(c->str), "%s", name);
	return rc;
}

int osdmap_inc_pool_app(struct osdmap_inc *inc, int64_t pool, const char *app)
{
	struct osdmap_change *c;
	int rc;

	if (!app || !name_ok(app, OSDMAP_APP_NAME_MAX, 1))
		return -EINVAL;
	rc = inc_pool_only(inc, OSDMAP_CH_POOL_APP, pool, &c);
	if (c)
		snprintf(c->str, sizeof(c->str), "%s", app);
	return rc;
}

int osdmap_inc_crush_blob(struct osdmap_inc *inc, const void *blob, size_t len)
{
	struct osdmap_change *c;
	uint8_t *copy;
	int rc;

	if (!blob || len == 0 || len > OSDMAP_CRUSH_BLOB_MAX)
		return -EINVAL;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, blob, len);
	c = inc_add(inc, OSDMAP_CH_CRUSH, &rc);
	if (!c) {
		free(copy);
		return rc;
	}
	c->blob = copy;
	c->blob_len = len;
	return 0;
}

int osdmap_inc_crush(struct osdmap_inc *inc, const struct crush_map *crush)
{
	struct enc e;
	int rc;

	if (!crush)
		return -EINVAL;
	enc_init(&e, 4096);
	rc = crush_to_blob(crush, &e);
	if (!rc)
		rc = osdmap_inc_crush_blob(inc, e.buf, e.len);
	enc_free(&e);
	return rc;
}

int osdmap_inc_crush_set_osd(struct osdmap_inc *inc, int32_t osd, const char *host, uint32_t weight)
{
	struct osdmap_change *c;
	int rc;

	if (!host || !name_ok(host, MAP_HOST_MAX, 0) || weight > OSDMAP_CRUSH_WEIGHT_MAX)
		return -EINVAL;
	rc = inc_osd_only(inc, OSDMAP_CH_CRUSH_SET_OSD, osd, &c);
	if (c) {
		snprintf(c->str, sizeof(c->str), "%s", host);
		c->u32 = weight;
	}
	return rc;
}

int osdmap_inc_crush_rm_osd(struct osdmap_inc *inc, int32_t osd)
{
	struct osdmap_change *c;

	return inc_osd_only(inc, OSDMAP_CH_CRUSH_RM_OSD, osd, &c);
}

int osdmap_inc_pg_temp(struct osdmap_inc *inc, int64_t pool, uint32_t seed,
                       const int32_t *osds, uint32_t n)
{
	struct osdmap_change *c;
	int rc;

	if (n > OSDMAP_MAX_POOL_SIZE || (n && !osds))
		return -EINVAL;
	rc = inc_pool_only(inc, OSDMAP_CH_PG_TEMP, pool, &c);
	if (c) {
		c->u32 = seed;
		c->n_osds = n;
		for (uint32_t i = 0; i < n; i++)
			c->osds[i] = osds[i];
	}
	return rc;
}

int osdmap_inc_flags_set(struct osdmap_inc *inc, uint32_t flags)
{
	struct osdmap_change *c;
	int rc;

	if (flags == 0 || (flags & ~OSDMAP_FLAG_ALL))
		return -EINVAL;
	c = inc_add(inc, OSDMAP_CH_FLAGS_SET, &rc);
	if (c)
		c->u32 = flags;
	return rc;
}

int osdmap_inc_flags_unset(struct osdmap_inc *inc, uint32_t flags)
{
	struct osdmap_change *c;
	int rc;

	if (flags == 0 || (flags & ~OSDMAP_FLAG_ALL))
		return -EINVAL;
	c = inc_add(inc, OSDMAP_CH_FLAGS_UNSET, &rc);
	if (c)
		c->u32 = flags;
	return rc;
}

/* ---- incrementals: encoding -------------------------------------------- */

static void change_encode(struct enc *e, const struct osdmap_change *c)
{
	size_t st = enc_struct_begin(e, 1, 1);

	enc_u8(e, c->type);
	switch (c->type) {
	case OSDMAP_CH_MAX_OSD:
	case OSDMAP_CH_FLAGS_SET:
	case OSDMAP_CH_FLAGS_UNSET:
		enc_u32(e, c->u32);
		break;
	case OSDMAP_CH_NEW_OSD:
		enc_s32(e, c->osd);
		enc_bytes(e, c->uuid, MAP_UUID_LEN);
		enc_str(e, c->str);
		break;
	case OSDMAP_CH_RM_OSD:
	case OSDMAP_CH_OSD_DOWN:
		enc_s32(e, c->osd);
		break;
	case OSDMAP_CH_OSD_UP:
		enc_s32(e, c->osd);
		map_addr_encode(e, &c->addr);
		break;
	case OSDMAP_CH_OSD_WEIGHT:
		enc_s32(e, c->osd);
		enc_u32(e, c->u32);
		break;
	case OSDMAP_CH_OSD_HOST:
		enc_s32(e, c->osd);
		enc_str(e, c->str);
		break;
	case OSDMAP_CH_OSD_UP_THRU:
		enc_s32(e, c->osd);
		enc_u64(e, c->u64);
		break;
	case OSDMAP_CH_OSD_LAST_CLEAN:
		enc_s32(e, c->osd);
		enc_u64(e, c->u64);
		enc_u64(e, c->u64b);
		break;
	case OSDMAP_CH_POOL_CREATE:
		pool_encode(e, &c->pool_def);
		break;
	case OSDMAP_CH_POOL_RM:
		enc_s64(e, c->pool);
		break;
	case OSDMAP_CH_POOL_SET:
		enc_s64(e, c->pool);
		enc_u32(e, c->u32);
		enc_u64(e, c->u64);
		break;
	case OSDMAP_CH_POOL_RENAME:
	case OSDMAP_CH_POOL_APP:
		enc_s64(e, c->pool);
		enc_str(e, c->str);
		break;
	case OSDMAP_CH_CRUSH:
		enc_blob(e, c->blob, c->blob_len);
		break;
	case OSDMAP_CH_CRUSH_SET_OSD:
		enc_s32(e, c->osd);
		enc_str(e, c->str);
		enc_u32(e, c->u32);
		break;
	case OSDMAP_CH_CRUSH_RM_OSD:
		enc_s32(e, c->osd);
		break;
	case OSDMAP_CH_PG_TEMP:
		enc_s64(e, c->pool);
		enc_u32(e, c->u32);
		enc_u8(e, (uint8_t)c->n_osds);
		for (uint32_t i = 0; i < c->n_osds; i++)
			enc_s32(e, c->osds[i]);
		break;
	default:
		NORN_ASSERT(!"unknown osdmap change type");
	}
	enc_struct_end(e, st);
}

/* Decode one change and check its own fields (not the map). */
static void change_decode(struct dec *d, struct osdmap_change *c)
{
	struct dec_struct tok;
	uint8_t v;
	int ok = 1;

	memset(c, 0, sizeof(*c));
	dec_struct_begin(d, 1, &v, &tok);
	c->type = dec_u8(d);
	switch (c->type) {
	case OSDMAP_CH_MAX_OSD:
		c->u32 = dec_u32(d);
		ok = c->u32 <= OSDMAP_MAX_OSD;
		break;
	case OSDMAP_CH_FLAGS_SET:
	case OSDMAP_CH_FLAGS_UNSET:
		c->u32 = dec_u32(d);
		ok = c->u32 && !(c->u32 & ~OSDMAP_FLAG_ALL);
		break;
	case OSDMAP_CH_NEW_OSD:
		c->osd = dec_s32(d);
		dec_copy(d, c->uuid, MAP_UUID_LEN);
		dec_str(d, c->str, sizeof(c->str));
		ok = osd_id_ok(c->osd) && name_ok(c->str, sizeof(c->str), 1);
		break;
	case OSDMAP_CH_RM_OSD:
	case OSDMAP_CH_OSD_DOWN:
		c->osd = dec_s32(d);
		ok = osd_id_ok(c->osd);
		break;
	case OSDMAP_CH_OSD_UP:
		c->osd = dec_s32(d);
		map_addr_decode(d, &c->addr);
		ok = osd_id_ok(c->osd) && map_addr_valid(&c->addr);
		break;
	case OSDMAP_CH_OSD_WEIGHT:
		c->osd = dec_s32(d);
		c->u32 = dec_u32(d);
		ok = osd_id_ok(c->osd) && c->u32 <= OSDMAP_WEIGHT_IN;
		break;
	case OSDMAP_CH_OSD_HOST:
		c->osd = dec_s32(d);
		dec_str(d, c->str, sizeof(c->str));
		ok = osd_id_ok(c->osd) && name_ok(c->str, sizeof(c->str), 1);
		break;
	case OSDMAP_CH_OSD_UP_THRU:
		c->osd = dec_s32(d);
		c->u64 = dec_u64(d);
		ok = osd_id_ok(c->osd);
		break;
	case OSDMAP_CH_OSD_LAST_CLEAN:
		c->osd = dec_s32(d);
		c->u64 = dec_u64(d);
		c->u64b = dec_u64(d);
		ok = osd_id_ok(c->osd) && c->u64 <= c->u64b;
		break;
	case OSDMAP_CH_POOL_CREATE:
		pool_decode(d, &c->pool_def);
		c->pool = c->pool_def.id;
		break;
	case OSDMAP_CH_POOL_RM:
		c->pool = dec_s64(d);
		ok = c->pool >= 0;
		break;
	case OSDMAP_CH_POOL_SET:
		c->pool = dec_s64(d);
		c->u32 = dec_u32(d);
		c->u64 = dec_u64(d);
		ok = c->pool >= 0 && c->u32 > 0 && c->u32 < POOL_FIELD_MAX;
		break;
	case OSDMAP_CH_POOL_RENAME:
		c->pool = dec_s64(d);
		dec_str(d, c->str, OSDMAP_POOL_NAME_MAX);
		ok = c->pool >= 0 && name_ok(c->str, OSDMAP_POOL_NAME_MAX, 0);
		break;
	case OSDMAP_CH_POOL_APP:
		c->pool = dec_s64(d);
		dec_str(d, c->str, OSDMAP_APP_NAME_MAX);
		ok = c->pool >= 0 && name_ok(c->str, OSDMAP_APP_NAME_MAX, 1);
		break;
	case OSDMAP_CH_CRUSH: {
		size_t n;
		const void *p = dec_blob(d, &n);

		if (!p)
			break;
		if (n == 0 || n > OSDMAP_CRUSH_BLOB_MAX) {
			ok = 0;
			break;
		}
		c->blob = malloc(n);
		if (!c->blob) {
			dec_fail(d, -ENOMEM);
			break;
		}
		memcpy(c->blob, p, n);
		c->blob_len = n;
		break;
	}
	case OSDMAP_CH_CRUSH_SET_OSD:
		c->osd = dec_s32(d);
		dec_str(d, c->str, sizeof(c->str));
		c->u32 = dec_u32(d);
		ok = osd_id_ok(c->osd) && name_ok(c->str, sizeof(c->str), 0) &&
		     c->u32 <= OSDMAP_CRUSH_WEIGHT_MAX;
		break;
	case OSDMAP_CH_CRUSH_RM_OSD:
		c->osd = dec_s32(d);
		ok = osd_id_ok(c->osd);
		break;
	case OSDMAP_CH_PG_TEMP:
		c->pool = dec_s64(d);
		c->u32 = dec_u32(d);
		c->n_osds = dec_u8(d);
		if (c->n_osds > OSDMAP_MAX_POOL_SIZE) {
			ok = 0;
			break;
		}
		for (uint32_t i = 0; i < c->n_osds; i++)
			c->osds[i] = dec_s32(d);
		ok = c->pool >= 0;
		break;
	default:
		ok = 0;
	}
	map__struct_end(d, &tok, v, 1);
	if (!ok)
		dec_fail(d, NORN_ECORRUPT);
}

int osdmap_inc_encode(const struct osdmap_inc *inc, struct enc *e)
{
	size_t frame = map__frame_begin(e, OSDMAP_INC_MAGIC);
	size_t st = enc_struct_begin(e, OSDMAP_INC_VERSION, 1);

	enc_u64(e, inc->epoch);
	enc_bytes(e, inc->fsid, MAP_UUID_LEN);
	enc_u64(e, inc->modified_ns);
	enc_u32(e, inc->n);
	for (uint32_t i = 0; i < inc->n; i++)
		change_encode(e, &inc->ch[i]);
	enc_struct_end(e, st);
	map__frame_end(e, frame);
	return enc_error(e);
}

int osdmap_inc_decode(struct osdmap_inc *inc, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;
	uint32_t n;
	int rc;

	osdmap_inc_free(inc);
	rc = map__frame_open(buf, len, OSDMAP_INC_MAGIC, &d);
	if (rc)
		return rc;
	dec_struct_begin(&d, OSDMAP_INC_VERSION, &v, &tok);
	inc->epoch = dec_u64(&d);
	dec_copy(&d, inc->fsid, MAP_UUID_LEN);
	inc->modified_ns = dec_u64(&d);
	/* A change is at least a 6-byte struct header, its type byte and a
	 * 4-byte argument. */
	n = dec_count(&d, OSDMAP_INC_MAX_CHANGES, 11);
	if (n) {
		inc->ch = calloc(n, sizeof(inc->ch[0]));
		if (!inc->ch) {
			osdmap_inc_free(inc);
			return -ENOMEM;
		}
		inc->cap = n;
	}
	for (uint32_t i = 0; i < n && !d.err; i++) {
		change_decode(&d, &inc->ch[i]);
		inc->n++;   /* counted even on error so its blob is freed */
	}
	map__struct_end(&d, &tok, v, OSDMAP_INC_VERSION);
	if (!d.err && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (!d.err && inc->epoch == 0)
		dec_fail(&d, NORN_ECORRUPT);
	if (d.err) {
		rc = d.err;
		osdmap_inc_free(inc);
		return rc;
	}
	return 0;
}

/* ---- incrementals: apply ----------------------------------------------- */

static struct osdmap_osd *osd_mut(struct osdmap *m, int32_t id)
{
	if (id < 0 || (uint32_t)id >= m->max_osd || !m->osds[id].exists)
		return NULL;
	return &m->osds[id];
}

static int pool_set_field(struct osdmap *m, struct osdmap_pool *p, uint32_t f, uint64_t v)
{
	struct osdmap_pool t = *p;

	switch (f) {
	case POOL_FIELD_SIZE:
		if (v < 1 || v > OSDMAP_MAX_POOL_SIZE || t.type != POOL_TYPE_REPLICATED)
			return -EINVAL;
		t.size = (uint8_t)v;
		break;
	case POOL_FIELD_MIN_SIZE:
		if (v < 1 || v > OSDMAP_MAX_POOL_SIZE)
			return -EINVAL;
		t.min_size = (uint8_t)v;
		break;
	case POOL_FIELD_PG_NUM:
		if (v < 1 || v > OSDMAP_MAX_PG_NUM)
			return -EINVAL;
		t.pg_num = (uint32_t)v;
		break;
	case POOL_FIELD_PGP_NUM:
		if (v < 1 || v > OSDMAP_MAX_PG_NUM)
			return -EINVAL;
		t.pgp_num = (uint32_t)v;
		break;
	case POOL_FIELD_CRUSH_RULE:
		if (v > INT32_MAX || !crush_has_rule(m->crush, (int32_t)v))
			return -EINVAL;
		t.crush_rule = (int32_t)v;
		break;
	case POOL_FIELD_FLAGS:
		if (v & ~(uint64_t)POOL_FLAG_ALL)
			return -EINVAL;
		t.flags = (uint32_t)v;
		break;
	case POOL_FIELD_QUOTA_MAX_BYTES:
		t.quota_max_bytes = v;
		break;
	case POOL_FIELD_QUOTA_MAX_OBJECTS:
		t.quota_max_objects = v;
		break;
	default:
		return -EINVAL;
	}
	if (osdmap_pool_validate(&t))
		return -EINVAL;
	osdmap_pool_calc_masks(&t);
	*p = t;
	return 0;
}

static int pool_insert(struct osdmap *m, const struct osdmap_pool *p)
{
	if (m->n_pools >= OSDMAP_MAX_POOLS)
		return -EINVAL;
	if (m->n_pools == m->cap_pools) {
		uint32_t nc = m->cap_pools ? m->cap_pools * 2 : 4;
		struct osdmap_pool *np = realloc(m->pools, (size_t)nc * sizeof(*np));

		if (!np)
			return -ENOMEM;
		m->pools = np;
		m->cap_pools = nc;
	}
	/* New ids are always next_pool_id, the largest: append keeps order. */
	m->pools[m->n_pools++] = *p;
	return 0;
}

/* OSDMAP_CH_CRUSH_SET_OSD on the (copied) CRUSH map; see map_osd.h. */
static int crush_set_osd(struct crush_map *c, int32_t osd, const char *host, uint32_t weight)
{
	int host_type, root, hid, rc;
	const struct crush_bucket *hb;

	if (!c)
		return -EINVAL;
	host_type = crush_type_by_name(c, "host");
	if (host_type <= 0 || crush_item_by_name(c, "default", &root) || root >= 0)
		return -EINVAL;
	if (crush_item_by_name(c, host, &hid) == 0) {
		hb = crush_bucket_get(c, hid);
		if (!hb || hb->type != host_type)
			return -EINVAL;
	} else {
		rc = crush_add_bucket(c, 0, host_type, host, &hid);
		if (rc)
			return rc == -ENOMEM ? -ENOMEM : -EINVAL;
		rc = crush_bucket_add_item(c, root, hid, 0);
		if (rc)
			return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	if (!crush_item_exists(c, osd)) {
		rc = crush_add_device(c, osd, NULL);
		if (rc)
			return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	NORN_ASSERT((uint32_t)osd < c->max_devices);
	if (c->devices[osd].parent == hid) {
		rc = crush_adjust_item_weight(c, osd, weight);
	} else {
		if (c->devices[osd].parent != 0) {
			rc = crush_bucket_remove_item(c, osd);
			if (rc)
				return rc == -ENOMEM ? -ENOMEM : -EINVAL;
		}
		rc = crush_bucket_add_item(c, hid, osd, weight);
	}
	if (rc)
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	return 0;
}

static int pg_temp_set(struct osdmap *m, const struct osdmap_change *c)
{
	long i = pg_temp_idx(m, c->pool, c->u32);
	struct osdmap_pg_temp t;

	if (c->n_osds == 0) {
		if (i < 0)
			return -EINVAL;
		memmove(&m->pg_temp[i], &m->pg_temp[i + 1],
		        (m->n_pg_temp - (size_t)i - 1) * sizeof(m->pg_temp[0]));
		m->n_pg_temp--;
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.pg.pool = c->pool;
	t.pg.seed = c->u32;
	t.n = c->n_osds;
	memcpy(t.osds, c->osds, c->n_osds * sizeof(t.osds[0]));
	if (!pg_temp_valid(m, &t))
		return -EINVAL;
	if (i >= 0) {
		m->pg_temp[i] = t;
		return 0;
	}
	if (m->n_pg_temp >= OSDMAP_MAX_PG_TEMP)
		return -EINVAL;
	if (m->n_pg_temp == m->cap_pg_temp) {
		uint32_t nc = m->cap_pg_temp ? m->cap_pg_temp * 2 : 16;
		struct osdmap_pg_temp *np = realloc(m->pg_temp, (size_t)nc * sizeof(*np));

		if (!np)
			return -ENOMEM;
		m->pg_temp = np;
		m->cap_pg_temp = nc;
	}
	i = -i - 1;
	memmove(&m->pg_temp[i + 1], &m->pg_temp[i], (m->n_pg_temp - (size_t)i) * sizeof(t));
	m->pg_temp[i] = t;
	m->n_pg_temp++;
	return 0;
}

static int apply_change(struct osdmap *m, const struct osdmap_change *c, uint64_t epoch)
{
	struct osdmap_osd *o = NULL;
	long pi = -1;

	if (c->type >= OSDMAP_CH_NEW_OSD && c->type <= OSDMAP_CH_OSD_LAST_CLEAN &&
	    c->type != OSDMAP_CH_NEW_OSD) {
		o = osd_mut(m, c->osd);
		if (!o)
			return -EINVAL;
	}
	if (c->type >= OSDMAP_CH_POOL_RM && c->type <= OSDMAP_CH_POOL_APP) {
		pi = pool_idx(m, c->pool);
		if (pi < 0)
			return -EINVAL;
	}
	switch (c->type) {
	case OSDMAP_CH_MAX_OSD:
		return osdmap_set_max_osd(m, c->u32);
	case OSDMAP_CH_NEW_OSD:
		if (c->osd < 0 || (uint32_t)c->osd >= m->max_osd || m->osds[c->osd].exists)
			return -EINVAL;
		o = &m->osds[c->osd];
		memset(o, 0, sizeof(*o));
		o->exists = 1;
		memcpy(o->uuid, c->uuid, MAP_UUID_LEN);
		memcpy(o->host, c->str, sizeof(o->host));
		return 0;
	case OSDMAP_CH_RM_OSD:
		if (o->up)
			return -EINVAL;
		memset(o, 0, sizeof(*o));
		return 0;
	case OSDMAP_CH_OSD_UP:
		if (o->up || !map_addr_valid(&c->addr))
			return -EINVAL;
		o->up = 1;
		o->addr = c->addr;
		o->up_from = epoch;
		return 0;
	case OSDMAP_CH_OSD_DOWN:
		if (!o->up)
			return -EINVAL;
		o->up = 0;
		o->down_at = epoch;
		return 0;
	case OSDMAP_CH_OSD_WEIGHT:
		if (c->u32 > OSDMAP_WEIGHT_IN)
			return -EINVAL;
		o->weight = c->u32;
		return 0;
	case OSDMAP_CH_OSD_HOST:
		memcpy(o->host, c->str, sizeof(o->host));
		return 0;
	case OSDMAP_CH_OSD_UP_THRU:
		if (c->u64 < o->up_thru || c->u64 > epoch)
			return -EINVAL;
		o->up_thru = c->u64;
		return 0;
	case OSDMAP_CH_OSD_LAST_CLEAN:
		if (c->u64 > c->u64b || c->u64b > epoch)
			return -EINVAL;
		o->last_clean_begin = c->u64;
		o->last_clean_end = c->u64b;
		return 0;
	case OSDMAP_CH_POOL_CREATE: {
		struct osdmap_pool p = c->pool_def;

		if (p.id != m->next_pool_id || osdmap_pool_validate(&p) ||
		    osdmap_pool_by_name(m, p.name) || !crush_has_rule(m->crush, p.crush_rule))
			return -EINVAL;
		p.created_epoch = epoch;
		osdmap_pool_calc_masks(&p);
		if (pool_insert(m, &p))
			return -ENOMEM;
		m->next_pool_id++;
		return 0;
	}
	case OSDMAP_CH_POOL_RM:
		if (m->pools[pi].flags & POOL_FLAG_NODELETE)
			return -EINVAL;
		memmove(&m->pools[pi], &m->pools[pi + 1],
		        (m->n_pools - (size_t)pi - 1) * sizeof(m->pools[0]));
		m->n_pools--;
		return 0;
	case OSDMAP_CH_POOL_SET:
		return pool_set_field(m, &m->pools[pi], c->u32, c->u64);
	case OSDMAP_CH_POOL_RENAME: {
		const struct osdmap_pool *other = osdmap_pool_by_name(m, c->str);

		if (!name_ok(c->str, OSDMAP_POOL_NAME_MAX, 0) || (other && other != &m->pools[pi]))
			return -EINVAL;
		memcpy(m->pools[pi].name, c->str, OSDMAP_POOL_NAME_MAX);
		return 0;
	}
	case OSDMAP_CH_POOL_APP:
		if (!name_ok(c->str, OSDMAP_APP_NAME_MAX, 1))
			return -EINVAL;
		memcpy(m->pools[pi].application, c->str, OSDMAP_APP_NAME_MAX);
		return 0;
	case OSDMAP_CH_CRUSH: {
		struct crush_map *cm;
		int rc = crush_from_blob(c->blob, c->blob_len, &cm);

		if (rc)
			return rc;
		osdmap_set_crush(m, cm);
		return 0;
	}
	case OSDMAP_CH_CRUSH_SET_OSD:
		return crush_set_osd(m->crush, c->osd, c->str, c->u32);
	case OSDMAP_CH_PG_TEMP:
		return pg_temp_set(m, c);
	case OSDMAP_CH_CRUSH_RM_OSD:
		if (!m->crush || !crush_item_exists(m->crush, c->osd))
			return -EINVAL;
		switch (crush_remove_device(m->crush, c->osd)) {
		case 0: return 0;
		case -ENOMEM: return -ENOMEM;
		default: return -EINVAL;
		}
	case OSDMAP_CH_FLAGS_SET:
		if (c->u32 & ~OSDMAP_FLAG_ALL)
			return -EINVAL;
		m->flags |= c->u32;
		return 0;
	case OSDMAP_CH_FLAGS_UNSET:
		if (c->u32 & ~OSDMAP_FLAG_ALL)
			return -EINVAL;
		m->flags &= ~c->u32;
		return 0;
	default:
		return -EINVAL;
	}
}

int osdmap_apply_incremental(struct osdmap *m, const struct osdmap_inc *inc)
{
	struct osdmap t;
	int bootstrap;
	int rc;

	if (inc->epoch != m->epoch + 1)
		return NORN_ESTALE;
	bootstrap = m->epoch == 0 && map_uuid_is_zero(m->fsid);
	if (!bootstrap && memcmp(inc->fsid, m->fsid, MAP_UUID_LEN))
		return -EINVAL;
	osdmap_init(&t);
	rc = osdmap_copy(&t, m);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < inc->n; i++) {
		rc = apply_change(&t, &inc->ch[i], inc->epoch);
		if (rc)
			goto fail;
	}
	pg_temp_prune(&t);
	if (osdmap__validate(&t)) {
		rc = -EINVAL;
		goto fail;
	}
	t.epoch = inc->epoch;
	t.modified_ns = inc->modified_ns;
	if (bootstrap) {
		memcpy(t.fsid, inc->fsid, MAP_UUID_LEN);
		t.created_ns = inc->modified_ns;
	}
	osdmap_free(m);
	*m = t;
	return 0;
fail:
	osdmap_free(&t);
	return rc;
}

/* ---- placement ---------------------------------------------------------- */

int pgid_format(const struct pg_id *pg, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%" PRId64 ".%" PRIx32, pg->pool, pg->seed);

	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int pgid_parse(const char *s, struct pg_id *out)
{
	int64_t pool = 0;
	uint32_t seed = 0;
	size_t i = 0, digits = 0;

	if (!s)
		return -EINVAL;
	for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (pool > (INT64_MAX - 9) / 10)
			return -EINVAL;
		pool = pool * 10 + (s[i] - '0');
	}
	if (!digits || s[i] != '.')
		return -EINVAL;
	i++;
	digits = 0;
	for (; s[i]; i++, digits++) {
		int v = isxdigit((unsigned char)s[i]) ?
		        (isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower((unsigned char)s[i]) - 'a' + 10)) : -1;

		if (v < 0 || digits >= 8)
			return -EINVAL;
		seed = seed << 4 | (uint32_t)v;
	}
	if (!digits)
		return -EINVAL;
	out->pool = pool;
	out->seed = seed;
	return 0;
}

uint32_t osdmap_str_hash(const void *name, size_t len)
{
	const uint8_t *p = name;
	uint32_t h = 0x4e6f726eu;   /* "Norn": a non-zero start so "" != "\0" */

	for (size_t i = 0; i < len; i++) {
		h += p[i];
		h += h << 10;
		h ^= h >> 6;
	}
	h += (uint32_t)len;
	h += h << 3;
	h ^= h >> 11;
	h += h << 15;
	/* murmur3's finaliser on top: one-at-a-time alone leaves the low bits
	 * (which stable_mod uses) weakly mixed for short names. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

struct pg_id osdmap_object_to_pg(const struct osdmap_pool *pool, const void *name, size_t len)
{
	struct pg_id pg;

	NORN_ASSERT(pool->pg_num >= 1 && pool->pg_num_mask >= pool->pg_num - 1);
	pg.pool = pool->id;
	pg.seed = osdmap_stable_mod(osdmap_str_hash(name, len), pool->pg_num, pool->pg_num_mask);
	return pg;
}

uint32_t osdmap_pg_pps(const struct osdmap_pool *pool, uint32_t seed)
{
	uint32_t ps = osdmap_stable_mod(seed, pool->pgp_num, pool->pgp_num_mask);

	/* Mixing the pool in keeps PG n of every pool from landing on the same
	 * OSDs. */
	return crush_hash32_3(ps, (uint32_t)pool->id, (uint32_t)((uint64_t)pool->id >> 32));
}

/* Run CRUSH for the PG with in-weights; raw[] gets size entries for EC
 * (OSD_NONE for holes) or the found ones for replicated. */
static int pg_raw(const struct osdmap *m, const struct osdmap_pool *p, uint32_t seed,
                  int32_t raw[OSDMAP_MAX_POOL_SIZE], uint32_t *raw_n)
{
	uint32_t *w = NULL;
	void *scratch = NULL;
	int res[OSDMAP_MAX_POOL_SIZE];
	int n;
	uint32_t out = 0;

	*raw_n = 0;
	if (seed >= p->pg_num || !crush_has_rule(m->crush, p->crush_rule))
		return -EINVAL;
	NORN_ASSERT(p->size <= OSDMAP_MAX_POOL_SIZE);
	if (m->max_osd) {
		w = malloc((size_t)m->max_osd * sizeof(*w));
		if (!w)
			return -ENOMEM;
		for (uint32_t i = 0; i < m->max_osd; i++)
			w[i] = m->osds[i].exists ? m->osds[i].weight : 0;
	}
	scratch = malloc(crush_scratch_size(m->crush, p->size) + 1);
	if (!scratch) {
		free(w);
		return -ENOMEM;
	}
	n = crush_do_rule(m->crush, p->crush_rule, osdmap_pg_pps(p, seed), res, p->size,
	                  w, (int)m->max_osd, scratch);
	free(scratch);
	free(w);
	if (n < 0)
		n = 0;
	if (n > p->size)
		n = p->size;
	for (int i = 0; i < n; i++) {
		int32_t osd = res[i];

		if (osd < 0 || (uint32_t)osd >= m->max_osd || !m->osds[osd].exists)
			osd = OSD_NONE;
		if (p->type == POOL_TYPE_ERASURE)
			raw[out++] = osd;
		else if (osd != OSD_NONE)
			raw[out++] = osd;
	}
	if (p->type == POOL_TYPE_ERASURE)
		while (out < p->size)
			raw[out++] = OSD_NONE;
	*raw_n = out;
	return 0;
}

int osdmap_pg_to_raw(const struct osdmap *m, int64_t pool, uint32_t pg_seed,
                     int32_t raw[OSDMAP_MAX_POOL_SIZE], uint32_t *raw_n)
{
	const struct osdmap_pool *p = osdmap_pool(m, pool);

	*raw_n = 0;
	if (!p)
		return -ENOENT;
	return pg_raw(m, p, pg_seed, raw, raw_n);
}

/* Remove down OSDs from @in (n entries) into @out: shift left for
 * replicated pools, OSD_NONE in place for erasure pools. Returns the
 * count written. */
static uint32_t filter_up(const struct osdmap *m, const struct osdmap_pool *p, const int32_t *in,
                          uint32_t n, int32_t *out)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		int32_t osd = in[i];

		if (osd != OSD_NONE && !osdmap_osd_is_up(m, osd))
			osd = OSD_NONE;
		if (p->type == POOL_TYPE_ERASURE)
			out[k++] = osd;
		else if (osd != OSD_NONE)
			out[k++] = osd;
	}
	return k;
}

static int32_t first_osd(const int32_t *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] != OSD_NONE)
			return v[i];
	return OSD_NONE;
}

int osdmap_pg_mapping(const struct osdmap *m, int64_t pool, uint32_t pg_seed,
                      struct osdmap_pg_mapping *out)
{
	const struct osdmap_pool *p = osdmap_pool(m, pool);
	const struct osdmap_pg_temp *t;
	int32_t raw[OSDMAP_MAX_POOL_SIZE];
	uint32_t raw_n;
	int rc;

	memset(out, 0, sizeof(*out));
	out->up_primary = OSD_NONE;
	out->acting_primary = OSD_NONE;
	if (!p)
		return -ENOENT;
	rc = pg_raw(m, p, pg_seed, raw, &raw_n);
	if (rc)
		return rc;
	out->up_n = filter_up(m, p, raw, raw_n, out->up);
	out->up_primary = first_osd(out->up, out->up_n);
	t = osdmap_pg_temp_get(m, pool, pg_seed);
	if (t) {
		out->acting_n = filter_up(m, p, t->osds, t->n, out->acting);
		out->acting_primary = first_osd(out->acting, out->acting_n);
	}
	if (out->acting_primary == OSD_NONE) {
		/* no pg_temp, or none of its OSDs is up: serve from the up set */
		out->acting_n = out->up_n;
		memcpy(out->acting, out->up, sizeof(out->acting));
		out->acting_primary = out->up_primary;
	}
	return 0;
}

int osdmap_pg_to_up_acting(const struct osdmap *m, int64_t pool, uint32_t pg_seed,
                           int32_t up[OSDMAP_MAX_POOL_SIZE], uint32_t *up_n, int32_t *primary)
{
	struct osdmap_pg_mapping pm;
	int rc = osdmap_pg_mapping(m, pool, pg_seed, &pm);

	*up_n = pm.acting_n;
	*primary = pm.acting_primary;
	memcpy(up, pm.acting, pm.acting_n * sizeof(up[0]));
	return rc;
}

int osdmap_pg_interval_changed(const struct osdmap *prev, const struct osdmap *cur, int64_t pool,
                               uint32_t seed)
{
	const struct osdmap_pool *a = osdmap_pool(prev, pool), *b = osdmap_pool(cur, pool);
	struct osdmap_pg_mapping ma, mb;
	int ra, rb;

	if (!a || !b)
		return a != b;
	if (a->size != b->size || a->min_size != b->min_size || a->pg_num != b->pg_num ||
	    a->pgp_num != b->pgp_num)
		return 1;
	ra = osdmap_pg_mapping(prev, pool, seed, &ma);
	rb = osdmap_pg_mapping(cur, pool, seed, &mb);
	if (ra == -ENOMEM || rb == -ENOMEM)
		return -ENOMEM;
	if (ra || rb)
		return 1;
	/* memset in osdmap_pg_mapping makes unused slots compare equal */
	return memcmp(&ma, &mb, sizeof(ma)) != 0;
}

int osdmap_object_locate(const struct osdmap *m, int64_t pool, const void *name, size_t len,
                         struct pg_id *pgid, int32_t osds[OSDMAP_MAX_POOL_SIZE],
                         uint32_t *n, int32_t *primary)
{
	const struct osdmap_pool *p = osdmap_pool(m, pool);

	*n = 0;
	*primary = OSD_NONE;
	if (!p)
		return -ENOENT;
	*pgid = osdmap_object_to_pg(p, name, len);
	return osdmap_pg_to_up_acting(m, pool, pgid->seed, osds, n, primary);
}

/* ---- dumps -------------------------------------------------------------- */

static const char *pool_type_name(uint8_t t)
{
	return t == POOL_TYPE_REPLICATED ? "replicated" : t == POOL_TYPE_ERASURE ? "erasure" : "?";
}

int osdmap_dump_json(const struct osdmap *m, struct enc *out)
{
	char fsid[MAP_UUID_STR_LEN], flags[256], addr[MAP_ADDR_STR_MAX];
	int first = 1;

	map_uuid_format(m->fsid, fsid);
	if (osdmap_flags_format(m->flags, flags, sizeof(flags)) < 0)
		flags[0] = 0;
	map__printf(out, "{\"epoch\":%" PRIu64 ",\"fsid\":\"%s\",\"created_ns\":%" PRIu64
	           ",\"modified_ns\":%" PRIu64 ",\"flags\":\"%s\",\"max_osd\":%u"
	           ",\"next_pool_id\":%" PRId64 ",\"osds\":[",
	           m->epoch, fsid, m->created_ns, m->modified_ns, flags, m->max_osd,
	           m->next_pool_id);
	for (uint32_t i = 0; i < m->max_osd; i++) {
		const struct osdmap_osd *o = &m->osds[i];
		char uuid[MAP_UUID_STR_LEN];

		if (!o->exists)
			continue;
		map_uuid_format(o->uuid, uuid);
		if (o->addr.host[0] && map_addr_format(&o->addr, addr, sizeof(addr)) >= 0)
			;
		else
			addr[0] = 0;
		map__printf(out, "%s{\"osd\":%u,\"uuid\":\"%s\",\"up\":%d,\"in\":%d,\"weight\":%.5f,"
		           "\"addr\":", first ? "" : ",", i, uuid, o->up, o->weight > 0,
		           o->weight / 65536.0);
		map__json_str(out, addr);
		map__printf(out, ",\"host\":");
		map__json_str(out, o->host);
		map__printf(out, ",\"up_from\":%" PRIu64 ",\"up_thru\":%" PRIu64 ",\"down_at\":%" PRIu64
		           ",\"last_clean_begin\":%" PRIu64 ",\"last_clean_end\":%" PRIu64 "}",
		           o->up_from, o->up_thru, o->down_at, o->last_clean_begin, o->last_clean_end);
		first = 0;
	}
	map__printf(out, "],\"pools\":[");
	for (uint32_t i = 0; i < m->n_pools; i++) {
		const struct osdmap_pool *p = &m->pools[i];

		map__printf(out, "%s{\"pool\":%" PRId64 ",\"name\":", i ? "," : "", p->id);
		map__json_str(out, p->name);
		map__printf(out, ",\"type\":\"%s\",\"size\":%u,\"min_size\":%u,\"ec_k\":%u,\"ec_m\":%u,"
		           "\"ec_stripe_unit\":%u,\"pg_num\":%u,\"pgp_num\":%u,\"crush_rule\":%d,"
		           "\"flags\":%u,\"created_epoch\":%" PRIu64 ",\"quota_max_bytes\":%" PRIu64
		           ",\"quota_max_objects\":%" PRIu64 ",\"application\":",
		           pool_type_name(p->type), p->size, p->min_size, p->ec_k, p->ec_m,
		           p->ec_stripe_unit, p->pg_num, p->pgp_num, p->crush_rule, p->flags,
		           p->created_epoch, p->quota_max_bytes, p->quota_max_objects);
		map__json_str(out, p->application);
		map__printf(out, "}");
	}
	map__printf(out, "],\"pg_temp\":[");
	for (uint32_t i = 0; i < m->n_pg_temp; i++) {
		const struct osdmap_pg_temp *t = &m->pg_temp[i];
		char pg[PGID_STR_MAX];

		if (pgid_format(&t->pg, pg, sizeof(pg)) < 0)
			pg[0] = 0;
		map__printf(out, "%s{\"pgid\":\"%s\",\"osds\":[", i ? "," : "", pg);
		for (uint32_t j = 0; j < t->n; j++)
			map__printf(out, "%s%d", j ? "," : "", t->osds[j]);
		map__printf(out, "]}");
	}
	map__printf(out, "]}");
	return enc_error(out);
}

int osdmap_dump_text(const struct osdmap *m, struct enc *out)
{
	char fsid[MAP_UUID_STR_LEN], flags[256], addr[MAP_ADDR_STR_MAX];

	map_uuid_format(m->fsid, fsid);
	if (osdmap_flags_format(m->flags, flags, sizeof(flags)) < 0)
		flags[0] = 0;
	map__printf(out, "epoch %" PRIu64 "\nfsid %s\nflags %s\nmax_osd %u\n\n",
	           m->epoch, fsid, flags, m->max_osd);
	for (uint32_t i = 0; i < m->n_pools; i++) {
		const struct osdmap_pool *p = &m->pools[i];

		map__printf(out, "pool %" PRId64 " '%s' %s size %u min_size %u", p->id, p->name,
		           pool_type_name(p->type), p->size, p->min_size);
		if (p->type == POOL_TYPE_ERASURE)
			map__printf(out, " k %u m %u stripe_unit %u", p->ec_k, p->ec_m, p->ec_stripe_unit);
		map__printf(out, " crush_rule %d pg_num %u pgp_num %u created %" PRIu64, p->crush_rule,
		           p->pg_num, p->pgp_num, p->created_epoch);
		if (p->application[0])
			map__printf(out, " application %s", p->application);
		if (p->quota_max_bytes)
			map__printf(out, " max_bytes %" PRIu64, p->quota_max_bytes);
		if (p->quota_max_objects)
			map__printf(out, " max_objects %" PRIu64, p->quota_max_objects);
		map__printf(out, "\n");
	}
	if (m->n_pools)
		map__printf(out, "\n");
	for (uint32_t i = 0; i < m->max_osd; i++) {
		const struct osdmap_osd *o = &m->osds[i];

		if (!o->exists)
			continue;
		if (!o->addr.host[0] || map_addr_format(&o->addr, addr, sizeof(addr)) < 0)
			snprintf(addr, sizeof(addr), "-");
		map__printf(out, "osd.%u %s %s weight %.5f up_from %" PRIu64 " up_thru %" PRIu64
		           " down_at %" PRIu64 " host %s addr %s\n", i, o->up ? "up" : "down",
		           o->weight ? "in" : "out", o->weight / 65536.0, o->up_from, o->up_thru,
		           o->down_at, o->host[0] ? o->host : "-", addr);
	}
	return enc_error(out);
}
