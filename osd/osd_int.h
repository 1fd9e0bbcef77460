/* norn-osd internals shared by osd.c (daemon, maps, connections, PGs'
 * life cycle, heartbeats) and osd_op.c (client ops, replication, the
 * per-PG op queue).
 *
 * Threading: everything runs on the daemon's one libuv loop; the store's
 * commit thread only hands completions back to it.
 */
#ifndef NORN_OSD_INT_H
#define NORN_OSD_INT_H

#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/map_osd.h"
#include "common/monc.h"
#include "common/msg.h"
#include "common/proto_osd.h"
#include "osd/pg.h"
#include "osd/proto_osdosd.h"
#include "osd/store/store.h"

#define OSD_PG_HASH 1024u
#define OSD_PG_INFLIGHT_MAX 64u       /* ops started per PG at once */
#define OSD_PG_QUEUE_MAX 4096u        /* ops queued per PG */
#define OSD_KICK_BLOCKED_MAX 256u     /* objects with waiting ops one kick passes over */
#define OSD_BEACON_SOON_MS 100u      /* osd_beacon_soon: delay (coalesces PG state changes) */
#define OSD_RECOVERY_URGENT_EXTRA 16u /* pushes for waiting client writes beyond osd_max_recovery */
#define OSD_WAIT_MAP_MAX 65536u       /* ops parked for a newer map */
#define OSD_SERVICE_KEYS 3
#define OSD_BOOT_RESEND_NS 3000000000ull /* a boot still not in the map after this is sent again */
#define OSD_PAUSED_MAX 1024           /* client connections paused by the budget */
#define OSD_XATTR_USER_PREFIX "u."    /* client xattrs are stored as u.<name> */
#define OSD_XATTR_VERSION "_v"        /* the object's PG version (16 bytes) */

struct osd;
struct pg;

/* Per incoming connection: who it is and what it may do. */
struct osd_sess {
	struct auth_caps caps;
	int caps_ok;
	int32_t peer_osd;                 /* >= 0 for an OSD peer */
};

/* An OSD we talk to (replication, heartbeats). */
struct osd_peer {
	struct msgr_conn *conn;           /* outgoing, or NULL */
	struct map_addr addr;
	uint64_t up_from;
	uint64_t last_rx_ns;              /* last heartbeat reply */
	uint64_t first_tx_ns;             /* first ping since it became interesting */
	uint64_t last_report_ns;
	int reported;
	int wanted;                       /* shares a PG with us in the current map */
};

/* One client op (or a parked one). */
struct osd_op {
	TAILQ_ENTRY(osd_op) q;
	struct osd *osd;
	struct pg *pg;
	struct msgr_conn *conn;           /* reply goes here (a reference) */
	uint64_t tid;
	uint8_t *payload;                 /* owned; m points into it */
	size_t len;
	uint32_t payload_crc;             /* its crc32c (checked by the messenger) */
	struct osd_op_msg m;
	char oid[STORE_OID_MAX + 1];
	int is_write;
	/* reply */
	struct osd_op_reply r;
	uint8_t *outs[OSD_OP_MAX_STEPS]; /* owned step outputs */
	uint32_t step;                    /* read progress */
	/* replication */
	struct pg_log_entry le;
	uint8_t *repop;                   /* encoded REPOP head, shared by all replicas */
	size_t repop_len;
	const uint8_t *repop_tail;        /* its data tail (points into payload) */
	size_t repop_tail_len;
	uint32_t repop_crc;               /* crc32c of head + tail, once for every replica */
	uint32_t repop_refs;              /* sends not yet freed by the messenger */
	int32_t acked[OSDMAP_MAX_POOL_SIZE];
	uint32_t n_acked;
	int32_t sent[OSDMAP_MAX_POOL_SIZE];
	uint32_t n_sent;
	int32_t skip[OSDMAP_MAX_POOL_SIZE]; /* backfill targets this write skips (osd_pg_write_plan) */
	uint32_t n_skip;
	int local_done;
	int done;                         /* replied or abandoned; free when refs drop */
	uint64_t start_ns;
};
TAILQ_HEAD(osd_op_list, osd_op);

