/* The mon client (see monc.h for the model: hunting, leader following,
 * command deadlines and resends, map subscription, tickets). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "common/assert.h"
#include "common/config.h"
#include "common/env.h"
#include "common/keyring.h"
#include "common/log.h"
#include "common/monc.h"
#include "common/msg.h"
#include "common/tls.h"
#include "norn/errors.h"

#define MONC_TIMER_MS 50

struct monc_cmd {
	struct monc_cmd *next;
	uint64_t tid;
	uint8_t *payload;            /* encoded struct mon_command */
	size_t len;
	uint64_t deadline_ns;
	uint64_t resend_at_ns;       /* 0: not waiting to resend */
	monc_command_cb cb;
	void *arg;
};

struct monc {
	uv_loop_t *loop;
	struct monc_opts o;
	struct msgr *msgr;
	struct msgr_conn *conn;
	int cur_rank;
	int leader;
	int up;
	int auth_failed;
	int auth_refusals;           /* mons that refused us since the last success */
	int closing;
	uint64_t conn_started_ns;
	uv_timer_t timer;
	struct monc_cmd *cmds;
	uint32_t n_cmds;
	uint64_t next_tid;
	struct osdmap osdmap;
	struct monmap monmap;
	int has_boot;
	struct mon_osd_boot boot;
	int want_ticket;
	uint64_t ticket_at_ns;       /* next ticket request (mono) */
	uint8_t ticket_blob[AUTH_TICKET_MAX];
	void (*close_cb)(void *);
	void *close_arg;
	int pending_closes;
};

static uint64_t mono(void) { return norn_mono_ns(); }

/* ---- sealed keys ------------------------------------------------------- */

int monc_seal_key(const uint8_t secret[AUTH_KEY_LEN], const char *label,
                  const uint8_t plain[AUTH_KEY_LEN], uint8_t out[MONC_SEALED_KEY_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l, ok;

	if (!ctx || norn_random_bytes(out, 12)) {
		EVP_CIPHER_CTX_free(ctx);
		return NORN_EFAILED;
	}
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, secret, out) &&
	     EVP_EncryptUpdate(ctx, NULL, &l, (const uint8_t *)label, (int)strlen(label)) &&
	     EVP_EncryptUpdate(ctx, out + 12, &l, plain, AUTH_KEY_LEN) && l == AUTH_KEY_LEN &&
	     EVP_EncryptFinal_ex(ctx, out + 12 + AUTH_KEY_LEN, &l) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + AUTH_KEY_LEN);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : NORN_EFAILED;
}

int monc_open_key(const uint8_t secret[AUTH_KEY_LEN], const char *label, const uint8_t *in,
                  size_t len, uint8_t plain[AUTH_KEY_LEN])
{
	EVP_CIPHER_CTX *ctx;
	uint8_t tag[16], tmp[AUTH_KEY_LEN + 16];
	int l, ok;

	if (len != MONC_SEALED_KEY_LEN)
		return NORN_ECORRUPT;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return NORN_EFAILED;
	memcpy(tag, in + 12 + AUTH_KEY_LEN, 16);
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, secret, in) &&
	     EVP_DecryptUpdate(ctx, NULL, &l, (const uint8_t *)label, (int)strlen(label)) &&
	     EVP_DecryptUpdate(ctx, tmp, &l, in + 12, AUTH_KEY_LEN) && l == AUTH_KEY_LEN &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) &&
	     EVP_DecryptFinal_ex(ctx, tmp + AUTH_KEY_LEN, &l) > 0;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return NORN_EAUTH;
	memcpy(plain, tmp, AUTH_KEY_LEN);
	return 0;
}

/* ---- options ------------------------------------------------------------ */

