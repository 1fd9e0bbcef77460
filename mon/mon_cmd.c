/* Admin commands over the replicated state: writes (applied from
 * committed Raft entries, deterministically on every mon) and reads
 * (served by any mon from committed state).
 *
 * Commands are JSON objects with a "prefix" ("pool create") and named
 * arguments. A write's validation happens at apply time against the state
 * it lands on, so two racing commands resolve identically everywhere
 * (the second "pool create rbd" finds the first's pool). Commands a
 * client retries after a leader change are idempotent where that matters:
 * creating a pool that already exists with the same name returns 0 and
 * "already exists", `osd create` with a known uuid returns the same id.
 *
 * OSD map changes are built as one struct osdmap_inc against the current
 * map, applied, and kept (encoded) in the history for subscribers. CRUSH
 * edits work on a deep copy of the CRUSH map that becomes an
 * OSDMAP_CH_CRUSH change.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "common/assert.h"
#include "common/auth.h"
#include "common/keyring.h"
#include "common/log.h"
#include "crush/crush.h"
#include "mon/mon_state.h"
#include "norn/errors.h"

#define CAPS_DEFAULT_OSD "mon 'allow rwx' osd 'allow *'"

/* ---- small helpers ------------------------------------------------------ */

static void eprintf(struct enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void eprintf(struct enc *e, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		enc_bytes(e, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		e->err = -ENOMEM;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	enc_bytes(e, big, (size_t)n);
	free(big);
}

static void out_json(struct mon_result *res, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if (s) {
		enc_bytes(&res->out, s, strlen(s));
		free(s);
	} else {
		res->out.err = -ENOMEM;
	}
	json_decref(j);
}

static const char *jstr(const json_t *cmd, const char *k)
{
	return json_string_value(json_object_get(cmd, k));
}

/* Integer argument: accepts a JSON integer or a decimal string. */
static int jint(const json_t *cmd, const char *k, int64_t *out)
{
	const json_t *v = json_object_get(cmd, k);
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (json_is_string(v)) {
		char *end;
		const char *s = json_string_value(v);
		long long x = strtoll(s, &end, 10);
		if (*s && !*end) {
			*out = x;
			return 1;
		}
		return -1;
	}
	return v ? -1 : 0;
}

static int jnum(const json_t *cmd, const char *k, double *out)
{
	const json_t *v = json_object_get(cmd, k);
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 1;
	}
	if (json_is_string(v)) {
		char *end;
		const char *s = json_string_value(v);
		double x = strtod(s, &end);
		if (*s && !*end && isfinite(x)) {
			*out = x;
			return 1;
		}
		return -1;
	}
	return v ? -1 : 0;
}

/* The list of OSD ids in "ids" (array of ints) or "id" (one int). */
static int jids(const json_t *cmd, int32_t *ids, uint32_t cap, uint32_t *n)
{
	const json_t *a = json_object_get(cmd, "ids");
	int64_t one;

	*n = 0;
	if (json_is_array(a)) {
		size_t i;
		const json_t *v;
		json_array_foreach(a, i, v) {
			int64_t x;
			if (json_is_integer(v))
				x = json_integer_value(v);
			else if (json_is_string(v)) {
				char *end;
				x = strtoll(json_string_value(v), &end, 10);
				if (*end || !*json_string_value(v))
					return -EINVAL;
			} else
				return -EINVAL;
			if (x < 0 || x >= OSDMAP_MAX_OSD || *n >= cap)
				return -EINVAL;
			ids[(*n)++] = (int32_t)x;
		}
		return *n ? 0 : -EINVAL;
	}
	if (jint(cmd, "id", &one) == 1 && one >= 0 && one < OSDMAP_MAX_OSD) {
		ids[0] = (int32_t)one;
		*n = 1;
		return 0;
	}
	return -EINVAL;
}

static uint64_t now_of(const json_t *cmd)
{
	int64_t v;
	return jint(cmd, "_now_ns", &v) == 1 && v > 0 ? (uint64_t)v : 0;
}

/* Apply @inc and keep its encoding in the history. */
static int inc_commit(struct mon_state *st, struct osdmap_inc *inc, struct mon_result *res)
{
	struct enc e;
	int rc;

	rc = osdmap_apply_incremental(&st->osdmap, inc);
	if (rc)
		return rc;
	enc_init(&e, 256);
	if (osdmap_inc_encode(inc, &e) == 0) {
		size_t len;
		uint8_t *buf = enc_take(&e, &len);
		mon_state_hist_push(st, inc->epoch, buf, len);
	} else {
		enc_free(&e);
	}
	res->osdmap_changed = 1;
	return 0;
}

static int crush_clone(const struct crush_map *src, struct crush_map **out)
{
	size_t len = 0;
	uint8_t *buf;
	int rc;

	*out = NULL;
	if (!src)
		return crush_create(out);
	crush_encode(src, NULL, 0, &len);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	rc = crush_encode(src, buf, len, &len);
	if (!rc)
		rc = crush_decode(out, buf, len);
	free(buf);
	return rc;
}

static int auto_out_has(const struct mon_state *st, int32_t id)
{
	for (uint32_t i = 0; i < st->n_auto_out; i++)
		if (st->auto_out[i] == id)
			return 1;
	return 0;
}

static void auto_out_del(struct mon_state *st, int32_t id)
{
	for (uint32_t i = 0; i < st->n_auto_out; i++)
		if (st->auto_out[i] == id) {
			st->auto_out[i] = st->auto_out[--st->n_auto_out];
			return;
		}
}

static int auto_out_add(struct mon_state *st, int32_t id)
{
	if (auto_out_has(st, id))
		return 0;
	int32_t *n = realloc(st->auto_out, (st->n_auto_out + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->auto_out = n;
	st->auto_out[st->n_auto_out++] = id;
	return 0;
}

static uint32_t weight_from_capacity(uint64_t bytes)
{
	/* CRUSH weight 1.0 = 1 TB; at least the smallest non-zero weight so
	 * tiny test disks still take data. */
	uint64_t w = (uint64_t)((double)bytes / 1e12 * CRUSH_WEIGHT_ONE + 0.5);
	if (w == 0)
		w = 1;
	if (w > 0xffffffu)
		w = 0xffffffu;
	return (uint32_t)w;
}

/* ---- osd commands ------------------------------------------------------- */

static int cmd_osd_create(struct mon_state *st, const json_t *cmd, struct mon_result *res)
{
	const char *uuid_s = jstr(cmd, "uuid");
	const char *key_s = jstr(cmd, "key");
	uint8_t uuid[MAP_UUID_LEN] = { 0 };
	uint8_t key[AUTH_SECRET_LEN];
	struct osdmap_inc inc;
	struct osdmap *m = &st->osdmap;
	int32_t id = -1;
	char ent[AUTH_ENTITY_NAME_MAX];
	int rc;

	if (uuid_s && map_uuid_parse(uuid_s, uuid))
		return mon_result_set(res, -EINVAL, "bad uuid '%s'", uuid_s);
	if (!key_s || auth_b64_decode_exact(key_s, key, AUTH_SECRET_LEN))
		return mon_result_set(res, -EINVAL, "missing or bad key");
	if (!map_uuid_is_zero(uuid)) {
		for (uint32_t i = 0; i < m->max_osd; i++)
			if (m->osds[i].exists && !memcmp(m->osds[i].uuid, uuid, MAP_UUID_LEN)) {
				/* idempotent: same uuid -> same id and key */
				const struct auth_entity *ae;
				char b64[64];
				snprintf(ent, sizeof(ent), "osd.%u", i);
				ae = authmap_find(&st->authmap, ent);
				json_t *j = json_pack("{s:I}", "osd", (json_int_t)i);
				if (ae && auth_b64_encode(ae->secret, AUTH_SECRET_LEN, b64, sizeof(b64)) > 0)
					json_object_set_new(j, "key", json_string(b64));
				out_json(res, j);
				return mon_result_set(res, 0, "osd.%u exists", i);
			}
	}
	for (uint32_t i = 0; i < m->max_osd; i++)
		if (!m->osds[i].exists) {
			id = (int32_t)i;
			break;
		}
	if (id < 0)
		id = (int32_t)m->max_osd;
	if (id >= OSDMAP_MAX_OSD)
		return mon_result_set(res, -E2BIG, "too many OSDs");
	if (map_uuid_is_zero(uuid)) {
		/* no uuid given: derive one from the (leader-drawn) key, so
		 * every mon computes the same one */
		memcpy(uuid, key, MAP_UUID_LEN);
		uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
		uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
	}
	osdmap_inc_init(&inc, m, now_of(cmd));
	rc = 0;
	if ((uint32_t)id >= m->max_osd)
		rc = osdmap_inc_max_osd(&inc, (uint32_t)id + 1);
	if (!rc)
		rc = osdmap_inc_new_osd(&inc, id, uuid, "");
	snprintf(ent, sizeof(ent), "osd.%d", id);
	if (!rc) {
		/* check the auth change fits before changing anything */
		struct authmap tmp;
		authmap_init(&tmp);
		rc = authmap_copy(&tmp, &st->authmap);
		if (!rc)
			rc = authmap_set(&tmp, ent, key, CAPS_DEFAULT_OSD);
		if (!rc)
			rc = inc_commit(st, &inc, res);
		if (!rc) {
			tmp.epoch = st->authmap.epoch + 1;
			authmap_free(&st->authmap);
			st->authmap = tmp;
		} else {
			authmap_free(&tmp);
		}
	}
	osdmap_inc_free(&inc);
	if (rc)
		return mon_result_set(res, rc, "osd create failed: %s", norn_strerror(rc));
	out_json(res, json_pack("{s:I,s:s}", "osd", (json_int_t)id, "key", key_s));
	return mon_result_set(res, 0, "created osd.%d", id);
}

/* Make sure device @id hangs under host bucket @host (created under root
 * "default" if missing). Returns 1 if the map changed, 0 if not, <0. */
static int crush_place_osd(struct crush_map *c, int32_t id, const char *host, uint64_t capacity)
{
	char dname[CRUSH_MAX_NAME];
	int hid, rid, changed = 0, rc;
	int type_host = crush_type_by_name(c, "host");
	int type_root = crush_type_by_name(c, "root");

	if (type_host < 0 || type_root < 0 || !host[0])
		return -EINVAL;
	snprintf(dname, sizeof(dname), "osd.%d", id);
	if (!crush_item_exists(c, id)) {
		rc = crush_add_device(c, id, dname);
		if (rc)
			return rc;
		changed = 1;
	}
	if (crush_item_by_name(c, host, &hid)) {
		rc = crush_add_bucket(c, 0, type_host, host, &hid);
		if (rc)
			return rc;
		if (crush_item_by_name(c, "default", &rid)) {
			rc = crush_add_bucket(c, 0, type_root, "default", &rid);
			if (rc)
				return rc;
		}
		rc = crush_bucket_add_item(c, rid, hid, 0);
		if (rc)
			return rc;
		changed = 1;
	}
	if (hid >= 0)
		return -EINVAL;        /* the host name is a device */
	const struct crush_bucket *b = crush_bucket_get(c, hid);
	int in_host = 0;
	for (uint32_t i = 0; b && i < b->size; i++)
		if (b->items[i] == id)
			in_host = 1;
	if (!in_host) {
		uint32_t w = crush_item_weight(c, id);
		if (!w)
			w = weight_from_capacity(capacity);
		const char *pname = NULL;
		int anc;
		if (crush_item_ancestor(c, id, type_host, &anc) == 0)
			pname = crush_item_name(c, anc);
		(void)pname;
		crush_bucket_remove_item(c, id); /* may not have a parent: ignore */
		rc = crush_bucket_add_item(c, hid, id, w);
		if (rc)
			return rc;
		changed = 1;
	}
	return changed;
}

static int cmd_osd_boot(struct mon_state *st, const json_t *cmd, struct mon_result *res)
{
	struct osdmap *m = &st->osdmap;
	int64_t id, cap = 0;
	const char *addr_s = jstr(cmd, "addr"), *host = jstr(cmd, "host");
	const char *uuid_s = jstr(cmd, "uuid");
	struct map_addr addr;
	uint8_t uuid[MAP_UUID_LEN];
	struct osdmap_inc inc;
	struct crush_map *c = NULL;
	int rc = 0;

	if (jint(cmd, "id", &id) != 1 || !addr_s || !host ||
	    map_addr_parse(addr_s, strlen(addr_s), 0, &addr) || strlen(host) >= MAP_HOST_MAX)
		return mon_result_set(res, -EINVAL, "bad osd boot");
	jint(cmd, "capacity", &cap);
	const struct osdmap_osd *o = osdmap_osd(m, (int32_t)id);
	if (!o)
		return mon_result_set(res, -ENOENT, "osd.%" PRId64 " does not exist", id);
	if (uuid_s && (map_uuid_parse(uuid_s, uuid) || memcmp(uuid, o->uuid, MAP_UUID_LEN)))
		return mon_result_set(res, -EINVAL, "osd.%" PRId64 " uuid mismatch", id);
	if (m->flags & OSDMAP_FLAG_NOUP)
		return mon_result_set(res, -EBUSY, "noup is set");
	rc = crush_clone(m->crush, &c);
	if (rc)
		return mon_result_set(res, rc, "crush: %s", norn_strerror(rc));
	int crush_changed = crush_place_osd(c, (int32_t)id, host, cap > 0 ? (uint64_t)cap : 0);
	if (crush_changed < 0) {
		crush_destroy(c);
		return mon_result_set(res, crush_changed, "crush placement of osd.%" PRId64 " under host '%s' failed",
		                      id, host);
	}
	int need_in = !(m->flags & OSDMAP_FLAG_NOIN) && o->weight == 0 &&
	              (o->up_from == 0 || auto_out_has(st, (int32_t)id));
	if (o->up && map_addr_eq(&o->addr, &addr) && !strcmp(o->host, host) && !crush_changed && !need_in) {
		crush_destroy(c);
		return mon_result_set(res, 0, "osd.%" PRId64 " already up", id);
	}
	osdmap_inc_init(&inc, m, now_of(cmd));
	if (o->up)   /* a restart the mon has not noticed: new interval */
		rc = osdmap_inc_osd_down(&inc, (int32_t)id);
	if (!rc && strcmp(o->host, host))
		rc = osdmap_inc_osd_host(&inc, (int32_t)id, host);
	if (!rc && crush_changed)
		rc = osdmap_inc_crush(&inc, c);
	if (!rc && need_in)
		rc = osdmap_inc_osd_weight(&inc, (int32_t)id, OSDMAP_WEIGHT_IN);
	if (!rc && o->up) {
		/* down and up in one epoch: apply the down first */
		rc = inc_commit(st, &inc, res);
		osdmap_inc_free(&inc);
		osdmap_inc_init(&inc, m, now_of(cmd));
	}
	if (!rc)
		rc = osdmap_inc_osd_up(&inc, (int32_t)id, &addr);
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	crush_destroy(c);
	if (rc)
		return mon_result_set(res, rc, "osd.%" PRId64 " boot failed: %s", id, norn_strerror(rc));
	if (need_in)
		auto_out_del(st, (int32_t)id);
	return mon_result_set(res, 0, "osd.%" PRId64 " up at %s (epoch %" PRIu64 ")", id, addr_s,
	                      m->epoch);
}

enum osd_state_op { OP_DOWN, OP_OUT, OP_IN, OP_RM };

static int cmd_osd_state(struct mon_state *st, const json_t *cmd, enum osd_state_op op,
                         struct mon_result *res)
{
	int32_t ids[256];
	uint32_t n, changed = 0;
	struct osdmap_inc inc;
	struct osdmap *m = &st->osdmap;
	struct crush_map *c = NULL;
	int autoo = json_is_true(json_object_get(cmd, "auto"));
	int rc = 0;

	if (jids(cmd, ids, NORN_ARRAY_SIZE(ids), &n))
		return mon_result_set(res, -EINVAL, "expected osd ids");
	for (uint32_t i = 0; i < n; i++)
		if (!osdmap_osd_exists(m, ids[i]))
			return mon_result_set(res, -ENOENT, "osd.%d does not exist", ids[i]);
	if (op == OP_RM) {
		for (uint32_t i = 0; i < n; i++)
			if (osdmap_osd_is_up(m, ids[i]))
				return mon_result_set(res, -EBUSY, "osd.%d is still up; mark it down first",
				                      ids[i]);
		rc = crush_clone(m->crush, &c);
		if (rc)
			return mon_result_set(res, rc, "crush: %s", norn_strerror(rc));
	}
	osdmap_inc_init(&inc, m, now_of(cmd));
	for (uint32_t i = 0; i < n && !rc; i++) {
		const struct osdmap_osd *o = osdmap_osd(m, ids[i]);
		switch (op) {
		case OP_DOWN:
			if (o->up) {
				rc = osdmap_inc_osd_down(&inc, ids[i]);
				changed++;
			}
			break;
		case OP_OUT:
			if (o->weight) {
				rc = osdmap_inc_osd_weight(&inc, ids[i], 0);
				changed++;
			}
			break;
		case OP_IN:
			if (o->weight != OSDMAP_WEIGHT_IN) {
				rc = osdmap_inc_osd_weight(&inc, ids[i], OSDMAP_WEIGHT_IN);
				changed++;
			}
			break;
		case OP_RM:
			if (crush_item_exists(c, ids[i]))
				rc = crush_remove_device(c, ids[i]);
			if (!rc)
				rc = osdmap_inc_rm_osd(&inc, ids[i]);
			changed++;
			break;
		}
	}
	if (!rc && op == OP_RM)
		rc = osdmap_inc_crush(&inc, c);
	if (!rc && changed)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	crush_destroy(c);
	if (rc)
		return mon_result_set(res, rc, "failed: %s", norn_strerror(rc));
	for (uint32_t i = 0; i < n; i++) {
		if (op == OP_OUT && autoo)
			auto_out_add(st, ids[i]);
		else if (op == OP_IN || op == OP_OUT)
			auto_out_del(st, ids[i]);
		if (op == OP_RM) {
			char ent[AUTH_ENTITY_NAME_MAX];
			snprintf(ent, sizeof(ent), "osd.%d", ids[i]);
			auto_out_del(st, ids[i]);
			if (authmap_rm(&st->authmap, ent) == 0)
				st->authmap.epoch++;
		}
	}
	static const char *const verbs[] = { "down", "out", "in", "removed" };
	if (!changed)
		return mon_result_set(res, 0, "no change (already %s)", verbs[op]);
	if (n == 1)
		return mon_result_set(res, 0, "marked osd.%d %s", ids[0], verbs[op]);
	return mon_result_set(res, 0, "marked %u osds %s", changed, verbs[op]);
}

static int cmd_osd_reweight(struct mon_state *st, const json_t *cmd, struct mon_result *res)
{
	int64_t id;
	double w;
	struct osdmap_inc inc;
	int rc;

	if (jint(cmd, "id", &id) != 1 || jnum(cmd, "weight", &w) != 1)
		return mon_result_set(res, -EINVAL, "usage: osd reweight ID WEIGHT");
	if (!(w >= 0.0 && w <= 1.0))
		return mon_result_set(res, -EINVAL, "weight %g out of range [0, 1]", w);
	if (!osdmap_osd_exists(&st->osdmap, (int32_t)id))
		return mon_result_set(res, -ENOENT, "osd.%" PRId64 " does not exist", id);
	osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
	rc = osdmap_inc_osd_weight(&inc, (int32_t)id, (uint32_t)lround(w * OSDMAP_WEIGHT_IN));
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	if (rc)
		return mon_result_set(res, rc, "reweight failed: %s", norn_strerror(rc));
	auto_out_del(st, (int32_t)id);
	return mon_result_set(res, 0, "reweighted osd.%" PRId64 " to %.5f", id, w);
}

static int cmd_osd_flag(struct mon_state *st, const json_t *cmd, int set, struct mon_result *res)
{
	const char *name = jstr(cmd, "key");
	uint32_t flag;
	struct osdmap_inc inc;
	int rc;

	if (!name || osdmap_flag_parse(name, &flag))
		return mon_result_set(res, -EINVAL, "unknown flag '%s'", name ? name : "");
	if (set ? (st->osdmap.flags & flag) == flag : !(st->osdmap.flags & flag))
		return mon_result_set(res, 0, "%s is %s", name, set ? "set" : "unset");
	osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
	rc = set ? osdmap_inc_flags_set(&inc, flag) : osdmap_inc_flags_unset(&inc, flag);
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	if (rc)
		return mon_result_set(res, rc, "failed: %s", norn_strerror(rc));
	return mon_result_set(res, 0, "%s is %s", name, set ? "set" : "unset");
}

/* "osd up-thru" {"id": N, "epoch": E}: an OSD about to go active records
 * that it was alive through epoch E (peering reads it to know which past
 * intervals may have accepted writes). E must be an epoch that exists. */
static int cmd_osd_up_thru(struct mon_state *st, const json_t *cmd, struct mon_result *res)
{
	int64_t id, ep;
	struct osdmap_inc inc;
	int rc;

	if (jint(cmd, "id", &id) != 1 || jint(cmd, "epoch", &ep) != 1 || ep < 1)
		return mon_result_set(res, -EINVAL, "usage: osd up-thru ID EPOCH");
	const struct osdmap_osd *o = osdmap_osd(&st->osdmap, (int32_t)id);
	if (!o)
		return mon_result_set(res, -ENOENT, "osd.%" PRId64 " does not exist", id);
	if (!o->up)
		return mon_result_set(res, -EINVAL, "osd.%" PRId64 " is down", id);
	if ((uint64_t)ep > st->osdmap.epoch)
		return mon_result_set(res, -EINVAL, "epoch %" PRId64 " is in the future", ep);
	if ((uint64_t)ep <= o->up_thru)
		return mon_result_set(res, 0, "osd.%" PRId64 " up_thru is %" PRIu64, id, o->up_thru);
	osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
	rc = osdmap_inc_osd_up_thru(&inc, (int32_t)id, (uint64_t)ep);
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	if (rc)
		return mon_result_set(res, rc, "up_thru failed: %s", norn_strerror(rc));
	return mon_result_set(res, 0, "osd.%" PRId64 " up_thru %" PRId64, id, ep);
}

/* ---- pools -------------------------------------------------------------- */

static int rule_arg(const struct crush_map *c, const json_t *cmd, int32_t *rule)
{
	const json_t *v = json_object_get(cmd, "rule");
	if (!v) {
		*rule = 0;
		return c && c->max_rules > 0 && c->rules[0] ? 0 : -ENOENT;
	}
	if (json_is_integer(v)) {
		int64_t r = json_integer_value(v);
		if (!c || r < 0 || r >= c->max_rules || !c->rules[r])
			return -ENOENT;
		*rule = (int32_t)r;
		return 0;
	}
	if (json_is_string(v) && c) {
		int r = crush_rule_by_name(c, json_string_value(v));
		if (r < 0) {
			char *end;
			long x = strtol(json_string_value(v), &end, 10);
			if (*end || x < 0 || x >= c->max_rules || !c->rules[x])
				return -ENOENT;
			r = (int)x;
		}
		*rule = r;
		return 0;
	}
	return -ENOENT;
}

static int cmd_pool_create(struct mon_state *st, const json_t *cmd, struct mon_result *res)
{
	const char *name = jstr(cmd, "pool");
	int64_t pg_num, size = 3, min_size = -1;
	struct osdmap_pool p;
	struct osdmap_inc inc;
	int32_t rule;
	int rc;

	if (!name || jint(cmd, "pg_num", &pg_num) != 1)
		return mon_result_set(res, -EINVAL, "usage: pool create NAME PG_NUM");
	if (jint(cmd, "size", &size) < 0 || jint(cmd, "min_size", &min_size) < 0)
		return mon_result_set(res, -EINVAL, "bad size or min_size");
	if (pg_num < 1 || pg_num > OSDMAP_MAX_PG_NUM)
		return mon_result_set(res, -EINVAL, "pg_num %" PRId64 " out of range [1, %u]", pg_num,
		                      OSDMAP_MAX_PG_NUM);
	if (size < 1 || size > OSDMAP_MAX_POOL_SIZE)
		return mon_result_set(res, -EINVAL, "size %" PRId64 " out of range [1, %d]", size,
		                      OSDMAP_MAX_POOL_SIZE);
	if (min_size < 0)
		min_size = size > 1 ? size - size / 2 : 1;   /* 3 -> 2, 2 -> 1 */
	if (min_size < 1 || min_size > size)
		return mon_result_set(res, -EINVAL, "min_size %" PRId64 " out of range [1, %" PRId64 "]",
		                      min_size, size);
	if (rule_arg(st->osdmap.crush, cmd, &rule))
		return mon_result_set(res, -ENOENT, "no such crush rule");
	const struct osdmap_pool *old = osdmap_pool_by_name(&st->osdmap, name);
	if (old) {
		if (old->pg_num == pg_num && old->size == size && old->min_size == min_size &&
		    old->crush_rule == rule)
			return mon_result_set(res, 0, "pool '%s' already exists", name);
		return mon_result_set(res, -EEXIST, "pool '%s' already exists with other settings", name);
	}
	osdmap_pool_defaults(&p, name, (uint32_t)pg_num);
	p.id = st->osdmap.next_pool_id;
	p.size = (uint8_t)size;
	p.min_size = (uint8_t)min_size;
	p.crush_rule = rule;
	p.created_epoch = st->osdmap.epoch + 1;
	const char *app = jstr(cmd, "application");
	if (app)
		snprintf(p.application, sizeof(p.application), "%s", app);
	osdmap_pool_calc_masks(&p);
	if (osdmap_pool_validate(&p))
		return mon_result_set(res, -EINVAL, "invalid pool definition (name '%s')", name);
	osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
	rc = osdmap_inc_pool_create(&inc, &p);
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	if (rc)
		return mon_result_set(res, rc, "pool create failed: %s", norn_strerror(rc));
	out_json(res, json_pack("{s:I,s:s}", "pool_id", (json_int_t)p.id, "pool", name));
	return mon_result_set(res, 0, "pool '%s' created", name);
}

static int cmd_pool_rm(struct mon_state *st, const json_t *cmd, struct mon_result *res)
{
	const char *name = jstr(cmd, "pool");
	struct osdmap_inc inc;
	int rc;

	if (!name)
		return mon_result_set(res, -EINVAL, "usage: pool rm NAME --yes-i-really-mean-it");
	const struct osdmap_pool *p = osdmap_pool_by_name(&st->osdmap, name);
	if (!p)
		return mon_result_set(res, -ENOENT, "pool '%s' does not exist", name);
	if (!json_is_true(json_object_get(cmd, "yes_i_really_mean_it")))
		return mon_result_set(res, -EPERM, "pool removal destroys its data; pass --yes-i-really-mean-it");
	if (p->flags & POOL_FLAG_NODELETE)
		return mon_result_set(res, -EPERM, "pool '%s' has nodelete set", name);
	osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
	rc = osdmap_inc_pool_rm(&inc, p->id);
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	if (rc)
		return mon_result_set(res, rc, "pool rm failed: %s", norn_strerror(rc));
	return mon_result_set(res, 0, "pool '%s' removed", name);
}

static int cmd_pool_set(struct mon_state *st, const json_t *cmd, struct mon_result *res)
{
	const char *name = jstr(cmd, "pool"), *var = jstr(cmd, "var");
	enum osdmap_pool_field f;
	struct osdmap_inc inc;
	int64_t v;
	int rc;

	if (!name || !var)
		return mon_result_set(res, -EINVAL, "usage: pool set NAME FIELD VALUE");
	const struct osdmap_pool *p = osdmap_pool_by_name(&st->osdmap, name);
	if (!p)
		return mon_result_set(res, -ENOENT, "pool '%s' does not exist", name);
	if (!strcmp(var, "application")) {
		const char *app = jstr(cmd, "val");
		if (!app || strlen(app) >= OSDMAP_APP_NAME_MAX)
			return mon_result_set(res, -EINVAL, "bad application");
		osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
		rc = osdmap_inc_pool_app(&inc, p->id, app);
		goto commit;
	}
	if (osdmap_pool_field_parse(var, &f))
		return mon_result_set(res, -EINVAL, "unknown pool field '%s'", var);
	if (f == POOL_FIELD_CRUSH_RULE) {
		int32_t r;
		json_t *tmp = json_pack("{s:O}", "rule", json_object_get(cmd, "val"));
		rc = tmp ? rule_arg(st->osdmap.crush, tmp, &r) : -ENOMEM;
		json_decref(tmp);
		if (rc)
			return mon_result_set(res, -ENOENT, "no such crush rule");
		v = r;
	} else if (jint(cmd, "val", &v) != 1 || v < 0) {
		return mon_result_set(res, -EINVAL, "bad value for %s", var);
	}
	if (f == POOL_FIELD_SIZE && (v < 1 || v > OSDMAP_MAX_POOL_SIZE))
		return mon_result_set(res, -EINVAL, "size %" PRId64 " out of range [1, %d]", v,
		                      OSDMAP_MAX_POOL_SIZE);
	if (f == POOL_FIELD_MIN_SIZE && (v < 1 || v > p->size))
		return mon_result_set(res, -EINVAL, "min_size %" PRId64 " out of range [1, %u]", v, p->size);
	osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
	rc = 0;
	/* keep min_size <= size and pgp_num <= pg_num when shrinking: the
	 * dependent field goes first so every step stays valid */
	if (f == POOL_FIELD_SIZE && p->min_size > v)
		rc = osdmap_inc_pool_set(&inc, p->id, POOL_FIELD_MIN_SIZE, (uint64_t)v);
	if (!rc && f == POOL_FIELD_PG_NUM && p->pgp_num > v)
		rc = osdmap_inc_pool_set(&inc, p->id, POOL_FIELD_PGP_NUM, (uint64_t)v);
	if (!rc)
		rc = osdmap_inc_pool_set(&inc, p->id, f, (uint64_t)v);
commit:
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	if (rc)
		return mon_result_set(res, rc == -EINVAL ? -EINVAL : rc, "set %s on pool '%s' failed: %s",
		                      var, name, norn_strerror(rc));
	return mon_result_set(res, 0, "set pool '%s' %s to %s", name, var,
	                      json_is_string(json_object_get(cmd, "val")) ? jstr(cmd, "val") : "value");
}

/* ---- crush -------------------------------------------------------------- */

static int crush_commit(struct mon_state *st, const json_t *cmd, struct crush_map *c,
                        struct mon_result *res)
{
	struct osdmap_inc inc;
	int rc;

	osdmap_inc_init(&inc, &st->osdmap, now_of(cmd));
	rc = osdmap_inc_crush(&inc, c);
	if (!rc)
		rc = inc_commit(st, &inc, res);
	osdmap_inc_free(&inc);
	return rc;
}

static int cmd_crush_edit(struct mon_state *st, const json_t *cmd, const char *prefix,
                          struct mon_result *res)
{
	const char *name = jstr(cmd, "name");
	struct crush_map *c = NULL;
	int rc, item;

	if (!name)
		return mon_result_set(res, -EINVAL, "missing name");
	rc = crush_clone(st->osdmap.crush, &c);
	if (rc)
		return mon_result_set(res, rc, "crush: %s", norn_strerror(rc));
	if (!strcmp(prefix, "crush add-bucket")) {
		const char *type = jstr(cmd, "type");
		int t = type ? crush_type_by_name(c, type) : -ENOENT;
		if (t <= 0) {
			rc = mon_result_set(res, -EINVAL, "unknown bucket type '%s'", type ? type : "");
			goto out;
		}
		if (crush_item_by_name(c, name, &item) == 0) {
			rc = mon_result_set(res, 0, "bucket '%s' already exists", name);
			goto out;
		}
		rc = crush_add_bucket(c, 0, t, name, NULL);
		if (rc) {
			mon_result_set(res, rc, "add-bucket failed: %s", norn_strerror(rc));
			goto out;
		}
		mon_result_set(res, 0, "added bucket %s type %s", name, type);
	} else if (!strcmp(prefix, "crush move")) {
		const char *loc = jstr(cmd, "loc");
		int parent;
		if (!loc) {
			rc = mon_result_set(res, -EINVAL, "usage: crush move NAME [TYPE=]PARENT");
			goto out;
		}
		const char *eq = strchr(loc, '=');
		if (eq)
			loc = eq + 1;
		if (crush_item_by_name(c, name, &item) || crush_item_by_name(c, loc, &parent) || parent >= 0) {
			rc = mon_result_set(res, -ENOENT, "no such item '%s' or bucket '%s'", name, loc);
			goto out;
		}
		rc = crush_move_item(c, item, parent);
		if (rc) {
			mon_result_set(res, rc, "move failed: %s", norn_strerror(rc));
			goto out;
		}
		mon_result_set(res, 0, "moved %s under %s", name, loc);
	} else { /* set-weight */
		const char *ws = jstr(cmd, "weight");
		char wbuf[32];
		double wd;
		uint32_t w;
		if (!ws && jnum(cmd, "weight", &wd) == 1) {
			snprintf(wbuf, sizeof(wbuf), "%.6f", wd);
			ws = wbuf;
		}
		if (!ws || crush_parse_weight(ws, strlen(ws), &w)) {
			rc = mon_result_set(res, -EINVAL, "bad weight");
			goto out;
		}
		if (crush_item_by_name(c, name, &item) || item < 0) {
			rc = mon_result_set(res, -ENOENT, "no such device '%s'", name);
			goto out;
		}
		rc = crush_adjust_item_weight(c, item, w);
		if (rc) {
			mon_result_set(res, rc, "set-weight failed: %s (is %s in a bucket?)", norn_strerror(rc), name);
			goto out;
		}
		mon_result_set(res, 0, "set %s weight to %s", name, ws);
	}
	rc = crush_commit(st, cmd, c, res);
	if (rc)
		mon_result_set(res, rc, "crush update failed: %s", norn_strerror(rc));
out:
	crush_destroy(c);
	return rc;
}

/* ---- auth --------------------------------------------------------------- */

static int cmd_auth(struct mon_state *st, const json_t *cmd, const char *prefix,
                    struct mon_result *res)
{
	const char *ent = jstr(cmd, "entity");
	int rc;

	if (!strcmp(prefix, "auth rotate")) {
		const char *ks = jstr(cmd, "key");
		int64_t exp;
		uint8_t key[AUTH_SECRET_LEN];
		if (!ks || auth_b64_decode_exact(ks, key, AUTH_SECRET_LEN) || jint(cmd, "expires_ns", &exp) != 1)
			return mon_result_set(res, -EINVAL, "bad rotate");
		uint64_t id = authmap_rotate(&st->authmap, key, (uint64_t)exp);
		st->authmap.epoch++;
		return mon_result_set(res, 0, "service key %" PRIu64, id);
	}
	if (!ent || !auth_entity_name_valid(ent))
		return mon_result_set(res, -EINVAL, "bad entity name '%s'", ent ? ent : "");
	if (!strcmp(prefix, "auth add")) {
		const char *ks = jstr(cmd, "key"), *caps = jstr(cmd, "caps");
		uint8_t key[AUTH_SECRET_LEN];
		if (!caps)
			caps = "";
		if (!ks || auth_b64_decode_exact(ks, key, AUTH_SECRET_LEN))
			return mon_result_set(res, -EINVAL, "bad key");
		const struct auth_entity *old = authmap_find(&st->authmap, ent);
		if (old) {
			if (!strcmp(old->caps_str, caps) &&
			    (json_is_true(json_object_get(cmd, "_generated")) ||
			     !memcmp(old->secret, key, AUTH_SECRET_LEN)))
				return mon_result_set(res, 0, "entity %s exists", ent);
			return mon_result_set(res, -EEXIST, "entity %s exists with another key or caps", ent);
		}
		rc = authmap_set(&st->authmap, ent, key, caps);
		if (rc)
			return mon_result_set(res, rc, "auth add failed: %s (caps syntax: mon 'allow r' osd 'allow rw pool=x')",
			                      norn_strerror(rc));
		st->authmap.epoch++;
		return mon_result_set(res, 0, "added key for %s", ent);
	}
	if (!strcmp(prefix, "auth rm")) {
		if (authmap_rm(&st->authmap, ent))
			return mon_result_set(res, -ENOENT, "entity %s does not exist", ent);
		st->authmap.epoch++;
		return mon_result_set(res, 0, "removed %s", ent);
	}
	/* auth caps */
	const char *caps = jstr(cmd, "caps");
	if (!caps)
		return mon_result_set(res, -EINVAL, "usage: auth caps ENTITY CAPS");
	rc = authmap_set_caps(&st->authmap, ent, caps);
	if (rc == -ENOENT)
		return mon_result_set(res, rc, "entity %s does not exist", ent);
	if (rc)
		return mon_result_set(res, rc, "bad caps '%s'", caps);
	st->authmap.epoch++;
	return mon_result_set(res, 0, "updated caps for %s", ent);
}

/* ---- config keys -------------------------------------------------------- */

static int cmd_config_key(struct mon_state *st, const json_t *cmd, int set, struct mon_result *res)
{
	const char *k = jstr(cmd, "key"), *v = jstr(cmd, "val");
	uint32_t i;

	if (!k || !*k || strlen(k) >= MON_KV_KEY_MAX || (set && (!v || strlen(v) >= MON_KV_VAL_MAX)))
		return mon_result_set(res, -EINVAL, "bad key or value");
	for (i = 0; i < st->n_kv; i++)
		if (!strcmp(st->kv[i].key, k))
			break;
	if (!set) {
		if (i == st->n_kv)
			return mon_result_set(res, -ENOENT, "no key '%s'", k);
		free(st->kv[i].val);
		st->kv[i] = st->kv[--st->n_kv];
		return mon_result_set(res, 0, "removed '%s'", k);
	}
	char *dup = strdup(v);
	if (!dup)
		return mon_result_set(res, -ENOMEM, "out of memory");
	if (i == st->n_kv) {
		if (st->n_kv >= MON_KV_MAX) {
			free(dup);
			return mon_result_set(res, -ENOSPC, "too many config keys");
		}
		struct mon_kv *n = realloc(st->kv, (st->n_kv + 1) * sizeof(*n));
		if (!n) {
			free(dup);
			return mon_result_set(res, -ENOMEM, "out of memory");
		}
		st->kv = n;
		snprintf(st->kv[i].key, sizeof(st->kv[i].key), "%s", k);
		st->kv[i].val = NULL;
		st->n_kv++;
	}
	free(st->kv[i].val);
	st->kv[i].val = dup;
	return mon_result_set(res, 0, "set '%s'", k);
}

/* ---- dispatch of writes ------------------------------------------------- */

static const char *const write_cmds[] = {
	"osd create", "osd boot", "osd down", "osd out", "osd in", "osd rm", "osd reweight",
	"osd set", "osd unset", "osd up-thru", "pool create", "pool rm", "pool set", "crush add-bucket",
	"crush move", "crush set-weight", "auth add", "auth rm", "auth caps", "auth rotate",
	"config-key set", "config-key rm", NULL,
};

int mon_cmd_is_write(const char *prefix)
{
	for (int i = 0; write_cmds[i]; i++)
		if (!strcmp(prefix, write_cmds[i]))
			return 1;
	return 0;
}

int mon_cmd_is_internal(const char *prefix)
{
	return !strcmp(prefix, "osd boot") || !strcmp(prefix, "auth rotate");
}

int mon_cmd_prepare(void *jv, uint64_t now_ns)
{
	json_t *cmd = jv;
	const char *prefix = jstr(cmd, "prefix");

	if (json_object_set_new(cmd, "_now_ns", json_integer((json_int_t)now_ns)))
		return -ENOMEM;
	if (prefix && (!strcmp(prefix, "osd create") || !strcmp(prefix, "auth add") ||
	               !strcmp(prefix, "mon add")) &&
	    !json_object_get(cmd, "key")) {
		uint8_t key[AUTH_SECRET_LEN];
		char b64[64];
		int rc = keyring_generate_key(key);
		if (rc)
			return rc;
		if (auth_b64_encode(key, sizeof(key), b64, sizeof(b64)) < 0)
			return NORN_EFAILED;
		if (json_object_set_new(cmd, "key", json_string(b64)) ||
		    json_object_set_new(cmd, "_generated", json_true()))
			return -ENOMEM;
	}
	return 0;
}

void mon_state_apply(struct mon_state *st, const void *json, size_t len, struct mon_result *res)
{
	json_error_t jerr;
	json_t *cmd = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *p;

	res->rc = 0;
	res->status[0] = 0;
	if (!cmd || !json_is_object(cmd) || !(p = jstr(cmd, "prefix"))) {
		mon_result_set(res, -EINVAL, "malformed command");
		json_decref(cmd);
		return;
	}
	if (!strcmp(p, "osd create"))
		cmd_osd_create(st, cmd, res);
	else if (!strcmp(p, "osd boot"))
		cmd_osd_boot(st, cmd, res);
	else if (!strcmp(p, "osd down"))
		cmd_osd_state(st, cmd, OP_DOWN, res);
	else if (!strcmp(p, "osd out"))
		cmd_osd_state(st, cmd, OP_OUT, res);
	else if (!strcmp(p, "osd in"))
		cmd_osd_state(st, cmd, OP_IN, res);
	else if (!strcmp(p, "osd rm"))
		cmd_osd_state(st, cmd, OP_RM, res);
	else if (!strcmp(p, "osd reweight"))
		cmd_osd_reweight(st, cmd, res);
	else if (!strcmp(p, "osd up-thru"))
		cmd_osd_up_thru(st, cmd, res);
	else if (!strcmp(p, "osd set") || !strcmp(p, "osd unset"))
		cmd_osd_flag(st, cmd, !strcmp(p, "osd set"), res);
	else if (!strcmp(p, "pool create"))
		cmd_pool_create(st, cmd, res);
	else if (!strcmp(p, "pool rm"))
		cmd_pool_rm(st, cmd, res);
	else if (!strcmp(p, "pool set"))
		cmd_pool_set(st, cmd, res);
	else if (!strncmp(p, "crush ", 6))
		cmd_crush_edit(st, cmd, p, res);
	else if (!strncmp(p, "auth ", 5))
		cmd_auth(st, cmd, p, res);
	else if (!strcmp(p, "config-key set") || !strcmp(p, "config-key rm"))
		cmd_config_key(st, cmd, !strcmp(p, "config-key set"), res);
	else
		mon_result_set(res, -EINVAL, "unknown command '%s'", p);
	json_decref(cmd);
}

void mon_state_apply_conf(struct mon_state *st, const void *json, size_t len, struct mon_result *res)
{
	json_error_t jerr;
	json_t *cmd = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *p = cmd ? jstr(cmd, "prefix") : NULL;
	const char *name = cmd ? jstr(cmd, "name") : NULL;
	struct map_addr addr;
	char ent[AUTH_ENTITY_NAME_MAX];
	uint8_t key[AUTH_SECRET_LEN];
	int rc;

	if (!p || !name) {
		mon_result_set(res, -EINVAL, "malformed membership change");
	} else if (!strcmp(p, "mon add")) {
		const char *as = jstr(cmd, "addr"), *ks = jstr(cmd, "key");
		snprintf(ent, sizeof(ent), "mon.%s", name);
		if (!as || map_addr_parse(as, strlen(as), MONMAP_DEFAULT_PORT, &addr) || !ks ||
		    auth_b64_decode_exact(ks, key, AUTH_SECRET_LEN)) {
			mon_result_set(res, -EINVAL, "bad mon add");
		} else if ((rc = monmap_add(&st->monmap, name, &addr))) {
			mon_result_set(res, rc, "mon add %s failed: %s", name, norn_strerror(rc));
		} else {
			st->monmap.epoch++;
			st->monmap.modified_ns = now_of(cmd);
			if (authmap_set(&st->authmap, ent, key, "mon 'allow *' osd 'allow *'") == 0)
				st->authmap.epoch++;
			out_json(res, json_pack("{s:s,s:s,s:s}", "name", name, "addr", as, "key", ks));
			mon_result_set(res, 0, "added mon.%s at %s (key %s)", name, as, ks);
		}
	} else if (!strcmp(p, "mon rm")) {
		if (monmap_remove(&st->monmap, name)) {
			mon_result_set(res, -ENOENT, "mon.%s is not in the monmap", name);
		} else {
			st->monmap.epoch++;
			st->monmap.modified_ns = now_of(cmd);
			mon_result_set(res, 0, "removed mon.%s", name);
		}
	} else {
		mon_result_set(res, -EINVAL, "unknown membership change '%s'", p);
	}
	json_decref(cmd);
}

/* ---- reads -------------------------------------------------------------- */

static void fmt_weight(uint32_t w, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.5f", (double)w / 65536.0);
}

static void tree_text(const struct mon_state *st, int item, int depth, struct enc *o)
{
	const struct crush_map *c = st->osdmap.crush;
	char w[32];

	if (item >= 0) {
		const struct osdmap_osd *d = osdmap_osd(&st->osdmap, item);
		char name[64];
		snprintf(name, sizeof(name), "%*sosd.%d", depth * 4, "", item);
		fmt_weight(c ? crush_item_weight(c, item) : 0, w, sizeof(w));
		eprintf(o, "%4d  %9s  %-30s  %-6s  %.5f\n", item, w, name,
		        d ? (d->up ? "up" : "down") : "dne",
		        d ? (double)d->weight / OSDMAP_WEIGHT_IN : 0.0);
		return;
	}
	const struct crush_bucket *b = crush_bucket_get(c, item);
	if (!b)
		return;
	fmt_weight(b->weight, w, sizeof(w));
	char name[96];
	snprintf(name, sizeof(name), "%*s%s %s", depth * 4, "", crush_type_name(c, b->type), b->name);
	eprintf(o, "%4d  %9s  %s\n", item, w, name);
	for (uint32_t i = 0; i < b->size; i++)
		tree_text(st, b->items[i], depth + 1, o);
}

static json_t *tree_json(const struct mon_state *st)
{
	const struct crush_map *c = st->osdmap.crush;
	json_t *nodes = json_array();
	for (uint32_t i = 0; c && i < c->max_buckets; i++) {
		const struct crush_bucket *b = c->buckets[i];
		if (!b)
			continue;
		json_t *kids = json_array();
		for (uint32_t k = 0; k < b->size; k++)
			json_array_append_new(kids, json_integer(b->items[k]));
		json_array_append_new(nodes, json_pack("{s:i,s:s,s:s,s:f,s:o}", "id", b->id, "name", b->name,
		                                       "type", crush_type_name(c, b->type),
		                                       "crush_weight", (double)b->weight / 65536.0,
		                                       "children", kids));
	}
	for (uint32_t i = 0; i < st->osdmap.max_osd; i++) {
		const struct osdmap_osd *d = &st->osdmap.osds[i];
		if (!d->exists)
			continue;
		char name[32];
		snprintf(name, sizeof(name), "osd.%u", i);
		json_array_append_new(nodes, json_pack("{s:i,s:s,s:s,s:f,s:s,s:f,s:s}", "id", (int)i,
		                      "name", name, "type", "osd",
		                      "crush_weight", c ? (double)crush_item_weight(c, (int)i) / 65536.0 : 0.0,
		                      "status", d->up ? "up" : "down",
		                      "reweight", (double)d->weight / OSDMAP_WEIGHT_IN, "host", d->host));
	}
	return json_pack("{s:o}", "nodes", nodes);
}

static void osd_tree(const struct mon_state *st, int want_json, struct mon_result *res)
{
	const struct crush_map *c = st->osdmap.crush;
	struct enc *o = &res->out;

	if (want_json) {
		out_json(res, tree_json(st));
		return;
	}
	eprintf(o, "%4s  %9s  %-30s  %-6s  %s\n", "ID", "WEIGHT", "TYPE NAME", "STATUS", "REWEIGHT");
	for (uint32_t i = 0; c && i < c->max_buckets; i++) {
		const struct crush_bucket *b = c->buckets[i];
		if (b && b->parent == 0)
			tree_text(st, b->id, 0, o);
	}
	for (uint32_t i = 0; i < st->osdmap.max_osd; i++)
		if (st->osdmap.osds[i].exists && (!c || !crush_item_exists(c, (int)i) ||
		                                  c->devices[i].parent == 0))
			tree_text(st, (int)i, 0, o);
}

static void pool_line(const struct osdmap_pool *p, struct enc *o)
{
	eprintf(o, "pool %" PRId64 " '%s' %s size %u min_size %u crush_rule %d pg_num %u pgp_num %u%s%s\n",
	        p->id, p->name, p->type == POOL_TYPE_ERASURE ? "erasure" : "replicated", p->size,
	        p->min_size, p->crush_rule, p->pg_num, p->pgp_num, p->application[0] ? " application " : "",
	        p->application);
}

static json_t *pool_json(const struct osdmap_pool *p)
{
	return json_pack("{s:I,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:I,s:I,s:I}", "pool_id", (json_int_t)p->id,
	                 "pool", p->name, "type", p->type == POOL_TYPE_ERASURE ? "erasure" : "replicated",
	                 "size", p->size, "min_size", p->min_size, "crush_rule", p->crush_rule,
	                 "pg_num", (int)p->pg_num, "pgp_num", (int)p->pgp_num, "application", p->application,
	                 "quota_max_bytes", (json_int_t)p->quota_max_bytes, "quota_max_objects",
	                 (json_int_t)p->quota_max_objects, "flags", (json_int_t)p->flags);
}

static int pool_field_value(const struct osdmap_pool *p, const char *var, int64_t *v)
{
	enum osdmap_pool_field f;
	if (osdmap_pool_field_parse(var, &f))
		return -EINVAL;
	switch (f) {
	case POOL_FIELD_SIZE: *v = p->size; break;
	case POOL_FIELD_MIN_SIZE: *v = p->min_size; break;
	case POOL_FIELD_PG_NUM: *v = p->pg_num; break;
	case POOL_FIELD_PGP_NUM: *v = p->pgp_num; break;
	case POOL_FIELD_CRUSH_RULE: *v = p->crush_rule; break;
	case POOL_FIELD_FLAGS: *v = p->flags; break;
	case POOL_FIELD_QUOTA_MAX_BYTES: *v = (int64_t)p->quota_max_bytes; break;
	case POOL_FIELD_QUOTA_MAX_OBJECTS: *v = (int64_t)p->quota_max_objects; break;
	default: return -EINVAL;
	}
	return 0;
}

static void auth_entity_out(const struct auth_entity *a, int want_json, int with_key, struct mon_result *res,
                            json_t *arr)
{
	char b64[64] = "";
	if (with_key)
		auth_b64_encode(a->secret, AUTH_SECRET_LEN, b64, sizeof(b64));
	if (want_json) {
		json_t *j = json_pack("{s:s,s:s}", "entity", a->name, "caps", a->caps_str);
		if (with_key)
			json_object_set_new(j, "key", json_string(b64));
		if (arr)
			json_array_append_new(arr, j);
		else
			out_json(res, j);
		return;
	}
	eprintf(&res->out, "[%s]\n", a->name);
	if (with_key)
		eprintf(&res->out, "\tkey = %s\n", b64);
	eprintf(&res->out, "\tcaps = \"%s\"\n", a->caps_str);
}

int mon_state_read(const struct mon_state *st, const char *p, const void *jv, int want_json,
                   struct mon_result *res)
{
	const json_t *cmd = jv;
	const struct osdmap *m = &st->osdmap;
	struct enc *o = &res->out;

	if (!strcmp(p, "osd tree")) {
		osd_tree(st, want_json, res);
	} else if (!strcmp(p, "osd ls")) {
		json_t *a = json_array();
		for (uint32_t i = 0; i < m->max_osd; i++)
			if (m->osds[i].exists) {
				if (want_json)
					json_array_append_new(a, json_integer(i));
				else
					eprintf(o, "%u\n", i);
			}
		if (want_json)
			out_json(res, a);
		else
			json_decref(a);
	} else if (!strcmp(p, "osd dump")) {
		if (want_json)
			osdmap_dump_json(m, o);
		else
			osdmap_dump_text(m, o);
	} else if (!strcmp(p, "osd getmap")) {
		osdmap_encode(m, o);
	} else if (!strcmp(p, "pool ls")) {
		int detail = json_is_true(json_object_get(cmd, "detail"));
		json_t *a = json_array();
		for (uint32_t i = 0; i < m->n_pools; i++) {
			if (want_json)
				json_array_append_new(a, detail ? pool_json(&m->pools[i]) : json_string(m->pools[i].name));
			else if (detail)
				pool_line(&m->pools[i], o);
			else
				eprintf(o, "%s\n", m->pools[i].name);
		}
		if (want_json)
			out_json(res, a);
		else
			json_decref(a);
	} else if (!strcmp(p, "pool get")) {
		const char *name = jstr(cmd, "pool"), *var = jstr(cmd, "var");
		const struct osdmap_pool *pl = name ? osdmap_pool_by_name(m, name) : NULL;
		int64_t v;
		if (!pl)
			return mon_result_set(res, -ENOENT, "pool '%s' does not exist", name ? name : ""), 1;
		if (!var || !strcmp(var, "all")) {
			if (want_json)
				out_json(res, pool_json(pl));
			else
				pool_line(pl, o);
		} else if (!strcmp(var, "application")) {
			if (want_json)
				out_json(res, json_pack("{s:s}", "application", pl->application));
			else
				eprintf(o, "application: %s\n", pl->application);
		} else if (pool_field_value(pl, var, &v)) {
			return mon_result_set(res, -EINVAL, "unknown pool field '%s'", var), 1;
		} else if (want_json) {
			out_json(res, json_pack("{s:s,s:I}", "pool", pl->name, var, (json_int_t)v));
		} else {
			eprintf(o, "%s: %" PRId64 "\n", var, v);
		}
	} else if (!strcmp(p, "crush show")) {
		char *text = NULL;
		if (!m->crush)
			return mon_result_set(res, -ENOENT, "no crush map"), 1;
		if (want_json) {
			out_json(res, tree_json(st));
		} else if (crush_decompile(m->crush, &text) == 0) {
			enc_bytes(o, text, strlen(text));
			free(text);
		} else {
			return mon_result_set(res, -ENOMEM, "decompile failed"), 1;
		}
	} else if (!strcmp(p, "crush rule ls")) {
		json_t *a = json_array();
		for (uint32_t i = 0; m->crush && i < m->crush->max_rules; i++) {
			const struct crush_rule *r = m->crush->rules[i];
			if (!r)
				continue;
			if (want_json)
				json_array_append_new(a, json_pack("{s:i,s:s}", "rule_id", (int)i, "rule_name", r->name));
			else
				eprintf(o, "%s\n", r->name);
		}
		if (want_json)
			out_json(res, a);
		else
			json_decref(a);
	} else if (!strcmp(p, "auth get")) {
		const char *ent = jstr(cmd, "entity");
		const struct auth_entity *a = ent ? authmap_find(&st->authmap, ent) : NULL;
		if (!a)
			return mon_result_set(res, -ENOENT, "entity %s does not exist", ent ? ent : ""), 1;
		auth_entity_out(a, want_json, 1, res, NULL);
	} else if (!strcmp(p, "auth ls")) {
		json_t *arr = want_json ? json_array() : NULL;
		for (uint32_t i = 0; i < st->authmap.n_entities; i++)
			auth_entity_out(&st->authmap.entities[i], want_json, 0, res, arr);
		if (arr)
			out_json(res, json_pack("{s:o}", "auth", arr));
	} else if (!strcmp(p, "config-key get")) {
		const char *k = jstr(cmd, "key");
		const char *v = k ? mon_state_kv_get(st, k) : NULL;
		if (!v)
			return mon_result_set(res, -ENOENT, "no key '%s'", k ? k : ""), 1;
		enc_bytes(o, v, strlen(v));
	} else if (!strcmp(p, "config-key ls")) {
		json_t *a = json_array();
		for (uint32_t i = 0; i < st->n_kv; i++)
			json_array_append_new(a, json_string(st->kv[i].key));
		out_json(res, a);
	} else if (!strcmp(p, "mon dump")) {
		char fsid[MAP_UUID_STR_LEN];
		map_uuid_format(st->monmap.fsid, fsid);
		json_t *mons = json_array();
		if (!want_json)
			eprintf(o, "epoch %" PRIu64 "\nfsid %s\n", st->monmap.epoch, fsid);
		for (uint32_t i = 0; i < st->monmap.n_mons; i++) {
			char a[MAP_ADDR_STR_MAX];
			map_addr_format(&st->monmap.mons[i].addr, a, sizeof(a));
			if (want_json)
				json_array_append_new(mons, json_pack("{s:i,s:s,s:s}", "rank", (int)i, "name",
				                                      st->monmap.mons[i].name, "addr", a));
			else
				eprintf(o, "%u: %s mon.%s\n", i, a, st->monmap.mons[i].name);
		}
		if (want_json)
			out_json(res, json_pack("{s:I,s:s,s:o}", "epoch", (json_int_t)st->monmap.epoch, "fsid", fsid,
			                        "mons", mons));
		else
			json_decref(mons);
	} else {
		return 0;
	}
	if (enc_error(o))
		mon_result_set(res, enc_error(o), "output failed");
	return 1;
}
