/* The OSD map (osdmap): OSDs, pools, the CRUSH map and cluster flags, with
 * one epoch counter for all of it; its incrementals; and placement
 * (object -> PG -> ordered set of OSDs).
 *
 * The mon is the only writer. Each change is an incremental (struct
 * osdmap_inc): an ordered list of typed changes that turns epoch N into
 * N+1. The mon commits incrementals through Raft; OSDs and clients apply
 * them with osdmap_apply_incremental(), or replace their map with a full
 * one when they are too far behind. Apply is all-or-nothing: an
 * incremental that does not fit the map (wrong base epoch or fsid, unknown
 * OSD or pool, invalid value) is refused and leaves the map untouched.
 *
 * OSD state. An OSD slot 0..max_osd-1 either exists or not. An existing OSD
 * is up or down (is the daemon alive) and has an in-weight in 16.16 fixed
 * point: 0x10000 fully in, 0 out, values between reduce its share. Its
 * CRUSH weight (capacity) lives in the CRUSH map. Placement feeds CRUSH
 * the in-weights (0 for non-existent OSDs); down OSDs keep their CRUSH
 * placement but are removed from the up set, so their PGs run degraded
 * until the mon marks them out. up_from / up_thru / down_at and the last
 * clean interval are the epochs peering reasons about.
 *
 * Pools are kept sorted by id. Replicated pools hold `size` copies; erasure
 * pools have k data + m coding chunks with size == k + m, and their acting
 * sets keep positions (a missing chunk holder is OSD_NONE), while
 * replicated acting sets shift left.
 *
 * pg_temp. The up set of a PG is what CRUSH says now; its acting set (who
 * serves I/O) is normally the same. While a PG moves, the mon may pin a
 * temporary acting set (pg_temp), e.g. the old holders, so they keep
 * serving while the new up members are backfilled ("remapped"); the OSDs
 * ask for it to be cleared once the up set is clean. Entries are dropped
 * automatically when their pool is removed, when pg_num shrinks below
 * their seed, and when an OSD they name is removed.
 *
 * Encoding (osdmap_encode): u32 magic "NOSD", a versioned struct, u32
 * crc32c. Incrementals (osdmap_inc_encode): magic "NOSI", same framing.
 * Every count is bounded by a named maximum and by the bytes left; decoded
 * maps are validated as a whole before they are returned.
 */
#ifndef NORN_MAP_OSD_H
#define NORN_MAP_OSD_H

#include <stddef.h>
#include <stdint.h>
#include "common/encode.h"
#include "common/map_mon.h"

struct crush_map;

#define OSDMAP_MAX_OSD 65536
#define OSDMAP_MAX_POOLS 4096
#define OSDMAP_POOL_NAME_MAX 64          /* bytes including the NUL */
#define OSDMAP_APP_NAME_MAX 16           /* "s3", "vol", ... including the NUL */
#define OSDMAP_MAX_PG_NUM (1u << 20)     /* per pool */
#define OSDMAP_MAX_POOL_SIZE 16          /* replicas, or k + m */
#define OSDMAP_INC_MAX_CHANGES 65536
#define OSDMAP_MAX_PG_TEMP (1u << 18)     /* pg_temp entries in a map */
#define OSDMAP_CRUSH_BLOB_MAX (16u << 20)
#define OSDMAP_WEIGHT_IN 0x10000u        /* in-weight of a fully in OSD */
#define OSDMAP_CRUSH_WEIGHT_MAX (1000u << 16) /* CRUSH weight of one OSD (16.16) */
#define OSDMAP_MAGIC 0x44534f4eu         /* "NOSD" */
#define OSDMAP_INC_MAGIC 0x49534f4eu     /* "NOSI" */

/* An empty position in an acting set, or "no primary". */
#define OSD_NONE (-1)

/* Cluster flags (osdmap.flags). They are policy for the mon and the
 * daemons to honour; osdmap_apply_incremental() does not enforce them. */