int monc_opts_from_config(struct monc_opts *o, const struct norn_config *cfg,
                          const char *keyring_path, char *err, size_t errlen)
{
	struct keyring kr;
	char kerr[256];
	int rc;

	memset(o, 0, sizeof(*o));
	snprintf(o->entity, sizeof(o->entity), "%s", cfg->entity);
	o->hunt_ms = 1000;
	o->retry_ms = 200;
	rc = monmap_parse_mon_host(&o->initial, cfg->mon_host);
	if (rc) {
		snprintf(err, errlen, "bad mon_host '%s'", cfg->mon_host);
		return -EINVAL;
	}
	if (!cfg->fsid || map_uuid_parse(cfg->fsid, o->fsid)) {
		snprintf(err, errlen, "config has no valid fsid (is the cluster created? norn-mon --mkfs)");
		return -EINVAL;
	}
	if (!keyring_path || !keyring_path[0])
		keyring_path = cfg->keyring;
	if (!keyring_path || !keyring_path[0]) {
		snprintf(err, errlen, "no keyring given (-k FILE or keyring = in the config)");
		return -EINVAL;
	}
	if (cfg->msg_tls && tls_ctx_from_config(cfg, &o->tls)) {
		snprintf(err, errlen, "msg_tls is on but the TLS certificate/key do not load");
		return -EINVAL;
	}
	keyring_init(&kr);
	rc = keyring_load(&kr, keyring_path, kerr, sizeof(kerr));
	if (rc) {
		snprintf(err, errlen, "keyring %s: %s", keyring_path, rc == -EINVAL ? kerr : strerror(-rc));
		keyring_free(&kr);
		return rc;
	}
	rc = keyring_get(&kr, o->entity, o->key);
	keyring_free(&kr);
	if (rc) {
		snprintf(err, errlen, "keyring %s has no key for %s", keyring_path, o->entity);
		return -EINVAL;
	}
	return 0;
}

/* ---- sending ------------------------------------------------------------ */

static void free_buf_cb(void *arg, int status)
{
	free(arg);
}

static int send_enc(struct monc *mc, uint16_t type, uint64_t tid, struct enc *e)
{
	size_t len;
	int rc = enc_error(e);
	if (rc || !mc->conn || !mc->up) {
		enc_free(e);
		return rc ? rc : -ENOTCONN;
	}
	uint8_t *buf = enc_take(e, &len);
	struct iovec iov = { buf, len };
	rc = msgr_send(mc->conn, type, tid, mc->osdmap.epoch, &iov, 1, free_buf_cb, buf);
	if (rc)
		free(buf);
	return rc;
}

/* Each send gets its own copy of the payload: a command may be resent on
 * a new connection while the old one still owns the previous copy. */
static void cmd_send(struct monc *mc, struct monc_cmd *c)
{
	if (!mc->conn || !mc->up)
		return;
	uint8_t *copy = malloc(c->len);
	c->resend_at_ns = mono() + mc->o.retry_ms * 1000000ull;
	if (!copy)
		return;
	memcpy(copy, c->payload, c->len);
	struct iovec iov = { copy, c->len };
	if (msgr_send(mc->conn, MSG_T_MON_COMMAND, c->tid, mc->osdmap.epoch, &iov, 1, free_buf_cb, copy) == 0)
		c->resend_at_ns = 0;
	else
		free(copy);
}

/* Unlink @c and call its callback once. */
static void cmd_finish(struct monc *mc, struct monc_cmd *c, int rc, const char *status,
                       const uint8_t *out, size_t out_len)
{
	struct monc_cmd **pp = &mc->cmds;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = c->next;
		mc->n_cmds--;
	}
	/* out may not be NUL-terminated: give the callback a terminated copy */
	char *o = malloc(out_len + 1);
	if (o) {
		if (out_len)
			memcpy(o, out, out_len);
		o[out_len] = 0;
	}
	c->cb(rc, status ? status : "", (const uint8_t *)(o ? o : ""), o ? out_len : 0, c->arg);
	free(o);
	free(c->payload);
	free(c);
}

