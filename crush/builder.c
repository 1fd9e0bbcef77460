/* Building and editing CRUSH maps.
 *
 * Every mutation of a struct crush_map goes through this file, which keeps
 * the invariants the mapper and the codec rely on:
 *  - every item has at most one parent, and the bucket graph is a forest no
 *    deeper than CRUSH_MAX_DEPTH (so the mapper's fixed-size stack holds);
 *  - a bucket's weight is the exact sum of its item weights, and the item
 *    weight of a bucket child is that child's weight (so the share of a
 *    failure domain is its weight over its parent's);
 *  - item_inv[] mirrors item_weights[] (the mapper multiplies by it);
 *  - max_devices / max_buckets / max_rules are one past the highest id in
 *    use, so two maps with the same contents encode to the same bytes;
 *  - names are unique across devices and buckets and found through a small
 *    open-addressing index (decode of a 65,536-device map stays linear).
 * Each function validates first and mutates only when it can no longer
 * fail, so an error leaves the map as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crush/crush_int.h"

#define NAME_EMPTY INT32_MIN
#define NAME_TOMB  (INT32_MIN + 1)

/* ---------------------------------------------------------------- names */

int crush__valid_name(const char *name)
{
	if (!name)
		return 0;
	size_t n = strnlen(name, CRUSH_MAX_NAME);
	if (n == 0 || n >= CRUSH_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
		if (!ok)
			return 0;
	}
	return 1;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	while (*s) {
		h ^= (uint8_t)*s++;
		h *= 16777619u;
	}
	return h;
}

static struct crush_bucket *bkt(const struct crush_map *map, int id)
{
	if (id >= 0 || id < -(int64_t)map->max_buckets)
		return NULL;
	return map->buckets[-1 - id];
}

static int dev_exists(const struct crush_map *map, int id)
{
	return id >= 0 && (uint32_t)id < map->max_devices && map->devices[id].exists;
}

int crush_item_exists(const struct crush_map *map, int item)
{
	if (!map)
		return 0;
	return item >= 0 ? dev_exists(map, item) : bkt(map, item) != NULL;
}

const char *crush_item_name(const struct crush_map *map, int item)
{
	if (!map)
		return NULL;
	if (item >= 0)
		return dev_exists(map, item) ? map->devices[item].name : NULL;
	struct crush_bucket *b = bkt(map, item);
	return b ? b->name : NULL;
}

static void name_put(struct crush_map *map, int32_t id)
{
	uint32_t mask = map->name_cap - 1;
	uint32_t i = name_hash(crush_item_name(map, id)) & mask;
	while (map->name_slots[i] != NAME_EMPTY && map->name_slots[i] != NAME_TOMB)
		i = (i + 1) & mask;
	if (map->name_slots[i] == NAME_EMPTY)
		map->name_used++;
	map->name_slots[i] = id;
}

/* Rebuild the index from the arrays with room for `extra` more names. */
static int name_rebuild(struct crush_map *map, uint32_t extra)
{
	uint32_t live = 0;
	for (uint32_t i = 0; i < map->max_devices; i++)
		live += map->devices[i].exists;
	for (uint32_t i = 0; i < map->max_buckets; i++)
		live += map->buckets[i] != NULL;
	uint32_t cap = 64;
	while (cap < 2 * (live + extra) + 2)
		cap *= 2;
	int32_t *slots = malloc(sizeof(*slots) * cap);
	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		slots[i] = NAME_EMPTY;
	free(map->name_slots);
	map->name_slots = slots;
	map->name_cap = cap;
	map->name_used = 0;
	for (uint32_t i = 0; i < map->max_devices; i++)
		if (map->devices[i].exists)
			name_put(map, (int32_t)i);
	for (uint32_t i = 0; i < map->max_buckets; i++)
		if (map->buckets[i])
			name_put(map, -1 - (int32_t)i);
	return 0;
}

int crush__name_index_rebuild(struct crush_map *map)
{
	return name_rebuild(map, 0);
}