#define OSDMAP_FLAG_NOUP        (1u << 0)  /* OSDs may not be marked up */
#define OSDMAP_FLAG_NODOWN      (1u << 1)  /* failure reports are ignored */
#define OSDMAP_FLAG_NOOUT       (1u << 2)  /* down OSDs are not marked out automatically */
#define OSDMAP_FLAG_NOIN        (1u << 3)  /* booting OSDs are not marked in */
#define OSDMAP_FLAG_NORECOVER   (1u << 4)  /* no log-based recovery */
#define OSDMAP_FLAG_NOBACKFILL  (1u << 5)  /* no backfill */
#define OSDMAP_FLAG_NOREBALANCE (1u << 6)  /* no backfill of merely misplaced PGs */
#define OSDMAP_FLAG_NOSCRUB     (1u << 7)
#define OSDMAP_FLAG_FULL        (1u << 8)  /* cluster full: writes refused */
#define OSDMAP_FLAG_PAUSERD     (1u << 9)  /* clients hold reads */
#define OSDMAP_FLAG_PAUSEWR     (1u << 10) /* clients hold writes */
#define OSDMAP_FLAG_ALL         ((1u << 11) - 1)

/* "noout" -> OSDMAP_FLAG_NOOUT ("pause" -> PAUSERD|PAUSEWR). Returns 0 and
 * sets *@flag, or -EINVAL. */
int osdmap_flag_parse(const char *name, uint32_t *flag);
/* Name of a single flag bit, or NULL. */
const char *osdmap_flag_name(uint32_t flag);
/* Comma-separated names of @flags into @buf ("" for none). Returns the
 * length or -ENOSPC. */
int osdmap_flags_format(uint32_t flags, char *buf, size_t cap);

struct osdmap_osd {
	uint8_t exists;
	uint8_t up;
	uint32_t weight;                 /* in-weight 16.16: 0x10000 in, 0 out */
	struct map_addr addr;            /* public address (valid while up) */
	char host[MAP_HOST_MAX];         /* host name, for display and failure domains */
	uint8_t uuid[MAP_UUID_LEN];      /* the OSD's store uuid, set at creation */
	uint64_t up_from;                /* epoch it last came up */
	uint64_t up_thru;                /* last epoch the mon recorded it alive for peering */
	uint64_t down_at;                /* epoch it last went down */
	uint64_t last_clean_begin;       /* last interval it was known clean */
	uint64_t last_clean_end;
};

enum osdmap_pool_type {
	POOL_TYPE_REPLICATED = 1,
	POOL_TYPE_ERASURE = 2,
};

/* Pool flags (osdmap_pool.flags). */
#define POOL_FLAG_FULL       (1u << 0)   /* quota reached: writes refused */
#define POOL_FLAG_NODELETE   (1u << 1)   /* pool rm refused */
#define POOL_FLAG_NOSIZECHANGE (1u << 2)
#define POOL_FLAG_NOPGCHANGE (1u << 3)
#define POOL_FLAG_ALL        ((1u << 4) - 1)

struct osdmap_pool {
	int64_t id;                      /* >= 0, never reused */
	char name[OSDMAP_POOL_NAME_MAX]; /* [A-Za-z0-9_.-]+, unique */
	uint8_t type;                    /* enum osdmap_pool_type */
	uint8_t size;                    /* replicas, or k + m */
	uint8_t min_size;                /* serve I/O with at least this many */
	uint8_t ec_k, ec_m;              /* erasure only (0 for replicated) */
	uint32_t ec_stripe_unit;         /* erasure chunk bytes per stripe (0 for replicated) */
	uint32_t pg_num;                 /* 1..OSDMAP_MAX_PG_NUM */
	uint32_t pgp_num;                /* 1..pg_num: PGs placed independently */
	int32_t crush_rule;              /* rule id in the CRUSH map */
	uint32_t flags;                  /* POOL_FLAG_* */
	uint64_t created_epoch;
	uint64_t quota_max_bytes;        /* 0 = none */
	uint64_t quota_max_objects;      /* 0 = none */
	char application[OSDMAP_APP_NAME_MAX]; /* "s3", "vol", "" */
	/* derived from pg_num / pgp_num by osdmap_pool_calc_masks() */
	uint32_t pg_num_mask;
	uint32_t pgp_num_mask;
};