/* Always subscribe to the monmap, even when the user did not ask for
 * maps: a mon names the leader by its rank in the mon's own monmap, and
 * after a `mon rm` (ranks renumbered) or with a mon_host list in another
 * order that rank does not index our mon_host list. The mon pushes its
 * monmap in answer to the subscription, before it answers any command we
 * send after it on the same connection, so a rank in a reply always
 * indexes the map we hold. */
static void send_subscribe(struct monc *mc)
{
	struct mon_subscribe s = { mc->o.subscribe | MON_SUB_MONMAP, mc->osdmap.epoch, mc->monmap.epoch };
	struct enc e;
	enc_init(&e, 64);
	mon_subscribe_encode(&e, &s);
	send_enc(mc, MSG_T_MON_SUBSCRIBE, 0, &e);
}

static void send_boot(struct monc *mc)
{
	struct enc e;
	enc_init(&e, 256);
	mon_osd_boot_encode(&e, &mc->boot);
	send_enc(mc, MSG_T_MON_OSD_BOOT, 0, &e);
}

static void send_ticket_req(struct monc *mc)
{
	struct mon_get_ticket g = { AUTH_SVC_OSD };
	struct enc e;
	enc_init(&e, 32);
	mon_get_ticket_encode(&e, &g);
	if (send_enc(mc, MSG_T_MON_GET_TICKET, 0, &e) == 0)
		mc->ticket_at_ns = mono() + 5000000000ull; /* retry if no answer */
}

/* ---- connection management ------------------------------------------------ */

static void connect_to(struct monc *mc, int rank)
{
	const struct monmap *mm = mc->monmap.n_mons ? &mc->monmap : &mc->o.initial;
	if (mc->closing || mc->auth_failed || !mm->n_mons)
		return;
	if (rank < 0 || (uint32_t)rank >= mm->n_mons)
		rank = 0;
	if (mc->conn) {
		msgr_conn_close(mc->conn, NULL, NULL);
		mc->conn = NULL;
	}
	mc->up = 0;
	for (struct monc_cmd *c = mc->cmds; c; c = c->next)
		c->resend_at_ns = 0;
	mc->cur_rank = rank;
	mc->conn_started_ns = mono();
	if (msgr_connect(mc->msgr, mm->mons[rank].addr.host, mm->mons[rank].addr.port, NULL, &mc->conn))
		mc->conn = NULL;
	NLOG(CLIENT, DEBUG, "monc: trying mon.%s", mm->mons[rank].name);
}

static int n_mons(const struct monc *mc)
{
	return (int)(mc->monmap.n_mons ? mc->monmap.n_mons : mc->o.initial.n_mons);
}

static void hunt_next(struct monc *mc)
{
	connect_to(mc, (mc->cur_rank + 1) % NORN_MAX(1, n_mons(mc)));
}

static void fail_all(struct monc *mc, int rc, const char *why)
{
	while (mc->cmds)
		cmd_finish(mc, mc->cmds, rc, why, NULL, 0);
}

static void on_conn_state(struct msgr_conn *c, enum msgr_conn_state st, void *user)
{
	struct monc *mc = user;

	if (c != mc->conn)
		return;
	switch (st) {
	case MSGR_CONN_UP:
		NLOG(CLIENT, DEBUG, "monc: connected to rank %d", mc->cur_rank);
		mc->up = 1;
		mc->auth_refusals = 0;
		send_subscribe(mc);
		if (mc->has_boot)
			send_boot(mc);
		if (mc->want_ticket)
			send_ticket_req(mc);
		for (struct monc_cmd *k = mc->cmds; k; k = k->next)
			cmd_send(mc, k);
		break;
	case MSGR_CONN_DOWN:
		mc->up = 0;
		hunt_next(mc);
		break;
	case MSGR_CONN_AUTH_FAILED:
		mc->up = 0;
		/* A mon that has not applied our entity's creation yet (a peon
		 * a little behind) refuses us too: try every mon once before
		 * giving up, so a wrong key still fails fast. */
		if (++mc->auth_refusals < n_mons(mc)) {
			hunt_next(mc);
			break;
		}
		mc->auth_failed = 1;
		NLOG(CLIENT, ERR, "monc: mon refused %s's key", mc->o.entity);
		fail_all(mc, -EACCES, "authentication failed: the mon refused our key");
		if (mc->o.on_auth_failed)
			mc->o.on_auth_failed(mc, mc->o.user);
		break;
	}
}

