/* norn-mon: the monitor daemon.
 *
 * One libuv loop runs everything: the messenger (clients, OSDs and the
 * other mons), a tick timer that drives Raft, a check handle that drains
 * Raft's ready work once per loop iteration (so entries proposed by many
 * commands in one iteration share one fsync), and a slow timer for the
 * leader's duties (beacon grace, failure reports, automatic out, service
 * key rotation).
 *
 * Raft host contract (mon/raft.h): every ready is persisted with
 * raft_store_apply_ready() (one fsynced LMDB transaction) BEFORE its
 * messages are sent; committed entries are applied to struct mon_state
 * (mon_cmd.c); every mon_snapshot_every applied entries the state is
 * encoded, handed to raft_compact() and saved with
 * raft_store_save_snapshot(), so the store stays bounded. A failed
 * persist is fatal: the mon exits.
 *
 * Writes: only the leader proposes. A peon answers a write (or status /
 * health, which need the leader's PG stats) with NORN_ENOTLEADER and the
 * leader's rank; monc retries there. Reads are served from committed
 * state by any mon. OSD boot / beacon / failure messages that reach a
 * peon are forwarded to the leader over the mon-to-mon connection.
 *
 * Raft node ids are derived from mon names (mon_raft_id: a 64-bit hash),
 * so they stay stable when ranks are renumbered by `mon rm`. Each mon
 * keeps an outgoing connection to every other mon of the monmap for its
 * Raft traffic (sync_peers() after every monmap change) and receives
 * theirs on its listener.
 *
 * Membership: `mon add NAME ADDR` (the leader first snapshots, so the new
 * mon starts from a snapshot, then proposes a Raft CONF entry whose
 * context is the JSON command; applying it adds the mon to the monmap and
 * its key to the authmap) and `mon rm NAME`. A joining mon is created with
 * `norn-mon --mkfs --join` and knows only the config and its key until
 * the leader's snapshot arrives.
 *
 * Bootstrap (--mkfs): see usage(). The founding mons share the config
 * file (fsid, mon_host) and one keyring file holding client.admin and
 * every mon.<name> key; each founder writes the same genesis state
 * (mon_state_genesis) to its data dir, and Raft's bootstrap entry makes
 * every founder start from the same log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <uv.h>

#include "common/assert.h"
#include "common/auth.h"
#include "common/config.h"
#include "common/crc32c.h"
#include "common/env.h"
#include "common/keyring.h"
#include "common/log.h"
#include "common/monc.h"
#include "common/msg.h"
#include "common/proto_mon.h"
#include "common/tls.h"
#include "crush/crush.h"
#include "mon/mon_state.h"
#include "mon/raft.h"
#include "mon/raft_store.h"
#include "norn/errors.h"

#define MON_MAX_PENDING RAFT_MAX_UNCOMMITTED
#define MON_MAX_SUBS 4096
#define MON_MAX_FAIL_REPORTS 16
#define MON_SLOW_TICK_MS 250
/* A peer mon that refused our key is asked again after this (doubling up
 * to the max): right after `mon add` the new mon may reach a peer that
 * has not applied the add yet and so does not know its key. */
#define MON_PEER_AUTH_RETRY_MS 100
#define MON_PEER_AUTH_RETRY_MAX_MS 2000
#define GENESIS_FILE "genesis"
#define JOIN_FILE "join"

struct pending {
	uint64_t index, term;
	struct msgr_conn *c;          /* NULL: internal proposal */
	uint64_t tid;
	int want_json;                /* reply with the output, else the status only */
};

struct sub {
	struct msgr_conn *c;
	uint32_t what;
	uint64_t osd_have, mon_have;
};

struct fail_report {
	int32_t reporter;
	uint64_t at_ns;
};

struct osd_info {                  /* leader memory, per OSD id */
	uint64_t last_beacon_ns;
	uint64_t down_since_ns;
	uint64_t capacity, used;
	uint64_t action_after_ns;      /* no new automatic proposal before */
	uint32_t n_pgs;
	struct mon_pg_stat *pgs;
	uint32_t n_reports;
	struct fail_report reports[MON_MAX_FAIL_REPORTS];
};

struct mon {
	uv_loop_t *loop;
	struct norn_config cfg;
	char name[MONMAP_NAME_MAX];
	char entity[AUTH_ENTITY_NAME_MAX];
	char data_dir[1024];
	uint32_t rank;
	uint8_t key[AUTH_KEY_LEN];
	struct mon_state st;
	struct raft *raft;
	struct raft_store *store;
	struct msgr *msgr;
	struct peer {
		char name[MONMAP_NAME_MAX];
		struct map_addr addr;
		uint64_t id;
		struct msgr_conn *c;
		uint64_t heard_ns;
		uint64_t auth_retry_ns;    /* reconnect after a refusal (0: none due) */
		uint64_t auth_backoff_ms;  /* next refusal's delay */
		uint32_t auth_refusals;    /* in a row */
	} peers[MONMAP_MAX_MONS];
	uint32_t n_peers;
	uint64_t my_id;
	int joining;                   /* no state yet: waiting for a snapshot */
	struct keyring kr;             /* the keyring file (mon keys for a joining mon) */
	int force_snapshot;
	int monmap_changed;
	uv_timer_t tick, slow;
	uv_check_t check;
	uv_signal_t sig_term, sig_int;
	struct pending pend[MON_MAX_PENDING];
	uint32_t n_pend;
	struct sub subs[MON_MAX_SUBS];
	uint32_t n_subs;
	struct osd_info *osds;
	uint32_t n_osds;
	enum raft_role last_role;
	uint64_t leader_since_ns;
	uint64_t last_tick_ns;         /* to report a starved event loop */
	uint64_t last_snap_index;
	uint64_t rotate_after_ns;
	uint64_t osdmap_pushed;        /* last epoch pushed to subscribers */
	uint64_t monmap_pushed;
	int in_ready;
};

static uint64_t now_ns(void) { return norn_mono_ns(); }

/* Raft id of a mon: FNV-1a of its name, never RAFT_NONE. */
static uint64_t mon_raft_id(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = name; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

static int64_t rank_of_id(const struct mon *m, uint64_t id)
{
	if (id == RAFT_NONE)
		return -1;
	for (uint32_t r = 0; r < m->st.monmap.n_mons; r++)
		if (mon_raft_id(m->st.monmap.mons[r].name) == id)
			return r;
	return -1;
}

static int64_t leader_rank(const struct mon *m)
{
	return rank_of_id(m, raft_leader(m->raft));
}

static struct peer *peer_by_id(struct mon *m, uint64_t id)
{
	for (uint32_t i = 0; i < m->n_peers; i++)
		if (m->peers[i].id == id)
			return &m->peers[i];
	return NULL;
}

static struct peer *peer_by_name(struct mon *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_peers; i++)
		if (!strcmp(m->peers[i].name, name))
			return &m->peers[i];
	return NULL;
}

/* Our rank in the current monmap (found by name), or UINT32_MAX. */
static void update_rank(struct mon *m)
{
	const struct monmap_mon *me = monmap_find(&m->st.monmap, m->name);
	m->rank = me ? me->rank : UINT32_MAX;
}

/* Keep one outgoing connection per other mon of the monmap. */
static void sync_peers(struct mon *m)
{
	update_rank(m);
	for (uint32_t i = 0; i < m->n_peers;) {
		struct peer *p = &m->peers[i];
		const struct monmap_mon *mm = monmap_find(&m->st.monmap, p->name);
		if (mm && map_addr_eq(&mm->addr, &p->addr)) {
			i++;
			continue;
		}
		if (p->c)
			msgr_conn_close(p->c, NULL, NULL);
		m->peers[i] = m->peers[--m->n_peers];
	}
	for (uint32_t r = 0; r < m->st.monmap.n_mons; r++) {
		const struct monmap_mon *mm = &m->st.monmap.mons[r];
		if (!strcmp(mm->name, m->name) || peer_by_name(m, mm->name))
			continue;
		NORN_ASSERT(m->n_peers < MONMAP_MAX_MONS);
		struct peer *p = &m->peers[m->n_peers];
		memset(p, 0, sizeof(*p));
		_Static_assert(sizeof(p->name) == sizeof(mm->name), "mon name sizes");
		memcpy(p->name, mm->name, sizeof(p->name));
		p->name[sizeof(p->name) - 1] = 0;
		p->addr = mm->addr;
		p->id = mon_raft_id(mm->name);
		if (msgr_connect(m->msgr, mm->addr.host, mm->addr.port, NULL, &p->c) == 0)
			m->n_peers++;
	}
}

static int is_leader(const struct mon *m)
{
	return raft_role(m->raft) == RAFT_LEADER;
}

/* ---- sending -------------------------------------------------------------- */

static void free_buf_cb(void *arg, int status)
{
	free(arg);
}

/* Send the encoder's buffer (taken over) on @c. */
static int send_enc(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch, struct enc *e)
{
	size_t len;
	int rc = enc_error(e);
	if (rc) {
		enc_free(e);
		return rc;
	}
	uint8_t *buf = enc_take(e, &len);
	struct iovec iov = { buf, len };
	rc = msgr_send(c, type, tid, epoch, &iov, 1, free_buf_cb, buf);
	if (rc)
		free(buf);
	return rc;
}

static void reply(struct mon *m, struct msgr_conn *c, uint64_t tid, int rc, const char *status,
                  const uint8_t *out, size_t out_len)
{
	struct mon_command_reply r = {
		.result = rc, .status = status, .status_len = strlen(status),
		.out = out, .out_len = out_len, .leader_rank = (int32_t)leader_rank(m),
	};
	struct enc e;
	enc_init(&e, 128 + out_len + r.status_len);
	mon_command_reply_encode(&e, &r);
	send_enc(c, MSG_T_MON_COMMAND_REPLY, tid, m->st.osdmap.epoch, &e);
}

/* ---- subscriptions ---------------------------------------------------------- */

static void push_osdmap(struct mon *m, struct sub *s)
{
	const struct osdmap *om = &m->st.osdmap;
	struct mon_osdmap_msg msg;
	struct enc e, full;
	uint64_t have = s->osd_have;

	if (!(s->what & MON_SUB_OSDMAP) || have >= om->epoch)
		return;
	memset(&msg, 0, sizeof(msg));
	enc_init(&full, 0);
	uint64_t n = om->epoch - have;
	int incs_ok = have > 0 && n <= MON_MAX_INCS_PER_MSG;
	for (uint64_t ep = have + 1; incs_ok && ep <= om->epoch; ep++) {
		size_t l;
		const uint8_t *b = mon_state_hist(&m->st, ep, &l);
		if (!b) {
			incs_ok = 0;
			break;
		}
		msg.incs[msg.n_incs] = b;
		msg.inc_lens[msg.n_incs++] = l;
	}
	if (incs_ok) {
		msg.first_inc = have + 1;
	} else {
		msg.n_incs = 0;
		enc_init(&full, 65536);
		if (osdmap_encode(om, &full)) {
			enc_free(&full);
			return;
		}
		msg.full_epoch = om->epoch;
		msg.full = full.buf;
		msg.full_len = full.len;
	}
	enc_init(&e, 1024 + full.len);
	mon_osdmap_msg_encode(&e, &msg);
	enc_free(&full);
	if (send_enc(s->c, MSG_T_MON_OSDMAP, 0, om->epoch, &e) == 0)
		s->osd_have = om->epoch;
}

static void push_monmap(struct mon *m, struct sub *s)
{
	struct enc e;
	if (!(s->what & MON_SUB_MONMAP) || s->mon_have >= m->st.monmap.epoch)
		return;
	enc_init(&e, 1024);
	monmap_encode(&m->st.monmap, &e);
	if (send_enc(s->c, MSG_T_MON_MONMAP, 0, m->st.osdmap.epoch, &e) == 0)
		s->mon_have = m->st.monmap.epoch;
}

static void push_all(struct mon *m)
{
	if (m->osdmap_pushed == m->st.osdmap.epoch && m->monmap_pushed == m->st.monmap.epoch)
		return;
	for (uint32_t i = 0; i < m->n_subs; i++) {
		push_osdmap(m, &m->subs[i]);
		push_monmap(m, &m->subs[i]);
	}
	m->osdmap_pushed = m->st.osdmap.epoch;
	m->monmap_pushed = m->st.monmap.epoch;
}

/* ---- Raft glue ----------------------------------------------------------------- */

static void fatal(const char *what, int rc)
{
	NLOG(MON, ERR, "fatal: %s: %s; stopping", what, norn_strerror(rc));
	_exit(1);
}

static void send_raft_msg(struct mon *m, const struct raft_msg *rm)
{
	struct peer *p = peer_by_id(m, rm->to);
	struct enc e;

	if (!p || !p->c)
		return;
	enc_init(&e, 256);
	if (raft_msg_encode(rm, &e)) {
		enc_free(&e);
		return;
	}
	if (msgr_conn_is_up(p->c) || msgr_conn_queued_bytes(p->c) < (8u << 20))
		send_enc(p->c, MSG_T_MON_RAFT, 0, m->st.osdmap.epoch, &e);
	else
		enc_free(&e);   /* a dead peer: Raft retransmits */
}