/* Fill pg_num_mask / pgp_num_mask from pg_num / pgp_num. */
void osdmap_pool_calc_masks(struct osdmap_pool *p);
/* Check a pool definition on its own (names, type, sizes, pg counts, k/m).
 * Returns 0 or -EINVAL. Does not check the rule exists. */
int osdmap_pool_validate(const struct osdmap_pool *p);
/* A pool definition with defaults: replicated, size 3, min_size 2,
 * pg_num = pgp_num = @pg_num, rule 0, the given name (id unset). */
void osdmap_pool_defaults(struct osdmap_pool *p, const char *name, uint32_t pg_num);

/* A placement group: pool id and seed (0..pg_num-1). Text form is
 * "<pool decimal>.<seed lower-case hex>", e.g. "1.2f". */
struct pg_id {
	int64_t pool;
	uint32_t seed;
};
#define PGID_STR_MAX 32

/* A pinned acting set for one PG (see pg_temp above). */
struct osdmap_pg_temp {
	struct pg_id pg;
	uint32_t n;                      /* 1..pool size */
	int32_t osds[OSDMAP_MAX_POOL_SIZE]; /* existing OSDs; OSD_NONE allowed for EC */
};

/* The map. Owns osds[], pools[], pg_temp[] and crush: free with osdmap_free(). Not
 * thread-safe for writes; any number of threads may read a map nobody
 * modifies (placement functions take it const). */
struct osdmap {
	uint64_t epoch;
	uint8_t fsid[MAP_UUID_LEN];
	uint64_t created_ns;             /* wall clock, set by the mon */
	uint64_t modified_ns;
	uint32_t flags;                  /* OSDMAP_FLAG_* */
	uint32_t max_osd;                /* osds[] has this many slots */
	struct osdmap_osd *osds;
	uint32_t n_pools;                /* pools[] sorted by id */
	uint32_t cap_pools;
	struct osdmap_pool *pools;
	int64_t next_pool_id;
	uint32_t n_pg_temp;              /* pg_temp[] sorted by (pool, seed) */
	uint32_t cap_pg_temp;
	struct osdmap_pg_temp *pg_temp;
	struct crush_map *crush;         /* owned; NULL until the mon sets one */
};

/* Initialise an empty map (epoch 0, no OSDs, no pools, no CRUSH). */
void osdmap_init(struct osdmap *m);
/* Release everything @m owns and re-initialise it. */
void osdmap_free(struct osdmap *m);
/* Deep copy (including the CRUSH map). @dst is initialised; its old
 * contents are freed on success. Returns 0 or -ENOMEM (dst unchanged). */
int osdmap_copy(struct osdmap *dst, const struct osdmap *src);

/* Grow osds[] to @max_osd slots (new slots do not exist). Shrinking is
 * allowed only over non-existent OSDs. Returns 0, -EINVAL (> OSDMAP_MAX_OSD,
 * or shrinking over an existing OSD) or -ENOMEM. */
int osdmap_set_max_osd(struct osdmap *m, uint32_t max_osd);
/* Replace the CRUSH map (@m takes ownership of @crush, frees the old). */
void osdmap_set_crush(struct osdmap *m, struct crush_map *crush);

/* Accessors. osdmap_osd() returns NULL for ids out of range or not
 * existing. */
const struct osdmap_osd *osdmap_osd(const struct osdmap *m, int32_t id);
int osdmap_osd_exists(const struct osdmap *m, int32_t id);
int osdmap_osd_is_up(const struct osdmap *m, int32_t id);
int osdmap_osd_is_in(const struct osdmap *m, int32_t id);
/* Counts of existing / up / in OSDs. */
void osdmap_osd_counts(const struct osdmap *m, uint32_t *n_exist, uint32_t *n_up, uint32_t *n_in);
/* Pool by id or name; NULL if absent. Valid until the map is modified. */
const struct osdmap_pool *osdmap_pool(const struct osdmap *m, int64_t id);
const struct osdmap_pool *osdmap_pool_by_name(const struct osdmap *m, const char *name);