struct pg {
	struct pg *hnext;
	struct osd *osd;
	struct pg_id id;
	char cid[STORE_CID_MAX + 1];
	int32_t acting[OSDMAP_MAX_POOL_SIZE];
	uint32_t acting_n;
	int32_t up[OSDMAP_MAX_POOL_SIZE];
	uint32_t up_n;
	int32_t primary;
	uint8_t size, min_size;
	int member;                       /* we are in up or acting */
	struct pg_info info;
	struct pg_log log;
	uint64_t objects;
	uint64_t bytes;
	struct osd_op_list queue;         /* waiting to start, in arrival order */
	struct osd_op_list inflight;      /* started, not finished */
	uint32_t n_queued, n_inflight;
	int warned_min_size;
	int warned_full;          /* the store-full refusal was logged */
	/* peering and recovery (peering.c); ops wait while peering != 0 */
	int peering;                      /* PG_PEER_* phase, 0 when active */
	uint64_t peer_epoch;              /* map epoch the current peering began in */
	uint64_t peer_started_ns;
	uint64_t query_sent_ns;
	int32_t prior[OSDMAP_MAX_POOL_SIZE];
	uint32_t prior_n;
	struct pg_peer_state *ps;         /* peering scratch, NULL when active */
	int want_peering;                 /* set by the map update, started after it */
	int backfilling;                  /* peering: some member is being backfilled */
	uint64_t stray_asked_ns;          /* last PG_STRAY we sent about our copy (stray.c) */
	int kicking;                      /* osd_pg_kick is running (re-entry only flags) */
	struct msgr_conn *dq_conn;        /* a PG_QUERY for a map we lack: answered when we have it */
	uint64_t dq_epoch;                /* its epoch */
	int kick_again;                   /* osd_pg_kick was called while running */
};

enum {
	PG_PEER_QUERY = 1,                /* gathering infos, logs, object lists */
	PG_PEER_PULL,                     /* pulling what the primary lacks */
	PG_PEER_PUSH,                     /* pushing what replicas lack */
	PG_PEER_LOGSYNC,                  /* waiting for replicas to take the log */
	PG_PEER_INCOMPLETE,               /* no complete member: down until one returns */
};

struct osd {
	uv_loop_t *loop;
	struct norn_config cfg;
	int32_t id;
	char entity[AUTH_ENTITY_NAME_MAX];
	char data_dir[1024];
	uint8_t key[AUTH_KEY_LEN];
	uint8_t uuid[MAP_UUID_LEN];
	char host[MAP_HOST_MAX];
	struct store *store;
	struct monc *mc;
	struct msgr *msgr;
	struct tls_ctx *tls;
	int port;
	struct osdmap map;                /* our copy of the current map */
	/* auth */
	int have_ticket;
	uint8_t ticket[AUTH_TICKET_MAX];
	size_t ticket_len;
	uint8_t session_key[AUTH_KEY_LEN];
	uint64_t svc_key_id[OSD_SERVICE_KEYS];
	uint8_t svc_key[OSD_SERVICE_KEYS][AUTH_KEY_LEN];
	/* peers */
	struct osd_peer *peers;
	uint32_t n_peers;
	/* PGs */
	struct pg *pgs[OSD_PG_HASH];
	uint32_t n_pgs;
	/* ops waiting for a newer map */
	struct osd_op_list wait_map;
	uint32_t n_wait_map;
	uint64_t booted_epoch;            /* epoch at our last boot message (0: none) */
	int boot_sent;
	uint64_t boot_sent_ns;            /* when (mono); resent while still down */
	uv_timer_t beacon_timer, hb_timer;
	uv_signal_t sig_term, sig_int;
	int stopping;
	uint32_t recovery_inflight;       /* pulls + pushes in flight (osd_max_recovery) */
	uint32_t recovery_urgent;         /* of those: pushes for waiting client writes */
	uint64_t recovery_next_ns;        /* osd_recovery_sleep_ms: no recovery op starts before */
	uv_timer_t recovery_timer;        /* runs every osd_recovery_sleep_ms when that is set */
	/* memory budget: client op payloads held; over half of
	 * osd_memory_budget_bytes we stop reading from clients */
	uint64_t op_bytes;
	struct msgr_conn *paused[OSD_PAUSED_MAX];
	uint32_t n_paused;
	uv_timer_t peer_timer;
	uint64_t recovered_objects;
	uint64_t recovered_bytes;
	struct osd_removal *removing;     /* stray copies being deleted (stray.c) */
};

/* osd.c */
struct pg *osd_pg_get(struct osd *o, int64_t pool, uint32_t seed);
/* The PG for (pool, seed), created (and its collection created or loaded)
 * if missing. NULL on error (logged). */
struct pg *osd_pg_get_or_create(struct osd *o, int64_t pool, uint32_t seed);
/* Outgoing connection to peer @osd, created on demand; NULL if the peer is
 * not up or we have no ticket yet. */
struct msgr_conn *osd_peer_conn(struct osd *o, int32_t osd);
/* Close a connection that misbehaved (frees an incoming one's session;
 * msgr_conn_close() runs no state callback). */
