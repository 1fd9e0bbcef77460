/* Binary encoding of CRUSH maps.
 *
 * The osdmap embeds a CRUSH map, so these bytes travel between mons, OSDs
 * and clients and sit on disk: decoding must survive any input. crush/
 * depends on nothing in Norn, so it has its own tiny little-endian writer
 * and cursor here (same discipline as common/encode.h: every read checks
 * the remaining length, errors are sticky).
 *
 * Layout, version 1:
 *   "NCRU"  u8 version  u8 compat  u32 body_len  body[body_len]
 * body:
 *   u32 behavior  u32 choose_total_tries
 *   u32 ntypes    { u8 id, str name }                      ids ascending
 *   u32 ndevices  { u32 id, str name }                     ids ascending
 *   u32 nbuckets  { i32 id, u8 type, u8 alg, str name,
 *                   u32 size, { i32 item, u32 weight } * size }  ids descending
 *   u32 nrules    { u32 ruleno, u8 type, str name, u8 nsteps,
 *                   { u8 op, i32 arg1, i32 arg2 } * nsteps }     ruleno ascending
 *   (a later minor version may append fields; a v1 reader skips them)
 * str = u8 length (1..63) + bytes, no NUL.
 * The map is rebuilt through the builder, so every structural rule the
 * builder enforces (single parents, depth, unique names, valid rules) holds
 * for decoded maps too; bucket item weights of bucket children must equal
 * the recomputed sums. Equal maps encode to equal bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "crush/crush_int.h"

#define CRUSH_MAGIC    0x5552434eu /* "NCRU" little-endian */
#define CRUSH_VERSION  1
#define CRUSH_COMPAT   1
#define HEADER_LEN     10u

/* ---------------------------------------------------------------- writer */

struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t len;  /* grows even past cap: the size query */
};