/* ---- incoming ------------------------------------------------------------- */

static void handle_reply(struct monc *mc, struct msg_in *in)
{
	struct mon_command_reply r;
	struct monc_cmd *c;
	char status[1024];

	for (c = mc->cmds; c; c = c->next)
		if (c->tid == in->hdr.tid)
			break;
	if (!c || mon_command_reply_decode(&r, in->payload, in->len))
		return;
	if (r.result == NORN_ENOTLEADER) {
		int n = n_mons(mc);
		NLOG(CLIENT, DEBUG, "monc: rank %d is not the leader (leader rank %d)", mc->cur_rank,
		     (int)r.leader_rank);
		if (r.leader_rank >= n || (r.leader_rank >= 0 && r.leader_rank == mc->cur_rank)) {
			/* A peon naming itself or a rank we do not have: its
			 * monmap and ours number the mons differently (one of
			 * the two is behind a monmap change). Retrying here
			 * would loop until the deadline; ask another mon. */
			mc->leader = -1;
			hunt_next(mc);        /* resends on UP */
		} else if (r.leader_rank >= 0) {
			mc->leader = r.leader_rank;
			connect_to(mc, mc->leader);   /* resends on UP */
		} else {
			mc->leader = -1;      /* election: ask again shortly */
			c->resend_at_ns = mono() + mc->o.retry_ms * 1000000ull;
		}
		return;
	}
	if (r.result == NORN_EAGAIN) {
		c->resend_at_ns = mono() + mc->o.retry_ms * 1000000ull;
		return;
	}
	snprintf(status, sizeof(status), "%.*s", (int)NORN_MIN(r.status_len, sizeof(status) - 1), r.status);
	cmd_finish(mc, c, r.result, status, r.out, r.out_len);
}

static void handle_osdmap(struct monc *mc, struct msg_in *in)
{
	struct mon_osdmap_msg *msg = malloc(sizeof(*msg));
	uint64_t before = mc->osdmap.epoch;
	int gap = 0;

	if (!msg)
		return;
	if (mon_osdmap_msg_decode(msg, in->payload, in->len)) {
		NLOG(CLIENT, WARN, "monc: bad osdmap message");
		free(msg);
		return;
	}
	if (msg->full_epoch > mc->osdmap.epoch) {
		struct osdmap nm;
		osdmap_init(&nm);
		if (osdmap_decode(&nm, msg->full, msg->full_len) == 0) {
			osdmap_free(&mc->osdmap);
			mc->osdmap = nm;
		} else {
			NLOG(CLIENT, WARN, "monc: bad full osdmap e%" PRIu64, msg->full_epoch);
		}
	}
	for (uint32_t i = 0; i < msg->n_incs; i++) {
		uint64_t ep = msg->first_inc + i;
		if (ep <= mc->osdmap.epoch)
			continue;
		if (ep != mc->osdmap.epoch + 1) {
			gap = 1;
			break;
		}
		struct osdmap_inc inc;
		memset(&inc, 0, sizeof(inc));
		if (osdmap_inc_decode(&inc, msg->incs[i], msg->inc_lens[i]) ||
		    osdmap_apply_incremental(&mc->osdmap, &inc)) {
			osdmap_inc_free(&inc);
			gap = 1;
			break;
		}
		osdmap_inc_free(&inc);
	}
	free(msg);
	if (gap)
		send_subscribe(mc);   /* the mon answers with what we miss */
	if (mc->osdmap.epoch > before && mc->o.on_osdmap)
		mc->o.on_osdmap(mc, &mc->osdmap, mc->o.user);
}