/* ---- full map encoding ------------------------------------------------- */

/* Append the encoding of @m to @e (includes the CRUSH map's own binary
 * encoding). Returns 0 or the encoder's / CRUSH encoder's error. */
int osdmap_encode(const struct osdmap *m, struct enc *e);
/* Decode exactly @len bytes into @m (initialised; old contents freed on
 * success). Validates the whole map: bounds, uniqueness and order of
 * pools, OSD fields, CRUSH blob (crush_decode), pool rules exist in it.
 * (CRUSH devices >= max_osd are allowed: placement treats them as out.)
 * Returns 0, NORN_ECORRUPT, NORN_ECRC,
 * NORN_EVERSION or -ENOMEM; on error @m is unchanged. */
int osdmap_decode(struct osdmap *m, const void *buf, size_t len);

/* ---- incrementals ------------------------------------------------------ */

enum osdmap_change_type {
	OSDMAP_CH_MAX_OSD = 1,     /* u32 = new max_osd */
	OSDMAP_CH_NEW_OSD,         /* osd, uuid, str = host; created down and out */
	OSDMAP_CH_RM_OSD,          /* osd; must be down */
	OSDMAP_CH_OSD_UP,          /* osd (must be down), addr; up_from = new epoch */
	OSDMAP_CH_OSD_DOWN,        /* osd (must be up); down_at = new epoch */
	OSDMAP_CH_OSD_WEIGHT,      /* osd, u32 = in-weight (0 out, 0x10000 in) */
	OSDMAP_CH_OSD_HOST,        /* osd, str = host */
	OSDMAP_CH_OSD_UP_THRU,     /* osd, u64 = up_thru (must not decrease, <= new epoch) */
	OSDMAP_CH_OSD_LAST_CLEAN,  /* osd, u64 = begin <= u64b = end <= new epoch */
	OSDMAP_CH_POOL_CREATE,     /* pool_def (its id must be next_pool_id) */
	OSDMAP_CH_POOL_RM,         /* pool */
	OSDMAP_CH_POOL_SET,        /* pool, u32 = enum osdmap_pool_field, u64 = value */
	OSDMAP_CH_POOL_RENAME,     /* pool, str = new name */
	OSDMAP_CH_POOL_APP,        /* pool, str = application tag */
	OSDMAP_CH_CRUSH,           /* blob = full CRUSH map (crush_encode) */
	OSDMAP_CH_FLAGS_SET,       /* u32 = flags to set */
	OSDMAP_CH_FLAGS_UNSET,     /* u32 = flags to clear */
	OSDMAP_CH_CRUSH_SET_OSD,   /* osd, str = host, u32 = CRUSH weight (16.16): see below */
	OSDMAP_CH_CRUSH_RM_OSD,    /* osd: remove the device from the CRUSH map */
	OSDMAP_CH_PG_TEMP,         /* pool, u32 = seed, n_osds + osds (n_osds 0: clear) */
	OSDMAP_CH_TYPE_MAX
};

/* Pool fields settable with OSDMAP_CH_POOL_SET. */
enum osdmap_pool_field {
	POOL_FIELD_SIZE = 1,
	POOL_FIELD_MIN_SIZE,
	POOL_FIELD_PG_NUM,
	POOL_FIELD_PGP_NUM,
	POOL_FIELD_CRUSH_RULE,
	POOL_FIELD_FLAGS,
	POOL_FIELD_QUOTA_MAX_BYTES,
	POOL_FIELD_QUOTA_MAX_OBJECTS,
	POOL_FIELD_MAX
};
/* "size", "min_size", "pg_num", "pgp_num", "crush_rule", "flags",
 * "quota_max_bytes", "quota_max_objects" <-> field. Parse returns 0 or
 * -EINVAL; name returns NULL for an unknown field. */
