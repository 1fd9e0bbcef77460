/* OSD <-> OSD messages (type range MSG_T_OSD_MIN .. +99).
 *
 *   REPOP        primary -> replica: one replicated write of a PG. It
 *                carries the PG log entry (version, prior version, reqid,
 *                object, result) and the resolved write steps (an encoded
 *                OSD_OP message whose steps are already made
 *                position-independent by the primary: an append becomes a
 *                write at the object's old size, a create a touch). The
 *                replica applies them with the log entry in ONE store
 *                transaction, in version order, and answers REPOP_REPLY
 *                once that transaction is durable.
 *   REPOP_REPLY  replica -> primary: (pg, version, result).
 *   PING         heartbeat between OSDs sharing PGs, answered with
 *                PING_REPLY carrying the same stamp.
 *
 * All decoders validate every length and count against the bytes present
 * and return 0, NORN_ECORRUPT or NORN_EVERSION; decoded pointers point into
 * the payload.
 */
#ifndef NORN_OSD_PROTO_OSDOSD_H
#define NORN_OSD_PROTO_OSDOSD_H

#include <stddef.h>
#include <stdint.h>

#include "common/encode.h"
#include "common/msg.h"
#include "osd/pg.h"

#define MSG_T_OSD_REPOP        (MSG_T_OSD_MIN + 0)
#define MSG_T_OSD_REPOP_REPLY  (MSG_T_OSD_MIN + 1)
#define MSG_T_OSD_PING         (MSG_T_OSD_MIN + 2)
#define MSG_T_OSD_PING_REPLY   (MSG_T_OSD_MIN + 3)

struct osd_repop {
	int64_t pool;
	uint32_t seed;
	uint64_t epoch;                    /* primary's map epoch */
	struct pg_log_entry entry;
	const uint8_t *ops;                /* encoded struct osd_op_msg (resolved steps) */
	size_t ops_len;
};
int osd_repop_encode(struct enc *e, const struct osd_repop *r);
/* Like osd_repop_encode(), but the ops blob continues with @tail_len more
 * bytes that are not copied: the message is [e->buf, e->len] followed by
 * those bytes (the tail of osd_op_encode_split), sent as a second iovec,
 * so a 4 MiB write is not copied into the REPOP. */
int osd_repop_encode_split(struct enc *e, const struct osd_repop *r, size_t tail_len);
int osd_repop_decode(struct osd_repop *r, const void *buf, size_t len);

struct osd_repop_reply {
	int64_t pool;
	uint32_t seed;
	struct pg_eversion ver;
	int32_t result;
};
int osd_repop_reply_encode(struct enc *e, const struct osd_repop_reply *r);
int osd_repop_reply_decode(struct osd_repop_reply *r, const void *buf, size_t len);

struct osd_ping {
	int32_t from;
	uint64_t epoch;
	uint64_t stamp_ns;
};
int osd_ping_encode(struct enc *e, const struct osd_ping *p);
int osd_ping_decode(struct osd_ping *p, const void *buf, size_t len);

#endif

/* ---- peering and recovery (primary-driven) ----------------------------------
 *
 *   PG_QUERY       primary -> member: send me your info, log and object list
 *   PG_NOTIFY      member -> primary: info + log entries + object names
 *   PG_PULL        primary -> holder: send me object OID
 *   PG_PUSH        holder -> primary (answer to a pull) or primary ->
 *                  replica (recovery): the whole object (data, xattrs,
 *                  omap) or "does not exist"; a push to a replica is
 *                  answered with PG_PUSH_ACK once durable. A large object
 *                  goes to a replica in pieces (version 2: off, size):
 *                  the first piece (off 0) replaces the object and
 *                  carries xattrs and omap, each later one writes its
 *                  range; each is acknowledged (PG_PUSH_ACK with off =
 *                  the end of the piece) and the next one is sent only
 *                  after that, so a piece never lands without the ones
 *                  before it (osd/peering.c)
 *   PG_LOGSYNC     primary -> member after its objects are recovered: the
 *                  authoritative log and info; the member replaces its
 *                  log with it and answers PG_LOGSYNC_ACK once durable
 */