static void finish_pending(struct mon *m, uint64_t index, uint64_t term, struct mon_result *res)
{
	uint32_t i = 0;
	while (i < m->n_pend) {
		struct pending *p = &m->pend[i];
		if (p->index > index) {
			i++;
			continue;
		}
		if (p->c) {
			if (p->index == index && p->term == term)
				reply(m, p->c, p->tid, res->rc, res->status, res->out.buf,
				      p->want_json ? res->out.len : 0);
			else
				reply(m, p->c, p->tid, NORN_ENOTLEADER, "leadership changed; retry", NULL, 0);
		}
		m->pend[i] = m->pend[--m->n_pend];
	}
}

static void fail_all_pending(struct mon *m)
{
	for (uint32_t i = 0; i < m->n_pend; i++)
		if (m->pend[i].c)
			reply(m, m->pend[i].c, m->pend[i].tid, NORN_ENOTLEADER, "leadership changed; retry",
			      NULL, 0);
	m->n_pend = 0;
}

static void apply_entry(struct mon *m, const struct raft_entry *e)
{
	struct mon_result res;

	mon_result_init(&res);
	if (m->joining && e->type != RAFT_ENTRY_NOOP) {
		/* a joining mon has no base state: entries without the snapshot
		 * they follow would build a different state machine */
		fatal("joining mon got log entries before a snapshot (restart it once the leader has compacted)",
		      NORN_ECORRUPT);
	}
	if (e->type == RAFT_ENTRY_NORMAL) {
		mon_state_apply(&m->st, e->data, e->len, &res);
		if (res.rc)
			NLOG(MON, DEBUG, "entry %" PRIu64 " refused: %s", e->index, res.status);
	} else if (e->type == RAFT_ENTRY_CONF) {
		struct raft_config c;
		const uint8_t *ctx;
		size_t cl;
		if (raft_conf_entry_decode(e->data, e->len, &c, &ctx, &cl) == 0 && cl) {
			mon_state_apply_conf(&m->st, ctx, cl, &res);
			m->monmap_changed = 1;
			/* later mons joining must start from a snapshot */
			m->force_snapshot = 1;
		}
		if (!res.status[0])
			snprintf(res.status, sizeof(res.status), "ok");
	} else {
		snprintf(res.status, sizeof(res.status), "ok");
	}
	finish_pending(m, e->index, e->term, &res);
	mon_result_free(&res);
}

static void maybe_snapshot(struct mon *m)
{
	uint64_t applied = raft_applied_index(m->raft);
	const struct raft_snapshot_meta *sm = raft_snapshot_meta(m->raft);
	struct enc e;
	int rc;

	if (applied <= sm->index || m->joining)
		return;
	if (!m->force_snapshot && applied < sm->index + (uint64_t)m->cfg.mon_snapshot_every)
		return;
	m->force_snapshot = 0;
	enc_init(&e, 1 << 16);
	rc = mon_state_encode(&m->st, &e);
	if (!rc)
		rc = raft_compact(m->raft, applied, e.buf, e.len);
	if (!rc) {
		rc = raft_store_save_snapshot(m->store, raft_snapshot_meta(m->raft), e.buf, e.len);
		if (rc)
			fatal("saving snapshot", rc);
		NLOG(MON, INFO, "snapshot at index %" PRIu64 " (%zu bytes)", applied, e.len);
	} else {
		NLOG(MON, WARN, "snapshot at %" PRIu64 " failed: %s", applied, norn_strerror(rc));
	}
	enc_free(&e);
}

static void role_changed(struct mon *m, enum raft_role now)
{
	NLOG(MON, INFO, "raft role %s -> %s (term %" PRIu64 ", leader rank %" PRId64 ")",
	     raft_role_name(m->last_role), raft_role_name(now), raft_term(m->raft), leader_rank(m));
	if (m->last_role == RAFT_LEADER)
		fail_all_pending(m);
	if (now == RAFT_LEADER) {
		uint64_t t = now_ns();
		m->leader_since_ns = t;
		for (uint32_t i = 0; i < m->n_osds; i++) {
			m->osds[i].last_beacon_ns = t;
			m->osds[i].down_since_ns = 0;
			m->osds[i].action_after_ns = 0;
			m->osds[i].n_reports = 0;
		}
		m->rotate_after_ns = 0;
	}
	m->last_role = now;
}

static void process_ready(struct mon *m)
{
	struct raft_ready rd;
	int rc;

	if (m->in_ready)
		return;
	m->in_ready = 1;
	while (raft_ready_get(m->raft, &rd)) {
		uint64_t t0 = now_ns();
		rc = raft_store_apply_ready(m->store, &rd);
		if (rc)
			fatal("persisting raft state", rc);
		uint64_t took_ms = (now_ns() - t0) / 1000000;
		if (took_ms * 2 >= m->cfg.mon_election_timeout_ms)
			NLOG(MON, WARN, "persisting raft state took %" PRIu64 " ms (election timeout %"
			     PRIu64 " ms): a slow disk can cost the leader its quorum", took_ms,
			     (uint64_t)m->cfg.mon_election_timeout_ms);
		for (size_t i = 0; i < rd.n_msgs; i++)
			send_raft_msg(m, &rd.msgs[i]);
		if (rd.snapshot) {
			rc = mon_state_decode(&m->st, rd.snapshot_data, rd.snapshot_len);
			if (rc)
				fatal("installing snapshot from leader", rc);
			m->joining = 0;
			m->monmap_changed = 1;
			NLOG(MON, INFO, "installed snapshot at index %" PRIu64, rd.snapshot->index);
		}
		for (size_t i = 0; i < rd.n_committed; i++)
			apply_entry(m, &rd.committed[i]);
		raft_ready_advance(m->raft, &rd);
	}
	m->in_ready = 0;
	if (m->monmap_changed) {
		m->monmap_changed = 0;
		sync_peers(m);
	}
	if (raft_role(m->raft) != m->last_role)
		role_changed(m, raft_role(m->raft));
	maybe_snapshot(m);
	push_all(m);
}

static void on_check(uv_check_t *h)
{
	process_ready(h->data);
}

/* Reconnect to peers that refused our key once their retry is due. */
static void retry_refused_peers(struct mon *m)
{
	uint64_t now = now_ns();

	for (uint32_t i = 0; i < m->n_peers; i++) {
		struct peer *p = &m->peers[i];
		if (!p->auth_retry_ns || now < p->auth_retry_ns)
			continue;
		p->auth_retry_ns = 0;
		if (p->c)
			msgr_conn_close(p->c, NULL, NULL);
		p->c = NULL;
		if (msgr_connect(m->msgr, p->addr.host, p->addr.port, NULL, &p->c)) {
			p->c = NULL;
			p->auth_retry_ns = now + p->auth_backoff_ms * 1000000ull;
		}
	}
}

static void on_tick(uv_timer_t *t)
{
	struct mon *m = t->data;
	uint64_t now = now_ns();
	if (m->last_tick_ns && (now - m->last_tick_ns) / 1000000 * 2 >= m->cfg.mon_election_timeout_ms)
		NLOG(MON, WARN, "tick %" PRIu64 " ms late (election timeout %" PRIu64 " ms)",
		     (now - m->last_tick_ns) / 1000000 - m->cfg.mon_tick_ms, (uint64_t)m->cfg.mon_election_timeout_ms);
	m->last_tick_ns = now;
	retry_refused_peers(m);
	raft_tick(m->raft);
	process_ready(m);
}

/* Propose a write command (a json_t the caller keeps). @c/@tid: where the
 * reply goes (NULL for internal proposals). */