static void put_bytes(struct wbuf *b, const void *src, size_t n)
{
	if (b->p && b->len + n <= b->cap)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void put_u8(struct wbuf *b, uint8_t v)
{
	put_bytes(b, &v, 1);
}

static void put_u32(struct wbuf *b, uint32_t v)
{
	uint8_t t[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	put_bytes(b, t, 4);
}

static void put_str(struct wbuf *b, const char *s)
{
	size_t n = strnlen(s, CRUSH_MAX_NAME - 1);
	put_u8(b, (uint8_t)n);
	put_bytes(b, s, n);
}

static void encode_body(const struct crush_map *map, struct wbuf *b)
{
	uint32_t n;

	put_u32(b, map->behavior);
	put_u32(b, map->choose_total_tries);

	n = 0;
	for (uint32_t t = 0; t < CRUSH_MAX_TYPES; t++)
		n += map->type_names[t][0] != 0;
	put_u32(b, n);
	for (uint32_t t = 0; t < CRUSH_MAX_TYPES; t++) {
		if (!map->type_names[t][0])
			continue;
		put_u8(b, (uint8_t)t);
		put_str(b, map->type_names[t]);
	}

	n = 0;
	for (uint32_t i = 0; i < map->max_devices; i++)
		n += map->devices[i].exists;
	put_u32(b, n);
	for (uint32_t i = 0; i < map->max_devices; i++) {
		if (!map->devices[i].exists)
			continue;
		put_u32(b, i);
		put_str(b, map->devices[i].name);
	}

	n = 0;
	for (uint32_t i = 0; i < map->max_buckets; i++)
		n += map->buckets[i] != NULL;
	put_u32(b, n);
	for (uint32_t i = 0; i < map->max_buckets; i++) {
		const struct crush_bucket *bk = map->buckets[i];
		if (!bk)
			continue;
		put_u32(b, (uint32_t)bk->id);
		put_u8(b, (uint8_t)bk->type);
		put_u8(b, bk->alg);
		put_str(b, bk->name);
		put_u32(b, bk->size);
		for (uint32_t k = 0; k < bk->size; k++) {
			put_u32(b, (uint32_t)bk->items[k]);
			put_u32(b, bk->item_weights[k]);
		}
	}

	n = 0;
	for (uint32_t r = 0; r < map->max_rules; r++)
		n += map->rules[r] != NULL;
	put_u32(b, n);
	for (uint32_t r = 0; r < map->max_rules; r++) {
		const struct crush_rule *rule = map->rules[r];
		if (!rule)
			continue;
		put_u32(b, r);
		put_u8(b, rule->type);
		put_str(b, rule->name);
		put_u8(b, (uint8_t)rule->nsteps);
		for (uint32_t s = 0; s < rule->nsteps; s++) {
			put_u8(b, (uint8_t)rule->steps[s].op);
			put_u32(b, (uint32_t)rule->steps[s].arg1);
			put_u32(b, (uint32_t)rule->steps[s].arg2);
		}
	}
}

int crush_encode(const struct crush_map *map, uint8_t *buf, size_t cap, size_t *len_out)
{
	if (!map || !len_out)
		return -EINVAL;
	struct wbuf body = { NULL, 0, 0 };
	encode_body(map, &body);              /* size pass */
	size_t total = HEADER_LEN + body.len;
	*len_out = total;
	if (!buf || cap < total || body.len > UINT32_MAX)
		return -ERANGE;
	struct wbuf b = { buf, cap, 0 };
	put_u32(&b, CRUSH_MAGIC);
	put_u8(&b, CRUSH_VERSION);
	put_u8(&b, CRUSH_COMPAT);
	put_u32(&b, (uint32_t)body.len);
	encode_body(map, &b);
	return 0;
}

/* ---------------------------------------------------------------- reader */

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;     /* sticky: once set, every read returns zeros */
};

static int have(struct rbuf *r, size_t n)
{
	if (r->err || r->len - r->off < n) {
		r->err = -EBADMSG;
		return 0;
	}
	return 1;
}

static uint8_t get_u8(struct rbuf *r)
{
	if (!have(r, 1))
		return 0;
	return r->p[r->off++];
}

static uint32_t get_u32(struct rbuf *r)
{
	if (!have(r, 4))
		return 0;
	const uint8_t *q = r->p + r->off;
	r->off += 4;
	return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}

/* A name into out[CRUSH_MAX_NAME]; bad length or characters poison r. */
static void get_str(struct rbuf *r, char *out)
{
	out[0] = '\0';
	uint8_t n = get_u8(r);
	if (r->err)
		return;
	if (n == 0 || n >= CRUSH_MAX_NAME || !have(r, n)) {
		r->err = -EBADMSG;
		return;
	}
	memcpy(out, r->p + r->off, n);
	out[n] = '\0';
	r->off += n;
	if (!crush__valid_name(out))
		r->err = -EBADMSG;
}

/* A count that is within max and could possibly fit in what is left, given
 * each entry takes at least min_entry bytes. */
static uint32_t get_count(struct rbuf *r, uint32_t max, size_t min_entry)
{
	uint32_t n = get_u32(r);
	if (r->err)
		return 0;
	if (n > max || (size_t)n > (r->len - r->off) / min_entry) {
		r->err = -EBADMSG;
		return 0;
	}
	return n;
}

/* Builder errors on decoded data mean the bytes were inconsistent. */
static int as_decode_err(int rc)
{
	return rc == -ENOMEM ? -ENOMEM : -EBADMSG;
}

static int decode_body(struct crush_map *map, struct rbuf *r)
{
	char name[CRUSH_MAX_NAME];
	int rc;

	map->behavior = get_u32(r);
	map->choose_total_tries = get_u32(r);
	if (r->err)
		return r->err;
	if (map->behavior != CRUSH_BEHAVIOR_V1)
		return -ENOTSUP;
	if (map->choose_total_tries < 1 || map->choose_total_tries > CRUSH_MAX_TRIES)
		return -EBADMSG;

	/* types: start from none so the map holds exactly what was encoded */
	memset(map->type_names, 0, sizeof(map->type_names));
	uint32_t n = get_count(r, CRUSH_MAX_TYPES, 3);
	int prev = -1;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint8_t id = get_u8(r);
		get_str(r, name);
		if (r->err)
			break;
		if (id >= CRUSH_MAX_TYPES || (int)id <= prev)
			return -EBADMSG;
		prev = id;
		rc = crush_set_type_name(map, id, name);
		if (rc)
			return as_decode_err(rc);
	}
	if (r->err)
		return r->err;
	if (!map->type_names[0][0])
		return -EBADMSG;

	n = get_count(r, CRUSH_MAX_DEVICES, 6);
	int64_t prevd = -1;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint32_t id = get_u32(r);
		get_str(r, name);
		if (r->err)
			break;
		if (id >= CRUSH_MAX_DEVICES || (int64_t)id <= prevd)
			return -EBADMSG;
		prevd = id;
		rc = crush_add_device(map, (int)id, name);
		if (rc)
			return as_decode_err(rc);
	}
	if (r->err)
		return r->err;

	/* buckets: create all first (items may refer to any of them), remember
	 * where each one's item list starts, then link in a second pass */
	n = get_count(r, CRUSH_MAX_BUCKETS, 12);
	if (r->err)
		return r->err;
	size_t *item_off = NULL;
	if (n) {
		item_off = calloc(n, sizeof(*item_off));
		if (!item_off)
			return -ENOMEM;
	}
	int32_t *ids = n ? calloc(n, sizeof(*ids)) : NULL;
	if (n && !ids) {
		free(item_off);
		return -ENOMEM;
	}
	rc = 0;
	int64_t previd = 0;
	for (uint32_t i = 0; i < n && !rc; i++) {
		int32_t id = (int32_t)get_u32(r);
		uint8_t type = get_u8(r);
		uint8_t alg = get_u8(r);
		get_str(r, name);
		uint32_t size = get_count(r, CRUSH_MAX_BUCKET_SIZE, 8);
		if (r->err) {
			rc = r->err;
			break;
		}
		if (id >= 0 || id >= previd || alg != CRUSH_BUCKET_STRAW2) {
			rc = -EBADMSG;
			break;
		}
		previd = id;
		item_off[i] = r->off;
		ids[i] = id;
		r->off += (size_t)size * 8; /* get_count checked it fits */
		rc = crush_add_bucket(map, id, type, name, NULL);
		if (rc)
			rc = as_decode_err(rc);
	}
	size_t after_buckets = r->off;
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (uint32_t i = 0; i < n && !rc; i++) {
			struct rbuf ir = { r->p, r->len, item_off[i] - 4, 0 };
			uint32_t size = get_u32(&ir);
			for (uint32_t k = 0; k < size && !rc; k++) {
				int32_t item = (int32_t)get_u32(&ir);
				uint32_t wt = get_u32(&ir);
				if (ir.err) {
					rc = ir.err;
					break;
				}
				if (pass == 0) {
					/* the weight of a bucket child is recomputed */
					rc = crush_bucket_add_item(map, ids[i], item, wt);
					if (rc)
						rc = as_decode_err(rc);
				} else if (crush_bucket_get(map, ids[i])->item_weights[k] != wt) {
					rc = -EBADMSG; /* stated weight is not the sum */
				}
			}
		}
	}
	free(item_off);
	free(ids);
	if (rc)
		return rc;
	r->off = after_buckets;

	n = get_count(r, CRUSH_MAX_RULES, 7);
	int64_t prevr = -1;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct crush_rule_step steps[CRUSH_MAX_RULE_STEPS];
		uint32_t ruleno = get_u32(r);
		uint8_t type = get_u8(r);
		get_str(r, name);
		uint8_t nsteps = get_u8(r);
		if (r->err)
			break;
		if (ruleno >= CRUSH_MAX_RULES || (int64_t)ruleno <= prevr ||
		    nsteps < 1 || nsteps > CRUSH_MAX_RULE_STEPS)
			return -EBADMSG;
		prevr = ruleno;
		for (uint32_t s = 0; s < nsteps; s++) {
			steps[s].op = get_u8(r);
			steps[s].arg1 = (int32_t)get_u32(r);
			steps[s].arg2 = (int32_t)get_u32(r);
		}
		if (r->err)
			break;
		rc = crush_add_rule(map, (int)ruleno, name, type, steps, nsteps, NULL);
		if (rc)
			return as_decode_err(rc);
	}
	return r->err;
}

