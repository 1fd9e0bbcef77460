/* Messages to and from the monitors: the wire contract between norn-mon
 * and its clients (norn-osd, libnorn, the CLI).
 *
 *   COMMAND / COMMAND_REPLY   admin commands as JSON ({"prefix": "osd tree", ...});
 *                             any mon accepts them; peons forward writes
 *                             to the leader and relay the reply.
 *   SUBSCRIBE                 "send me maps newer than epoch E, and every
 *                             new one after": the mon answers with an
 *                             OSDMAP message (incrementals, or a full map
 *                             when E is too old) and keeps pushing.
 *   OSDMAP / MONMAP           map deliveries.
 *   GET_TICKET / TICKET       a ticket for the OSD service (see auth.h):
 *                             the session key travels encrypted with the
 *                             requester's own secret.
 *   OSD_BOOT                  an OSD reports up with its address.
 *   OSD_BEACON                periodic liveness + usage + PG stats from an OSD.
 *   OSD_FAILURE               an OSD reports a silent peer (or its recovery).
 *   RAFT                      Raft traffic between mons (mon/raft.h encoding).
 */
#ifndef NORN_PROTO_MON_H
#define NORN_PROTO_MON_H

#include <stddef.h>
#include <stdint.h>
#include "common/encode.h"
#include "common/msg.h"
#include "common/map_mon.h"

#define MSG_T_MON_COMMAND        (MSG_T_MON_MIN + 0)
#define MSG_T_MON_COMMAND_REPLY  (MSG_T_MON_MIN + 1)
#define MSG_T_MON_SUBSCRIBE      (MSG_T_MON_MIN + 2)
#define MSG_T_MON_OSDMAP         (MSG_T_MON_MIN + 3)
#define MSG_T_MON_MONMAP         (MSG_T_MON_MIN + 4)
#define MSG_T_MON_GET_TICKET     (MSG_T_MON_MIN + 5)
#define MSG_T_MON_TICKET         (MSG_T_MON_MIN + 6)
#define MSG_T_MON_OSD_BOOT       (MSG_T_MON_MIN + 7)
#define MSG_T_MON_OSD_BEACON     (MSG_T_MON_MIN + 8)
#define MSG_T_MON_OSD_FAILURE    (MSG_T_MON_MIN + 9)
#define MSG_T_MON_RAFT           (MSG_T_MON_MIN + 10)

#define MON_CMD_MAX_BYTES (1u << 20)
#define MON_MAX_INCS_PER_MSG 256
#define MON_MAX_PG_STATS (1u << 20)

/* ---- commands ---------------------------------------------------------- */

struct mon_command {
	const char *json;           /* json_len bytes (not NUL-terminated when decoded) */
	size_t json_len;
};
int mon_command_encode(struct enc *e, const struct mon_command *c);
int mon_command_decode(struct mon_command *c, const void *buf, size_t len);

struct mon_command_reply {
	int32_t result;             /* 0 or a negative error */
	const char *status;         /* human message */
	size_t status_len;
	const uint8_t *out;         /* command output (JSON or text) */
	size_t out_len;
	int32_t leader_rank;        /* -1 if unknown */
};
int mon_command_reply_encode(struct enc *e, const struct mon_command_reply *r);
int mon_command_reply_decode(struct mon_command_reply *r, const void *buf, size_t len);

/* ---- subscriptions and maps -------------------------------------------- */

#define MON_SUB_OSDMAP 0x1u
#define MON_SUB_MONMAP 0x2u

struct mon_subscribe {
	uint32_t what;              /* MON_SUB_* */
	uint64_t osdmap_have;       /* newest osdmap epoch held (0: none) */
	uint64_t monmap_have;
};
int mon_subscribe_encode(struct enc *e, const struct mon_subscribe *s);
int mon_subscribe_decode(struct mon_subscribe *s, const void *buf, size_t len);

/* An osdmap delivery: optionally a full map (epoch full_epoch), then
 * incrementals for consecutive epochs first_inc .. first_inc + n_incs - 1,
 * each an encoded struct osdmap_inc. The receiver applies the full map if
 * it is newer than its own, then the incrementals that follow its epoch. */
struct mon_osdmap_msg {
	uint64_t full_epoch;        /* 0: no full map */
	const uint8_t *full;        /* encoded struct osdmap */
	size_t full_len;
	uint64_t first_inc;
	uint32_t n_incs;
	const uint8_t *incs[MON_MAX_INCS_PER_MSG];
	size_t inc_lens[MON_MAX_INCS_PER_MSG];
};
int mon_osdmap_msg_encode(struct enc *e, const struct mon_osdmap_msg *m);
int mon_osdmap_msg_decode(struct mon_osdmap_msg *m, const void *buf, size_t len);