static int propose(struct mon *m, json_t *cmd, struct msgr_conn *c, uint64_t tid, int want_json)
{
	uint64_t index;
	int rc;

	if (!is_leader(m))
		return NORN_ENOTLEADER;
	if (m->n_pend >= MON_MAX_PENDING)
		return NORN_EAGAIN;
	rc = mon_cmd_prepare(cmd, norn_real_ns());
	if (rc)
		return rc;
	char *s = json_dumps(cmd, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	rc = raft_propose(m->raft, s, strlen(s), &index);
	free(s);
	if (rc)
		return rc;
	m->pend[m->n_pend++] = (struct pending){ index, raft_term(m->raft), c, tid, want_json };
	return 0;
}

/* `mon add NAME ADDR` / `mon rm NAME`: a Raft membership change whose
 * CONF entry carries the command (mon_state_apply_conf applies it). The
 * leader snapshots first so that the new mon starts from a snapshot.
 * Returns 0 when proposed (reply on commit), else fills @res. */
static int propose_membership(struct mon *m, const char *prefix, json_t *cmd, struct msgr_conn *c,
                              uint64_t tid, int want_json, struct mon_result *res)
{
	const char *name = json_string_value(json_object_get(cmd, "name"));
	uint64_t index, id;
	int add = !strcmp(prefix, "mon add"), rc;

	if (!is_leader(m))
		return mon_result_set(res, NORN_ENOTLEADER, "not the leader");
	if (!name || !name[0] || strlen(name) >= MONMAP_NAME_MAX)
		return mon_result_set(res, -EINVAL, "usage: mon add NAME HOST:PORT | mon rm NAME");
	id = mon_raft_id(name);
	if (add) {
		struct monmap tmp = m->st.monmap;
		struct map_addr a;
		const char *as = json_string_value(json_object_get(cmd, "addr"));
		if (!as || map_addr_parse(as, strlen(as), MONMAP_DEFAULT_PORT, &a))
			return mon_result_set(res, -EINVAL, "bad address '%s'", as ? as : "");
		rc = monmap_add(&tmp, name, &a);
		if (rc)
			return mon_result_set(res, rc, "cannot add mon.%s: %s", name, norn_strerror(rc));
		if (rank_of_id(m, id) >= 0)
			return mon_result_set(res, -EEXIST, "mon id collision for '%s'", name);
		m->force_snapshot = 1;
		maybe_snapshot(m);
	} else if (!monmap_find(&m->st.monmap, name)) {
		return mon_result_set(res, -ENOENT, "mon.%s is not in the monmap", name);
	}
	if (m->n_pend >= MON_MAX_PENDING)
		return mon_result_set(res, NORN_EAGAIN, "busy");
	rc = mon_cmd_prepare(cmd, norn_real_ns());
	if (rc)
		return mon_result_set(res, rc, "prepare failed");
	json_object_del(cmd, "format");
	char *s = json_dumps(cmd, JSON_COMPACT);
	if (!s)
		return mon_result_set(res, -ENOMEM, "out of memory");
	rc = raft_propose_conf(m->raft, add ? RAFT_CONF_ADD : RAFT_CONF_REMOVE, id, s, strlen(s), &index);
	free(s);
	if (rc)
		return mon_result_set(res, rc, "membership change refused: %s", norn_strerror(rc));
	m->pend[m->n_pend++] = (struct pending){ index, raft_term(m->raft), c, tid, want_json };
	return 0;
}

/* ---- health and status ------------------------------------------------------- */

struct pgsum {
	uint64_t n_pgs, unknown, inactive, degraded, stale;
	uint64_t bytes, objects, degraded_objs, misplaced_objs;
	json_t *by_state;             /* state string -> count */
	uint64_t *pool_bytes;         /* per pool index */
};

static void pg_summary(struct mon *m, struct pgsum *s)
{
	const struct osdmap *om = &m->st.osdmap;

	memset(s, 0, sizeof(*s));
	s->by_state = json_object();
	s->pool_bytes = calloc(om->n_pools ? om->n_pools : 1, sizeof(uint64_t));
	for (uint32_t pi = 0; pi < om->n_pools; pi++) {
		const struct osdmap_pool *p = &om->pools[pi];
		const struct mon_pg_stat **best = calloc(p->pg_num, sizeof(*best));
		uint8_t *stale = calloc(p->pg_num, 1);
		if (!best || !stale) {
			free(best);
			free(stale);
			continue;
		}
		for (uint32_t o = 0; o < m->n_osds && o < om->max_osd; o++) {
			struct osd_info *oi = &m->osds[o];
			for (uint32_t k = 0; k < oi->n_pgs; k++) {
				const struct mon_pg_stat *ps = &oi->pgs[k];
				if (ps->pool != p->id || ps->seed >= p->pg_num)
					continue;
				if (!best[ps->seed] || ps->epoch > best[ps->seed]->epoch) {
					best[ps->seed] = ps;
					stale[ps->seed] = !om->osds[o].up;
				}
			}
		}
		for (uint32_t seed = 0; seed < p->pg_num; seed++) {
			char st[256];
			s->n_pgs++;
			if (!best[seed]) {
				s->unknown++;
				snprintf(st, sizeof(st), "unknown");
			} else {
				uint32_t state = best[seed]->state | (stale[seed] ? PG_STATE_STALE : 0);
				pg_state_format(state, st, sizeof(st));
				if (!(state & PG_STATE_ACTIVE))
					s->inactive++;
				if (state & (PG_STATE_DEGRADED | PG_STATE_UNDERSIZED))
					s->degraded++;
				if (state & PG_STATE_STALE)
					s->stale++;
				s->bytes += best[seed]->bytes;
				s->objects += best[seed]->objects;
				s->degraded_objs += best[seed]->objects_degraded;
				s->misplaced_objs += best[seed]->objects_misplaced;
				s->pool_bytes[pi] += best[seed]->bytes;
			}
			json_t *c = json_object_get(s->by_state, st);
			json_object_set_new(s->by_state, st, json_integer(c ? json_integer_value(c) + 1 : 1));
		}
		free(best);
		free(stale);
	}
}

static void pgsum_free(struct pgsum *s)
{
	json_decref(s->by_state);
	free(s->pool_bytes);
}

static int mon_in_quorum(struct mon *m, uint32_t rank)
{
	if (rank == m->rank)
		return 1;
	if (rank >= m->st.monmap.n_mons)
		return 0;
	struct peer *p = peer_by_name(m, m->st.monmap.mons[rank].name);
	uint64_t limit = 3 * m->cfg.mon_election_timeout_ms * 1000000ull;
	return p && p->heard_ns && now_ns() - p->heard_ns < limit;
}

static void add_check(json_t *checks, const char *code, const char *sev, json_t *detail,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_check(json_t *checks, const char *code, const char *sev, json_t *detail,
                      const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(checks, json_pack("{s:s,s:s,s:s,s:o}", "code", code, "severity", sev,
	                                        "summary", msg, "detail", detail));
}

/* Health checks as a JSON array of {code, severity, summary, detail[]}. */
static json_t *health_checks(struct mon *m, struct pgsum *ps)
{
	const struct osdmap *om = &m->st.osdmap;
	json_t *checks = json_array();
	json_t *d;
	char buf[512];
	uint32_t n;

	/* MON_DOWN */
	d = json_array();
	n = 0;
	for (uint32_t r = 0; r < m->st.monmap.n_mons; r++)
		if (!mon_in_quorum(m, r)) {
			char a[MAP_ADDR_STR_MAX];
			map_addr_format(&m->st.monmap.mons[r].addr, a, sizeof(a));
			snprintf(buf, sizeof(buf), "mon.%s (rank %u) at %s is down (out of quorum)",
			         m->st.monmap.mons[r].name, r, a);
			json_array_append_new(d, json_string(buf));
			n++;
		}
	if (n)
		add_check(checks, "MON_DOWN", "HEALTH_WARN", d, "%u/%u mons down", n, m->st.monmap.n_mons);
	else
		json_decref(d);
	/* OSD_DOWN, OSD_HOST_DOWN, OSD_OUT */
	d = json_array();
	json_t *dout = json_array();
	uint32_t n_out = 0;
	n = 0;
	for (uint32_t i = 0; i < om->max_osd; i++) {
		const struct osdmap_osd *o = &om->osds[i];
		if (!o->exists)
			continue;
		if (!o->up && o->weight) {
			snprintf(buf, sizeof(buf), "osd.%u (host %s) is down", i, o->host[0] ? o->host : "?");
			json_array_append_new(d, json_string(buf));
			n++;
		}
		if (!o->up && !o->weight && o->up_from) {
			snprintf(buf, sizeof(buf), "osd.%u is down and out", i);
			json_array_append_new(dout, json_string(buf));
			n_out++;
		}
	}
	if (n)
		add_check(checks, "OSD_DOWN", "HEALTH_WARN", d, "%u osds down", n);
	else
		json_decref(d);
	if (n_out)
		add_check(checks, "OSD_OUT", "HEALTH_WARN", dout, "%u osds down and out", n_out);
	else
		json_decref(dout);
	/* hosts whose every OSD is down */
	d = json_array();
	n = 0;
	for (uint32_t i = 0; i < om->max_osd; i++) {
		const struct osdmap_osd *o = &om->osds[i];
		if (!o->exists || !o->host[0])
			continue;
		int first = 1, all_down = 1, cnt = 0;
		for (uint32_t j = 0; j < om->max_osd; j++) {
			const struct osdmap_osd *q = &om->osds[j];
			if (!q->exists || strcmp(q->host, o->host))
				continue;
			if (j < i)
				first = 0;
			if (q->up)
				all_down = 0;
			cnt++;
		}
		if (first && all_down) {
			snprintf(buf, sizeof(buf), "host %s (%d osds) is down", o->host, cnt);
			json_array_append_new(d, json_string(buf));
			n++;
		}
	}
	if (n)
		add_check(checks, "OSD_HOST_DOWN", "HEALTH_WARN", d, "%u hosts (with all their osds) down", n);
	else
		json_decref(d);
	/* OSD_NEARFULL / OSD_FULL */
	d = json_array();
	json_t *dfull = json_array();
	uint32_t n_full = 0;
	n = 0;
	for (uint32_t i = 0; i < m->n_osds && i < om->max_osd; i++) {
		const struct osd_info *oi = &m->osds[i];
		if (!om->osds[i].exists || !oi->capacity)
			continue;
		uint64_t pct = oi->used * 100 / oi->capacity;
		if (pct >= (uint64_t)m->cfg.mon_osd_full_ratio_pct) {
			snprintf(buf, sizeof(buf), "osd.%u is full at %" PRIu64 "%%", i, pct);
			json_array_append_new(dfull, json_string(buf));
			n_full++;
		} else if (pct >= (uint64_t)m->cfg.mon_osd_nearfull_ratio_pct) {
			snprintf(buf, sizeof(buf), "osd.%u is near full at %" PRIu64 "%%", i, pct);
			json_array_append_new(d, json_string(buf));
			n++;
		}
	}
	if (n_full)
		add_check(checks, "OSD_FULL", "HEALTH_ERR", dfull, "%u full osds", n_full);
	else
		json_decref(dfull);
	if (n)
		add_check(checks, "OSD_NEARFULL", "HEALTH_WARN", d, "%u nearfull osds", n);
	else
		json_decref(d);
	/* PGs */
	if (ps->inactive || ps->unknown) {
		d = json_array();
		snprintf(buf, sizeof(buf), "%" PRIu64 " pgs inactive, %" PRIu64 " pgs unknown (no report)",
		         ps->inactive, ps->unknown);
		json_array_append_new(d, json_string(buf));
		add_check(checks, "PG_AVAILABILITY", "HEALTH_WARN", d,
		          "Reduced data availability: %" PRIu64 " pgs inactive", ps->inactive + ps->unknown);
	}
	if (ps->degraded) {
		d = json_array();
		snprintf(buf, sizeof(buf), "%" PRIu64 " objects degraded", ps->degraded_objs);
		json_array_append_new(d, json_string(buf));
		add_check(checks, "PG_DEGRADED", "HEALTH_WARN", d,
		          "Degraded data redundancy: %" PRIu64 " pgs degraded", ps->degraded);
	}
	/* POOL_NEAR_FULL: pool usage against its quota, or against the raw
	 * capacity of the cluster divided by its size */
	uint64_t raw = 0, raw_used = 0;
	for (uint32_t i = 0; i < m->n_osds && i < om->max_osd; i++)
		if (om->osds[i].exists && om->osds[i].weight) {
			raw += m->osds[i].capacity;
			raw_used += m->osds[i].used;
		}
	d = json_array();
	n = 0;
	for (uint32_t pi = 0; pi < om->n_pools; pi++) {
		const struct osdmap_pool *p = &om->pools[pi];
		uint64_t used = ps->pool_bytes[pi], max;
		if (p->quota_max_bytes)
			max = p->quota_max_bytes;
		else
			max = p->size ? (raw > raw_used ? raw - raw_used : 0) / p->size + used : 0;
		if (max && used * 100 >= max * (uint64_t)m->cfg.mon_pool_near_full_ratio_pct) {
			snprintf(buf, sizeof(buf), "pool '%s' uses %" PRIu64 " of %" PRIu64 " bytes", p->name, used,
			         max);
			json_array_append_new(d, json_string(buf));
			n++;
		}
	}
	if (n)
		add_check(checks, "POOL_NEAR_FULL", "HEALTH_WARN", d, "%u pools near full", n);
	else
		json_decref(d);
	/* flags */
	if (om->flags) {
		char f[256];
		osdmap_flags_format(om->flags, f, sizeof(f));
		add_check(checks, "OSDMAP_FLAGS", "HEALTH_WARN", json_array(), "%s flag(s) set", f);
	}
	return checks;
}

static const char *overall(json_t *checks)
{
	const char *worst = "HEALTH_OK";
	size_t i;
	json_t *c;
	json_array_foreach(checks, i, c) {
		const char *s = json_string_value(json_object_get(c, "severity"));
		if (s && !strcmp(s, "HEALTH_ERR"))
			return "HEALTH_ERR";
		worst = "HEALTH_WARN";
	}
	return worst;
}

static void human_bytes(uint64_t b, char *buf, size_t cap)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* `pg stat`, `pg dump`, `osd df` (added by the client helper for the
 * object CLI): read-only views of the leader's PG statistics and OSD usage
 * from beacons. A PG's stats come from the newest report among its
 * reporters; a PG nobody reported is "unknown". */
static void eadd(struct enc *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void eadd(struct enc *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		enc_bytes(o, line, (size_t)NORN_MIN(n, (int)sizeof(line) - 1));
}

static const struct mon_pg_stat *pg_best_stat(struct mon *m, int64_t pool, uint32_t seed, int *stale)
{
	const struct osdmap *om = &m->st.osdmap;
	const struct mon_pg_stat *best = NULL;
	for (uint32_t o = 0; o < m->n_osds && o < om->max_osd; o++) {
		struct osd_info *oi = &m->osds[o];
		for (uint32_t k = 0; k < oi->n_pgs; k++) {
			const struct mon_pg_stat *ps = &oi->pgs[k];
			if (ps->pool == pool && ps->seed == seed && (!best || ps->epoch > best->epoch)) {
				best = ps;
				*stale = !om->osds[o].up;
			}
		}
	}
	return best;
}

static void cmd_pg_views(struct mon *m, const char *prefix, int want_json, struct mon_result *res)
{
	const struct osdmap *om = &m->st.osdmap;
	struct enc *o = &res->out;
	char b1[32], b2[32], b3[32];
	uint64_t raw = 0, used = 0;

	for (uint32_t i = 0; i < m->n_osds && i < om->max_osd; i++)
		if (om->osds[i].exists) {
			raw += m->osds[i].capacity;
			used += m->osds[i].used;
		}
	if (!strcmp(prefix, "pg stat")) {
		struct pgsum ps;
		const char *k;
		json_t *v;
		int first = 1;
		pg_summary(m, &ps);
		if (want_json) {
			json_t *j = json_pack("{s:I,s:O,s:I,s:I,s:I,s:I,s:I}", "num_pgs", (json_int_t)ps.n_pgs,
			                      "pgs_by_state", ps.by_state, "num_objects", (json_int_t)ps.objects,
			                      "data_bytes", (json_int_t)ps.bytes, "bytes_used", (json_int_t)used,
			                      "bytes_total", (json_int_t)raw, "epoch", (json_int_t)om->epoch);
			char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			if (s)
				enc_bytes(o, s, strlen(s));
			free(s);
			json_decref(j);
		} else {
			eadd(o, "%" PRIu64 " pgs: ", ps.n_pgs);
			json_object_foreach(ps.by_state, k, v) {
				eadd(o, "%s%" PRId64 " %s", first ? "" : ", ", (int64_t)json_integer_value(v), k);
				first = 0;
			}
			human_bytes(ps.bytes, b1, sizeof(b1));
			human_bytes(used, b2, sizeof(b2));
			human_bytes(raw > used ? raw - used : 0, b3, sizeof(b3));
			eadd(o, "; %" PRIu64 " objects, %s data, %s used, %s", ps.objects, b1, b2, b3);
			human_bytes(raw, b1, sizeof(b1));
			eadd(o, " / %s avail\n", b1);
		}
		pgsum_free(&ps);
		mon_result_set(res, 0, "%s", "");
		return;
	}
	if (!strcmp(prefix, "pg dump")) {
		json_t *arr = want_json ? json_array() : NULL;
		if (!want_json)
			eadd(o, "%-10s %-32s %8s %12s %8s %8s  %s\n", "PG", "STATE", "OBJECTS", "BYTES",
			     "EPOCH", "VERSION", "ACTING");
		for (uint32_t pi = 0; pi < om->n_pools; pi++) {
			const struct osdmap_pool *p = &om->pools[pi];
			for (uint32_t seed = 0; seed < p->pg_num; seed++) {
				int stale = 0;
				const struct mon_pg_stat *ps = pg_best_stat(m, p->id, seed, &stale);
				struct osdmap_pg_mapping mp;
				char st[256], pgid[48], act[128];
				size_t al = 0;
				memset(&mp, 0, sizeof(mp));
				osdmap_pg_mapping(om, p->id, seed, &mp);
				snprintf(pgid, sizeof(pgid), "%" PRId64 ".%" PRIx32, p->id, seed);
				if (ps)
					pg_state_format(ps->state | (stale ? PG_STATE_STALE : 0), st, sizeof(st));
				else
					snprintf(st, sizeof(st), "unknown");
				act[0] = 0;
				for (uint32_t k = 0; k < mp.acting_n && al < sizeof(act) - 16; k++)
					al += (size_t)snprintf(act + al, sizeof(act) - al, "%s%d", k ? "," : "",
					                       mp.acting[k]);
				if (want_json) {
					json_t *a = json_array();
					for (uint32_t k = 0; k < mp.acting_n; k++)
						json_array_append_new(a, json_integer(mp.acting[k]));
					json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:i}",
					        "pgid", pgid, "state", st,
					        "objects", (json_int_t)(ps ? ps->objects : 0),
					        "bytes", (json_int_t)(ps ? ps->bytes : 0),
					        "reported_epoch", (json_int_t)(ps ? ps->epoch : 0),
					        "version", (json_int_t)(ps ? ps->version : 0), "acting", a,
					        "acting_primary", mp.acting_primary));
				} else {
					eadd(o, "%-10s %-32s %8" PRIu64 " %12" PRIu64 " %8" PRIu64 " %8" PRIu64 "  [%s] p%d\n",
					     pgid, st, ps ? ps->objects : 0, ps ? ps->bytes : 0, ps ? ps->epoch : 0,
					     ps ? ps->version : 0, act, mp.acting_primary);
				}
			}
		}
		if (want_json) {
			char *s = json_dumps(arr, JSON_COMPACT);
			if (s)
				enc_bytes(o, s, strlen(s));
			free(s);
			json_decref(arr);
		}
		mon_result_set(res, 0, "%s", "");
		return;
	}
	/* osd df: capacity and use per OSD, and how many PGs each serves */
	{
		uint32_t n = om->max_osd;
		uint32_t *pgs = calloc(n ? n : 1, sizeof(uint32_t));
		json_t *arr = want_json ? json_array() : NULL;
		if (!pgs) {
			mon_result_set(res, -ENOMEM, "out of memory");
			json_decref(arr);
			return;
		}
		for (uint32_t pi = 0; pi < om->n_pools; pi++) {
			const struct osdmap_pool *p = &om->pools[pi];
			for (uint32_t seed = 0; seed < p->pg_num; seed++) {
				struct osdmap_pg_mapping mp;
				if (osdmap_pg_mapping(om, p->id, seed, &mp))
					continue;
				for (uint32_t k = 0; k < mp.acting_n; k++)
					if (mp.acting[k] >= 0 && (uint32_t)mp.acting[k] < n)
						pgs[mp.acting[k]]++;
			}
		}
		if (!want_json)
			eadd(o, "%4s %9s %8s %10s %10s %10s %6s %5s  %s\n", "ID", "WEIGHT", "REWEIGHT", "SIZE",
			     "USED", "AVAIL", "%USE", "PGS", "STATUS");
		for (uint32_t i = 0; i < n && i < m->n_osds; i++) {
			const struct osdmap_osd *d = &om->osds[i];
			uint64_t cap, use;
			double w, pct;
			if (!d->exists)
				continue;
			cap = m->osds[i].capacity;
			use = m->osds[i].used;
			w = om->crush ? (double)crush_item_weight(om->crush, (int)i) / 65536.0 : 0.0;
			pct = cap ? 100.0 * (double)use / (double)cap : 0.0;
			if (want_json) {
				json_array_append_new(arr, json_pack("{s:i,s:f,s:f,s:I,s:I,s:I,s:f,s:i,s:s}", "id", (int)i,
				        "crush_weight", w, "reweight", (double)d->weight / OSDMAP_WEIGHT_IN,
				        "kb", (json_int_t)(cap / 1024), "kb_used", (json_int_t)(use / 1024),
				        "kb_avail", (json_int_t)((cap > use ? cap - use : 0) / 1024),
				        "utilization", pct, "pgs", (int)pgs[i], "status", d->up ? "up" : "down"));
			} else {
				human_bytes(cap, b1, sizeof(b1));
				human_bytes(use, b2, sizeof(b2));
				human_bytes(cap > use ? cap - use : 0, b3, sizeof(b3));
				eadd(o, "%4u %9.5f %8.5f %10s %10s %10s %6.2f %5u  %s\n", i, w,
				     (double)d->weight / OSDMAP_WEIGHT_IN, b1, b2, b3, pct, pgs[i],
				     d->up ? "up" : "down");
			}
		}
		if (want_json) {
			char *s = json_dumps(arr, JSON_COMPACT);
			if (s)
				enc_bytes(o, s, strlen(s));
			free(s);
			json_decref(arr);
		} else {
			human_bytes(raw, b1, sizeof(b1));
			human_bytes(used, b2, sizeof(b2));
			human_bytes(raw > used ? raw - used : 0, b3, sizeof(b3));
			eadd(o, "%4s %9s %8s %10s %10s %10s %6.2f\n", "", "TOTAL", "", b1, b2, b3,
			     raw ? 100.0 * (double)used / (double)raw : 0.0);
		}
		free(pgs);
		mon_result_set(res, 0, "%s", "");
	}
}

