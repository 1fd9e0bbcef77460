/* Client <-> OSD operation messages: the wire contract between libnorn and
 * norn-osd.
 *
 * A client sends one OSD_OP message per object operation to the primary
 * of the object's placement group. The message names the PG the client
 * computed (so an OSD whose map disagrees can say so), the object, a
 * request id that is unique per client instance (entity + random
 * incarnation + tid: the OSD's duplicate detection key, so a resend after a
 * reconnect or an interval change is applied once), and an ordered list of
 * steps applied atomically (write steps) or in order (read steps).
 *
 * Replies carry the overall result, the object's version after the op,
 * and per-step results and output data. A reply with result NORN_ESTALE
 * tells the client its map is older than the OSD's (or the OSD is not the
 * primary in the current interval): the client fetches a map of at least
 * reply.epoch and resends to the right primary with the same reqid.
 *
 * Decoding is zero-copy: data pointers in decoded structs point into the
 * message payload and are valid only as long as that buffer.
 */
#ifndef NORN_PROTO_OSD_H
#define NORN_PROTO_OSD_H

#include <stddef.h>
#include <stdint.h>
#include "common/encode.h"
#include "common/msg.h"

/* Message types (msg.h ranges). */
#define MSG_T_OSD_OP         (MSG_T_CLIENT_MIN + 0)   /* client -> OSD */
#define MSG_T_OSD_OP_REPLY   (MSG_T_CLIENT_MIN + 1)   /* OSD -> client */

#define OSD_OP_MAX_STEPS 64
#define OSD_OP_NAME_MAX 1024        /* object names, omap keys, xattr names */
#define OSD_OP_ENTITY_MAX 64
#define OSD_OP_MAX_SNAPS 1024

enum osd_op_code {
	/* reads */
	OSD_OP_READ = 1,            /* off, len -> data */
	OSD_OP_STAT = 2,            /* -> u64 size, u64 mtime_ns */
	OSD_OP_GETXATTR = 3,        /* name -> value */
	OSD_OP_GETXATTRS = 4,       /* -> kv list */
	OSD_OP_OMAP_GET_VALS = 5,   /* name = start_after, name2 = prefix, max -> kv list + u8 more */
	OSD_OP_OMAP_GET_BY_KEYS = 6,/* data = key list -> kv list */
	OSD_OP_PG_LIST = 7,         /* PG-wide: name = start_after, max -> name list + u8 more */
	OSD_OP_ASSERT_EXISTS = 8,   /* -ENOENT unless the object exists */
	OSD_OP_CMPXATTR = 9,        /* name, data: -ECANCELED unless equal */
	OSD_OP_OMAP_CMP = 10,       /* name = omap key, data: -ECANCELED unless the value
	                             * equals data (a missing key or object equals "") */
	/* writes */
	OSD_OP_CREATE = 20,         /* flags & OSD_OP_F_EXCL: -EEXIST if it exists */
	OSD_OP_WRITE = 21,          /* off, data */
	OSD_OP_WRITE_FULL = 22,     /* data */
	OSD_OP_APPEND = 23,         /* data */
	OSD_OP_TRUNCATE = 24,       /* off = new size */
	OSD_OP_ZERO = 25,           /* off, len */
	OSD_OP_DELETE = 26,
	OSD_OP_SETXATTR = 27,       /* name, data */
	OSD_OP_RMXATTR = 28,        /* name */
	OSD_OP_OMAP_SET = 29,       /* data = kv list */
	OSD_OP_OMAP_RM_KEYS = 30,   /* data = key list */
	OSD_OP_OMAP_CLEAR = 31,
	OSD_OP_ROLLBACK = 32,       /* snapid: restore the object as of a snapshot */
};

/* Returns non-zero for steps that modify the object. */
int osd_op_is_write(uint16_t code);
/* Returns the step's name ("write", "read", ...) or "unknown". */
const char *osd_op_name(uint16_t code);

#define OSD_OP_F_EXCL 0x1           /* CREATE: exclusive */