int osdmap_pool_field_parse(const char *name, enum osdmap_pool_field *out);
const char *osdmap_pool_field_name(enum osdmap_pool_field f);

/* One change. Only the members listed for its type are meaningful; the
 * others are zero. blob is owned by the change (freed with the inc). */
struct osdmap_change {
	uint8_t type;                    /* enum osdmap_change_type */
	int32_t osd;
	int64_t pool;
	uint32_t u32;
	uint64_t u64;
	uint64_t u64b;
	struct map_addr addr;
	uint8_t uuid[MAP_UUID_LEN];
	char str[MAP_HOST_MAX];          /* host, pool name or app (fits all) */
	struct osdmap_pool pool_def;
	uint32_t n_osds;                 /* PG_TEMP */
	int32_t osds[OSDMAP_MAX_POOL_SIZE];
	uint8_t *blob;
	size_t blob_len;
};

/* An incremental: epoch - 1 -> epoch. Owns its changes: free with
 * osdmap_inc_free(). */
struct osdmap_inc {
	uint64_t epoch;                  /* the epoch this produces */
	uint8_t fsid[MAP_UUID_LEN];
	uint64_t modified_ns;            /* becomes osdmap.modified_ns */
	uint32_t n;
	uint32_t cap;
	struct osdmap_change *ch;
};

/* Start an incremental producing @m->epoch + 1 for map @m (copies fsid). */
void osdmap_inc_init(struct osdmap_inc *inc, const struct osdmap *m, uint64_t modified_ns);
void osdmap_inc_free(struct osdmap_inc *inc);

/* Builders: append one change. All return 0, -ENOMEM, -E2BIG (more than
 * OSDMAP_INC_MAX_CHANGES) or -EINVAL (an argument that can never be valid,
 * e.g. a bad address or name); whether the change fits the map is checked
 * when it is applied. */
int osdmap_inc_max_osd(struct osdmap_inc *inc, uint32_t max_osd);
int osdmap_inc_new_osd(struct osdmap_inc *inc, int32_t osd, const uint8_t uuid[MAP_UUID_LEN],
                       const char *host);
int osdmap_inc_rm_osd(struct osdmap_inc *inc, int32_t osd);
int osdmap_inc_osd_up(struct osdmap_inc *inc, int32_t osd, const struct map_addr *addr);
int osdmap_inc_osd_down(struct osdmap_inc *inc, int32_t osd);
int osdmap_inc_osd_weight(struct osdmap_inc *inc, int32_t osd, uint32_t weight);
int osdmap_inc_osd_host(struct osdmap_inc *inc, int32_t osd, const char *host);
int osdmap_inc_osd_up_thru(struct osdmap_inc *inc, int32_t osd, uint64_t up_thru);
int osdmap_inc_osd_last_clean(struct osdmap_inc *inc, int32_t osd, uint64_t begin, uint64_t end);
/* @p->id must equal the map's next_pool_id at apply time. */
int osdmap_inc_pool_create(struct osdmap_inc *inc, const struct osdmap_pool *p);
int osdmap_inc_pool_rm(struct osdmap_inc *inc, int64_t pool);
int osdmap_inc_pool_set(struct osdmap_inc *inc, int64_t pool, enum osdmap_pool_field f, uint64_t v);
int osdmap_inc_pool_rename(struct osdmap_inc *inc, int64_t pool, const char *name);
int osdmap_inc_pool_app(struct osdmap_inc *inc, int64_t pool, const char *app);
/* Replace the CRUSH map with @crush (encoded with crush_encode here). */
int osdmap_inc_crush(struct osdmap_inc *inc, const struct crush_map *crush);
/* Same, with an already encoded CRUSH blob (copied). */
int osdmap_inc_crush_blob(struct osdmap_inc *inc, const void *blob, size_t len);
/* Simple CRUSH edits, so booting or retiring an OSD does not ship a whole
 * CRUSH map. SET_OSD puts device @osd (named "osd.<id>", created if
 * absent) under the bucket named @host of type "host", creating that host
 * under the root bucket "default" if needed, moving the device there if it
 * sits elsewhere, and sets its CRUSH weight (16.16, e.g. 0x10000 per TB).
 * Apply fails (-EINVAL) without a CRUSH map, a "host" type or a "default"
 * root, or if @host names something that is not a host bucket. RM_OSD
 * removes the device (-EINVAL if absent). */