static void cmd_health_status(struct mon *m, const char *prefix, json_t *cmd, int want_json,
                              struct mon_result *res)
{
	struct pgsum ps;
	const struct osdmap *om = &m->st.osdmap;
	json_t *checks;
	int detail = json_is_true(json_object_get(cmd, "detail"));
	char *s;

	pg_summary(m, &ps);
	checks = health_checks(m, &ps);
	const char *h = overall(checks);
	if (!strcmp(prefix, "health")) {
		if (want_json) {
			s = json_dumps(json_pack("{s:s,s:O}", "status", h, "checks", checks), JSON_COMPACT);
		} else {
			struct enc *o = &res->out;
			size_t i;
			json_t *c;
			enc_bytes(o, h, strlen(h));
			json_array_foreach(checks, i, c) {
				const char *sm = json_string_value(json_object_get(c, "summary"));
				const char *code = json_string_value(json_object_get(c, "code"));
				char line[700];
				int n = snprintf(line, sizeof(line), detail ? "\n[%s] %s: %s" : "%s%s: %s",
				                 detail ? json_string_value(json_object_get(c, "severity")) + 7 :
				                 (i ? "; " : " "), code, sm);
				enc_bytes(o, line, (size_t)NORN_MIN(n, (int)sizeof(line) - 1));
				if (detail) {
					size_t k;
					json_t *dl;
					json_array_foreach(json_object_get(c, "detail"), k, dl) {
						n = snprintf(line, sizeof(line), "\n    %s", json_string_value(dl));
						enc_bytes(o, line, (size_t)NORN_MIN(n, (int)sizeof(line) - 1));
					}
				}
			}
			enc_bytes(o, "\n", 1);
			s = NULL;
		}
		if (s) {
			enc_bytes(&res->out, s, strlen(s));
			free(s);
		}
		json_decref(checks);
		pgsum_free(&ps);
		mon_result_set(res, 0, "%s", h);
		return;
	}
	/* status */
	uint32_t ne, nu, ni;
	char fsid[MAP_UUID_STR_LEN], line[1024];
	json_t *quorum = json_array();
	uint64_t raw = 0, used = 0;
	osdmap_osd_counts(om, &ne, &nu, &ni);
	for (uint32_t i = 0; i < m->n_osds && i < om->max_osd; i++)
		if (om->osds[i].exists) {
			raw += m->osds[i].capacity;
			used += m->osds[i].used;
		}
	map_uuid_format(om->fsid, fsid);
	for (uint32_t r = 0; r < m->st.monmap.n_mons; r++)
		if (mon_in_quorum(m, r))
			json_array_append_new(quorum, json_string(m->st.monmap.mons[r].name));
	if (want_json) {
		json_t *j = json_pack("{s:s,s:{s:s,s:O},s:{s:O,s:i,s:s,s:I},s:{s:I,s:i,s:i,s:i},"
		                      "s:{s:i,s:I,s:I,s:I,s:O,s:I,s:I}}",
		                      "fsid", fsid,
		                      "health", "status", h, "checks", checks,
		                      "monmap", "quorum", quorum, "num_mons", (int)m->st.monmap.n_mons,
		                      "leader", m->name, "epoch", (json_int_t)m->st.monmap.epoch,
		                      "osdmap", "epoch", (json_int_t)om->epoch, "num_osds", (int)ne,
		                      "num_up_osds", (int)nu, "num_in_osds", (int)ni,
		                      "pgmap", "num_pools", (int)om->n_pools, "num_pgs", (json_int_t)ps.n_pgs,
		                      "num_objects", (json_int_t)ps.objects, "data_bytes", (json_int_t)ps.bytes,
		                      "pgs_by_state", ps.by_state, "bytes_used", (json_int_t)used,
		                      "bytes_total", (json_int_t)raw);
		s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		if (s) {
			enc_bytes(&res->out, s, strlen(s));
			free(s);
		}
	} else {
		struct enc *o = &res->out;
		size_t i;
		json_t *c;
		char q[512] = "", b1[32], b2[32], b3[32], fl[256];
		const char *k;
		json_t *v;
		json_array_foreach(quorum, i, c) {
			size_t l = strlen(q);
			snprintf(q + l, sizeof(q) - l, "%s%s", i ? "," : "", json_string_value(c));
		}
#define OUT(...) do { int n_ = snprintf(line, sizeof(line), __VA_ARGS__); \
		enc_bytes(o, line, (size_t)NORN_MIN(n_, (int)sizeof(line) - 1)); } while (0)
		OUT("  cluster:\n    id:     %s\n    health: %s\n", fsid, h);
		json_array_foreach(checks, i, c)
			OUT("            %s: %s\n", json_string_value(json_object_get(c, "code")),
			    json_string_value(json_object_get(c, "summary")));
		OUT("\n  services:\n    mon: %u daemons, quorum %s (leader %s, term %" PRIu64 ")\n",
		    m->st.monmap.n_mons, q, m->name, raft_term(m->raft));
		osdmap_flags_format(om->flags, fl, sizeof(fl));
		OUT("    osd: %u osds: %u up, %u in; epoch e%" PRIu64 "%s%s\n", ne, nu, ni, om->epoch,
		    fl[0] ? "\n         flags " : "", fl);
		human_bytes(ps.bytes, b1, sizeof(b1));
		OUT("\n  data:\n    pools:   %u pools, %" PRIu64 " pgs\n    objects: %" PRIu64 " objects, %s\n",
		    om->n_pools, ps.n_pgs, ps.objects, b1);
		human_bytes(used, b2, sizeof(b2));
		human_bytes(raw > used ? raw - used : 0, b3, sizeof(b3));
		human_bytes(raw, b1, sizeof(b1));
		OUT("    usage:   %s used, %s / %s avail\n", b2, b3, b1);
		if (ps.n_pgs) {
			OUT("    pgs:     ");
			int first = 1;
			json_object_foreach(ps.by_state, k, v) {
				OUT("%s%" PRId64 " %s\n", first ? "" : "             ", (int64_t)json_integer_value(v), k);
				first = 0;
			}
		}
		if (ps.degraded_objs || ps.misplaced_objs)
			OUT("    io:      %" PRIu64 " objects degraded, %" PRIu64 " misplaced\n", ps.degraded_objs,
			    ps.misplaced_objs);
#undef OUT
	}
	json_decref(quorum);
	json_decref(checks);
	pgsum_free(&ps);
	mon_result_set(res, 0, "%s", h);
}