int crush_decode(struct crush_map **out, const uint8_t *buf, size_t len)
{
	if (!out || (!buf && len))
		return -EINVAL;
	*out = NULL;
	if (len > CRUSH_MAX_ENCODED)
		return -EBADMSG;
	struct rbuf h = { buf, len, 0, 0 };
	uint32_t magic = get_u32(&h);
	uint8_t version = get_u8(&h);
	uint8_t compat = get_u8(&h);
	uint32_t body_len = get_u32(&h);
	if (h.err || magic != CRUSH_MAGIC || version < 1 || compat < 1 || compat > version)
		return -EBADMSG;
	if (compat > CRUSH_VERSION)
		return -ENOTSUP;
	if ((size_t)body_len != len - HEADER_LEN)
		return -EBADMSG;

	struct crush_map *map;
	int rc = crush_create(&map);
	if (rc)
		return rc;
	/* the body cursor ends at body_len: unknown trailing fields of a newer
	 * minor version are simply not read */
	struct rbuf r = { buf + HEADER_LEN, body_len, 0, 0 };
	rc = decode_body(map, &r);
	if (rc) {
		crush_destroy(map);
		return rc;
	}
	if (version == CRUSH_VERSION && r.off != r.len) {
		crush_destroy(map);
		return -EBADMSG; /* same version: no room for unknown fields */
	}
	*out = map;
	return 0;
}

int crush_map_equal(const struct crush_map *a, const struct crush_map *b)
{
	size_t la = 0, lb = 0;
	if (!a || !b)
		return a == b;
	crush_encode(a, NULL, 0, &la);
	crush_encode(b, NULL, 0, &lb);
	if (la != lb)
		return 0;
	uint8_t *ba = malloc(la), *bb = malloc(lb);
	int eq = 0;
	if (ba && bb && !crush_encode(a, ba, la, &la) && !crush_encode(b, bb, lb, &lb))
		eq = !memcmp(ba, bb, la);
	free(ba);
	free(bb);
	return eq;
}
