/* CRUSH: Norn's placement function.
 *
 * CRUSH maps a 32-bit placement seed x (derived from pool and PG) to an
 * ordered list of devices (OSDs), using only the CRUSH map (a tree of typed
 * buckets over weighted devices) and a rule. Every mon, OSD and client runs
 * the same pure function and gets the same answer, so the code here is
 * integer-only (a table-based fixed-point logarithm, no floating point),
 * does no I/O, allocates nothing while mapping (the caller owns the scratch
 * space) and keeps no global state. This library depends on nothing else in
 * Norn; errors are plain negative errno values.
 *
 * Selection is straw2: every candidate device d draws a "straw"
 * cost(d) = -ln(hash(x, d, r)) / weight(d), and the smallest cost wins. The
 * draws of all devices below the rule's TAKE bucket are ranked as one flat
 * race and the failure domain (host, rack...) of each device is its
 * ancestor of the requested type, so the chance that a domain wins equals
 * its weight share (the bucket weights are sums of their devices'), and a
 * change to one device's weight only moves data to or from that device:
 * siblings of a removed or reweighted device keep their data. See
 * crush/mapper.c for the essay.
 *
 * Lifetimes: a struct crush_map is created by crush_create(),
 * crush_decode() or crush_compile() and freed by crush_destroy(). It is not
 * internally locked: mutate it from one thread; any number of threads may
 * call crush_do_rule() on a map nobody is mutating.
 *
 * The structures are public so that readers (osdmap, CLI, tests) can walk
 * them, but they are read-only outside crush/: change them only through the
 * builder functions, which keep bucket weights, parents and derived fields
 * consistent.
 */
#ifndef NORN_CRUSH_H
#define NORN_CRUSH_H
#include <stddef.h>
#include <stdint.h>

/* ---- Named maxima (everything decoded is checked against these) ---- */

#define CRUSH_MAX_DEVICES      65536u  /* device ids are 0 .. CRUSH_MAX_DEVICES-1 */
#define CRUSH_MAX_BUCKETS      8192u   /* bucket ids are -1 .. -CRUSH_MAX_BUCKETS */
#define CRUSH_MAX_BUCKET_SIZE  4096u   /* items in one bucket */
#define CRUSH_MAX_RULES        256u    /* rule numbers are 0 .. CRUSH_MAX_RULES-1 */
#define CRUSH_MAX_RULE_STEPS   16u
#define CRUSH_MAX_TYPES        32u     /* type ids are 0 .. CRUSH_MAX_TYPES-1; 0 = device */
#define CRUSH_MAX_DEPTH        16u     /* levels of buckets from a root to a device */
#define CRUSH_MAX_NAME         64u     /* bytes in a name including the NUL */
#define CRUSH_MAX_RESULT       64u     /* result_max cap for crush_do_rule */
#define CRUSH_MAX_TRIES        1000u   /* cap for the choose_total_tries tunable */
#define CRUSH_DEFAULT_TRIES    50u     /* default choose_total_tries */
#define CRUSH_MAX_ENCODED      (64u << 20) /* crush_decode refuses larger inputs */

/* Fixed-point weights: 16.16, so 0x10000 is 1.0 (by convention 1 TB). */
#define CRUSH_WEIGHT_ONE       0x10000u
/* Placeholder for an indep position that could not be filled. */
#define CRUSH_ITEM_NONE        0x7fffffff

/* Bucket selection algorithms (only straw2 exists). */
#define CRUSH_BUCKET_STRAW2    5

/* Behaviour version of the mapping function. A new behaviour gets a new
 * number and the old code path stays, so a map keeps mapping the same. */
#define CRUSH_BEHAVIOR_V1      1

/* Rule kinds (informational: firstn suits replicas, indep erasure codes). */
#define CRUSH_RULE_REPLICATED  1
#define CRUSH_RULE_ERASURE     3

/* Rule step opcodes. */
enum crush_op {
	CRUSH_OP_NOOP = 0,
	CRUSH_OP_TAKE = 1,              /* arg1 = item id (bucket or device) */
	CRUSH_OP_CHOOSE_FIRSTN = 2,     /* arg1 = N, arg2 = type */
	CRUSH_OP_CHOOSE_INDEP = 3,      /* arg1 = N, arg2 = type */
	CRUSH_OP_CHOOSELEAF_FIRSTN = 4, /* arg1 = N, arg2 = failure-domain type */
	CRUSH_OP_CHOOSELEAF_INDEP = 5,  /* arg1 = N, arg2 = failure-domain type */
	CRUSH_OP_EMIT = 6,
};
/* N in a choose step: N > 0 is N; N == 0 is num_rep (= result_max of
 * crush_do_rule); N < 0 is num_rep - |N|. */

