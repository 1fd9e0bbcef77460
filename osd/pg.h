/* Placement-group bookkeeping that does not touch the network or the disk:
 * versions, the PG log, its duplicate index, the PG info, and their
 * encodings as they are stored in the collection metadata (cmeta) of the
 * PG's collection and carried in OSD<->OSD messages.
 *
 * Versions. Every write to a PG gets a version (epoch, v): the primary's
 * osdmap epoch at the time and a counter that grows by one per write
 * across the life of the PG (v never repeats, whatever the epoch). The
 * pair orders all writes of a PG; comparing (epoch, v) lexicographically is
 * what peering uses to pick the newest log.
 *
 * The PG log keeps the last `max` entries (osd_pg_log_max): version, the
 * previous version of the PG, the client's request id and result, the
 * object, and what happened to it (modify or delete). It is the dup index
 * too: a resent request finds its entry by reqid and gets the original
 * result without being applied again, so the dup window is exactly the log
 * window. Entries live in cmeta under "log.<epoch hex16>.<v hex16>" (byte
 * order = version order), the info under "info".
 *
 * Everything here is single-threaded plain data; callers own the structs.
 */
#ifndef NORN_OSD_PG_H
#define NORN_OSD_PG_H

#include <stddef.h>
#include <stdint.h>

#include "common/encode.h"
#include "common/proto_osd.h"
#include "osd/store/store.h"

#define PG_LOG_MAX_ENTRIES 100000u     /* hard cap on osd_pg_log_max */
#define PG_CMETA_INFO "info"
#define PG_CMETA_LOG_PREFIX "log."
#define PG_LOG_KEY_LEN 37              /* "log." + 16 + "." + 16 */
#define PG_DUP_HASH_BITS 10

struct pg_eversion {
	uint64_t epoch;
	uint64_t v;
};

/* -1, 0, 1 like memcmp, (epoch, v) lexicographically. */
int pg_ev_cmp(const struct pg_eversion *a, const struct pg_eversion *b);

enum pg_log_op {
	PG_LOG_MODIFY = 1,
	PG_LOG_DELETE = 2,
};

struct pg_log_entry {
	struct pg_eversion ver;
	struct pg_eversion prior;          /* the PG's last_update before this entry */
	struct osd_reqid reqid;
	uint8_t op;                        /* enum pg_log_op */
	int32_t result;                    /* what the client was told */
	char oid[STORE_OID_MAX + 1];
};

/* Encode/decode one entry (versioned struct). Decode returns 0,
 * NORN_ECORRUPT (short, bad op, oid too long) or NORN_EVERSION. */
void pg_log_entry_encode(struct enc *e, const struct pg_log_entry *le);
int pg_log_entry_decode(struct dec *d, struct pg_log_entry *le);

/* The cmeta key of a version ("log.%016x.%016x"), into @buf
 * (PG_LOG_KEY_LEN + 1 bytes). Returns PG_LOG_KEY_LEN. */
int pg_log_key(char *buf, const struct pg_eversion *v);

/* The persistent PG info. */
struct pg_info {
	struct pg_eversion last_update;    /* newest entry applied */
	struct pg_eversion last_complete;  /* everything up to here is present locally */
	struct pg_eversion log_tail;       /* entries after this are in the log */
	uint64_t last_epoch_started;       /* last interval this PG went active in */
	uint64_t same_interval_since;      /* epoch the current interval began (as known) */
	/* 1 from the first recovery object (push) this copy takes until it
	 * takes the authority's log: the objects are then a partial mix and
	 * this copy must never be the authority (v2 field; v1 infos read 0).
	 * Likewise last_complete < last_update: writes arrived on top of a
	 * gap that recovery has not filled yet. */
	uint8_t incomplete;
};
/* 1 if @i describes a complete copy (a valid peering authority). */
int pg_info_complete(const struct pg_info *i);
void pg_info_encode(struct enc *e, const struct pg_info *i);
int pg_info_decode(const void *buf, size_t len, struct pg_info *i);

/* The in-memory log: a ring of at most @max entries, oldest first, with a
 * hash over reqids for duplicate lookups. The ring grows on demand (an
 * idle PG costs a few KiB, a busy one up to @max entries). */
struct pg_log {
	struct pg_log_entry *ring;
	uint32_t cap;                      /* most entries kept (osd_pg_log_max) */
	uint32_t alloc;                    /* ring slots allocated (grows to cap) */
	uint32_t head;                     /* index of the oldest entry */
	uint32_t n;
	int32_t *hash;                     /* bucket -> ring index of newest, -1 */
	int32_t *next;                     /* ring index -> next older in bucket, -1 */
	struct pg_eversion tail;           /* version just before the oldest kept entry */
};

/* Initialise with room for @max (1..PG_LOG_MAX_ENTRIES) entries. Returns 0,
 * -EINVAL or -ENOMEM. */
int pg_log_init(struct pg_log *l, uint32_t max);
void pg_log_free(struct pg_log *l);

/* Append @le, which must be newer than the newest entry (asserted). When
 * the log is full the oldest entry is dropped first: if @trimmed is not
 * NULL it receives that entry's version and 1 is returned (the caller
 * deletes its cmeta key in the same transaction), else 0. */
int pg_log_append(struct pg_log *l, const struct pg_log_entry *le, struct pg_eversion *trimmed);

/* The newest entry with this reqid, or NULL. Valid until the next append. */
const struct pg_log_entry *pg_log_find_reqid(const struct pg_log *l, const struct osd_reqid *r);
/* Entry @i (0 = oldest) or NULL. */
const struct pg_log_entry *pg_log_at(const struct pg_log *l, uint32_t i);
/* Newest version in the log, or the tail when empty. */
struct pg_eversion pg_log_head(const struct pg_log *l);

/* 1 if two reqids are the same request. */
int pg_reqid_eq(const struct osd_reqid *a, const struct osd_reqid *b);

#endif
