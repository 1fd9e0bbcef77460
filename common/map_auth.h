/* The authentication map (authmap) and capabilities (caps).
 *
 * The authmap holds every entity the cluster knows ("client.admin",
 * "osd.3", "mon.a", "client.s3"): its 32-byte shared secret and its caps.
 * It also holds the rotating service keys the mon uses to seal tickets
 * that OSDs verify without asking the mon: a short list of (id, secret,
 * expiry), newest last, so a ticket sealed with the previous key still
 * verifies until that key expires. The mon is the only writer.
 *
 * Caps are written the way Ceph users know them:
 *     mon 'allow r' osd 'allow rw pool=rbd, allow r pool=backups'
 * i.e. a list of (service, quoted spec) pairs; a spec is a comma-separated
 * list of grants "allow PERMS [pool=NAME | pool_id=N]" where PERMS is any
 * combination of r, w, x, or '*' (= rwx). A grant without a pool applies to
 * every pool. auth_caps_parse() turns the text into struct auth_caps and
 * auth_caps_allow() answers "may this entity do that".
 *
 * Encoding (authmap_encode): u32 magic "NAUT", a versioned struct with the
 * entities in ascending name order, then a crc32c. The encoding contains
 * secrets: keep it off logs and out of unauthenticated replies.
 */
#ifndef NORN_MAP_AUTH_H
#define NORN_MAP_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "common/encode.h"

#define AUTH_ENTITY_NAME_MAX 64      /* bytes including the NUL */
#define AUTH_SECRET_LEN 32
#define AUTH_CAPS_STR_MAX 1024       /* bytes of a caps string including the NUL */
#define AUTH_CAPS_MAX_GRANTS 16      /* grants per service */
#define AUTH_POOL_NAME_MAX 64        /* same as OSDMAP_POOL_NAME_MAX */
#define AUTHMAP_MAX_ENTITIES 65536
#define AUTH_ROTATING_KEYS 3         /* previous, current, next */
#define AUTHMAP_MAGIC 0x5455414eu    /* "NAUT" little-endian */

/* Permission bits. */
#define AUTH_CAP_R 0x1u
#define AUTH_CAP_W 0x2u
#define AUTH_CAP_X 0x4u              /* admin commands / class methods */
#define AUTH_CAP_ALL (AUTH_CAP_R | AUTH_CAP_W | AUTH_CAP_X)

enum auth_service {
	AUTH_SVC_MON = 0,
	AUTH_SVC_OSD = 1,
	AUTH_SVC_COUNT
};

/* One "allow PERMS [pool=...]" grant. */
struct auth_cap_grant {
	uint8_t perms;                   /* AUTH_CAP_* bits */
	uint8_t pool_kind;               /* 0: any pool, 1: by name, 2: by id */
	int64_t pool_id;                 /* pool_kind == 2 */
	char pool[AUTH_POOL_NAME_MAX];   /* pool_kind == 1 */
};

/* Parsed caps: per service a list of grants. A plain value type. */
struct auth_caps {
	uint32_t n[AUTH_SVC_COUNT];
	struct auth_cap_grant grants[AUTH_SVC_COUNT][AUTH_CAPS_MAX_GRANTS];
};

/* Parse a caps string (syntax above; "" means no caps at all). Quotes may
 * be single or double; whitespace is free between tokens. Unknown
 * services ("mgr") are refused so a typo never silently grants nothing.
 * Returns 0 or -EINVAL; @out is zeroed on error. */
int auth_caps_parse(const char *s, struct auth_caps *out);

/* May an entity with @caps perform an operation needing @want (AUTH_CAP_*
 * bits) on @svc, in pool @pool_id named @pool_name? Pass pool_id < 0 and
 * pool_name NULL for operations not tied to a pool (mon commands): then
 * only grants without a pool restriction count. The permissions of all
 * matching grants are combined. Returns 1 if allowed, 0 if not. */
int auth_caps_allow(const struct auth_caps *caps, enum auth_service svc,
                    int64_t pool_id, const char *pool_name, unsigned want);

struct auth_entity {
	char name[AUTH_ENTITY_NAME_MAX];  /* "type.id" */
	uint8_t secret[AUTH_SECRET_LEN];
	char caps_str[AUTH_CAPS_STR_MAX]; /* as given (validated) */
	struct auth_caps caps;            /* parsed from caps_str */
};

struct auth_service_key {
	uint64_t id;                      /* increases by one per rotation */
	uint8_t secret[AUTH_SECRET_LEN];
	uint64_t expires_ns;              /* wall clock */
};

/* Owns its entity array: authmap_free() releases it. Entities are kept
 * sorted by name. */
struct authmap {
	uint64_t epoch;
	uint32_t n_entities;
	uint32_t cap_entities;
	struct auth_entity *entities;
	uint32_t n_keys;                  /* rotating keys, oldest first */
	struct auth_service_key keys[AUTH_ROTATING_KEYS];
};

void authmap_init(struct authmap *m);
void authmap_free(struct authmap *m);
/* Deep copy @src into @dst (which must be initialised; its old contents are
 * freed). Returns 0 or -ENOMEM (dst then unchanged). */
int authmap_copy(struct authmap *dst, const struct authmap *src);

/* Entity names: "type.id" with type one of client, osd, mon and id
 * [A-Za-z0-9_.-]+. Returns non-zero if valid. */
int auth_entity_name_valid(const char *name);

/* Add an entity, or replace the secret and caps of an existing one.
 * Returns 0, -EINVAL (bad name or caps), -E2BIG (AUTHMAP_MAX_ENTITIES) or
 * -ENOMEM. The map is unchanged on error. Does not bump the epoch. */
int authmap_set(struct authmap *m, const char *name, const uint8_t secret[AUTH_SECRET_LEN],
                const char *caps);
/* Replace the caps of an existing entity. 0, -ENOENT or -EINVAL. */
int authmap_set_caps(struct authmap *m, const char *name, const char *caps);
/* Remove an entity. 0 or -ENOENT. */
int authmap_rm(struct authmap *m, const char *name);
/* Lookup; NULL if absent. Valid until the map is next modified. */
const struct auth_entity *authmap_find(const struct authmap *m, const char *name);

/* Add a rotating service key with id (newest id + 1, or 1), the given
 * secret and expiry; the oldest key is dropped when AUTH_ROTATING_KEYS are
 * held. Returns the new key's id. */
uint64_t authmap_rotate(struct authmap *m, const uint8_t secret[AUTH_SECRET_LEN],
                        uint64_t expires_ns);
/* The key with @id, or NULL. */
const struct auth_service_key *authmap_key(const struct authmap *m, uint64_t id);
/* The newest key, or NULL if none. */
const struct auth_service_key *authmap_current_key(const struct authmap *m);

/* Append the encoding to @e. Returns 0 or the encoder's error. */
int authmap_encode(const struct authmap *m, struct enc *e);
/* Decode exactly @len bytes into @m (initialised; old contents freed).
 * Returns 0, NORN_ECORRUPT, NORN_ECRC, NORN_EVERSION or -ENOMEM; on error
 * @m is empty. */
int authmap_decode(struct authmap *m, const void *buf, size_t len);

/* Append a JSON object {epoch, entities: [{entity, caps[, key]}],
 * rotating_key_ids} to @out (a growing encoder used as a text buffer; no
 * NUL). Secrets (as 64 lower-case hex digits) only if @with_secrets; the
 * rotating keys' secrets never. Returns 0 or the encoder's error. */
int authmap_dump_json(const struct authmap *m, int with_secrets, struct enc *out);

#endif
