/* The mon client: how OSDs, libnorn and the CLI talk to the monitors.
 *
 * One struct monc lives on the caller's libuv loop (one thread) and keeps
 * one authenticated connection to one mon at a time:
 *
 *   hunting   it starts at a random mon from mon_host and moves to the
 *             next one when a connection does not come up within
 *             hunt_ms or breaks;
 *   leader    a mon that is not the leader answers a write (or status,
 *             health) with NORN_ENOTLEADER and the leader's rank; monc
 *             then reconnects to that rank and resends. With no leader
 *             known (election running) it retries after retry_ms on the
 *             next mon. So after the first write monc sits on the leader,
 *             where OSD boots, beacons and failure reports also go (a
 *             peon that receives them forwards them to its leader);
 *   commands  each has a deadline; on expiry its callback gets
 *             -ETIMEDOUT ("no quorum within the timeout"). A command is
 *             resent (same tid) after a reconnect; the mon's commands
 *             are idempotent where a resend could matter;
 *   maps      with MONC_SUB_OSDMAP monc subscribes, keeps the current
 *             struct osdmap (applies incrementals; on a gap it
 *             resubscribes from its epoch, and the mon then sends a full
 *             map) and calls on_osdmap after each new epoch;
 *   tickets   monc_want_ticket() asks for an OSD-service ticket and
 *             renews it at half its lifetime; on_ticket delivers it.
 *
 * Authentication is the messenger's mutual handshake with the entity's
 * secret: a wrong key ends in on_auth_failed / -EACCES for commands
 * (monc does not hammer the mon with a wrong key).
 *
 * Everything here runs on the loop's thread; callbacks run from the loop.
 */
#ifndef NORN_MONC_H
#define NORN_MONC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/auth.h"
#include "common/map_mon.h"
#include "common/map_osd.h"
#include "common/proto_mon.h"

struct norn_config;
struct tls_ctx;
struct monc;

#define MONC_SUB_OSDMAP MON_SUB_OSDMAP
#define MONC_SUB_MONMAP MON_SUB_MONMAP
#define MONC_MAX_INFLIGHT 1024        /* commands in flight per monc */
#define MONC_SEALED_KEY_LEN 60        /* iv 12 + ciphertext 32 + tag 16 */

/* Reply to a command. @status is a NUL-terminated human message, @out the
 * output bytes (also NUL-terminated for convenience, not counted in
 * @out_len). Both are valid only during the callback. @result is 0, a
 * negative errno / NORN_E* from the mon, -ETIMEDOUT (no answer within the
 * deadline), -EACCES (authentication refused) or -ECANCELED (monc closed). */
typedef void (*monc_command_cb)(int result, const char *status, const uint8_t *out,
                                size_t out_len, void *arg);

/* An OSD-service ticket: @ticket (blob for the messenger's cred) and the
 * session key; for an OSD also the current service key (so it can verify
 * client tickets), else @service_key is NULL. */
struct monc_ticket {
	const uint8_t *ticket;
	size_t ticket_len;
	uint8_t session_key[AUTH_KEY_LEN];
	uint64_t expires_ns;
	const uint8_t *service_key;       /* AUTH_KEY_LEN bytes or NULL */
	uint64_t service_key_id;
};

struct monc_opts {
	char entity[AUTH_ENTITY_NAME_MAX]; /* "client.admin", "osd.3" */
	uint8_t key[AUTH_KEY_LEN];         /* its secret */
	uint8_t fsid[MAP_UUID_LEN];        /* the cluster fsid (every frame carries it) */
	struct monmap initial;             /* from mon_host (monmap_parse_mon_host) */
	uint32_t subscribe;                /* MONC_SUB_* */
	uint64_t hunt_ms;                  /* connect timeout per mon (default 1000) */
	uint64_t retry_ms;                 /* wait before retrying without a leader (200) */
	struct tls_ctx *tls;               /* TLS on the mon connection (not owned), or NULL */
	/* Optional callbacks (run on the loop). */
	void (*on_osdmap)(struct monc *mc, const struct osdmap *map, void *user);
	void (*on_monmap)(struct monc *mc, const struct monmap *map, void *user);
	void (*on_ticket)(struct monc *mc, const struct monc_ticket *t, void *user);
	void (*on_auth_failed)(struct monc *mc, void *user);
	void *user;
};