int osdmap_inc_crush_set_osd(struct osdmap_inc *inc, int32_t osd, const char *host, uint32_t weight);
int osdmap_inc_crush_rm_osd(struct osdmap_inc *inc, int32_t osd);
/* Pin (n >= 1) or clear (n == 0) the acting set of PG (@pool, @seed).
 * Apply checks the pool and seed exist, n <= pool size, every entry is an
 * existing OSD (or OSD_NONE in an erasure pool, not all of them) and no
 * OSD appears twice; clearing an absent entry is an error. */
int osdmap_inc_pg_temp(struct osdmap_inc *inc, int64_t pool, uint32_t seed,
                       const int32_t *osds, uint32_t n);
int osdmap_inc_flags_set(struct osdmap_inc *inc, uint32_t flags);
int osdmap_inc_flags_unset(struct osdmap_inc *inc, uint32_t flags);

/* Append the encoding of @inc to @e. Returns 0 or the encoder's error. */
int osdmap_inc_encode(const struct osdmap_inc *inc, struct enc *e);
/* Decode exactly @len bytes into @inc (any old contents are freed).
 * Checks each change's own fields; fitting the map is apply's job.
 * Returns 0, NORN_ECORRUPT, NORN_ECRC, NORN_EVERSION or -ENOMEM; on error
 * @inc is empty. */
int osdmap_inc_decode(struct osdmap_inc *inc, const void *buf, size_t len);

/* Apply @inc to @m: all changes in order, then epoch = inc->epoch and
 * modified_ns = inc->modified_ns. Returns 0, or on any error leaves @m
 * exactly as it was and returns:
 *   NORN_ESTALE   inc->epoch != m->epoch + 1 (wrong base),
 *   -EINVAL       fsid mismatch, or a change that does not fit the map
 *                 (unknown/existing OSD or pool, duplicate pool name,
 *                 invalid value, CRUSH rule missing, ...),
 *   NORN_ECORRUPT a CRUSH blob that does not decode,
 *   -ENOMEM.
 * A map at epoch 0 with a zero fsid adopts the fsid of its first
 * incremental (bootstrap). */
int osdmap_apply_incremental(struct osdmap *m, const struct osdmap_inc *inc);

/* ---- placement --------------------------------------------------------- */

/* struct pg_id: see the placement section below. */

/* Format into @buf; returns the length or -ENOSPC. */
int pgid_format(const struct pg_id *pg, char *buf, size_t cap);
/* Parse "1.2f". Returns 0 or -EINVAL. */
int pgid_parse(const char *s, struct pg_id *out);
static inline int pgid_eq(const struct pg_id *a, const struct pg_id *b)
{
	return a->pool == b->pool && a->seed == b->seed;
}

/* The stable, well-mixed 32-bit hash of an object name (Bob Jenkins'
 * one-at-a-time with a final avalanche). Pinned by golden tests: changing
 * it moves every object in every cluster. */
uint32_t osdmap_str_hash(const void *name, size_t len);

/* Ceph's stable mod: maps @x into [0, b) such that growing b from one
 * power of two to the next moves only the objects of the PGs being split.
 * @bmask is (the next power of two >= b) - 1. Requires b >= 1 and
 * b <= bmask + 1 <= 2 * b. */
static inline uint32_t osdmap_stable_mod(uint32_t x, uint32_t b, uint32_t bmask)
{
	return (x & bmask) < b ? (x & bmask) : (x & (bmask >> 1));
}