/* Message-level flags. */
#define OSD_OPF_WRITE     0x1       /* has write steps */
#define OSD_OPF_READ      0x2       /* has read steps */
#define OSD_OPF_RETRY     0x4       /* a resend of an earlier attempt */
#define OSD_OPF_PG_OP     0x8       /* addressed to the PG, not one object (PG_LIST) */

struct osd_op_step {
	uint16_t code;
	uint16_t flags;
	uint64_t off;
	uint64_t len;
	uint32_t max;               /* OMAP_GET_VALS / PG_LIST page size */
	const char *name;           /* not NUL-terminated: name_len bytes */
	size_t name_len;
	const char *name2;
	size_t name2_len;
	const uint8_t *data;
	size_t data_len;
};

struct osd_reqid {
	char entity[OSD_OP_ENTITY_MAX];  /* "client.admin" */
	uint64_t inc;                    /* random per client instance */
	uint64_t tid;
};

struct osd_op_msg {
	uint64_t epoch;             /* the client's osdmap epoch */
	int64_t pool;
	uint32_t pg_seed;           /* the PG the client computed */
	const char *oid;            /* oid_len bytes, not NUL-terminated */
	size_t oid_len;
	struct osd_reqid reqid;
	uint32_t flags;             /* OSD_OPF_* */
	uint64_t snap_seq;          /* write snap context: newest snapshot id */
	uint32_t n_snaps;           /* write snap context: existing snapshots, newest first */
	const uint8_t *snaps;       /* n_snaps little-endian u64s (inside the payload) */
	uint64_t read_snap;         /* read as of this snapshot (0: head) */
	uint32_t n_steps;
	struct osd_op_step steps[OSD_OP_MAX_STEPS];
};

/* Encode @m (n_steps <= OSD_OP_MAX_STEPS) into @e, copying all step
 * data. Returns enc_error(). */
int osd_op_encode(struct enc *e, const struct osd_op_msg *m);

/* Like osd_op_encode() but the bytes of the last step's data are not
 * copied: they are the last bytes of the message, so the caller sends
 * [e->buf, e->len] followed by *@tail (*@tail_len bytes) as a second iovec.
 * This keeps a 4 MiB write from being copied into the send queue. */
int osd_op_encode_split(struct enc *e, const struct osd_op_msg *m,
                        const uint8_t **tail, size_t *tail_len);

/* Decode an OSD_OP payload into @m (zero-copy: pointers into @buf).
 * Returns 0, or NORN_ECORRUPT (truncated, counts or lengths out of bounds,
 * unknown step code) or NORN_EVERSION. */
int osd_op_decode(struct osd_op_msg *m, const void *buf, size_t len);

/* Per-step reply. */
struct osd_op_step_reply {
	int32_t rval;
	const uint8_t *out;         /* decoded: points into the payload */
	size_t out_len;
};

struct osd_op_reply {
	int32_t result;             /* 0, or the first failing step's error */
	uint64_t epoch;             /* the OSD's osdmap epoch */
	uint64_t version;           /* object version after the op (PG log version) */
	struct osd_reqid reqid;
	uint32_t n_steps;
	struct osd_op_step_reply steps[OSD_OP_MAX_STEPS];
};

int osd_op_reply_encode(struct enc *e, const struct osd_op_reply *r);
int osd_op_reply_decode(struct osd_op_reply *r, const void *buf, size_t len);

/* Helpers for the kv and key lists carried in step data and replies:
 * u32 count, then (blob key, blob value) pairs / blob keys. */
void osd_kv_list_begin(struct enc *e, uint32_t n);
void osd_kv_list_add(struct enc *e, const void *key, size_t klen, const void *val, size_t vlen);
/* Iterate: returns 1 and fills the pointers for the next pair, 0 at the
 * end, or a negative error (the decoder's) for malformed input. */
int osd_kv_list_next(struct dec *d, uint32_t *left, const void **key, size_t *klen,
                     const void **val, size_t *vlen);

#endif