/* The rank in @nm of the mon that has rank @rank in @old, or -1. */
static int rank_in(const struct monmap *nm, const struct monmap *old, int rank)
{
	if (rank < 0 || (uint32_t)rank >= old->n_mons)
		return -1;
	for (uint32_t i = 0; i < nm->n_mons; i++)
		if (map_addr_eq(&nm->mons[i].addr, &old->mons[rank].addr))
			return (int)i;
	return -1;
}

static void handle_monmap(struct monc *mc, struct msg_in *in)
{
	struct monmap mm;
	if (monmap_decode(&mm, in->payload, in->len) || mm.epoch <= mc->monmap.epoch)
		return;
	/* ranks may be renumbered: follow the mons we know by address */
	const struct monmap *old = monc_monmap(mc);
	mc->cur_rank = rank_in(&mm, old, mc->cur_rank);
	mc->leader = rank_in(&mm, old, mc->leader);
	mc->monmap = mm;
	if (mc->o.on_monmap)
		mc->o.on_monmap(mc, &mc->monmap, mc->o.user);
}

static void handle_ticket(struct monc *mc, struct msg_in *in)
{
	struct mon_ticket t;
	struct monc_ticket out;
	uint8_t svc[AUTH_KEY_LEN];

	if (mon_ticket_decode(&t, in->payload, in->len))
		return;
	if (t.result || t.ticket_len > AUTH_TICKET_MAX ||
	    monc_open_key(mc->o.key, "session", t.enc_session_key, t.enc_session_key_len, out.session_key)) {
		NLOG(CLIENT, WARN, "monc: no ticket: %s", norn_strerror(t.result ? t.result : NORN_EAUTH));
		mc->ticket_at_ns = mono() + 1000000000ull;
		return;
	}
	memcpy(mc->ticket_blob, t.ticket, t.ticket_len);
	out.ticket = mc->ticket_blob;
	out.ticket_len = t.ticket_len;
	out.expires_ns = t.expires_ns;
	out.service_key = NULL;
	out.service_key_id = 0;
	if (t.service_key_len && monc_open_key(mc->o.key, "service", t.service_key, t.service_key_len, svc) == 0) {
		out.service_key = svc;
		out.service_key_id = t.service_key_id;
	}
	uint64_t real = norn_real_ns();
	uint64_t left = t.expires_ns > real ? t.expires_ns - real : 0;
	mc->ticket_at_ns = mono() + NORN_MAX(left / 2, 1000000000ull);
	if (mc->o.on_ticket)
		mc->o.on_ticket(mc, &out, mc->o.user);
}

static void on_message(struct msgr_conn *c, struct msg_in *in, void *user)
{
	struct monc *mc = user;
	if (c != mc->conn)
		return;
	switch (in->hdr.type) {
	case MSG_T_MON_COMMAND_REPLY: handle_reply(mc, in); break;
	case MSG_T_MON_OSDMAP: handle_osdmap(mc, in); break;
	case MSG_T_MON_MONMAP: handle_monmap(mc, in); break;
	case MSG_T_MON_TICKET: handle_ticket(mc, in); break;
	default: break;
	}
}

static void on_timer(uv_timer_t *t)
{
	struct monc *mc = t->data;
	uint64_t now = mono();

	for (struct monc_cmd *c = mc->cmds, *next; c; c = next) {
		next = c->next;
		if (now >= c->deadline_ns)
			cmd_finish(mc, c, -ETIMEDOUT, "timed out waiting for the monitors (no quorum?)", NULL, 0);
		else if (c->resend_at_ns && now >= c->resend_at_ns) {
			c->resend_at_ns = 0;
			cmd_send(mc, c);
		}
	}
	if (!mc->auth_failed && !mc->up && now - mc->conn_started_ns > mc->o.hunt_ms * 1000000ull)
		hunt_next(mc);
	if (mc->up && mc->want_ticket && now >= mc->ticket_at_ns)
		send_ticket_req(mc);
}