static void cmd_mon_stat(struct mon *m, int want_json, struct mon_result *res)
{
	json_t *q = json_array();
	char qs[512] = "";
	int64_t lr = leader_rank(m);
	const char *lname = lr >= 0 && (uint64_t)lr < m->st.monmap.n_mons ? m->st.monmap.mons[lr].name : "";

	for (uint32_t r = 0; r < m->st.monmap.n_mons; r++) {
		/* a peon only hears the leader: it reports what it can see */
		if (!is_leader(m) ? (r == m->rank || (int64_t)r == lr) : mon_in_quorum(m, r)) {
			size_t l = strlen(qs);
			json_array_append_new(q, json_string(m->st.monmap.mons[r].name));
			snprintf(qs + l, sizeof(qs) - l, "%s%s", l ? "," : "", m->st.monmap.mons[r].name);
		}
	}
	if (want_json) {
		json_t *j = json_pack("{s:I,s:i,s:s,s:i,s:I,s:o,s:s,s:I,s:I}", "epoch",
		                      (json_int_t)m->st.monmap.epoch, "num_mons", (int)m->st.monmap.n_mons,
		                      "leader", lname, "leader_rank", (int)lr, "term", (json_int_t)raft_term(m->raft),
		                      "quorum", q, "answered_by", m->name,
		                      "commit_index", (json_int_t)raft_commit_index(m->raft),
		                      "osdmap_epoch", (json_int_t)m->st.osdmap.epoch);
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		if (s) {
			enc_bytes(&res->out, s, strlen(s));
			free(s);
		}
	} else {
		char line[1024];
		int n = snprintf(line, sizeof(line),
		                 "e%" PRIu64 ": %u mons, leader %s (rank %" PRId64 "), term %" PRIu64
		                 ", quorum %s (answered by mon.%s)\n",
		                 m->st.monmap.epoch, m->st.monmap.n_mons, lr >= 0 ? lname : "(none)", lr,
		                 raft_term(m->raft), qs, m->name);
		enc_bytes(&res->out, line, (size_t)NORN_MIN(n, (int)sizeof(line) - 1));
		json_decref(q);
	}
	mon_result_set(res, 0, "ok");
}

/* ---- commands from the wire -------------------------------------------------- */

static int caps_allow(struct msgr_conn *c, unsigned want)
{
	struct auth_caps caps;
	if (auth_caps_parse(msgr_conn_caps(c), &caps))
		return 0;
	return auth_caps_allow(&caps, AUTH_SVC_MON, -1, NULL, want);
}

/* `osd rm` safety (the leader's PG stats): a PG is safe to lose osd.N only
 * if its best stat is fresh (its reporter up), active+clean without any
 * degraded/recovering/peering/remapped flag, reported for the acting set
 * the current map gives it, and N is in neither that acting set nor the
 * up set. Returns 1 and fills @res when some PG is not (the caller then
 * refuses unless "force" is set), else 0. An OSD that is up is left to
 * mon_state_apply (refused there). */
static int osd_rm_unsafe(struct mon *m, const json_t *cmd, struct mon_result *res)
{
	const struct osdmap *om = &m->st.osdmap;
	const json_t *a = json_object_get(cmd, "ids");
	const uint32_t bad = PG_STATE_DEGRADED | PG_STATE_UNDERSIZED | PG_STATE_RECOVERING |
	                     PG_STATE_BACKFILLING | PG_STATE_PEERING | PG_STATE_DOWN |
	                     PG_STATE_INCOMPLETE | PG_STATE_STALE | PG_STATE_REMAPPED |
	                     PG_STATE_RECOVERY_WAIT | PG_STATE_BACKFILL_WAIT | PG_STATE_CREATING;
	int32_t ids[256];
	uint32_t n = 0;
	size_t i;
	const json_t *v;

	if (json_is_array(a)) {
		json_array_foreach(a, i, v) {
			long long x = -1;
			if (json_is_integer(v))
				x = json_integer_value(v);
			else if (json_is_string(v) && *json_string_value(v)) {
				char *end;
				x = strtoll(json_string_value(v), &end, 10);
				if (*end)
					x = -1;
			}
			if (x >= 0 && x < OSDMAP_MAX_OSD && n < NORN_ARRAY_SIZE(ids))
				ids[n++] = (int32_t)x;
		}
	} else if (json_is_integer(json_object_get(cmd, "id"))) {
		json_int_t x = json_integer_value(json_object_get(cmd, "id"));
		if (x >= 0 && x < OSDMAP_MAX_OSD)
			ids[n++] = (int32_t)x;
	}
	for (uint32_t k = 0; k < n; k++) {
		int32_t id = ids[k];
		uint64_t unsafe = 0;
		char first[48] = "", first_st[256] = "";
		if (!osdmap_osd_exists(om, id) || osdmap_osd_is_up(om, id))
			continue;
		for (uint32_t pi = 0; pi < om->n_pools; pi++) {
			const struct osdmap_pool *p = &om->pools[pi];
			for (uint32_t seed = 0; seed < p->pg_num; seed++) {
				int stale = 0, ok = 1;
				const struct mon_pg_stat *ps = pg_best_stat(m, p->id, seed, &stale);
				struct osdmap_pg_mapping mp;
				if (osdmap_pg_mapping(om, p->id, seed, &mp))
					ok = 0;
				else if (!ps || stale || (ps->state & (PG_STATE_ACTIVE | PG_STATE_CLEAN)) !=
				                         (PG_STATE_ACTIVE | PG_STATE_CLEAN) || (ps->state & bad))
					ok = 0;
				else if (ps->n_acting != mp.acting_n ||
				         memcmp(ps->acting, mp.acting, mp.acting_n * sizeof(int32_t)))
					ok = 0;          /* a stat of an older interval */
				for (uint32_t j = 0; ok && j < mp.acting_n; j++)
					if (mp.acting[j] == id)
						ok = 0;
				for (uint32_t j = 0; ok && j < mp.up_n; j++)
					if (mp.up[j] == id)
						ok = 0;
				if (ok)
					continue;
				if (!unsafe++) {
					snprintf(first, sizeof(first), "%" PRId64 ".%" PRIx32, p->id, seed);
					if (ps)
						pg_state_format(ps->state | (stale ? PG_STATE_STALE : 0), first_st,
						                sizeof(first_st));
					else
						snprintf(first_st, sizeof(first_st), "unknown");
				}
			}
		}
		if (unsafe) {
			mon_result_set(res, -EBUSY, "osd.%d may still hold the only copy of the latest data of "
			               "%" PRIu64 " PG(s) (e.g. %s: %s); mark it out and wait until every PG is "
			               "active+clean without it, or use --force", id, unsafe, first, first_st);
			return 1;
		}
	}
	return 0;
}

static void handle_command(struct mon *m, struct msgr_conn *c, struct msg_in *in)
{
	struct mon_command mc;
	struct mon_result res;
	json_error_t jerr;
	json_t *cmd = NULL;
	const char *prefix;
	int rc;

	if (mon_command_decode(&mc, in->payload, in->len)) {
		reply(m, c, in->hdr.tid, NORN_ECORRUPT, "malformed command message", NULL, 0);
		return;
	}
	cmd = json_loadb(mc.json, mc.json_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!cmd || !json_is_object(cmd) || !(prefix = json_string_value(json_object_get(cmd, "prefix")))) {
		reply(m, c, in->hdr.tid, -EINVAL, "command is not a JSON object with a \"prefix\"", NULL, 0);
		json_decref(cmd);
		return;
	}
	const char *fmt = json_string_value(json_object_get(cmd, "format"));
	int want_json = fmt && !strcmp(fmt, "json");
	mon_result_init(&res);
	if (!strcmp(prefix, "mon stat")) {
		if (!caps_allow(c, AUTH_CAP_R))
			goto eperm;
		cmd_mon_stat(m, want_json, &res);
	} else if (!strcmp(prefix, "status") || !strcmp(prefix, "health")) {
		if (!caps_allow(c, AUTH_CAP_R))
			goto eperm;
		if (!is_leader(m)) {
			mon_result_set(&res, NORN_ENOTLEADER, "not the leader");
		} else {
			cmd_health_status(m, prefix, cmd, want_json, &res);
		}
	} else if (!strcmp(prefix, "pg stat") || !strcmp(prefix, "pg dump") || !strcmp(prefix, "osd df")) {
		/* PG stats and OSD usage live in the leader's memory */
		if (!caps_allow(c, AUTH_CAP_R))
			goto eperm;
		if (!is_leader(m))
			mon_result_set(&res, NORN_ENOTLEADER, "not the leader");
		else
			cmd_pg_views(m, prefix, want_json, &res);
	} else if (!strcmp(prefix, "mon add") || !strcmp(prefix, "mon rm")) {
		if (!caps_allow(c, AUTH_CAP_W | AUTH_CAP_X))
			goto eperm;
		rc = propose_membership(m, prefix, cmd, c, in->hdr.tid, want_json, &res);
		if (rc == 0) {
			mon_result_free(&res);
			json_decref(cmd);
			return;
		}
	} else if (mon_cmd_is_write(prefix)) {
		if (mon_cmd_is_internal(prefix)) {
			mon_result_set(&res, -EINVAL, "unknown command '%s'", prefix);
		} else if (!caps_allow(c, AUTH_CAP_W)) {
			goto eperm;
		} else if (!strcmp(prefix, "osd rm") && is_leader(m) &&
		           !json_is_true(json_object_get(cmd, "force")) && osd_rm_unsafe(m, cmd, &res)) {
			/* refused: res says why */
		} else {
			rc = propose(m, cmd, c, in->hdr.tid, want_json);
			if (rc == 0) {
				mon_result_free(&res);
				json_decref(cmd);
				return;      /* reply after commit */
			}
			mon_result_set(&res, rc, rc == NORN_ENOTLEADER ? "not the leader" : "cannot propose: %s",
			               norn_strerror(rc));
		}
	} else {
		if (!caps_allow(c, AUTH_CAP_R))
			goto eperm;
		/* Reads go to the leader while there is one, so a client reads
		 * its own writes; a peon answers only when no leader is known
		 * (election) or when asked to ("any_mon": true). */
		if (!is_leader(m) && leader_rank(m) >= 0 && !json_is_true(json_object_get(cmd, "any_mon")))
			mon_result_set(&res, NORN_ENOTLEADER, "not the leader");
		else if (!mon_state_read(&m->st, prefix, cmd, want_json, &res))
			mon_result_set(&res, -EINVAL, "unknown command '%s'", prefix);
	}
	reply(m, c, in->hdr.tid, res.rc, res.status, res.out.buf, res.out.len);
	mon_result_free(&res);
	json_decref(cmd);
	return;
eperm:
	reply(m, c, in->hdr.tid, NORN_EPERM, "permission denied (caps)", NULL, 0);
	mon_result_free(&res);
	json_decref(cmd);
}

/* ---- OSD reports -------------------------------------------------------------- */

static struct osd_info *osd_info(struct mon *m, int32_t id)
{
	if (id < 0 || id >= OSDMAP_MAX_OSD)
		return NULL;
	if ((uint32_t)id >= m->n_osds) {
		uint32_t n = (uint32_t)id + 16;
		struct osd_info *a = realloc(m->osds, n * sizeof(*a));
		if (!a)
			return NULL;
		memset(a + m->n_osds, 0, (n - m->n_osds) * sizeof(*a));
		for (uint32_t i = m->n_osds; i < n; i++)
			a[i].last_beacon_ns = now_ns();
		m->osds = a;
		m->n_osds = n;
	}
	return &m->osds[id];
}

/* Is @c an OSD allowed to speak for @osd (or a mon forwarding)? */
static int osd_sender_ok(struct msgr_conn *c, int32_t osd, int *forwarded)
{
	char want[AUTH_ENTITY_NAME_MAX];
	const char *peer = msgr_conn_peer_entity(c);
	*forwarded = !strncmp(peer, "mon.", 4);
	if (*forwarded)
		return 1;
	snprintf(want, sizeof(want), "osd.%d", osd);
	return !strcmp(peer, want);
}

static void forward_to_leader(struct mon *m, struct msg_in *in)
{
	struct peer *p = peer_by_id(m, raft_leader(m->raft));
	if (!p || !p->c)
		return;    /* no leader (or us): the OSD repeats its report */
	uint8_t *buf = malloc(in->len ? in->len : 1);
	if (!buf)
		return;
	memcpy(buf, in->payload, in->len);
	struct iovec iov = { buf, in->len };
	if (msgr_send(p->c, in->hdr.type, in->hdr.tid, in->hdr.epoch, &iov, 1, free_buf_cb, buf))
		free(buf);
}

static void handle_boot(struct mon *m, struct msgr_conn *c, struct msg_in *in)
{
	struct mon_osd_boot b;
	int fwd;
	char addr[MAP_ADDR_STR_MAX], uuid[MAP_UUID_STR_LEN];

	if (mon_osd_boot_decode(&b, in->payload, in->len) || !osd_sender_ok(c, b.osd, &fwd)) {
		NLOG(MON, WARN, "refused osd boot from %s", msgr_conn_peer_entity(c));
		return;
	}
	if (!is_leader(m)) {
		if (!fwd)
			forward_to_leader(m, in);
		return;
	}
	struct osd_info *oi = osd_info(m, b.osd);
	if (!oi)
		return;
	oi->last_beacon_ns = now_ns();
	oi->capacity = b.capacity_bytes;
	oi->used = b.used_bytes;
	oi->n_reports = 0;
	map_addr_format(&b.addr, addr, sizeof(addr));
	map_uuid_format(b.uuid, uuid);
	json_t *cmd = json_pack("{s:s,s:i,s:s,s:s,s:s,s:I}", "prefix", "osd boot", "id", b.osd, "addr", addr,
	                        "host", b.host, "uuid", uuid, "capacity", (json_int_t)b.capacity_bytes);
	if (cmd) {
		int rc = propose(m, cmd, NULL, 0, 0);
		if (rc)
			NLOG(MON, WARN, "osd.%d boot not proposed: %s", b.osd, norn_strerror(rc));
	}
	json_decref(cmd);
}

