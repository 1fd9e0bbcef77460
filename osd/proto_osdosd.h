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