/* Make sure one more name can be inserted without allocating. */
static int name_reserve(struct crush_map *map)
{
	if (map->name_cap && 2 * (map->name_used + 1) + 2 <= map->name_cap)
		return 0;
	return name_rebuild(map, 1);
}

static int name_lookup(const struct crush_map *map, const char *name, int32_t *id_out)
{
	if (!map->name_cap || !name)
		return -ENOENT;
	uint32_t mask = map->name_cap - 1;
	uint32_t i = name_hash(name) & mask;
	for (uint32_t probes = 0; probes < map->name_cap; probes++, i = (i + 1) & mask) {
		int32_t v = map->name_slots[i];
		if (v == NAME_EMPTY)
			return -ENOENT;
		if (v == NAME_TOMB)
			continue;
		const char *n = crush_item_name(map, v);
		if (n && !strcmp(n, name)) {
			*id_out = v;
			return 0;
		}
	}
	return -ENOENT;
}

static void name_delete(struct crush_map *map, int32_t id)
{
	if (!map->name_cap)
		return;
	uint32_t mask = map->name_cap - 1;
	uint32_t i = name_hash(crush_item_name(map, id)) & mask;
	for (uint32_t probes = 0; probes < map->name_cap; probes++, i = (i + 1) & mask) {
		if (map->name_slots[i] == NAME_EMPTY)
			return;
		if (map->name_slots[i] == id) {
			map->name_slots[i] = NAME_TOMB;
			return;
		}
	}
}

int crush_item_by_name(const struct crush_map *map, const char *name, int *id_out)
{
	int32_t id;
	if (!map || !name || name_lookup(map, name, &id))
		return -ENOENT;
	if (id_out)
		*id_out = id;
	return 0;
}

/* ---------------------------------------------------------------- types */

static const char *const k_default_types[CRUSH_MAX_TYPES] = {
	[0] = "osd", [1] = "host", [2] = "chassis", [3] = "rack", [4] = "row",
	[5] = "room", [6] = "datacenter", [10] = "root",
};

/* Words the text format uses at the start of a line; a type with one of
 * these names could not be written as text. */
static int is_keyword(const char *name)
{
	static const char *const kw[] = { "device", "type", "tunable", "rule" };
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (!strcmp(name, kw[i]))
			return 1;
	return 0;
}

const char *crush_type_name(const struct crush_map *map, int type)
{
	if (!map || type < 0 || type >= (int)CRUSH_MAX_TYPES || !map->type_names[type][0])
		return NULL;
	return map->type_names[type];
}

int crush_type_by_name(const struct crush_map *map, const char *name)
{
	if (!map || !name || !name[0])
		return -ENOENT;
	for (uint32_t t = 0; t < CRUSH_MAX_TYPES; t++)
		if (map->type_names[t][0] && !strcmp(map->type_names[t], name))
			return (int)t;
	return -ENOENT;
}

static int type_in_use(const struct crush_map *map, int type)
{
	for (uint32_t i = 0; i < map->max_buckets; i++)
		if (map->buckets[i] && map->buckets[i]->type == type)
			return 1;
	for (uint32_t r = 0; r < map->max_rules; r++) {
		const struct crush_rule *rule = map->rules[r];
		if (!rule)
			continue;
		for (uint32_t s = 0; s < rule->nsteps; s++)
			if (rule->steps[s].op >= CRUSH_OP_CHOOSE_FIRSTN &&
			    rule->steps[s].op <= CRUSH_OP_CHOOSELEAF_INDEP && rule->steps[s].arg2 == type)
				return 1;
	}
	return 0;
}

int crush_set_type_name(struct crush_map *map, int type, const char *name)
{
	if (!map || type < 0 || type >= (int)CRUSH_MAX_TYPES)
		return -EINVAL;
	if (!name || !name[0]) {
		if (type == 0)
			return -EINVAL;
		if (type_in_use(map, type))
			return -EBUSY;
		map->type_names[type][0] = '\0';
		return 0;
	}
	if (!crush__valid_name(name) || is_keyword(name))
		return -EINVAL;
	int other = crush_type_by_name(map, name);
	if (other >= 0 && other != type)
		return -EEXIST;
	snprintf(map->type_names[type], CRUSH_MAX_NAME, "%s", name);
	return 0;
}