void osd_conn_drop(struct msgr_conn *c);
int osd_send_enc(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch, struct enc *e);
/* A PG we are primary of changed state (peering ended): send the beacon
 * with the PG stats within OSD_BEACON_SOON_MS instead of at the next
 * osd_beacon_interval_ms, so `norn status` shows it soon (many PGs
 * finishing together share one beacon). */
void osd_beacon_soon(struct osd *o);

/* peering.c */
/* Start (or restart) peering of a PG we are primary of. */
void osd_pg_start_peering(struct pg *pg);
/* Drop peering state (we are not primary any more). */
void osd_pg_stop_peering(struct pg *pg);
void osd_peering_tick(struct osd *o);
/* After a map update: answer the PG_QUERYs that came for an epoch we had
 * not seen (the querier would resend them only a second later). */
void osd_peering_map_updated(struct osd *o);
/* Start the recovery ops osd_recovery_sleep_ms held back (its timer). */
void osd_recovery_tick(struct osd *o);
void osd_handle_pg_msg(struct osd *o, struct msgr_conn *c, struct msg_in *in);
/* 1 if @oid is still to be pushed to (or acked by) some replica. */
int osd_pg_object_unrecovered(const struct pg *pg, const char *oid);
/* A write to @oid may start now? 1: it must wait (some member is not
 * recovered for @oid and cannot be skipped); 0: it may, sending its REPOP
 * to every acting member but the @n_skip members in @skip
 * (OSDMAP_MAX_POOL_SIZE entries): their copy of @oid (backfill or log
 * recovery) has not been started, the push copies the newest state when
 * it gets there. @has_snapc: the
 * write carries a snap context (it could create a clone). */
int osd_pg_write_plan(struct pg *pg, const char *oid, int has_snapc, int32_t *skip, uint32_t *n_skip);
/* A client write waits for @oid: push it (and its clones) to every
 * member that misses it now, ahead of the recovery order (within
 * osd_max_recovery + OSD_RECOVERY_URGENT_EXTRA pushes in flight). */
void osd_pg_recover_first(struct pg *pg, const char *oid);
/* A write's local commit is in: a push held back because its object had
 * an uncommitted write may start now. */
void osd_pg_recovery_resume(struct pg *pg);
/* Number of objects still to recover in @pg (for stats). */
uint64_t osd_pg_recovery_left(const struct pg *pg);
/* Replace @pg's log and info with @entries / @info in ordered store
 * transactions; @cb(@arg, err) after the last one is durable. */
int osd_pg_replace_log(struct pg *pg, const struct pg_log_entry *entries, uint32_t n,
                       const struct pg_info *info, void (*cb)(void *arg, int err), void *arg);

/* stray.c: deleting copies of PGs this OSD no longer serves */
/* Every peer tick: each PG we hold but are no longer in the up or acting
 * set of asks its primary (PG_STRAY, at most every few seconds). */
void osd_stray_tick(struct osd *o);
/* PG_STRAY and PG_REMOVE. */
void osd_handle_stray_msg(struct osd *o, struct msgr_conn *c, struct msg_in *in);
/* At the primary: @osd holds a copy of @pg at @last_update and is not a
 * member; if @pg is active+clean now and that copy holds nothing newer,
 * tell it to delete the copy. */
void osd_stray_offer(struct pg *pg, int32_t osd, const struct pg_eversion *last_update);
/* 1 while the collection @cid is being deleted (a new PG of that id must
 * start empty: its creation is queued after the deletion). */
int osd_stray_removing(const struct osd *o, const char *cid);

/* osd_op.c */
void osd_handle_op(struct osd *o, struct msgr_conn *c, struct msg_in *in);
void osd_handle_repop(struct osd *o, struct msgr_conn *c, struct msg_in *in);
void osd_handle_repop_reply(struct osd *o, struct msgr_conn *c, struct msg_in *in);
/* Start what can start in @pg's queue. */
void osd_pg_kick(struct pg *pg);
/* The PG's interval changed (acting set etc. already updated). */
void osd_pg_interval_changed(struct pg *pg, const int32_t *old_acting, uint32_t old_n,
                             int was_primary);
/* Re-dispatch ops parked for a map <= the current epoch. */
void osd_wait_map_retry(struct osd *o);
/* Resend unacked repops to @peer after its connection came back. */
void osd_resend_repops(struct osd *o, int32_t peer);
/* 1 if a write to the head @base (@blen bytes) is started and its local
 * commit is not in yet (a push must not read the object now). */
int osd_pg_oid_writing(const struct pg *pg, const char *base, size_t blen);
/* Reply with an error and free the op. */
void osd_op_reply_err(struct osd_op *op, int err);
void osd_op_free(struct osd_op *op);

#endif
