/* The monitor's replicated state machine: what the Raft log builds.
 *
 * Every mon applies the same committed Raft entries, in the same order,
 * to a struct mon_state and so holds the same maps:
 *   - the monmap (names and addresses of the mons),
 *   - the osdmap (OSDs, pools, CRUSH, flags) with one epoch counter, plus
 *     the encoded incrementals of the last MON_STATE_HIST epochs so that
 *     subscribers slightly behind get incrementals and older ones a full
 *     map (the history is memory only: after a restart it refills),
 *   - the authmap (entities, secrets, caps, rotating service keys),
 *   - a small config-key store,
 *   - the set of OSDs the mon marked out automatically (so a reboot marks
 *     them back in, while an operator's `osd out` sticks).
 *
 * A NORMAL Raft entry is one JSON write command (mon_cmd.c):
 *     {"prefix": "pool create", "pool": "rbd", "pg_num": 64, ...,
 *      "_now_ns": 1700000000000000000}
 * The leader adds everything non-deterministic (time, fresh keys) before
 * proposing, so applying an entry is a pure function of (state, entry):
 * every mon reaches the same state, and validation happens at apply time
 * (a command that no longer fits, e.g. a pool name taken by a command
 * committed just before it, fails identically everywhere).
 *
 * Snapshot (Raft compaction) = mon_state_encode(): magic "NMST", a
 * versioned struct with the monmap, osdmap, authmap, config keys and
 * auto-out set, then a crc32c. The encoding holds secrets: it only
 * travels between mons (authenticated connections) and to the mon store.
 *
 * Threading: one thread (the mon's loop).
 */
#ifndef NORN_MON_STATE_H
#define NORN_MON_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "common/encode.h"
#include "common/map_auth.h"
#include "common/map_mon.h"
#include "common/map_osd.h"

#define MON_STATE_MAGIC 0x54534d4eu     /* "NMST" */
#define MON_STATE_HIST 500              /* incrementals kept for subscribers */
#define MON_KV_MAX 4096                 /* config-key entries */
#define MON_KV_KEY_MAX 256              /* bytes of a key including the NUL */
#define MON_KV_VAL_MAX 65536            /* bytes of a value */

struct mon_kv {
	char key[MON_KV_KEY_MAX];
	char *val;                      /* NUL-terminated, owned */
};

struct mon_state {
	struct monmap monmap;
	struct osdmap osdmap;
	struct authmap authmap;
	uint32_t n_kv;                  /* sorted by key */
	struct mon_kv *kv;
	uint32_t n_auto_out;
	int32_t *auto_out;              /* OSD ids marked out by the mon itself */
	/* incremental history: epochs hist_first .. hist_first + n_hist - 1 */
	uint64_t hist_first;
	uint32_t n_hist;
	uint8_t *hist[MON_STATE_HIST];  /* ring: epoch e at (e - hist_first + hist_head) % HIST */
	size_t hist_len[MON_STATE_HIST];
	uint32_t hist_head;
};

/* Result of applying or running one command. */
struct mon_result {
	int rc;                         /* 0 or negative errno / NORN_E* */
	char status[512];               /* human text ("pool 'rbd' created") */
	struct enc out;                 /* output (JSON or text), owned */
	int osdmap_changed;             /* apply only: a new osdmap epoch exists */
};

void mon_result_init(struct mon_result *r);
void mon_result_free(struct mon_result *r);
/* printf into r->status; returns @rc for "return mon_result_set(...)". */
int mon_result_set(struct mon_result *r, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void mon_state_init(struct mon_state *st);
void mon_state_free(struct mon_state *st);

/* The initial state of a new cluster, identical on every founding mon
 * given the same inputs: monmap @mm (epoch set to 1, @fsid), an osdmap at
 * epoch 1 with a CRUSH map holding root "default" and rule 0
 * "replicated_rule" (chooseleaf firstn 0 type host), and an authmap with
 * the @n entities/@keys given (client.* and mon.* get "mon 'allow *' osd
 * 'allow *'"). Returns 0, -EINVAL or -ENOMEM. */
int mon_state_genesis(struct mon_state *st, const uint8_t fsid[MAP_UUID_LEN],
                      const struct monmap *mm, uint32_t n, const char *const *entities,
                      const uint8_t (*keys)[AUTH_SECRET_LEN]);

/* Snapshot codec. Decode replaces @st (which must be initialised) only on
 * success. Returns 0, NORN_ECORRUPT, NORN_ECRC, NORN_EVERSION, -ENOMEM. */
int mon_state_encode(const struct mon_state *st, struct enc *e);
int mon_state_decode(struct mon_state *st, const void *buf, size_t len);

/* Apply one committed NORMAL entry (JSON write command, @len bytes).
 * Fills @res (rc, status, output). A malformed or refused command is a
 * result, never a crash; the state is unchanged when res->rc != 0. */
void mon_state_apply(struct mon_state *st, const void *json, size_t len,
                     struct mon_result *res);

/* Apply the context of a committed Raft CONF entry: the JSON command
 * "mon add" {name, addr, key} (adds the mon to the monmap and its key to
 * the authmap) or "mon rm" {name}. Bumps the monmap epoch. */
void mon_state_apply_conf(struct mon_state *st, const void *json, size_t len,
                          struct mon_result *res);

/* Run a read-only command against committed state (any mon). @json is the
 * parsed request (a json_t *, typed void to keep jansson out of this
 * header). Returns 1 if @prefix is a read command it handled (res filled),
 * 0 if it is not a read command of the state. */
int mon_state_read(const struct mon_state *st, const char *prefix, const void *json,
                   int want_json, struct mon_result *res);

/* Is @prefix a write command that goes through Raft? */
int mon_cmd_is_write(const char *prefix);
/* Internal commands (osd boot/down by the mon itself, key rotation) may
 * not come from the wire. */
int mon_cmd_is_internal(const char *prefix);

/* The leader's preparation of a write command before proposing: add
 * "_now_ns" and fresh random material ("key" for auth add / osd create
 * without one). @json is a json_t *. Returns 0 or -ENOMEM/NORN_EFAILED. */
int mon_cmd_prepare(void *json, uint64_t now_ns);

/* Encoded incremental producing @epoch, or NULL if not in the history. */
const uint8_t *mon_state_hist(const struct mon_state *st, uint64_t epoch, size_t *len_out);

/* Record the encoded incremental that produced the current epoch (called
 * by apply; exposed for tests). Takes ownership of @buf. */
void mon_state_hist_push(struct mon_state *st, uint64_t epoch, uint8_t *buf, size_t len);

/* Config keys. */
const char *mon_state_kv_get(const struct mon_state *st, const char *key);

#endif