/* ------------------------------------------------------ create, destroy */

int crush_create(struct crush_map **out)
{
	if (!out)
		return -EINVAL;
	struct crush_map *map = calloc(1, sizeof(*map));
	if (!map)
		return -ENOMEM;
	for (uint32_t t = 0; t < CRUSH_MAX_TYPES; t++)
		if (k_default_types[t])
			snprintf(map->type_names[t], CRUSH_MAX_NAME, "%s", k_default_types[t]);
	map->choose_total_tries = CRUSH_DEFAULT_TRIES;
	map->behavior = CRUSH_BEHAVIOR_V1;
	*out = map;
	return 0;
}

static void bucket_free(struct crush_bucket *b)
{
	if (!b)
		return;
	free(b->items);
	free(b->item_weights);
	free(b->item_inv);
	free(b);
}

void crush_destroy(struct crush_map *map)
{
	if (!map)
		return;
	for (uint32_t i = 0; i < map->max_buckets; i++)
		bucket_free(map->buckets[i]);
	for (uint32_t r = 0; r < map->max_rules; r++)
		free(map->rules[r]);
	free(map->buckets);
	free(map->rules);
	free(map->devices);
	free(map->name_slots);
	free(map);
}

int crush_set_choose_total_tries(struct crush_map *map, uint32_t tries)
{
	if (!map || tries < 1 || tries > CRUSH_MAX_TRIES)
		return -EINVAL;
	map->choose_total_tries = tries;
	return 0;
}

/* ------------------------------------------------------ tree invariants */

static int32_t *parent_of(struct crush_map *map, int item)
{
	if (item >= 0)
		return dev_exists(map, item) ? &map->devices[item].parent : NULL;
	struct crush_bucket *b = bkt(map, item);
	return b ? &b->parent : NULL;
}

static int32_t get_parent(const struct crush_map *map, int item)
{
	return *parent_of((struct crush_map *)map, item);
}

/* Buckets from a root down to bucket b, inclusive. */
static unsigned depth_of(const struct crush_map *map, int b)
{
	unsigned d = 0;
	for (int cur = b; cur && d <= CRUSH_MAX_DEPTH + 1; cur = bkt(map, cur)->parent)
		d++;
	return d;
}

/* Bucket levels in item's subtree (0 for a device). Recursion depth is
 * bounded by the depth invariant. */
static unsigned height_of(const struct crush_map *map, int item)
{
	if (item >= 0)
		return 0;
	const struct crush_bucket *b = bkt(map, item);
	unsigned h = 0;
	for (uint32_t i = 0; i < b->size; i++) {
		if (b->items[i] < 0) {
			unsigned c = height_of(map, b->items[i]);
			if (c > h)
				h = c;
		}
	}
	return h + 1;
}

/* Is `anc` the bucket `item` or one of its ancestors? */
static int is_ancestor_or_self(const struct crush_map *map, int anc, int item)
{
	unsigned guard = 0;
	for (int cur = item; cur && guard <= CRUSH_MAX_DEPTH + 1; guard++) {
		if (cur == anc)
			return 1;
		cur = get_parent(map, cur);
	}
	return 0;
}

static int index_in(const struct crush_bucket *b, int item)
{
	for (uint32_t i = 0; i < b->size; i++)
		if (b->items[i] == item)
			return (int)i;
	return -1;
}

/* Would adding delta to bucket b and all its ancestors stay within 16.16?
 * `except_below` (a bucket, or 0) is an item whose ancestors lose -delta at
 * the same time (a move), so shared ancestors see no change. */
static int check_delta(const struct crush_map *map, int b, int64_t delta, int except_below)
{
	unsigned guard = 0;
	for (int cur = b; cur && guard <= CRUSH_MAX_DEPTH + 1; guard++) {
		const struct crush_bucket *a = bkt(map, cur);
		int64_t d = delta;
		if (except_below && is_ancestor_or_self(map, cur, except_below))
			d = 0;
		int64_t nw = (int64_t)a->weight + d;
		if (nw < 0 || nw > (int64_t)UINT32_MAX)
			return -ERANGE;
		cur = a->parent;
	}
	return 0;
}