/* ---- tickets ----------------------------------------------------------- */

struct mon_get_ticket {
	uint32_t service;           /* enum auth_service from map_auth.h */
};
int mon_get_ticket_encode(struct enc *e, const struct mon_get_ticket *g);
int mon_get_ticket_decode(struct mon_get_ticket *g, const void *buf, size_t len);

struct mon_ticket {
	int32_t result;
	uint64_t expires_ns;        /* wall clock */
	const uint8_t *ticket;      /* opaque, presented to the service */
	size_t ticket_len;
	const uint8_t *enc_session_key; /* the session key sealed with the requester's secret */
	size_t enc_session_key_len;
	const uint8_t *service_key; /* only for OSDs: the sealed rotating service key */
	size_t service_key_len;
	uint64_t service_key_id;
};
int mon_ticket_encode(struct enc *e, const struct mon_ticket *t);
int mon_ticket_decode(struct mon_ticket *t, const void *buf, size_t len);

/* ---- OSD reports ------------------------------------------------------- */

struct mon_osd_boot {
	int32_t osd;
	uint8_t uuid[16];
	struct map_addr addr;       /* public address clients and peers use */
	char host[MAP_HOST_MAX];    /* CRUSH host bucket this OSD lives in */
	uint64_t capacity_bytes;
	uint64_t used_bytes;
	uint64_t have_epoch;        /* osdmap epoch the OSD holds */
};
int mon_osd_boot_encode(struct enc *e, const struct mon_osd_boot *b);
int mon_osd_boot_decode(struct mon_osd_boot *b, const void *buf, size_t len);

/* PG states, as users know them from Ceph; a PG has several at once. */
#define PG_STATE_ACTIVE      (1u << 0)
#define PG_STATE_CLEAN       (1u << 1)
#define PG_STATE_PEERING     (1u << 2)
#define PG_STATE_DEGRADED    (1u << 3)
#define PG_STATE_UNDERSIZED  (1u << 4)
#define PG_STATE_RECOVERING  (1u << 5)
#define PG_STATE_BACKFILLING (1u << 6)
#define PG_STATE_REMAPPED    (1u << 7)
#define PG_STATE_DOWN        (1u << 8)
#define PG_STATE_INCOMPLETE  (1u << 9)
#define PG_STATE_STALE       (1u << 10)
#define PG_STATE_RECOVERY_WAIT (1u << 11)
#define PG_STATE_BACKFILL_WAIT (1u << 12)
#define PG_STATE_CREATING    (1u << 13)
#define PG_STATE_INCONSISTENT (1u << 14)
#define PG_STATE_SCRUBBING   (1u << 15)

/* "active+clean", "active+undersized+degraded", ... into @buf. Returns the
 * length written (snprintf semantics). */
int pg_state_format(uint32_t state, char *buf, size_t cap);

struct mon_pg_stat {
	int64_t pool;
	uint32_t seed;
	uint32_t state;             /* PG_STATE_* */
	uint64_t epoch;             /* reporter's epoch when computed */
	uint64_t version;           /* last PG log version */
	uint64_t objects;
	uint64_t bytes;
	uint64_t objects_degraded;  /* object copies missing on some replica */
	uint64_t objects_misplaced;
	uint64_t objects_unfound;
	uint64_t recovery_left_objects;
	uint64_t recovery_left_bytes;
	uint64_t recovery_bytes_per_s;
	int32_t acting[16];
	uint32_t n_acting;
};

struct mon_osd_beacon {
	int32_t osd;
	uint64_t epoch;             /* osdmap epoch the OSD holds */
	uint64_t capacity_bytes;
	uint64_t used_bytes;
	uint32_t n_pgs;             /* stats of the PGs this OSD is primary for */
	struct mon_pg_stat *pgs;    /* decode: malloc()ed array; free with mon_osd_beacon_free */
};
int mon_osd_beacon_encode(struct enc *e, const struct mon_osd_beacon *b);
int mon_osd_beacon_decode(struct mon_osd_beacon *b, const void *buf, size_t len);
void mon_osd_beacon_free(struct mon_osd_beacon *b);

struct mon_osd_failure {
	int32_t target;             /* the silent OSD */
	int32_t reporter;
	uint64_t epoch;
	uint32_t failed_for_ms;
	uint8_t still_failed;       /* 0: the target answers again (cancel) */
};
int mon_osd_failure_encode(struct enc *e, const struct mon_osd_failure *f);
int mon_osd_failure_decode(struct mon_osd_failure *f, const void *buf, size_t len);

#endif