/* Fill @o from a loaded config (mon_host, fsid, messenger-independent
 * defaults, a TLS context when cfg->msg_tls: the caller frees o->tls with
 * tls_ctx_free() after monc_close) and the entity's key found in the
 * keyring file @keyring_path (NULL: cfg->keyring). Returns 0, -EINVAL with a message in @err (bad
 * mon_host, bad fsid, no key for the entity) or -errno reading the
 * keyring. */
int monc_opts_from_config(struct monc_opts *o, const struct norn_config *cfg,
                          const char *keyring_path, char *err, size_t errlen);

/* Create and start (hunting begins at once). @mopts may be NULL (messenger
 * defaults) or a struct msgr_opts * from msgr_opts_init(cfg) for TLS etc.
 * Returns 0 and *@out, -EINVAL (no mons, bad entity) or -ENOMEM. */
int monc_create(uv_loop_t *loop, const struct monc_opts *o, const void *mopts, struct monc **out);

/* Fail pending commands with -ECANCELED, close the connection, and call
 * @cb (may be NULL) once everything is freed. The loop must keep running
 * until then. */
void monc_close(struct monc *mc, void (*cb)(void *arg), void *arg);

/* Send a JSON command ({"prefix": ...}); @cb gets exactly one call.
 * Returns 0, -EINVAL (too long), NORN_EAGAIN (MONC_MAX_INFLIGHT) or
 * -ENOMEM (then @cb is never called). */
int monc_command(struct monc *mc, const char *json, size_t len, uint64_t timeout_ms,
                 monc_command_cb cb, void *arg);

/* The current osdmap (epoch 0 before the first one arrived). Valid until
 * the next loop iteration that delivers maps. */
const struct osdmap *monc_osdmap(const struct monc *mc);
const struct monmap *monc_monmap(const struct monc *mc);
/* Rank of the mon monc is connected to (or hunting), and the last known
 * leader rank (-1 unknown). */
int monc_current_rank(const struct monc *mc);
int monc_leader_rank(const struct monc *mc);

/* Ask for osdmap epochs after @epoch again (e.g. an OSD that saw a newer
 * epoch on a peer's message). */
void monc_renew_subs(struct monc *mc);

/* OSD reports (fire and forget; queued while hunting and sent on connect;
 * the last boot is resent after every reconnect). Return 0 or -ENOMEM. */
int monc_osd_boot(struct monc *mc, const struct mon_osd_boot *b);
int monc_osd_beacon(struct monc *mc, const struct mon_osd_beacon *b);
int monc_osd_failure(struct monc *mc, const struct mon_osd_failure *f);

/* Keep an OSD-service ticket (requested now and renewed at half its
 * lifetime), delivered through on_ticket. */
void monc_want_ticket(struct monc *mc);

/* ---- synchronous helper (CLI, tools) ----------------------------------- */

/* Run one command on a private loop: connect, send, wait for the reply or
 * @timeout_ms. *@status_out and *@out (NUL-terminated, malloc()ed, caller
 * frees; may be NULL) receive the reply. Returns the command's result (0,
 * negative error, -ETIMEDOUT, -EACCES). */
int monc_command_sync(const struct monc_opts *o, const char *json, uint64_t timeout_ms,
                      char **status_out, char **out, size_t *out_len);

/* ---- sealed keys (mon <-> requester) ------------------------------------ */

/* AES-256-GCM seal of a 32-byte @plain under @secret with the label
 * @label as additional data: iv || ciphertext || tag into @out. Returns 0
 * or NORN_EFAILED. */
int monc_seal_key(const uint8_t secret[AUTH_KEY_LEN], const char *label,
                  const uint8_t plain[AUTH_KEY_LEN], uint8_t out[MONC_SEALED_KEY_LEN]);
/* Open it. Returns 0, NORN_ECORRUPT (wrong length) or NORN_EAUTH (wrong
 * secret, label or tampered). */
int monc_open_key(const uint8_t secret[AUTH_KEY_LEN], const char *label, const uint8_t *in,
                  size_t len, uint8_t plain[AUTH_KEY_LEN]);

#endif