static void set_item_weight(struct crush_bucket *b, uint32_t idx, uint32_t w)
{
	b->item_weights[idx] = w;
	b->item_inv[idx] = crush__inv_weight(w);
}

/* Add delta to bucket b's weight and propagate to every ancestor's sum. */
static void apply_delta(struct crush_map *map, int b, int64_t delta)
{
	unsigned guard = 0;
	int cur = b;
	while (cur && guard++ <= CRUSH_MAX_DEPTH + 1) {
		struct crush_bucket *a = bkt(map, cur);
		a->weight = (uint32_t)((int64_t)a->weight + delta);
		if (!a->parent)
			break;
		struct crush_bucket *p = bkt(map, a->parent);
		int idx = index_in(p, cur);
		if (idx < 0)
			abort(); /* broken invariant: parent does not list its child */
		set_item_weight(p, (uint32_t)idx, a->weight);
		cur = a->parent;
	}
}

static int bucket_reserve(struct crush_bucket *b, uint32_t n)
{
	if (n <= b->cap)
		return 0;
	if (n > CRUSH_MAX_BUCKET_SIZE)
		return -ERANGE;
	uint32_t cap = b->cap ? b->cap : 4;
	while (cap < n)
		cap *= 2;
	if (cap > CRUSH_MAX_BUCKET_SIZE)
		cap = CRUSH_MAX_BUCKET_SIZE;
	int32_t *items = realloc(b->items, sizeof(*items) * cap);
	if (!items)
		return -ENOMEM;
	b->items = items;
	uint32_t *w = realloc(b->item_weights, sizeof(*w) * cap);
	if (!w)
		return -ENOMEM;
	b->item_weights = w;
	uint64_t *inv = realloc(b->item_inv, sizeof(*inv) * cap);
	if (!inv)
		return -ENOMEM;
	b->item_inv = inv;
	b->cap = cap;
	return 0;
}

/* Unlink item from its parent (which must exist). Cannot fail. */
static void unlink_item(struct crush_map *map, int item)
{
	int32_t *pp = parent_of(map, item);
	struct crush_bucket *p = bkt(map, *pp);
	int idx = index_in(p, item);
	if (idx < 0)
		abort(); /* broken invariant */
	uint32_t w = p->item_weights[idx];
	uint32_t tail = p->size - (uint32_t)idx - 1;
	memmove(&p->items[idx], &p->items[idx + 1], sizeof(p->items[0]) * tail);
	memmove(&p->item_weights[idx], &p->item_weights[idx + 1], sizeof(p->item_weights[0]) * tail);
	memmove(&p->item_inv[idx], &p->item_inv[idx + 1], sizeof(p->item_inv[0]) * tail);
	p->size--;
	*pp = 0;
	apply_delta(map, p->id, -(int64_t)w);
}

/* Append item to bucket b (validated, capacity reserved). Cannot fail. */
static void link_item(struct crush_map *map, struct crush_bucket *b, int item, uint32_t w)
{
	b->items[b->size] = item;
	set_item_weight(b, b->size, w);
	b->size++;
	*parent_of(map, item) = b->id;
	apply_delta(map, b->id, w);
}

/* Checks shared by add and move: can item go under bucket b? */
static int check_link(const struct crush_map *map, const struct crush_bucket *b, int item)
{
	if (item < 0) {
		if (is_ancestor_or_self(map, item, b->id))
			return -ELOOP;
		if (depth_of(map, b->id) + height_of(map, item) > CRUSH_MAX_DEPTH)
			return -ELOOP;
	}
	if (b->size + 1 > CRUSH_MAX_BUCKET_SIZE)
		return -ERANGE;
	return 0;
}

/* ---------------------------------------------------------------- rules */

static int rule_takes(const struct crush_map *map, int item)
{
	for (uint32_t r = 0; r < map->max_rules; r++) {
		const struct crush_rule *rule = map->rules[r];
		if (!rule)
			continue;
		for (uint32_t s = 0; s < rule->nsteps; s++)
			if (rule->steps[s].op == CRUSH_OP_TAKE && rule->steps[s].arg1 == item)
				return 1;
	}
	return 0;
}