/* Object name -> PG of @pool. */
struct pg_id osdmap_object_to_pg(const struct osdmap_pool *pool, const void *name, size_t len);

/* The CRUSH input for a PG: hash of (pool id, stable_mod(seed, pgp_num)). */
uint32_t osdmap_pg_pps(const struct osdmap_pool *pool, uint32_t seed);

/* The full mapping of a PG. */
struct osdmap_pg_mapping {
	uint32_t up_n;
	int32_t up[OSDMAP_MAX_POOL_SIZE];
	int32_t up_primary;
	uint32_t acting_n;
	int32_t acting[OSDMAP_MAX_POOL_SIZE];
	int32_t acting_primary;
};

/* Map PG (@pool, @pg_seed). The up set: CRUSH with the pool's rule,
 * x = osdmap_pg_pps(), the in-weight vector (0 for non-existent OSDs),
 * then OSDs that are down are removed: replicated pools shift the rest
 * left, erasure pools keep positions with OSD_NONE (up_n is then always
 * `size`). The acting set: the PG's pg_temp entry filtered the same way
 * if there is one and it keeps at least one up OSD, else the up set.
 * A primary is the first entry that is not OSD_NONE (OSD_NONE if none).
 * Thread-safe on a const map (allocates scratch). Returns 0, -ENOENT (no
 * such pool), -EINVAL (seed >= pg_num, no CRUSH map or rule), -ENOMEM. */
int osdmap_pg_mapping(const struct osdmap *m, int64_t pool, uint32_t pg_seed,
                      struct osdmap_pg_mapping *out);

/* Shortcut for clients: the acting set and acting primary of the PG (see
 * osdmap_pg_mapping; equal to the up set unless a pg_temp is pinned).
 * @up has room for OSDMAP_MAX_POOL_SIZE entries. Same returns. */
int osdmap_pg_to_up_acting(const struct osdmap *m, int64_t pool, uint32_t pg_seed,
                           int32_t up[OSDMAP_MAX_POOL_SIZE], uint32_t *up_n, int32_t *primary);

/* The pg_temp entry of a PG, or NULL. Valid until the map is modified. */
const struct osdmap_pg_temp *osdmap_pg_temp_get(const struct osdmap *m, int64_t pool, uint32_t seed);

/* The raw CRUSH result for the PG before removing down OSDs (ignoring the
 * up state but honouring in-weights): what peering compares across
 * intervals. Same returns as osdmap_pg_to_up_acting. */
int osdmap_pg_to_raw(const struct osdmap *m, int64_t pool, uint32_t pg_seed,
                     int32_t raw[OSDMAP_MAX_POOL_SIZE], uint32_t *raw_n);

/* Did PG (@pool, @seed) start a new peering interval between map @prev and
 * map @cur? True (1) if the pool exists in only one of them, or the PG's
 * up set, acting set, either primary, size, min_size, pg_num or pgp_num
 * differ, or the
 * PG cannot be mapped in one of them. 0 if the interval continues, or
 * -ENOMEM. */
int osdmap_pg_interval_changed(const struct osdmap *prev, const struct osdmap *cur, int64_t pool,
                               uint32_t seed);

/* Convenience: name -> PG -> acting set and primary, as above. */
int osdmap_object_locate(const struct osdmap *m, int64_t pool, const void *name, size_t len,
                         struct pg_id *pgid, int32_t osds[OSDMAP_MAX_POOL_SIZE],
                         uint32_t *n, int32_t *primary);

/* ---- dumping ----------------------------------------------------------- */

/* Append a JSON object describing @m (epoch, fsid, flags, osds, pools; not
 * the CRUSH map) to @out (a growing encoder used as a text buffer; no NUL
 * is appended). Returns 0 or the encoder's error. */
int osdmap_dump_json(const struct osdmap *m, struct enc *out);
/* Same, as human-readable text lines like `ceph osd dump`. */
int osdmap_dump_text(const struct osdmap *m, struct enc *out);

#endif