static void handle_beacon(struct mon *m, struct msgr_conn *c, struct msg_in *in)
{
	struct mon_osd_beacon b;
	int fwd;

	memset(&b, 0, sizeof(b));
	if (mon_osd_beacon_decode(&b, in->payload, in->len)) {
		NLOG(MON, WARN, "bad beacon from %s", msgr_conn_peer_entity(c));
		return;
	}
	if (!osd_sender_ok(c, b.osd, &fwd))
		goto out;
	if (!is_leader(m)) {
		if (!fwd)
			forward_to_leader(m, in);
		goto out;
	}
	struct osd_info *oi = osdmap_osd_exists(&m->st.osdmap, b.osd) ? osd_info(m, b.osd) : NULL;
	if (!oi)
		goto out;
	oi->last_beacon_ns = now_ns();
	oi->capacity = b.capacity_bytes;
	oi->used = b.used_bytes;
	free(oi->pgs);
	oi->pgs = b.pgs;
	oi->n_pgs = b.n_pgs;
	b.pgs = NULL;
	b.n_pgs = 0;
out:
	mon_osd_beacon_free(&b);
}

static void handle_failure(struct mon *m, struct msgr_conn *c, struct msg_in *in)
{
	struct mon_osd_failure f;
	int fwd;

	if (mon_osd_failure_decode(&f, in->payload, in->len) || !osd_sender_ok(c, f.reporter, &fwd))
		return;
	if (!is_leader(m)) {
		if (!fwd)
			forward_to_leader(m, in);
		return;
	}
	if (!osdmap_osd_exists(&m->st.osdmap, f.target) || !osdmap_osd_exists(&m->st.osdmap, f.reporter))
		return;         /* never grow the table for ids that do not exist */
	/* Stale reports: made by a reporter that is down now, or at an epoch
	 * before the reporter's or the target's current up interval. A host cut
	 * off the network reports every peer silent; TCP delivers those reports
	 * when the link comes back, after the cut-off OSDs booted again, and
	 * they must not mark the healthy side down. */
	const struct osdmap_osd *rep = osdmap_osd(&m->st.osdmap, f.reporter);
	const struct osdmap_osd *tgt = osdmap_osd(&m->st.osdmap, f.target);
	if (!rep || !tgt || !rep->up || f.epoch < rep->up_from || f.epoch < tgt->up_from) {
		NLOG(MON, INFO, "osd.%d's report on osd.%d at e%" PRIu64 " is stale (reporter %s up_from "
		     "e%" PRIu64 ", target up_from e%" PRIu64 "): ignored", f.reporter, f.target, f.epoch,
		     rep && rep->up ? "up," : "down,", rep ? rep->up_from : 0, tgt ? tgt->up_from : 0);
		return;
	}
	struct osd_info *oi = osd_info(m, f.target);
	if (!oi)
		return;
	uint32_t i;
	for (i = 0; i < oi->n_reports; i++)
		if (oi->reports[i].reporter == f.reporter)
			break;
	if (!f.still_failed) {
		if (i < oi->n_reports)
			oi->reports[i] = oi->reports[--oi->n_reports];
		return;
	}
	if (i == oi->n_reports) {
		if (oi->n_reports == MON_MAX_FAIL_REPORTS)
			return;
		oi->n_reports++;
	}
	oi->reports[i].reporter = f.reporter;
	oi->reports[i].at_ns = now_ns();
	NLOG(MON, INFO, "osd.%d reports osd.%d failed for %u ms", f.reporter, f.target, f.failed_for_ms);
}

static void handle_ticket(struct mon *m, struct msgr_conn *c, struct msg_in *in)
{
	struct mon_get_ticket g;
	struct mon_ticket t;
	const char *peer = msgr_conn_peer_entity(c);
	const struct auth_entity *ae = authmap_find(&m->st.authmap, peer);
	const struct auth_service_key *sk = authmap_current_key(&m->st.authmap);
	uint8_t blob[AUTH_TICKET_MAX], session[AUTH_KEY_LEN], sealed[MONC_SEALED_KEY_LEN];
	uint8_t sealed_svc[MONC_SEALED_KEY_LEN];
	size_t blen = 0;
	struct enc e;

	memset(&t, 0, sizeof(t));
	if (mon_get_ticket_decode(&g, in->payload, in->len) || g.service != AUTH_SVC_OSD || !ae) {
		t.result = -EINVAL;
	} else if (!sk) {
		t.result = NORN_EAGAIN;
	} else {
		uint64_t exp = norn_real_ns() + m->cfg.mon_ticket_ttl_ms * 1000000ull;
		if (exp > sk->expires_ns)
			exp = sk->expires_ns;
		t.result = auth_ticket_create(sk->secret, sk->id, peer, ae->caps_str, exp, session, blob,
		                              sizeof(blob), &blen);
		if (!t.result)
			t.result = monc_seal_key(ae->secret, "session", session, sealed);
		if (!t.result) {
			t.expires_ns = exp;
			t.ticket = blob;
			t.ticket_len = blen;
			t.enc_session_key = sealed;
			t.enc_session_key_len = sizeof(sealed);
			if (!strncmp(peer, "osd.", 4) &&
			    monc_seal_key(ae->secret, "service", sk->secret, sealed_svc) == 0) {
				t.service_key = sealed_svc;
				t.service_key_len = sizeof(sealed_svc);
				t.service_key_id = sk->id;
			}
		}
	}
	enc_init(&e, 4096);
	mon_ticket_encode(&e, &t);
	send_enc(c, MSG_T_MON_TICKET, in->hdr.tid, m->st.osdmap.epoch, &e);
}

static void handle_subscribe(struct mon *m, struct msgr_conn *c, struct msg_in *in)
{
	struct mon_subscribe s;
	uint32_t i;

	if (mon_subscribe_decode(&s, in->payload, in->len))
		return;
	for (i = 0; i < m->n_subs; i++)
		if (m->subs[i].c == c)
			break;
	if (i == m->n_subs) {
		if (m->n_subs == MON_MAX_SUBS) {
			NLOG(MON, WARN, "too many subscribers; refusing %s", msgr_conn_peer_entity(c));
			return;
		}
		m->n_subs++;
	}
	m->subs[i] = (struct sub){ c, s.what, s.osdmap_have, s.monmap_have };
	push_monmap(m, &m->subs[i]);
	push_osdmap(m, &m->subs[i]);
}

static void handle_raft(struct mon *m, struct msgr_conn *c, struct msg_in *in)
{
	static struct raft_entry ents[RAFT_MAX_APPEND_ENTRIES];
	struct raft_msg rm;
	const char *peer = msgr_conn_peer_entity(c);
	int rc;

	/* a mon not (yet) in our monmap may be a new leader that added us */
	if (strncmp(peer, "mon.", 4)) {
		NLOG(MON, WARN, "raft message from non-mon %s", peer);
		return;
	}
	rc = raft_msg_decode(in->payload, in->len, &rm, ents, RAFT_MAX_APPEND_ENTRIES);
	if (rc || rm.from != mon_raft_id(peer + 4) || rm.to != m->my_id) {
		NLOG(MON, WARN, "bad raft message from %s: %s", peer, norn_strerror(rc ? rc : -EINVAL));
		return;
	}
	struct peer *pp = peer_by_name(m, peer + 4);
	if (pp)
		pp->heard_ns = now_ns();
	rc = raft_step(m->raft, &rm);
	if (rc)
		NLOG(MON, WARN, "raft refused message from %s: %s", peer, norn_strerror(rc));
}

static void on_message(struct msgr_conn *c, struct msg_in *in, void *user)
{
	struct mon *m = user;

	switch (in->hdr.type) {
	case MSG_T_MON_RAFT: handle_raft(m, c, in); break;
	case MSG_T_MON_COMMAND: handle_command(m, c, in); break;
	case MSG_T_MON_SUBSCRIBE: handle_subscribe(m, c, in); break;
	case MSG_T_MON_GET_TICKET: handle_ticket(m, c, in); break;
	case MSG_T_MON_OSD_BOOT: handle_boot(m, c, in); break;
	case MSG_T_MON_OSD_BEACON: handle_beacon(m, c, in); break;
	case MSG_T_MON_OSD_FAILURE: handle_failure(m, c, in); break;
	default:
		NLOG(MON, DEBUG, "ignoring message type %u from %s", in->hdr.type, msgr_conn_peer_entity(c));
	}
}

static void on_conn_state(struct msgr_conn *c, enum msgr_conn_state st, void *user)
{
	struct mon *m = user;

	if (msgr_conn_is_outgoing(c)) {
		struct peer *p = NULL;
		for (uint32_t i = 0; i < m->n_peers; i++)
			if (m->peers[i].c == c)
				p = &m->peers[i];
		if (p && st == MSGR_CONN_UP) {
			p->auth_refusals = 0;
			p->auth_backoff_ms = 0;
		}
		if (st != MSGR_CONN_AUTH_FAILED)
			return;
		if (!p) {
			NLOG(MON, ERR, "peer mon at %s refused our key", msgr_conn_peer_addr(c));
			return;
		}
		/* The messenger does not retry a refused handshake. The peer
		 * may just not have applied the `mon add` that made us yet:
		 * without retrying, this mon could never again send it a
		 * Raft message, and a cluster that needs this mon's vote
		 * could not elect a leader. */
		if (!p->auth_backoff_ms)
			p->auth_backoff_ms = MON_PEER_AUTH_RETRY_MS;
		p->auth_retry_ns = now_ns() + p->auth_backoff_ms * 1000000ull;
		if (p->auth_refusals++ % 50 == 0)
			NLOG(MON, ERR, "peer mon.%s at %s refused our key (%u time(s)); retrying in %" PRIu64 " ms",
			     p->name, msgr_conn_peer_addr(c), p->auth_refusals, p->auth_backoff_ms);
		p->auth_backoff_ms = NORN_MIN(p->auth_backoff_ms * 2, (uint64_t)MON_PEER_AUTH_RETRY_MAX_MS);
		return;
	}
	if (st != MSGR_CONN_DOWN)
		return;
	for (uint32_t i = 0; i < m->n_subs;)
		if (m->subs[i].c == c)
			m->subs[i] = m->subs[--m->n_subs];
		else
			i++;
	for (uint32_t i = 0; i < m->n_pend; i++)
		if (m->pend[i].c == c)
			m->pend[i].c = NULL;
}

static int get_key(const char *entity, const uint8_t *ticket, size_t ticket_len,
                   uint8_t key_out[AUTH_KEY_LEN], char caps_out[AUTH_CAPS_STR_MAX], void *user)
{
	struct mon *m = user;
	const struct auth_entity *ae;

	if (ticket_len)
		return -EACCES;          /* mons authenticate with secrets only */
	ae = authmap_find(&m->st.authmap, entity);
	if (!ae && m->joining && !strncmp(entity, "mon.", 4) && keyring_get(&m->kr, entity, key_out) == 0) {
		snprintf(caps_out, AUTH_CAPS_STR_MAX, "mon 'allow *' osd 'allow *'");
		return 0;      /* before our first snapshot the keyring vouches for mons */
	}
	if (!ae) {
		NLOG(MON, WARN, "unknown entity %s tried to connect", entity);
		return -ENOENT;
	}
	memcpy(key_out, ae->secret, AUTH_KEY_LEN);
	snprintf(caps_out, AUTH_CAPS_STR_MAX, "%s", ae->caps_str);
	return 0;
}

/* ---- leader duties -------------------------------------------------------------- */

static void propose_ids(struct mon *m, const char *prefix, const int32_t *ids, uint32_t n, int autoo)
{
	json_t *a = json_array();
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	json_t *cmd = json_pack("{s:s,s:o,s:b}", "prefix", prefix, "ids", a, "auto", autoo);
	if (cmd) {
		int rc = propose(m, cmd, NULL, 0, 0);
		NLOG(MON, INFO, "%s %u osd(s) (first osd.%d)%s%s", prefix, n, ids[0], rc ? ": " : "",
		     rc ? norn_strerror(rc) : "");
	}
	json_decref(cmd);
}