int crush__check_rule_steps(const struct crush_map *map, const struct crush_rule_step *steps,
                            unsigned nsteps)
{
	if (!steps || nsteps < 1 || nsteps > CRUSH_MAX_RULE_STEPS)
		return -EINVAL;
	for (unsigned s = 0; s < nsteps; s++) {
		const struct crush_rule_step *st = &steps[s];
		switch (st->op) {
		case CRUSH_OP_TAKE:
			if (st->arg2 != 0)
				return -EINVAL;
			if (!crush_item_exists(map, st->arg1))
				return -ENOENT;
			break;
		case CRUSH_OP_CHOOSE_FIRSTN:
		case CRUSH_OP_CHOOSE_INDEP:
		case CRUSH_OP_CHOOSELEAF_FIRSTN:
		case CRUSH_OP_CHOOSELEAF_INDEP:
			if (st->arg1 < -(int)CRUSH_MAX_RESULT || st->arg1 > (int)CRUSH_MAX_RESULT)
				return -EINVAL;
			if (st->arg2 < 0 || st->arg2 >= (int)CRUSH_MAX_TYPES)
				return -EINVAL;
			if (!map->type_names[st->arg2][0])
				return -ENOENT;
			break;
		case CRUSH_OP_EMIT:
			if (st->arg1 || st->arg2)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

int crush_rule_by_name(const struct crush_map *map, const char *name)
{
	if (!map || !name)
		return -ENOENT;
	for (uint32_t r = 0; r < map->max_rules; r++)
		if (map->rules[r] && !strcmp(map->rules[r]->name, name))
			return (int)r;
	return -ENOENT;
}

int crush_add_rule(struct crush_map *map, int ruleno, const char *name, int type,
                   const struct crush_rule_step *steps, unsigned nsteps, int *ruleno_out)
{
	if (!map || !crush__valid_name(name))
		return -EINVAL;
	if (type != CRUSH_RULE_REPLICATED && type != CRUSH_RULE_ERASURE)
		return -EINVAL;
	if (ruleno < -1)
		return -EINVAL;
	if (ruleno >= (int)CRUSH_MAX_RULES)
		return -ERANGE;
	if (crush_rule_by_name(map, name) >= 0)
		return -EEXIST;
	int rc = crush__check_rule_steps(map, steps, nsteps);
	if (rc)
		return rc;
	if (ruleno == -1) {
		ruleno = 0;
		while ((uint32_t)ruleno < map->max_rules && map->rules[ruleno])
			ruleno++;
		if (ruleno >= (int)CRUSH_MAX_RULES)
			return -ERANGE;
	} else if ((uint32_t)ruleno < map->max_rules && map->rules[ruleno]) {
		return -EEXIST;
	}
	struct crush_rule *rule = calloc(1, sizeof(*rule));
	if (!rule)
		return -ENOMEM;
	if ((uint32_t)ruleno >= map->max_rules) {
		uint32_t n = (uint32_t)ruleno + 1;
		struct crush_rule **rules = realloc(map->rules, sizeof(*rules) * n);
		if (!rules) {
			free(rule);
			return -ENOMEM;
		}
		for (uint32_t i = map->max_rules; i < n; i++)
			rules[i] = NULL;
		map->rules = rules;
		map->max_rules = n;
	}
	snprintf(rule->name, sizeof(rule->name), "%s", name);
	rule->type = (uint8_t)type;
	rule->nsteps = nsteps;
	memcpy(rule->steps, steps, sizeof(steps[0]) * nsteps);
	map->rules[ruleno] = rule;
	if (ruleno_out)
		*ruleno_out = ruleno;
	return 0;
}

int crush_remove_rule(struct crush_map *map, int ruleno)
{
	if (!map || ruleno < 0 || (uint32_t)ruleno >= map->max_rules || !map->rules[ruleno])
		return -ENOENT;
	free(map->rules[ruleno]);
	map->rules[ruleno] = NULL;
	while (map->max_rules && !map->rules[map->max_rules - 1])
		map->max_rules--;
	return 0;
}

/* -------------------------------------------------------------- devices */

int crush_add_device(struct crush_map *map, int id, const char *name)
{
	char defname[CRUSH_MAX_NAME];
	int32_t other;

	if (!map || id < 0)
		return -EINVAL;
	if ((uint32_t)id >= CRUSH_MAX_DEVICES)
		return -ERANGE;
	if (dev_exists(map, id))
		return -EEXIST;
	if (!name) {
		snprintf(defname, sizeof(defname), "osd.%d", id);
		name = defname;
	}
	if (!crush__valid_name(name))
		return -EINVAL;
	if (name_lookup(map, name, &other) == 0)
		return -EEXIST;
	int rc = name_reserve(map);
	if (rc)
		return rc;
	if ((uint32_t)id >= map->max_devices) {
		uint32_t n = (uint32_t)id + 1;
		struct crush_device *devs = realloc(map->devices, sizeof(*devs) * n);
		if (!devs)
			return -ENOMEM;
		memset(&devs[map->max_devices], 0, sizeof(*devs) * (n - map->max_devices));
		map->devices = devs;
		map->max_devices = n;
	}
	struct crush_device *d = &map->devices[id];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->exists = 1;
	name_put(map, id);
	return 0;
}

int crush_remove_device(struct crush_map *map, int id)
{
	if (!map || !dev_exists(map, id))
		return -ENOENT;
	if (rule_takes(map, id))
		return -EBUSY;
	if (map->devices[id].parent)
		unlink_item(map, id);
	name_delete(map, id);
	memset(&map->devices[id], 0, sizeof(map->devices[id]));
	while (map->max_devices && !map->devices[map->max_devices - 1].exists)
		map->max_devices--;
	return 0;
}

/* -------------------------------------------------------------- buckets */

const struct crush_bucket *crush_bucket_get(const struct crush_map *map, int id)
{
	return map ? bkt(map, id) : NULL;
}

int crush_add_bucket(struct crush_map *map, int id, int type, const char *name, int *id_out)
{
	int32_t other;

	if (!map || id > 0 || !crush__valid_name(name))
		return -EINVAL;
	if (type < 1 || type >= (int)CRUSH_MAX_TYPES)
		return -EINVAL;
	if (!map->type_names[type][0])
		return -ENOENT;
	if (name_lookup(map, name, &other) == 0)
		return -EEXIST;
	uint32_t idx;
	if (id == 0) {
		idx = 0;
		while (idx < map->max_buckets && map->buckets[idx])
			idx++;
	} else {
		if ((int64_t)-id > (int64_t)CRUSH_MAX_BUCKETS)
			return -ERANGE;
		idx = (uint32_t)(-1 - id);
		if (idx < map->max_buckets && map->buckets[idx])
			return -EEXIST;
	}
	if (idx >= CRUSH_MAX_BUCKETS)
		return -ERANGE;
	int rc = name_reserve(map);
	if (rc)
		return rc;
	struct crush_bucket *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	if (idx >= map->max_buckets) {
		uint32_t n = idx + 1;
		struct crush_bucket **bs = realloc(map->buckets, sizeof(*bs) * n);
		if (!bs) {
			free(b);
			return -ENOMEM;
		}
		for (uint32_t i = map->max_buckets; i < n; i++)
			bs[i] = NULL;
		map->buckets = bs;
		map->max_buckets = n;
	}
	b->id = -1 - (int32_t)idx;
	b->type = (uint16_t)type;
	b->alg = CRUSH_BUCKET_STRAW2;
	snprintf(b->name, sizeof(b->name), "%s", name);
	map->buckets[idx] = b;
	name_put(map, b->id);
	if (id_out)
		*id_out = b->id;
	return 0;
}

int crush_remove_bucket(struct crush_map *map, int id)
{
	struct crush_bucket *b = map ? bkt(map, id) : NULL;
	if (!b)
		return -ENOENT;
	if (b->size)
		return -ENOTEMPTY;
	if (rule_takes(map, id))
		return -EBUSY;
	if (b->parent)
		unlink_item(map, id);
	name_delete(map, id);
	map->buckets[-1 - id] = NULL;
	bucket_free(b);
	while (map->max_buckets && !map->buckets[map->max_buckets - 1])
		map->max_buckets--;
	return 0;
}

int crush_bucket_add_item(struct crush_map *map, int bucket_id, int item, uint32_t weight)
{
	if (!map)
		return -EINVAL;
	struct crush_bucket *b = bkt(map, bucket_id);
	if (!b || !crush_item_exists(map, item))
		return -ENOENT;
	if (get_parent(map, item))
		return -EEXIST;
	uint32_t w = item >= 0 ? weight : bkt(map, item)->weight;
	int rc = check_link(map, b, item);
	if (rc)
		return rc;
	rc = check_delta(map, bucket_id, w, 0);
	if (rc)
		return rc;
	rc = bucket_reserve(b, b->size + 1);
	if (rc)
		return rc;
	link_item(map, b, item, w);
	return 0;
}

int crush_bucket_remove_item(struct crush_map *map, int item)
{
	if (!map || !crush_item_exists(map, item))
		return -ENOENT;
	if (!get_parent(map, item))
		return -ENOENT;
	unlink_item(map, item);
	return 0;
}

uint32_t crush_item_weight(const struct crush_map *map, int item)
{
	if (!map || !crush_item_exists(map, item))
		return 0;
	if (item < 0)
		return bkt(map, item)->weight;
	int32_t p = map->devices[item].parent;
	if (!p)
		return 0;
	const struct crush_bucket *pb = bkt(map, p);
	int idx = index_in(pb, item);
	return idx < 0 ? 0 : pb->item_weights[idx];
}

int crush_move_item(struct crush_map *map, int item, int new_parent)
{
	if (!map)
		return -EINVAL;
	struct crush_bucket *np = bkt(map, new_parent);
	if (!np || !crush_item_exists(map, item))
		return -ENOENT;
	int32_t old = get_parent(map, item);
	if (old == new_parent)
		return 0;
	if (item >= 0 && !old)
		return -EINVAL; /* a parentless device has no weight: use add_item */
	uint32_t w = crush_item_weight(map, item);
	int rc = check_link(map, np, item);
	if (rc)
		return rc;
	rc = check_delta(map, new_parent, w, old);
	if (rc)
		return rc;
	rc = bucket_reserve(np, np->size + 1);
	if (rc)
		return rc;
	if (old)
		unlink_item(map, item);
	link_item(map, np, item, w);
	return 0;
}

int crush_adjust_item_weight(struct crush_map *map, int item, uint32_t weight)
{
	if (!map || item < 0)
		return -EINVAL;
	if (!dev_exists(map, item) || !map->devices[item].parent)
		return -ENOENT;
	struct crush_bucket *p = bkt(map, map->devices[item].parent);
	int idx = index_in(p, item);
	if (idx < 0)
		abort(); /* broken invariant */
	int64_t delta = (int64_t)weight - (int64_t)p->item_weights[idx];
	int rc = check_delta(map, p->id, delta, 0);
	if (rc)
		return rc;
	set_item_weight(p, (uint32_t)idx, weight);
	apply_delta(map, p->id, delta);
	return 0;
}

int crush_item_ancestor(const struct crush_map *map, int item, int type, int *anc_out)
{
	if (!map || !crush_item_exists(map, item) || type < 0 || type >= (int)CRUSH_MAX_TYPES)
		return -ENOENT;
	int cur = item;
	if (item >= 0) {
		if (type == 0) {
			if (anc_out)
				*anc_out = item;
			return 0;
		}
		cur = map->devices[item].parent;
	}
	/* only buckets from here on: their ids are < 0, and 0 means "no parent" */
	for (unsigned guard = 0; cur < 0 && guard <= CRUSH_MAX_DEPTH + 1; guard++) {
		const struct crush_bucket *b = bkt(map, cur);
		if (b->type == type) {
			if (anc_out)
				*anc_out = cur;
			return 0;
		}
		cur = b->parent;
	}
	return -ENOENT;
}