/* ---- Map structures (read-only outside crush/) ---- */

struct crush_device {
	char name[CRUSH_MAX_NAME];  /* e.g. "osd.3" */
	int32_t parent;             /* bucket id holding it, 0 if none */
	uint8_t exists;             /* 0: this id is a hole */
};

struct crush_bucket {
	int32_t id;                 /* < 0 */
	uint16_t type;              /* 1 .. CRUSH_MAX_TYPES-1 */
	uint8_t alg;                /* CRUSH_BUCKET_STRAW2 */
	uint8_t pad_;
	uint32_t weight;            /* 16.16, sum of item_weights */
	int32_t parent;             /* bucket id holding it, 0 if a root */
	uint32_t size;              /* number of items */
	uint32_t cap;               /* allocated items */
	int32_t *items;             /* device ids (>= 0) or bucket ids (< 0) */
	uint32_t *item_weights;     /* 16.16; for a bucket item, that bucket's weight */
	uint64_t *item_inv;         /* derived: floor((2^64-1) / weight), 0 if weight 0 */
	char name[CRUSH_MAX_NAME];
};

struct crush_rule_step {
	uint32_t op;                /* enum crush_op */
	int32_t arg1;
	int32_t arg2;
};

struct crush_rule {
	char name[CRUSH_MAX_NAME];
	uint8_t type;               /* CRUSH_RULE_REPLICATED or CRUSH_RULE_ERASURE */
	uint32_t nsteps;
	struct crush_rule_step steps[CRUSH_MAX_RULE_STEPS];
};

struct crush_map {
	uint32_t max_devices;       /* devices[] length: ids < max_devices */
	struct crush_device *devices;
	uint32_t max_buckets;       /* buckets[] length: bucket id b at index -1-b */
	struct crush_bucket **buckets;  /* NULL for unused ids */
	uint32_t max_rules;         /* rules[] length */
	struct crush_rule **rules;      /* NULL for unused rule numbers */
	char type_names[CRUSH_MAX_TYPES][CRUSH_MAX_NAME]; /* "" = undefined */
	uint32_t choose_total_tries; /* tunable kept for later behaviours; V1 never
	                              * retries (each choice is one bounded pass) */
	uint32_t behavior;          /* CRUSH_BEHAVIOR_V1 */
	/* Derived, not encoded: name -> item id hash index (builder.c). */
	int32_t *name_slots;
	uint32_t name_cap;          /* slots, a power of two (or 0) */
	uint32_t name_used;         /* live entries + tombstones */
};

/* ---- Building and editing a map ----
 * Errors common to the builder functions: -EINVAL bad argument (id out of
 * range, bad name, wrong kind of item), -ENOENT no such item/type/rule,
 * -EEXIST id or name already used, -ENOMEM allocation failed, -ERANGE a
 * named maximum or the 16.16 weight range would be exceeded. On error the
 * map is unchanged. Names are 1..CRUSH_MAX_NAME-1 bytes of [A-Za-z0-9_.-]
 * and must be unique across devices and buckets. */

/* Create an empty map with the default types osd=0, host=1, chassis=2,
 * rack=3, row=4, room=5, datacenter=6, root=10, and default tunables.
 * *out is owned by the caller: free with crush_destroy(). */
int crush_create(struct crush_map **out);

/* Free a map and everything it owns. NULL is a no-op. */
void crush_destroy(struct crush_map *map);

/* Set (or with name NULL/"" undefine) the name of type id `type`. Type 0 is
 * the device type and cannot be undefined. -EBUSY if undefining a type a
 * bucket or rule uses. */
int crush_set_type_name(struct crush_map *map, int type, const char *name);
/* Type id by name, or -ENOENT. */
int crush_type_by_name(const struct crush_map *map, const char *name);
/* Name of a type, or NULL if undefined. Points into the map. */
const char *crush_type_name(const struct crush_map *map, int type);

/* Add device `id` (0 <= id < CRUSH_MAX_DEVICES) named `name` (NULL means
 * "osd.<id>"). The device is not in any bucket yet: its weight is the item
 * weight given to crush_bucket_add_item(). */