static void on_slow(uv_timer_t *t)
{
	struct mon *m = t->data;
	const struct osdmap *om = &m->st.osdmap;
	uint64_t now = now_ns();
	int32_t down[256], out[256];
	uint32_t n_down = 0, n_out = 0;

	if (!is_leader(m))
		return;
	/* a fresh leader gives OSDs one grace period to find it */
	uint64_t grace = m->cfg.mon_osd_beacon_grace_ms * 1000000ull;
	for (uint32_t i = 0; i < om->max_osd; i++) {
		const struct osdmap_osd *o = &om->osds[i];
		struct osd_info *oi = o->exists ? osd_info(m, (int32_t)i) : NULL;
		if (!oi)
			continue;
		if (!o->up) {
			oi->n_reports = 0;
			if (!oi->down_since_ns)
				oi->down_since_ns = now;
			if (o->weight && !(om->flags & OSDMAP_FLAG_NOOUT) &&
			    now - oi->down_since_ns >= m->cfg.mon_osd_down_out_interval_ms * 1000000ull &&
			    now >= oi->action_after_ns && n_out < NORN_ARRAY_SIZE(out)) {
				out[n_out++] = (int32_t)i;
				oi->action_after_ns = now + 2000000000ull;
			}
			continue;
		}
		oi->down_since_ns = 0;
		if (om->flags & OSDMAP_FLAG_NODOWN || now < oi->action_after_ns)
			continue;
		int mark = 0;
		/* an entry osd_info() made during this pass holds a time after @now */
		if (now > oi->last_beacon_ns && now - oi->last_beacon_ns > grace) {
			NLOG(MON, INFO, "osd.%u: no beacon for %" PRIu64 " ms", i,
			     (now - oi->last_beacon_ns) / 1000000);
			mark = 1;
		}
		/* failure reports: reporters on distinct hosts other than the target's */
		char hosts[MON_MAX_FAIL_REPORTS][MAP_HOST_MAX];
		uint32_t nh = 0;
		for (uint32_t k = 0; k < oi->n_reports;) {
			struct fail_report *fr = &oi->reports[k];
			const struct osdmap_osd *r = osdmap_osd(om, fr->reporter);
			if (now - fr->at_ns > grace || !r || !r->up) {
				*fr = oi->reports[--oi->n_reports];
				continue;
			}
			k++;
			if (!strcmp(r->host, o->host))
				continue;
			uint32_t h;
			for (h = 0; h < nh; h++)
				if (!strcmp(hosts[h], r->host))
					break;
			if (h == nh)
				snprintf(hosts[nh++], MAP_HOST_MAX, "%s", r->host);
		}
		if (nh >= (uint32_t)m->cfg.mon_osd_min_down_reporters) {
			NLOG(MON, INFO, "osd.%u reported failed by peers on %u other hosts", i, nh);
			mark = 1;
		}
		if (mark && n_down < NORN_ARRAY_SIZE(down)) {
			down[n_down++] = (int32_t)i;
			oi->action_after_ns = now + 2000000000ull;
		}
	}
	if (n_down)
		propose_ids(m, "osd down", down, n_down, 1);
	if (n_out)
		propose_ids(m, "osd out", out, n_out, 1);
	/* rotating service key: keep one valid for at least half its life */
	const struct auth_service_key *sk = authmap_current_key(&m->st.authmap);
	uint64_t ttl = m->cfg.mon_service_key_ttl_ms * 1000000ull, real = norn_real_ns();
	if (now >= m->rotate_after_ns && (!sk || sk->expires_ns < real + ttl / 2)) {
		uint8_t key[AUTH_KEY_LEN];
		char b64[64];
		if (keyring_generate_key(key) == 0 && auth_b64_encode(key, sizeof(key), b64, sizeof(b64)) > 0) {
			json_t *cmd = json_pack("{s:s,s:s,s:I}", "prefix", "auth rotate", "key", b64, "expires_ns",
			                        (json_int_t)(real + ttl));
			if (cmd && propose(m, cmd, NULL, 0, 0) == 0)
				NLOG(MON, INFO, "rotating the service key");
			json_decref(cmd);
		}
		m->rotate_after_ns = now + 5000000000ull;
	}
	process_ready(m);
}

/* ---- start-up -------------------------------------------------------------------- */

static int write_file_atomic(const char *path, const void *buf, size_t len, int mode)
{
	char tmp[1200];
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
		rc = -errno ? -errno : -EIO;
	close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	return rc;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END)) {
		fclose(f);
		return -EIO;
	}
	long l = ftell(f);
	rewind(f);
	if (l < 0 || l > (64l << 20)) {
		fclose(f);
		return -EFBIG;
	}
	*buf = malloc((size_t)l + 1);
	if (!*buf) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*buf, 1, (size_t)l, f);
	fclose(f);
	(*buf)[*len] = 0;
	return *len == (size_t)l ? 0 : -EIO;
}

static int mkdir_p(const char *path)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Expand $name / $id in a path template; empty template: @dflt. */
static void expand_path(char *out, size_t cap, const char *tmpl, const char *entity, const char *id)
{
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 1 < cap;) {
		if (!strncmp(p, "$name", 5)) {
			o += (size_t)snprintf(out + o, cap - o, "%s", entity);
			p += 5;
		} else if (!strncmp(p, "$id", 3)) {
			o += (size_t)snprintf(out + o, cap - o, "%s", id);
			p += 3;
		} else {
			out[o++] = *p++;
		}
		if (o >= cap)
			o = cap - 1;
	}
	out[o] = 0;
}

static void conf_dir(const char *conf_path, char *out, size_t cap)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", conf_path);
	snprintf(out, cap, "%s", dirname(tmp));
}

/* Insert "fsid = X" right after "[global]" (or prepend a [global]). */
static int conf_write_fsid(const char *path, const char *fsid)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = read_file(path, &buf, &len);
	if (rc)
		return rc;
	char line[128];
	snprintf(line, sizeof(line), "fsid = %s\n", fsid);
	struct enc e;
	enc_init(&e, len + 256);
	char *g = strstr((char *)buf, "[global]");
	if (g) {
		char *nl = strchr(g, '\n');
		size_t pre = nl ? (size_t)(nl + 1 - (char *)buf) : len;
		enc_bytes(&e, buf, pre);
		if (!nl)
			enc_bytes(&e, "\n", 1);
		enc_bytes(&e, line, strlen(line));
		enc_bytes(&e, buf + pre, len - pre);
	} else {
		enc_bytes(&e, "[global]\n", 9);
		enc_bytes(&e, line, strlen(line));
		enc_bytes(&e, buf, len);
	}
	rc = enc_error(&e) ? enc_error(&e) : write_file_atomic(path, e.buf, e.len, 0644);
	enc_free(&e);
	free(buf);
	return rc;
}

struct args {
	const char *conf;
	const char *name;
	const char *pid_file;
	int mkfs, join, foreground;
};

static int load_config(struct mon *m, const struct args *a, int *argc, char **argv)
{
	char err[512];
	int rc;

	rc = norn_config_init(&m->cfg, a->name);
	if (rc)
		return rc;
	rc = norn_config_load_file(&m->cfg, a->conf, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "norn-mon: %s: %s\n", a->conf, rc == -EINVAL ? err : strerror(-rc));
		return rc;
	}
	rc = norn_config_parse_args(&m->cfg, argc, argv, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "norn-mon: %s\n", err);
		return rc;
	}
	snprintf(m->entity, sizeof(m->entity), "%s", a->name);
	snprintf(m->name, sizeof(m->name), "%s", a->name + 4);
	char dir[1024], tmpl[1100];
	conf_dir(a->conf, dir, sizeof(dir));
	if (m->cfg.data_dir && m->cfg.data_dir[0])
		snprintf(tmpl, sizeof(tmpl), "%s", m->cfg.data_dir);
	else
		snprintf(tmpl, sizeof(tmpl), "%s/$name", dir);
	expand_path(m->data_dir, sizeof(m->data_dir), tmpl, m->entity, m->name);
	return 0;
}

static void keyring_path(const struct mon *m, const char *conf, char *out, size_t cap)
{
	char dir[1024];
	if (m->cfg.keyring && m->cfg.keyring[0]) {
		expand_path(out, cap, m->cfg.keyring, m->entity, m->name);
		return;
	}
	conf_dir(conf, dir, sizeof(dir));
	snprintf(out, cap, "%s/norn.keyring", dir);
}

static int do_mkfs(struct mon *m, const struct args *a)
{
	struct monmap mm;
	struct keyring kr;
	uint8_t fsid[MAP_UUID_LEN];
	char kpath[1100], fsid_s[MAP_UUID_STR_LEN], err[512], gpath[1200];
	int rc;

	rc = monmap_parse_mon_host(&mm, m->cfg.mon_host);
	if (rc || !monmap_find(&mm, m->name)) {
		fprintf(stderr, "norn-mon: mon_host '%s' %s\n", m->cfg.mon_host,
		        rc ? "is malformed" : "does not name this mon (use name=host:port items)");
		return -EINVAL;
	}
	if (m->cfg.fsid[0]) {
		if (map_uuid_parse(m->cfg.fsid, fsid)) {
			fprintf(stderr, "norn-mon: bad fsid '%s'\n", m->cfg.fsid);
			return -EINVAL;
		}
	} else {
		if (norn_random_bytes(fsid, sizeof(fsid)))
			return NORN_EFAILED;
		fsid[6] = (uint8_t)((fsid[6] & 0x0f) | 0x40);
		fsid[8] = (uint8_t)((fsid[8] & 0x3f) | 0x80);
		map_uuid_format(fsid, fsid_s);
		rc = conf_write_fsid(a->conf, fsid_s);
		if (rc) {
			fprintf(stderr, "norn-mon: cannot write fsid to %s: %s\n", a->conf, strerror(-rc));
			return rc;
		}
		printf("created cluster fsid %s (written to %s)\n", fsid_s, a->conf);
	}
	keyring_path(m, a->conf, kpath, sizeof(kpath));
	keyring_init(&kr);
	rc = keyring_load(&kr, kpath, err, sizeof(err));
	if (rc && rc != -ENOENT) {
		fprintf(stderr, "norn-mon: keyring %s: %s\n", kpath, rc == -EINVAL ? err : strerror(-rc));
		keyring_free(&kr);
		return rc;
	}
	int changed = 0;
	for (uint32_t i = 0; i <= mm.n_mons; i++) {
		char ent[AUTH_ENTITY_NAME_MAX];
		uint8_t key[AUTH_KEY_LEN];
		if (i < mm.n_mons)
			snprintf(ent, sizeof(ent), "mon.%s", mm.mons[i].name);
		else
			snprintf(ent, sizeof(ent), "client.admin");
		if (keyring_get(&kr, ent, key) == 0)
			continue;
		if (keyring_generate_key(key) || keyring_set(&kr, ent, key)) {
			keyring_free(&kr);
			return NORN_EFAILED;
		}
		changed = 1;
	}
	if (changed) {
		rc = keyring_save(&kr, kpath);
		if (rc) {
			fprintf(stderr, "norn-mon: cannot write keyring %s: %s\n", kpath, strerror(-rc));
			keyring_free(&kr);
			return rc;
		}
		printf("wrote keyring %s (client.admin and mon keys)\n", kpath);
	}
	/* genesis: client.admin + every mon key, identical on every founder */
	const char *ents[MONMAP_MAX_MONS + 1];
	uint8_t keys[MONMAP_MAX_MONS + 1][AUTH_SECRET_LEN];
	char names[MONMAP_MAX_MONS + 1][AUTH_ENTITY_NAME_MAX];
	uint32_t n = 0;
	for (uint32_t i = 0; i <= mm.n_mons; i++) {
		if (i < mm.n_mons)
			snprintf(names[n], sizeof(names[n]), "mon.%s", mm.mons[i].name);
		else
			snprintf(names[n], sizeof(names[n]), "client.admin");
		keyring_get(&kr, names[n], keys[n]);
		ents[n] = names[n];
		n++;
	}
	keyring_free(&kr);
	rc = mon_state_genesis(&m->st, fsid, &mm, n, ents, (const uint8_t (*)[AUTH_SECRET_LEN])keys);
	if (rc) {
		fprintf(stderr, "norn-mon: genesis: %s\n", norn_strerror(rc));
		return rc;
	}
	rc = mkdir_p(m->data_dir);
	if (rc) {
		fprintf(stderr, "norn-mon: mkdir %s: %s\n", m->data_dir, strerror(-rc));
		return rc;
	}
	snprintf(gpath, sizeof(gpath), "%s/%s", m->data_dir, GENESIS_FILE);
	if (access(gpath, F_OK) == 0) {
		fprintf(stderr, "norn-mon: %s already holds a mon (remove it to recreate)\n", m->data_dir);
		return -EEXIST;
	}
	struct enc e;
	enc_init(&e, 4096);
	rc = mon_state_encode(&m->st, &e);
	if (!rc)
		rc = write_file_atomic(gpath, e.buf, e.len, 0600);
	enc_free(&e);
	if (rc) {
		fprintf(stderr, "norn-mon: writing %s: %s\n", gpath, norn_strerror(rc));
		return rc;
	}
	map_uuid_format(fsid, fsid_s);
	printf("created mon.%s in %s (fsid %s)\n", m->name, m->data_dir, fsid_s);
	return 0;
}

/* A mon added to a running cluster (`norn mon add NAME ADDR` first; the
 * config's mon_host and fsid must name it and the cluster, the keyring
 * must hold its key and the other mons' keys). It gets its state from the
 * leader's snapshot. */