/* ---- lifecycle -------------------------------------------------------------- */

int monc_create(uv_loop_t *loop, const struct monc_opts *o, const void *mopts, struct monc **out)
{
	struct msgr_opts mo;
	struct monc *mc;
	int rc;

	*out = NULL;
	if (!o->initial.n_mons || !auth_entity_name_valid(o->entity))
		return -EINVAL;
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	mc->loop = loop;
	mc->o = *o;
	if (!mc->o.hunt_ms)
		mc->o.hunt_ms = 1000;
	if (!mc->o.retry_ms)
		mc->o.retry_ms = 200;
	mc->leader = -1;
	mc->next_tid = 1;
	osdmap_init(&mc->osdmap);
	monmap_init(&mc->monmap);
	if (mopts)
		mo = *(const struct msgr_opts *)mopts;
	else {
		msgr_opts_init(&mo, NULL);
		mo.tls = o->tls;
	}
	snprintf(mo.entity, sizeof(mo.entity), "%s", o->entity);
	memcpy(mo.fsid, o->fsid, MSG_FSID_LEN);
	snprintf(mo.cred.entity, sizeof(mo.cred.entity), "%s", o->entity);
	memcpy(mo.cred.key, o->key, AUTH_KEY_LEN);
	mo.cred.ticket = NULL;
	mo.cred.ticket_len = 0;
	mo.cb.on_message = on_message;
	mo.cb.on_conn_state = on_conn_state;
	mo.cb.get_key = NULL;
	mo.cb.user = mc;
	if (mo.reconnect_min_ms > 100)
		mo.reconnect_min_ms = 100;
	rc = msgr_create(loop, &mo, &mc->msgr);
	if (rc) {
		free(mc);
		return rc;
	}
	uv_timer_init(loop, &mc->timer);
	mc->timer.data = mc;
	uv_timer_start(&mc->timer, on_timer, MONC_TIMER_MS, MONC_TIMER_MS);
	uint64_t seed = norn_mono_ns();
	connect_to(mc, (int)(seed % o->initial.n_mons));
	*out = mc;
	return 0;
}

static void close_step(void *arg)
{
	struct monc *mc = arg;
	if (--mc->pending_closes)
		return;
	void (*cb)(void *) = mc->close_cb;
	void *a = mc->close_arg;
	osdmap_free(&mc->osdmap);
	free(mc);
	if (cb)
		cb(a);
}

static void timer_closed(uv_handle_t *h)
{
	close_step(h->data);
}

void monc_close(struct monc *mc, void (*cb)(void *arg), void *arg)
{
	mc->closing = 1;
	fail_all(mc, -ECANCELED, "closed");
	mc->close_cb = cb;
	mc->close_arg = arg;
	mc->pending_closes = 2;
	if (mc->conn) {
		msgr_conn_close(mc->conn, NULL, NULL);
		mc->conn = NULL;
	}
	uv_timer_stop(&mc->timer);
	uv_close((uv_handle_t *)&mc->timer, timer_closed);
	msgr_close(mc->msgr, close_step, mc);
}

int monc_command(struct monc *mc, const char *json, size_t len, uint64_t timeout_ms,
                 monc_command_cb cb, void *arg)
{
	struct mon_command m = { json, len };
	struct monc_cmd *c;
	struct enc e;

	if (len > MON_CMD_MAX_BYTES)
		return -EINVAL;
	if (mc->n_cmds >= MONC_MAX_INFLIGHT)
		return NORN_EAGAIN;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	enc_init(&e, len + 32);
	mon_command_encode(&e, &m);
	if (enc_error(&e)) {
		enc_free(&e);
		free(c);
		return -ENOMEM;
	}
	c->payload = enc_take(&e, &c->len);
	c->tid = mc->next_tid++;
	c->deadline_ns = mono() + timeout_ms * 1000000ull;
	c->cb = cb;
	c->arg = arg;
	c->next = mc->cmds;
	mc->cmds = c;
	mc->n_cmds++;
	if (mc->auth_failed) {
		cmd_finish(mc, c, -EACCES, "authentication failed: the mon refused our key", NULL, 0);
		return 0;
	}
	cmd_send(mc, c);
	return 0;
}