int crush_add_device(struct crush_map *map, int id, const char *name);
/* Remove a device (unlinking it from its bucket, whose weights shrink). */
int crush_remove_device(struct crush_map *map, int id);

/* Add an empty bucket of `type` (>= 1) named `name`. id < 0 requests that
 * id; id == 0 picks the highest free id (-1, -2, ...). The id used is
 * stored in *id_out if not NULL. */
int crush_add_bucket(struct crush_map *map, int id, int type, const char *name,
                     int *id_out);
/* Remove an empty bucket (unlinking it from its parent). -ENOTEMPTY if it
 * still holds items; -EBUSY if a rule TAKEs it. */
int crush_remove_bucket(struct crush_map *map, int id);

/* Link `item` (a device or a bucket without a parent) into bucket
 * `bucket_id`. For a device, `weight` is its 16.16 weight; for a bucket item
 * the argument is ignored and the child's own weight is used. Weights of
 * all ancestors are recomputed. -EEXIST if item already has a parent,
 * -ELOOP if it would create a cycle or exceed CRUSH_MAX_DEPTH. */
int crush_bucket_add_item(struct crush_map *map, int bucket_id, int item, uint32_t weight);
/* Unlink `item` from its parent bucket (it stays in the map, parentless). */
int crush_bucket_remove_item(struct crush_map *map, int item);
/* Move `item` (device or bucket) from its parent (if any) into
 * `new_parent`, keeping its weight. Same errors as crush_bucket_add_item. */
int crush_move_item(struct crush_map *map, int item, int new_parent);
/* Set the 16.16 weight of a device that is in a bucket; all ancestors'
 * weights are recomputed. -EINVAL for a bucket id (bucket weights are
 * always sums), -ENOENT if the device has no parent. */
int crush_adjust_item_weight(struct crush_map *map, int item, uint32_t weight);

/* Does `item` (device or bucket id) exist? 1 or 0. */
int crush_item_exists(const struct crush_map *map, int item);
/* Item id by name into *id_out; 0 or -ENOENT. */
int crush_item_by_name(const struct crush_map *map, const char *name, int *id_out);
/* Name of an item, or NULL if no such item. Points into the map. */
const char *crush_item_name(const struct crush_map *map, int item);
/* 16.16 weight of an item: a bucket's weight, or a device's weight in its
 * parent (0 if parentless or absent). */
uint32_t crush_item_weight(const struct crush_map *map, int item);
/* Bucket for an id, or NULL. */
const struct crush_bucket *crush_bucket_get(const struct crush_map *map, int id);
/* The nearest ancestor of `item` (including item itself when it is a
 * bucket of that type) whose type is `type`, into *anc_out. 0, -ENOENT if
 * there is none (or no such item). Used e.g. to find an OSD's host. */
int crush_item_ancestor(const struct crush_map *map, int item, int type, int *anc_out);

/* Add rule number `ruleno` (>= 0, or -1 for the lowest free one) named
 * `name` of kind `type` (CRUSH_RULE_*) with `nsteps` steps (copied), and
 * store the number used in *ruleno_out if not NULL. Steps are validated:
 * TAKE names an existing item, choose types are defined, N within
 * [-CRUSH_MAX_RESULT, CRUSH_MAX_RESULT]. */
int crush_add_rule(struct crush_map *map, int ruleno, const char *name, int type,
                   const struct crush_rule_step *steps, unsigned nsteps, int *ruleno_out);
/* Remove a rule. */
int crush_remove_rule(struct crush_map *map, int ruleno);
/* Rule number by name, or -ENOENT. */
int crush_rule_by_name(const struct crush_map *map, const char *name);
/* Set the choose_total_tries tunable (1 .. CRUSH_MAX_TRIES). */
int crush_set_choose_total_tries(struct crush_map *map, uint32_t tries);

/* Deep comparison of two maps (everything that is encoded). 1 if equal. */
int crush_map_equal(const struct crush_map *a, const struct crush_map *b);

/* ---- Mapping ---- */

/* Bytes of scratch space crush_do_rule() needs for result_max results
 * (0 < result_max <= CRUSH_MAX_RESULT); 0 for a bad result_max. Any
 * alignment of the scratch pointer is fine. */
size_t crush_scratch_size(const struct crush_map *map, int result_max);