static int do_mkfs_join(struct mon *m, const struct args *a)
{
	char path[1200];
	struct monmap mm;
	uint8_t fsid[MAP_UUID_LEN];
	int rc;

	(void)a;
	if (monmap_parse_mon_host(&mm, m->cfg.mon_host) || !monmap_find(&mm, m->name) ||
	    !m->cfg.fsid[0] || map_uuid_parse(m->cfg.fsid, fsid)) {
		fprintf(stderr, "norn-mon: --join needs the cluster's fsid and a mon_host that names mon.%s\n",
		        m->name);
		return -EINVAL;
	}
	rc = mkdir_p(m->data_dir);
	if (rc) {
		fprintf(stderr, "norn-mon: mkdir %s: %s\n", m->data_dir, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", m->data_dir, GENESIS_FILE);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "norn-mon: %s already holds a mon\n", m->data_dir);
		return -EEXIST;
	}
	snprintf(path, sizeof(path), "%s/%s", m->data_dir, JOIN_FILE);
	rc = write_file_atomic(path, "join\n", 5, 0600);
	if (rc) {
		fprintf(stderr, "norn-mon: writing %s: %s\n", path, strerror(-rc));
		return rc;
	}
	printf("created joining mon.%s in %s\n", m->name, m->data_dir);
	return 0;
}

static int mon_open(struct mon *m, const char *conf)
{
	struct raft_store_loaded ld;
	char gpath[1200], kpath[1100], err[512];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	snprintf(gpath, sizeof(gpath), "%s/%s", m->data_dir, GENESIS_FILE);
	rc = read_file(gpath, &buf, &len);
	if (rc == -ENOENT) {
		/* a mon added with `mon add`: only the config until a snapshot */
		snprintf(gpath, sizeof(gpath), "%s/%s", m->data_dir, JOIN_FILE);
		if (access(gpath, F_OK)) {
			fprintf(stderr, "norn-mon: %s holds no mon (run norn-mon --mkfs first)\n", m->data_dir);
			return -ENOENT;
		}
		if (monmap_parse_mon_host(&m->st.monmap, m->cfg.mon_host) ||
		    map_uuid_parse(m->cfg.fsid, m->st.monmap.fsid)) {
			fprintf(stderr, "norn-mon: joining needs mon_host and fsid in the config\n");
			return -EINVAL;
		}
		memcpy(m->st.osdmap.fsid, m->st.monmap.fsid, MAP_UUID_LEN);
		m->joining = 1;
	} else if (rc) {
		fprintf(stderr, "norn-mon: %s: %s (run norn-mon --mkfs first)\n", gpath, strerror(-rc));
		return rc;
	} else {
		rc = mon_state_decode(&m->st, buf, len);
		free(buf);
		if (rc) {
			fprintf(stderr, "norn-mon: %s: %s\n", gpath, norn_strerror(rc));
			return rc;
		}
	}
	const struct monmap_mon *me = monmap_find(&m->st.monmap, m->name);
	if (!me) {
		fprintf(stderr, "norn-mon: mon.%s is not in the monmap\n", m->name);
		return -EINVAL;
	}
	m->rank = me->rank;
	m->my_id = mon_raft_id(m->name);
	/* our own key (and, for a joining mon, the other mons' keys): the keyring file */
	keyring_path(m, conf, kpath, sizeof(kpath));
	rc = keyring_load(&m->kr, kpath, err, sizeof(err));
	if (!rc)
		rc = keyring_get(&m->kr, m->entity, m->key);
	if (rc) {
		fprintf(stderr, "norn-mon: no key for %s in %s: %s\n", m->entity, kpath,
		        rc == -EINVAL ? err : strerror(-rc));
		return rc;
	}
	rc = raft_store_open(m->data_dir, 0, &m->store);
	if (rc) {
		fprintf(stderr, "norn-mon: opening store in %s: %s\n", m->data_dir, norn_strerror(rc));
		return rc;
	}
	rc = raft_store_load(m->store, &ld);
	if (rc) {
		fprintf(stderr, "norn-mon: loading store: %s\n", norn_strerror(rc));
		return rc;
	}
	if (ld.boot.snap_len) {
		m->joining = 0;
		rc = mon_state_decode(&m->st, ld.boot.snap_data, ld.boot.snap_len);
		if (rc) {
			fprintf(stderr, "norn-mon: snapshot in store: %s\n", norn_strerror(rc));
			raft_store_loaded_free(&ld);
			return rc;
		}
	}
	struct raft_config boot_conf = { .n = m->st.monmap.n_mons };
	for (uint32_t i = 0; i < boot_conf.n; i++)
		boot_conf.ids[i] = mon_raft_id(m->st.monmap.mons[i].name);
	uint64_t et = m->cfg.mon_election_timeout_ms / m->cfg.mon_tick_ms;
	if (et < 3)
		et = 3;
	struct raft_opts ro = {
		.id = m->my_id,
		.election_ticks = (uint32_t)et,
		.heartbeat_ticks = (uint32_t)NORN_MAX(1, et / 5),
		.rand_seed = norn_mono_ns() ^ ((uint64_t)getpid() << 32),
		.bootstrap = (!m->joining && ld.boot.hs.term == 0 && ld.boot.n_entries == 0 && !ld.boot.snap.index) ? &boot_conf : NULL,
	};
	rc = raft_create(&ro, &ld.boot, &m->raft);
	raft_store_loaded_free(&ld);
	if (rc) {
		fprintf(stderr, "norn-mon: raft: %s\n", norn_strerror(rc));
		return rc;
	}
	m->last_snap_index = raft_snapshot_meta(m->raft)->index;
	return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct mon *m = s->data;
	NLOG(MON, INFO, "signal %d: stopping", signum);
	raft_store_close(m->store);
	m->store = NULL;
	exit(0);
}

static int mon_run(struct mon *m, const struct args *a)
{
	struct msgr_opts mo;
	int rc;

	m->loop = uv_default_loop();
	msgr_opts_init(&mo, &m->cfg);
	snprintf(mo.entity, sizeof(mo.entity), "%s", m->entity);
	memcpy(mo.fsid, m->st.monmap.fsid, MSG_FSID_LEN);
	snprintf(mo.cred.entity, sizeof(mo.cred.entity), "%s", m->entity);
	memcpy(mo.cred.key, m->key, AUTH_KEY_LEN);
	mo.cb.on_message = on_message;
	mo.cb.on_conn_state = on_conn_state;
	mo.cb.get_key = get_key;
	mo.cb.user = m;
	rc = tls_ctx_from_config(&m->cfg, &mo.tls);
	if (rc) {
		fprintf(stderr, "norn-mon: msg_tls is on but the TLS certificate/key do not load\n");
		return rc;
	}
	/* a restarted peer must be reached again quickly: Raft needs it back
	 * well within an election timeout */
	if (mo.reconnect_max_ms > 1000)
		mo.reconnect_max_ms = 1000;
	rc = msgr_create(m->loop, &mo, &m->msgr);
	if (rc) {
		fprintf(stderr, "norn-mon: messenger: %s\n", norn_strerror(rc));
		return rc;
	}
	const struct monmap_mon *me = &m->st.monmap.mons[m->rank];
	rc = msgr_listen(m->msgr, me->addr.host, me->addr.port, NULL);
	if (rc) {
		fprintf(stderr, "norn-mon: listen on %s:%u: %s\n", me->addr.host, me->addr.port,
		        norn_strerror(rc));
		return rc;
	}
	sync_peers(m);
	if (a->pid_file) {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		write_file_atomic(a->pid_file, pid, (size_t)n, 0644);
	}
	uv_timer_init(m->loop, &m->tick);
	m->tick.data = m;
	uv_timer_start(&m->tick, on_tick, m->cfg.mon_tick_ms, m->cfg.mon_tick_ms);
	uv_timer_init(m->loop, &m->slow);
	m->slow.data = m;
	uv_timer_start(&m->slow, on_slow, MON_SLOW_TICK_MS, MON_SLOW_TICK_MS);
	uv_check_init(m->loop, &m->check);
	m->check.data = m;
	uv_check_start(&m->check, on_check);
	uv_signal_init(m->loop, &m->sig_term);
	m->sig_term.data = m;
	uv_signal_start(&m->sig_term, on_signal, SIGTERM);
	uv_signal_init(m->loop, &m->sig_int);
	m->sig_int.data = m;
	uv_signal_start(&m->sig_int, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	NLOG(MON, INFO, "mon.%s rank %u listening on %s:%u, data %s", m->name, m->rank, me->addr.host,
	     me->addr.port, m->data_dir);
	process_ready(m);
	return uv_run(m->loop, UV_RUN_DEFAULT);
}

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: norn-mon -c CONF --name mon.ID [--mkfs] [--foreground] [--pid-file PATH] [--OPTION=VALUE...]\n"
	        "\n"
	        "  --mkfs        create this mon: the fsid (written into CONF's [global] if\n"
	        "                CONF has none), the keyring (CONF's `keyring`, default\n"
	        "                <dir of CONF>/norn.keyring) with client.admin and one key per\n"
	        "                mon of mon_host (existing keys are kept, so every founder\n"
	        "                run against the same CONF and keyring agrees), and the data\n"
	        "                dir (data_dir, default <dir of CONF>/mon.ID; $name/$id expand)\n"
	        "                holding the genesis state. Run it for each founding mon.\n"
	        "  --foreground  stay in the foreground (default: daemonize)\n"
	        "  --pid-file P  write the pid to P\n"
	        "  mon_host must name the mons: a=127.0.0.1:6789,b=127.0.0.1:6790,...\n");
}

int main(int argc, char **argv)
{
	static struct mon mon;
	struct args a = { 0 };
	struct mon *m = &mon;
	int rc, i, j;

	/* our own flags first; the rest are config overrides */
	for (i = 1, j = 1; i < argc; i++) {
		const char *s = argv[i];
		if ((!strcmp(s, "-c") || !strcmp(s, "--conf")) && i + 1 < argc)
			a.conf = argv[++i];
		else if ((!strcmp(s, "-n") || !strcmp(s, "--name")) && i + 1 < argc)
			a.name = argv[++i];
		else if (!strcmp(s, "-i") && i + 1 < argc) {
			static char nb[64];
			snprintf(nb, sizeof(nb), "mon.%s", argv[++i]);
			a.name = nb;
		} else if (!strcmp(s, "--mkfs"))
			a.mkfs = 1;
		else if (!strcmp(s, "--join"))
			a.join = 1;
		else if (!strcmp(s, "--foreground") || !strcmp(s, "-f"))
			a.foreground = 1;
		else if (!strcmp(s, "--pid-file") && i + 1 < argc)
			a.pid_file = argv[++i];
		else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			usage(stdout);
			return 0;
		} else
			argv[j++] = argv[i];
	}
	argc = j;
	if (!a.conf)
		a.conf = getenv("NORN_CONF") ? getenv("NORN_CONF") : "norn.conf";
	if (!a.name || strncmp(a.name, "mon.", 4) || !a.name[4] || strlen(a.name) >= MONMAP_NAME_MAX + 4) {
		usage(stderr);
		return 2;
	}
	mon_state_init(&m->st);
	if (load_config(m, &a, &argc, argv))
		return 2;
	if (argc > 1) {
		fprintf(stderr, "norn-mon: unexpected argument '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	enum norn_log_level lvl = NORN_LOG_INFO;
	norn_log_parse_level(m->cfg.log_level, &lvl);
	if (a.mkfs) {
		norn_log_init(m->entity, stderr, lvl);
		rc = a.join ? do_mkfs_join(m, &a) : do_mkfs(m, &a);
		return rc ? 1 : 0;
	}
	FILE *logf = stderr;
	if (m->cfg.log_file && m->cfg.log_file[0]) {
		char lp[1024];
		expand_path(lp, sizeof(lp), m->cfg.log_file, m->entity, m->name);
		logf = fopen(lp, "a");
		if (!logf) {
			fprintf(stderr, "norn-mon: log file %s: %s\n", lp, strerror(errno));
			return 1;
		}
		setvbuf(logf, NULL, _IOLBF, 0);
	}
	norn_log_init(m->entity, logf, lvl);
	if (mon_open(m, a.conf))
		return 1;
	if (!a.foreground && logf == stderr) {
		/* A daemon without log_file logs into its data dir, not into
		 * whatever terminal started it. */
		char lp[1200];
		int n = snprintf(lp, sizeof(lp), "%s/%s.log", m->data_dir, m->entity);
		FILE *f = n > 0 && (size_t)n < sizeof(lp) ? fopen(lp, "a") : NULL;
		if (f) {
			setvbuf(f, NULL, _IOLBF, 0);
			logf = f;
			norn_log_init(m->entity, logf, lvl);
		}
	}
	if (!a.foreground) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0)
			_exit(0);
		setsid();
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			if (logf != stderr)
				dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	rc = mon_run(m, &a);
	return rc ? 1 : 0;
}