const struct osdmap *monc_osdmap(const struct monc *mc) { return &mc->osdmap; }
const struct monmap *monc_monmap(const struct monc *mc)
{
	return mc->monmap.n_mons ? &mc->monmap : &mc->o.initial;
}
int monc_current_rank(const struct monc *mc) { return mc->cur_rank; }
int monc_leader_rank(const struct monc *mc) { return mc->leader; }
void monc_renew_subs(struct monc *mc) { send_subscribe(mc); }

int monc_osd_boot(struct monc *mc, const struct mon_osd_boot *b)
{
	mc->boot = *b;
	mc->has_boot = 1;
	if (mc->up)
		send_boot(mc);
	return 0;
}

int monc_osd_beacon(struct monc *mc, const struct mon_osd_beacon *b)
{
	struct enc e;
	enc_init(&e, 256 + (size_t)b->n_pgs * 160);
	mon_osd_beacon_encode(&e, b);
	int rc = send_enc(mc, MSG_T_MON_OSD_BEACON, 0, &e);
	return rc == -ENOTCONN ? 0 : rc;
}

int monc_osd_failure(struct monc *mc, const struct mon_osd_failure *f)
{
	struct enc e;
	enc_init(&e, 64);
	mon_osd_failure_encode(&e, f);
	int rc = send_enc(mc, MSG_T_MON_OSD_FAILURE, 0, &e);
	return rc == -ENOTCONN ? 0 : rc;
}

void monc_want_ticket(struct monc *mc)
{
	mc->want_ticket = 1;
	mc->ticket_at_ns = 0;
	if (mc->up)
		send_ticket_req(mc);
}

/* ---- synchronous command ------------------------------------------------------ */

struct sync_ctx {
	int done;
	int rc;
	char *status;
	char *out;
	size_t out_len;
};

static void sync_cb(int result, const char *status, const uint8_t *out, size_t out_len, void *arg)
{
	struct sync_ctx *s = arg;
	s->done = 1;
	s->rc = result;
	s->status = strdup(status);
	s->out = malloc(out_len + 1);
	if (s->out) {
		memcpy(s->out, out, out_len);
		s->out[out_len] = 0;
		s->out_len = out_len;
	}
}

static void sync_closed(void *arg)
{
	*(int *)arg = 1;
}

int monc_command_sync(const struct monc_opts *o, const char *json, uint64_t timeout_ms,
                      char **status_out, char **out, size_t *out_len)
{
	uv_loop_t loop;
	struct monc *mc;
	struct sync_ctx s = { 0 };
	int closed = 0, rc;

	if (status_out)
		*status_out = NULL;
	if (out)
		*out = NULL;
	if (uv_loop_init(&loop))
		return -ENOMEM;
	rc = monc_create(&loop, o, NULL, &mc);
	if (rc) {
		uv_loop_close(&loop);
		return rc;
	}
	rc = monc_command(mc, json, strlen(json), timeout_ms, sync_cb, &s);
	if (rc == 0)
		while (!s.done && uv_run(&loop, UV_RUN_ONCE))
			;
	monc_close(mc, sync_closed, &closed);
	while (!closed && uv_run(&loop, UV_RUN_ONCE))
		;
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
	if (rc)
		return rc;
	if (status_out)
		*status_out = s.status;
	else
		free(s.status);
	if (out) {
		*out = s.out;
		if (out_len)
			*out_len = s.out_len;
	} else {
		free(s.out);
	}
	return s.rc;
}