/* Map placement seed x through rule `ruleno`. Writes up to result_max items
 * (device ids, or bucket ids for a rule that emits buckets) into result[]
 * and returns how many (>= 0). num_rep is result_max.
 * weights[dev] is the 16.16 in/out reweight of device dev for
 * dev < weight_max (0x10000 in, 0 out, between: that fraction of the
 * device's placements are kept); devices >= weight_max count as out.
 * firstn steps return the chosen items in order, fewer if not enough
 * distinct failure domains can be found; indep steps return exactly their
 * numrep positions, with CRUSH_ITEM_NONE where nothing could be placed, and
 * a position of a chooseleaf (or type 0) indep step keeps its device while
 * that device stays in, whatever the in/out state of the others. Every choice is one pass over the devices
 * below the TAKE bucket, so the work is bounded without retry limits.
 * A non-leaf "choose ... type T" step picks buckets: firstn ranks them by
 * their best device that is in, indep ignores the in/out vector there
 * (the following chooseleaf step inside the bucket handles it).
 * scratch must hold crush_scratch_size(map, result_max) bytes; nothing is
 * allocated. Pure: same inputs, same output on every machine.
 * Errors: -EINVAL (bad ruleno, NULL pointers, result_max out of
 * 1..CRUSH_MAX_RESULT, weight_max < 0). */
int crush_do_rule(const struct crush_map *map, int ruleno, uint32_t x, int *result,
                  int result_max, const uint32_t *weights, int weight_max, void *scratch);

/* ---- Binary encoding ----
 * Layout (little-endian): magic "NCRU", u8 version, u8 compat, u32 body
 * length, body. A reader skips body bytes it does not know (newer minor
 * version with the same compat). See crush/codec.c. */

/* Encode `map` into buf[0..cap). The encoded length is stored in *len_out
 * (also when it does not fit, so a call with buf NULL / cap 0 is a size
 * query). Returns 0, or -ERANGE if cap is too small, -EINVAL on NULL
 * map/len_out. */
int crush_encode(const struct crush_map *map, uint8_t *buf, size_t cap, size_t *len_out);

/* Decode a map from buf[0..len). On success *out is a new map owned by the
 * caller (crush_destroy()). Every count, id, name and weight is validated
 * against the named maxima and the structure (single parents, no cycles,
 * depth, rules referring to existing items, bucket weights equal to the
 * sums); never reads outside buf; allocation is bounded by the maxima and
 * by len. Errors: -EBADMSG malformed or truncated, -ENOTSUP compat version
 * newer than this reader, -ENOMEM, -EINVAL NULL arguments. */
int crush_decode(struct crush_map **out, const uint8_t *buf, size_t len);

/* ---- Text format ----
 * See examples/asgard.crush for the grammar. compile(decompile(m)) equals m
 * and decompile(compile(t)) is a fixed point of decompile∘compile. */

/* Parse text[0..len) into a new map (*out, caller frees). On error returns
 * -EINVAL (syntax or semantic error) or -ENOMEM and writes a message
 * "line N: ..." into err[0..errlen) (NUL-terminated; err may be NULL). */
int crush_compile(const char *text, size_t len, struct crush_map **out, char *err,
                  size_t errlen);

/* Render a map as text into a new NUL-terminated malloc()ed string
 * (*text_out, caller frees). 0, -ENOMEM, -EINVAL. */
int crush_decompile(const struct crush_map *map, char **text_out);

/* Parse a decimal weight ("0.146", "15", "2.5") into 16.16, rounding to
 * nearest. 0 or -EINVAL/-ERANGE. Format one with the fewest decimals that
 * parse back to the same value into buf (>= 16 bytes). */
int crush_parse_weight(const char *s, size_t len, uint32_t *out);
void crush_format_weight(uint32_t w, char *buf, size_t buflen);

/* ---- Hash and logarithm (exposed for tests and for pg seeds) ---- */

/* Well-mixed 32-bit hashes of 2 and 3 words (murmur3-style block mixing
 * with a final avalanche), stable forever for CRUSH_BEHAVIOR_V1. */
uint32_t crush_hash32_2(uint32_t a, uint32_t b);
uint32_t crush_hash32_3(uint32_t a, uint32_t b, uint32_t c);

/* -log2((u + 1) / 2^32) in unsigned Q58 fixed point (0 .. 32 << 58), from
 * tables and integer arithmetic only; absolute error below 2^-44. */
uint64_t crush_neglog2(uint32_t u);

#endif