#ifndef NORN_OSD_PROTO_OSDOSD_PEERING
#define NORN_OSD_PROTO_OSDOSD_PEERING
#define MSG_T_OSD_PG_QUERY        (MSG_T_OSD_MIN + 10)
#define MSG_T_OSD_PG_NOTIFY       (MSG_T_OSD_MIN + 11)
#define MSG_T_OSD_PG_PULL         (MSG_T_OSD_MIN + 12)
#define MSG_T_OSD_PG_PUSH         (MSG_T_OSD_MIN + 13)
#define MSG_T_OSD_PG_PUSH_ACK     (MSG_T_OSD_MIN + 14)
#define MSG_T_OSD_PG_LOGSYNC      (MSG_T_OSD_MIN + 15)
#define MSG_T_OSD_PG_LOGSYNC_ACK  (MSG_T_OSD_MIN + 16)
/* Stray copies (osd/stray.c):
 *   PG_STRAY   holder -> primary: I hold a copy of this PG but am in
 *              neither its up nor its acting set (struct osd_pg_notify
 *              with the holder's info, no entries, no objects)
 *   PG_REMOVE  primary -> holder: the PG is active+clean on its acting
 *              set at `epoch` and has everything you have: delete your
 *              copy (struct osd_pg_msg) */
#define MSG_T_OSD_PG_STRAY        (MSG_T_OSD_MIN + 17)
#define MSG_T_OSD_PG_REMOVE       (MSG_T_OSD_MIN + 18)

#define OSD_NOTIFY_MAX_OBJECTS (1u << 20)
#define OSD_PUSH_MAX_OBJECT_BYTES (1ull << 40)   /* sanity bound on a pushed object's size */

/* QUERY, PULL, PUSH_ACK and LOGSYNC_ACK share one small struct. */
struct osd_pg_msg {
	int64_t pool;
	uint32_t seed;
	uint64_t epoch;                    /* the peering epoch this belongs to */
	int32_t result;
	const char *oid;                   /* PULL / PUSH_ACK (oid_len bytes) */
	size_t oid_len;
	uint64_t off;                      /* v2, PUSH_ACK: end of the piece applied
	                                    * (0 from older senders: a whole object) */
};
int osd_pg_msg_encode(struct enc *e, const struct osd_pg_msg *m);
int osd_pg_msg_decode(struct osd_pg_msg *m, const void *buf, size_t len);

/* NOTIFY and LOGSYNC: info, entries (malloc'd on decode: free with
 * osd_pg_notify_free) and, for NOTIFY, object names (pointers into the
 * payload, not NUL-terminated). */
struct osd_pg_notify {
	int64_t pool;
	uint32_t seed;
	uint64_t epoch;
	struct pg_info info;
	uint32_t n_entries;
	struct pg_log_entry *entries;
	uint32_t n_objs;
	const char **objs;
	size_t *obj_lens;
};
int osd_pg_notify_encode(struct enc *e, const struct osd_pg_notify *n);
int osd_pg_notify_decode(struct osd_pg_notify *n, const void *buf, size_t len);
void osd_pg_notify_free(struct osd_pg_notify *n);

struct osd_pg_push {
	int64_t pool;
	uint32_t seed;
	uint64_t epoch;
	const char *oid;
	size_t oid_len;
	uint8_t exists;
	const uint8_t *data;               /* [off, off + data_len) of the object */
	size_t data_len;
	const uint8_t *xattrs;             /* kv list (osd_kv_list_*) of raw store xattrs */
	size_t xattrs_len;
	const uint8_t *omap;               /* kv list */
	size_t omap_len;
	uint64_t off;                      /* v2: where data goes (0 = first piece) */
	uint64_t size;                     /* v2: the object's size (v1: data_len) */
};
/* A whole object (off 0, size == data_len) is encoded as version 1, a
 * piece as version 2 (compat 2). The decoder checks that the piece lies
 * inside the object, that only the first piece carries xattrs or omap,
 * that a later piece has data and that an absent object carries nothing. */
int osd_pg_push_encode(struct enc *e, const struct osd_pg_push *p);
/* Like osd_pg_push_encode(), but p->data is not copied: the message is
 * [e->buf, e->len] followed by the p->data_len bytes of p->data (send them
 * as a second iovec). */
int osd_pg_push_encode_split(struct enc *e, const struct osd_pg_push *p);
int osd_pg_push_decode(struct osd_pg_push *p, const void *buf, size_t len);
#endif
