/* norn-osd: the object storage daemon.
 *
 * One process serves one object store (osd/store) on one libuv loop. It
 * talks to the mons through monc (osdmap subscription, OSD-service
 * tickets, boot, beacons, failure reports) and to clients and other OSDs
 * through one messenger listening on public_addr:port.
 *
 * Life cycle:
 *   --mkfs   `osd create` (as client.admin, with a fresh uuid) returns the
 *            id and key; the data dir gets keyring, whoami, osd_uuid and
 *            the store (store_mkfs with that id).
 *   boot     open the store, load every PG found in it (info + log from
 *            the collection metadata), start monc as osd.N, ask for a
 *            ticket, listen; once a map and a ticket are in, send OSD_BOOT
 *            (address, host, capacity). The mon marks us up in a new map.
 *   maps     on every new epoch each PG of every pool is mapped with CRUSH;
 *            PGs we are a member of are created (collection + info) or
 *            updated; an interval change re-evaluates queued and started
 *            ops (osd_op.c). Ops from clients with a newer map wait for it.
 *   auth     clients and peers present tickets; get_key() opens them with
 *            the rotating service key monc delivered. We connect to peers
 *            with our own ticket.
 *   timers   a beacon every osd_beacon_interval_ms with PG stats of the
 *            PGs we are primary of; heartbeats to every OSD we share a PG
 *            with every osd_heartbeat_interval_ms, and a failure report to
 *            the mon for a peer silent for osd_heartbeat_grace_ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/keyring.h"
#include "common/log.h"
#include "common/tls.h"
#include "norn/errors.h"
#include "osd/osd_int.h"

/* ---- small helpers ------------------------------------------------------------ */

static void free_buf_cb(void *arg, int status)
{
	(void)status;
	free(arg);
}

void osd_conn_drop(struct msgr_conn *c)
{
	if (!msgr_conn_is_outgoing(c)) {
		free(msgr_conn_user(c));
		msgr_conn_set_user(c, NULL);
		msgr_conn_close(c, NULL, NULL);
		return;
	}
	/* an outgoing peer conn stays owned by its peer slot: it reconnects */
	NLOG(OSD, WARN, "bad message from %s on our connection", msgr_conn_peer_entity(c));
}

int osd_send_enc(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch, struct enc *e)
{
	size_t len;
	uint8_t *buf;
	struct iovec iov;
	int rc;

	if (enc_error(e))
		return enc_error(e);
	buf = enc_take(e, &len);
	if (!buf)
		return -ENOMEM;
	iov.iov_base = buf;
	iov.iov_len = len;
	rc = msgr_send(c, type, tid, epoch, &iov, 1, free_buf_cb, buf);
	if (rc)
		free(buf);
	return rc;
}

static int write_file(const char *path, const void *buf, size_t len, int mode)
{
	char tmp[PATH_MAX];
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
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

static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static void conf_dir(const char *conf, char *out, size_t cap)
{
	const char *slash = strrchr(conf, '/');
	if (!slash)
		snprintf(out, cap, ".");
	else
		snprintf(out, cap, "%.*s", (int)(slash - conf), conf);
}

/* Expand $id / $name in a data_dir template. */
static void expand(char *out, size_t cap, const char *tmpl, int32_t id)
{
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 1 < cap;) {
		int n = 0;
		if (!strncmp(p, "$id", 3)) {
			n = snprintf(out + o, cap - o, "%d", id);
			p += 3;
		} else if (!strncmp(p, "$name", 5)) {
			n = snprintf(out + o, cap - o, "osd.%d", id);
			p += 5;
		} else {
			out[o] = *p++;
			n = 1;
		}
		if (n < 0 || (size_t)n >= cap - o)
			break;
		o += (size_t)n;
	}
	out[o < cap ? o : cap - 1] = 0;
}

/* ---- PGs -------------------------------------------------------------------- */

static uint32_t pg_hash(int64_t pool, uint32_t seed)
{
	uint64_t h = (uint64_t)pool * 0x9e3779b97f4a7c15ull ^ seed * 0xff51afd7ed558ccdull;
	return (uint32_t)(h >> 40) % OSD_PG_HASH;
}

struct pg *osd_pg_get(struct osd *o, int64_t pool, uint32_t seed)
{
	for (struct pg *pg = o->pgs[pg_hash(pool, seed)]; pg; pg = pg->hnext)
		if (pg->id.pool == pool && pg->id.seed == seed)
			return pg;
	return NULL;
}

/* Load info and log of an existing collection. */
static int pg_load(struct osd *o, struct pg *pg)
{
	uint8_t *v = NULL;
	size_t vl = 0;
	int rc;

	rc = store_cmeta_get(o->store, pg->cid, PG_CMETA_INFO, strlen(PG_CMETA_INFO), &v, &vl);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	rc = pg_info_decode(v, vl, &pg->info);
	free(v);
	if (rc) {
		NLOG(PG, ERR, "pg %s: undecodable info: %s", pg->cid, norn_strerror(rc));
		return rc;
	}
	/* the log, oldest first */
	char after[PG_LOG_KEY_LEN + 1] = PG_CMETA_LOG_PREFIX;
	size_t alen = strlen(PG_CMETA_LOG_PREFIX);
	const char *end = "log/";      /* '/' follows '.' */
	for (uint32_t guard = 0; guard < PG_LOG_MAX_ENTRIES; guard++) {
		struct store_kvs kv = { 0 };
		rc = store_cmeta_list(o->store, pg->cid, after, alen, end, strlen(end), 1024, &kv);
		if (rc)
			return rc;
		for (size_t i = 0; i < kv.n; i++) {
			struct pg_log_entry le;
			struct dec d;
			dec_init(&d, kv.v[i].val, kv.v[i].vlen);
			rc = pg_log_entry_decode(&d, &le);
			if (rc) {
				NLOG(PG, ERR, "pg %s: undecodable log entry: %s", pg->cid, norn_strerror(rc));
				store_kvs_free(&kv);
				return rc;
			}
			if (pg->log.n && pg_ev_cmp(&le.ver, &(struct pg_eversion){ 0, 0 }) >= 0) {
				struct pg_eversion h = pg_log_head(&pg->log);
				if (pg_ev_cmp(&le.ver, &h) <= 0)
					continue;
			}
			pg_log_append(&pg->log, &le, NULL);
		}
		if (kv.n == 0) {
			store_kvs_free(&kv);
			break;
		}
		size_t last = kv.n - 1;
		if (kv.v[last].klen > PG_LOG_KEY_LEN) {
			store_kvs_free(&kv);
			return NORN_ECORRUPT;
		}
		memcpy(after, kv.v[last].key, kv.v[last].klen);
		alen = kv.v[last].klen;
		size_t n = kv.n;
		store_kvs_free(&kv);
		if (n < 1024)
			break;
	}
	if (!pg->log.n)
		pg->log.tail = pg->info.log_tail;
	/* object count for stats (bounded scan) */
	struct store_names names = { 0 };
	if (store_list_objects(o->store, pg->cid, NULL, 100000, &names) == 0) {
		pg->objects = names.n;
		for (size_t i = 0; i < names.n; i++) {
			struct store_stat st;
			if (store_stat(o->store, pg->cid, names.v[i], &st) == 0)
				pg->bytes += st.size;
		}
		store_names_free(&names);
	}
	NLOG(PG, INFO, "pg %s: loaded, last_update %" PRIu64 "'%" PRIu64 ", %u log entries, %" PRIu64
	     " objects", pg->cid, pg->info.last_update.epoch, pg->info.last_update.v, pg->log.n, pg->objects);
	return 0;
}

static struct pg *pg_new(struct osd *o, int64_t pool, uint32_t seed)
{
	struct pg *pg = calloc(1, sizeof(*pg));
	if (!pg)
		return NULL;
	pg->osd = o;
	pg->id.pool = pool;
	pg->id.seed = seed;
	pg->primary = OSD_NONE;
	store_cid(pg->cid, (uint64_t)pool, seed);
	TAILQ_INIT(&pg->queue);
	TAILQ_INIT(&pg->inflight);
	if (pg_log_init(&pg->log, (uint32_t)o->cfg.osd_pg_log_max)) {
		free(pg);
		return NULL;
	}
	uint32_t h = pg_hash(pool, seed);
	pg->hnext = o->pgs[h];
	o->pgs[h] = pg;
	o->n_pgs++;
	return pg;
}

static void coll_create_cb(void *arg, int err)
{
	struct pg *pg = arg;
	if (err && err != -EEXIST)
		NLOG(PG, ERR, "pg %s: creating the collection failed: %s", pg->cid, norn_strerror(err));
	if (err == NORN_EFAILED)
		exit(1);
}

struct pg *osd_pg_get_or_create(struct osd *o, int64_t pool, uint32_t seed)
{
	struct pg *pg = osd_pg_get(o, pool, seed);
	int rc;

	if (pg)
		return pg;
	pg = pg_new(o, pool, seed);
	if (!pg)
		return NULL;
	/* 0: exists, -ENOENT: missing (or its deletion is queued: ours follows it) */
	rc = osd_stray_removing(o, pg->cid) ? -ENOENT : store_coll_exists(o->store, pg->cid);
	if (rc == 0) {
		if (pg_load(o, pg))
			NLOG(PG, ERR, "pg %s: load failed; starting empty", pg->cid);
		return pg;
	}
	struct store_txn *t = store_txn_new();
	struct enc e;
	if (!t)
		return pg;
	pg->info.same_interval_since = o->map.epoch;
	enc_init(&e, 128);
	pg_info_encode(&e, &pg->info);
	if (store_txn_coll_create(t, pg->cid) ||
	    store_txn_cmeta_set(t, pg->cid, PG_CMETA_INFO, strlen(PG_CMETA_INFO), e.buf, e.len) ||
	    store_queue_txn(o->store, t, coll_create_cb, pg))
		NLOG(PG, ERR, "pg %s: cannot queue its creation", pg->cid);
	enc_free(&e);
	NLOG(PG, DEBUG, "pg %s: created", pg->cid);
	return pg;
}

static int in_set(const int32_t *l, uint32_t n, int32_t x)
{
	for (uint32_t i = 0; i < n; i++)
		if (l[i] == x)
			return 1;
	return 0;
}

/* Update every PG from the new map @m (old map in o->map). */
static int pgs_update(struct osd *o, const struct osdmap *m)
{
	int peer_after_map = 0;
	for (uint32_t pi = 0; pi < m->n_pools; pi++) {
		const struct osdmap_pool *pool = &m->pools[pi];
		for (uint32_t seed = 0; seed < pool->pg_num; seed++) {
			struct osdmap_pg_mapping mp;
			if (osdmap_pg_mapping(m, pool->id, seed, &mp))
				continue;
			int member = in_set(mp.acting, mp.acting_n, o->id) || in_set(mp.up, mp.up_n, o->id);
			struct pg *pg = osd_pg_get(o, pool->id, seed);
			if (!pg && !member)
				continue;
			if (!pg)
				pg = osd_pg_get_or_create(o, pool->id, seed);
			if (!pg)
				continue;
			int changed = o->map.epoch == 0 || !pg->member ||
			              osdmap_pg_interval_changed(&o->map, m, pool->id, seed) != 0;
			int32_t old_acting[OSDMAP_MAX_POOL_SIZE];
			uint32_t old_n = pg->acting_n;
			int was_primary = pg->primary == o->id;
			memcpy(old_acting, pg->acting, sizeof(old_acting));
			pg->acting_n = mp.acting_n;
			memcpy(pg->acting, mp.acting, sizeof(pg->acting));
			pg->up_n = mp.up_n;
			memcpy(pg->up, mp.up, sizeof(pg->up));
			pg->primary = mp.acting_primary;
			pg->size = pool->size;
			pg->min_size = pool->min_size;
			pg->member = member;
			if (changed) {
				memcpy(pg->prior, old_acting, sizeof(pg->prior));
				pg->prior_n = old_n;
				pg->info.same_interval_since = m->epoch;
				if (pg->primary == o->id)
					pg->info.last_epoch_started = m->epoch;
				NLOG(PG, DEBUG, "pg %s: new interval at e%" PRIu64 ", primary osd.%d, %u acting",
				     pg->cid, m->epoch, pg->primary, pg->acting_n);
				osd_pg_interval_changed(pg, old_acting, old_n, was_primary);
				peer_after_map = 1;
				pg->want_peering = pg->primary == o->id;
				if (!pg->want_peering)
					osd_pg_stop_peering(pg);
			}
		}
	}
	/* PGs of removed pools, or that we left: not primary any more */
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			const struct osdmap_pool *pool = osdmap_pool(m, pg->id.pool);
			if (pool && pg->id.seed < pool->pg_num)
				continue;
			if (pg->primary == OSD_NONE && !pg->member)
				continue;
			int was_primary = pg->primary == o->id;
			int32_t old_acting[OSDMAP_MAX_POOL_SIZE];
			memcpy(old_acting, pg->acting, sizeof(old_acting));
			uint32_t old_n = pg->acting_n;
			pg->primary = OSD_NONE;
			pg->acting_n = 0;
			pg->up_n = 0;
			pg->member = 0;
			osd_pg_stop_peering(pg);
			osd_pg_interval_changed(pg, old_acting, old_n, was_primary);
		}
	return peer_after_map;
}

/* ---- peers -------------------------------------------------------------------- */

static int peers_reserve(struct osd *o, uint32_t n)
{
	if (n <= o->n_peers)
		return 0;
	struct osd_peer *p = realloc(o->peers, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + o->n_peers, 0, (n - o->n_peers) * sizeof(*p));
	o->peers = p;
	o->n_peers = n;
	return 0;
}

static void peer_drop(struct osd_peer *p)
{
	if (p->conn) {
		msgr_conn_set_user(p->conn, NULL);
		msgr_conn_close(p->conn, NULL, NULL);
		p->conn = NULL;
	}
}

/* We came up in a new interval (first boot, or booting again after a map
 * marked us down while we were alive, e.g. cut off the network): the peers
 * drop their connections to our old incarnation, so drop ours to them and
 * restart every heartbeat clock. Otherwise the silence of the cut would be
 * reported as the peers' failure the moment we are up again. */
static void peers_new_interval(struct osd *o)
{
	for (uint32_t i = 0; i < o->n_peers; i++) {
		struct osd_peer *p = &o->peers[i];
		peer_drop(p);
		p->last_rx_ns = 0;
		p->first_tx_ns = 0;
		p->last_report_ns = 0;
		p->reported = 0;
	}
}

struct msgr_conn *osd_peer_conn(struct osd *o, int32_t id)
{
	const struct osdmap_osd *mo = osdmap_osd(&o->map, id);
	struct osd_peer *p;
	struct msgr_cred cred;

	if (!mo || !mo->up || id == o->id || !o->have_ticket || peers_reserve(o, (uint32_t)id + 1))
		return NULL;
	p = &o->peers[id];
	if (p->conn && (!map_addr_eq(&p->addr, &mo->addr) || p->up_from != mo->up_from))
		peer_drop(p);
	if (p->conn)
		return p->conn;
	memset(&cred, 0, sizeof(cred));
	snprintf(cred.entity, sizeof(cred.entity), "%s", o->entity);
	memcpy(cred.key, o->session_key, AUTH_KEY_LEN);
	cred.ticket = o->ticket;
	cred.ticket_len = o->ticket_len;
	if (msgr_connect(o->msgr, mo->addr.host, mo->addr.port, &cred, &p->conn)) {
		p->conn = NULL;
		return NULL;
	}
	msgr_conn_set_user(p->conn, (void *)(intptr_t)(id + 1));
	p->addr = mo->addr;
	p->up_from = mo->up_from;
	p->last_rx_ns = 0;
	p->first_tx_ns = 0;
	p->reported = 0;
	return p->conn;
}

/* ---- heartbeats and beacons ------------------------------------------------------ */

static void hb_tick(uv_timer_t *t)
{
	struct osd *o = t->data;
	uint64_t now = norn_mono_ns();
	uint64_t grace = o->cfg.osd_heartbeat_grace_ms * 1000000ull;

	if (!o->have_ticket || !o->map.epoch)
		return;
	/* who shares a PG with us */
	for (uint32_t i = 0; i < o->n_peers; i++)
		o->peers[i].wanted = 0;
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			if (!pg->member)
				continue;
			for (uint32_t k = 0; k < pg->acting_n; k++) {
				int32_t a = pg->acting[k];
				if (a >= 0 && a != o->id && peers_reserve(o, (uint32_t)a + 1) == 0)
					o->peers[a].wanted = 1;
			}
		}
	for (uint32_t i = 0; i < o->n_peers; i++) {
		struct osd_peer *p = &o->peers[i];
		if (!p->wanted || !osdmap_osd_is_up(&o->map, (int32_t)i)) {
			p->first_tx_ns = 0;
			continue;
		}
		struct msgr_conn *c = osd_peer_conn(o, (int32_t)i);
		if (!c)
			continue;
		if (!p->first_tx_ns)
			p->first_tx_ns = now;
		struct osd_ping ping = { .from = o->id, .epoch = o->map.epoch, .stamp_ns = now };
		struct enc e;
		enc_init(&e, 32);
		osd_ping_encode(&e, &ping);
		osd_send_enc(c, MSG_T_OSD_PING, 0, o->map.epoch, &e);
		enc_free(&e);
		uint64_t since = p->last_rx_ns > p->first_tx_ns ? p->last_rx_ns : p->first_tx_ns;
		if (now - since > grace && now - p->last_report_ns > grace / 2) {
			struct mon_osd_failure f = { .target = (int32_t)i, .reporter = o->id,
			                             .epoch = o->map.epoch,
			                             .failed_for_ms = (uint32_t)((now - since) / 1000000),
			                             .still_failed = 1 };
			NLOG(OSD, WARN, "osd.%u silent for %" PRIu64 " ms: reporting it failed", i,
			     (now - since) / 1000000);
			monc_osd_failure(o->mc, &f);
			p->last_report_ns = now;
			p->reported = 1;
		}
	}
}

static void recovery_tick(uv_timer_t *t)
{
	osd_recovery_tick(t->data);
}

static void peer_tick(uv_timer_t *t)
{
	osd_peering_tick(t->data);
	osd_stray_tick(t->data);
}

static void handle_ping(struct osd *o, struct msgr_conn *c, struct msg_in *in, int reply)
{
	struct osd_ping p;
	if (osd_ping_decode(&p, in->payload, in->len))
		return;
	if (!reply) {
		struct osd_ping r = { .from = o->id, .epoch = o->map.epoch, .stamp_ns = p.stamp_ns };
		struct enc e;
		enc_init(&e, 32);
		osd_ping_encode(&e, &r);
		osd_send_enc(c, MSG_T_OSD_PING_REPLY, 0, o->map.epoch, &e);
		enc_free(&e);
		return;
	}
	if (p.from >= 0 && (uint32_t)p.from < o->n_peers) {
		struct osd_peer *pe = &o->peers[p.from];
		pe->last_rx_ns = norn_mono_ns();
		if (pe->reported) {
			struct mon_osd_failure f = { .target = p.from, .reporter = o->id,
			                             .epoch = o->map.epoch, .still_failed = 0 };
			monc_osd_failure(o->mc, &f);
			pe->reported = 0;
		}
	}
	if (p.epoch > o->map.epoch)
		monc_renew_subs(o->mc);
}

static uint32_t pg_state(struct osd *o, struct pg *pg)
{
	uint32_t st = 0, n = 0;
	(void)o;
	for (uint32_t i = 0; i < pg->acting_n; i++)
		if (pg->acting[i] != OSD_NONE)
			n++;
	if (pg->peering == PG_PEER_QUERY)
		st |= PG_STATE_PEERING;
	else if (pg->peering == PG_PEER_INCOMPLETE)
		st |= PG_STATE_DOWN | PG_STATE_INCOMPLETE;
	else if (pg->peering == PG_PEER_PUSH || pg->peering == PG_PEER_LOGSYNC)
		st |= PG_STATE_ACTIVE | PG_STATE_DEGRADED |
		      (pg->backfilling ? PG_STATE_BACKFILLING : PG_STATE_RECOVERING);
	else if (pg->peering)
		st |= PG_STATE_DEGRADED | (pg->backfilling ? PG_STATE_BACKFILLING : PG_STATE_RECOVERING);
	else if (n >= pg->min_size)
		st |= PG_STATE_ACTIVE;
	else
		st |= PG_STATE_DOWN;
	if (n < pg->size)
		st |= PG_STATE_UNDERSIZED | PG_STATE_DEGRADED;
	else if (n >= pg->min_size && !pg->peering)
		st |= PG_STATE_CLEAN;
	if (pg->acting_n != pg->up_n || memcmp(pg->acting, pg->up, pg->up_n * sizeof(int32_t)))
		st |= PG_STATE_REMAPPED;
	return st;
}

static void send_boot(struct osd *o);

static void beacon_tick(uv_timer_t *t)
{
	struct osd *o = t->data;
	struct mon_osd_beacon b;
	uint64_t total = 0, avail = 0;
	uint32_t n = 0, i = 0;

	if (!o->map.epoch)
		return;
	/* A boot the mons lost (the leader changed between its arrival and
	 * its commit, and no later map said anything about us) goes again
	 * while the map still has us down; a boot of an OSD already up at
	 * the same address changes nothing at the mon. */
	const struct osdmap_osd *me = osdmap_osd(&o->map, o->id);
	if (o->boot_sent && me && !me->up && norn_mono_ns() - o->boot_sent_ns >= OSD_BOOT_RESEND_NS) {
		NLOG(OSD, INFO, "still down in osdmap e%" PRIu64 " %.1f s after booting: booting again",
		     o->map.epoch, (double)(norn_mono_ns() - o->boot_sent_ns) / 1e9);
		send_boot(o);
	}
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext)
			if (pg->primary == o->id)
				n++;
	memset(&b, 0, sizeof(b));
	b.pgs = n ? calloc(n, sizeof(*b.pgs)) : NULL;
	if (n && !b.pgs)
		return;
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			if (pg->primary != o->id || i >= n)
				continue;
			struct mon_pg_stat *s = &b.pgs[i++];
			s->pool = pg->id.pool;
			s->seed = pg->id.seed;
			s->state = pg_state(o, pg);
			s->epoch = o->map.epoch;
			s->version = pg->info.last_update.v;
			s->objects = pg->objects;
			s->bytes = pg->bytes;
			if (pg->acting_n < pg->size)
				s->objects_degraded = pg->objects * (pg->size - pg->acting_n);
			s->recovery_left_objects = osd_pg_recovery_left(pg);
			s->objects_degraded += s->recovery_left_objects;
			s->n_acting = NORN_MIN(pg->acting_n, 16u);
			memcpy(s->acting, pg->acting, s->n_acting * sizeof(int32_t));
		}
	store_statfs(o->store, &total, &avail);
	b.osd = o->id;
	b.epoch = o->map.epoch;
	b.capacity_bytes = total;
	b.used_bytes = total - avail;
	b.n_pgs = i;
	monc_osd_beacon(o->mc, &b);
	free(b.pgs);
}

void osd_beacon_soon(struct osd *o)
{
	/* a closing timer refuses the restart (UV_EINVAL): nothing to send then */
	if (uv_timer_get_due_in(&o->beacon_timer) > OSD_BEACON_SOON_MS)
		(void)uv_timer_start(&o->beacon_timer, beacon_tick, OSD_BEACON_SOON_MS,
		                     o->cfg.osd_beacon_interval_ms);
}

/* ---- mon client callbacks ------------------------------------------------------- */

static void send_boot(struct osd *o)
{
	struct mon_osd_boot b;
	uint64_t total = 0, avail = 0;

	memset(&b, 0, sizeof(b));
	b.osd = o->id;
	memcpy(b.uuid, o->uuid, sizeof(b.uuid));
	snprintf(b.addr.host, sizeof(b.addr.host), "%s", o->cfg.public_addr);
	b.addr.port = (uint16_t)o->port;
	snprintf(b.host, sizeof(b.host), "%s", o->host);
	store_statfs(o->store, &total, &avail);
	b.capacity_bytes = total;
	b.used_bytes = total - avail;
	b.have_epoch = o->map.epoch;
	monc_osd_boot(o->mc, &b);
	o->boot_sent = 1;
	o->boot_sent_ns = norn_mono_ns();
	o->booted_epoch = o->map.epoch;
	NLOG(OSD, INFO, "osd.%d booting at %s:%d host %s (epoch %" PRIu64 ")", o->id, b.addr.host,
	     o->port, o->host, o->map.epoch);
}

static void on_osdmap(struct monc *mc, const struct osdmap *m, void *user)
{
	struct osd *o = user;
	struct osdmap nm;
	(void)mc;

	if (m->epoch <= o->map.epoch)
		return;
	osdmap_init(&nm);
	if (osdmap_copy(&nm, m)) {
		NLOG(OSD, ERR, "out of memory copying osdmap e%" PRIu64, m->epoch);
		return;
	}
	const struct osdmap_osd *was = osdmap_osd(&o->map, o->id);
	int was_up = was && was->up;
	uint64_t was_up_from = was ? was->up_from : 0;
	int peer = pgs_update(o, &nm);
	osdmap_free(&o->map);
	o->map = nm;
	const struct osdmap_osd *now_me = osdmap_osd(&o->map, o->id);
	if (now_me && now_me->up && (!was_up || now_me->up_from != was_up_from))
		peers_new_interval(o);
	/* peering needs the new map in place (peer connections, up states) */
	if (peer)
		for (uint32_t h = 0; h < OSD_PG_HASH; h++)
			for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext)
				if (pg->want_peering) {
					pg->want_peering = 0;
					osd_pg_start_peering(pg);
				}
	const struct osdmap_osd *me = osdmap_osd(&o->map, o->id);
	if (!me) {
		NLOG(OSD, ERR, "osd.%d does not exist in osdmap e%" PRIu64 ": stopping", o->id, m->epoch);
		exit(1);
	}
	if (o->have_ticket && !o->boot_sent)
		send_boot(o);
	else if (o->boot_sent && !me->up && o->map.epoch > o->booted_epoch + 1) {
		NLOG(OSD, WARN, "osdmap e%" PRIu64 " marks us down while we are alive: booting again",
		     o->map.epoch);
		send_boot(o);
	}
	osd_wait_map_retry(o);
	osd_peering_map_updated(o);
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext)
			osd_pg_kick(pg);
}

static void on_ticket(struct monc *mc, const struct monc_ticket *t, void *user)
{
	struct osd *o = user;
	(void)mc;

	if (t->ticket_len > sizeof(o->ticket))
		return;
	memcpy(o->ticket, t->ticket, t->ticket_len);
	o->ticket_len = t->ticket_len;
	memcpy(o->session_key, t->session_key, AUTH_KEY_LEN);
	if (t->service_key) {
		int slot = -1;
		for (int i = 0; i < OSD_SERVICE_KEYS; i++)
			if (o->svc_key_id[i] == t->service_key_id)
				slot = i;
		if (slot < 0) {
			/* replace the oldest */
			slot = 0;
			for (int i = 1; i < OSD_SERVICE_KEYS; i++)
				if (o->svc_key_id[i] < o->svc_key_id[slot])
					slot = i;
		}
		o->svc_key_id[slot] = t->service_key_id;
		memcpy(o->svc_key[slot], t->service_key, AUTH_KEY_LEN);
	}
	if (!o->have_ticket)
		NLOG(OSD, INFO, "got an OSD-service ticket (service key %" PRIu64 ")", t->service_key_id);
	o->have_ticket = 1;
	if (o->map.epoch && !o->boot_sent)
		send_boot(o);
}

static void on_auth_failed(struct monc *mc, void *user)
{
	struct osd *o = user;
	(void)mc;
	NLOG(OSD, ERR, "the mons refused osd.%d's key: stopping", o->id);
	exit(1);
}

/* ---- messenger callbacks --------------------------------------------------------- */

static int get_key(const char *entity, const uint8_t *ticket, size_t ticket_len,
                   uint8_t key_out[AUTH_KEY_LEN], char caps_out[AUTH_CAPS_STR_MAX], void *user)
{
	struct osd *o = user;
	uint64_t kid;
	char tent[AUTH_ENTITY_NAME_MAX];
	int rc;

	if (!ticket_len) {
		NLOG(AUTH, INFO, "%s connected without a ticket: refused", entity);
		return -EACCES;
	}
	if (auth_ticket_key_id(ticket, ticket_len, &kid))
		return -EACCES;
	for (int i = 0; i < OSD_SERVICE_KEYS; i++) {
		if (!o->svc_key_id[i] || o->svc_key_id[i] != kid)
			continue;
		rc = auth_ticket_verify(o->svc_key[i], ticket, ticket_len, norn_real_ns(), tent, caps_out,
		                        key_out, NULL);
		if (rc) {
			NLOG(AUTH, WARN, "ticket of %s refused: %s", entity, norn_strerror(rc));
			return -EACCES;
		}
		if (strcmp(tent, entity)) {
			NLOG(AUTH, WARN, "%s presented a ticket of %s: refused", entity, tent);
			return -EACCES;
		}
		return 0;
	}
	NLOG(AUTH, WARN, "ticket of %s sealed with unknown service key %" PRIu64, entity, kid);
	monc_want_ticket(o->mc);
	return -EACCES;
}

static void on_message(struct msgr_conn *c, struct msg_in *in, void *user)
{
	struct osd *o = user;

	if (o->stopping)
		return;
	switch (in->hdr.type) {
	case MSG_T_OSD_OP:
		osd_handle_op(o, c, in);
		break;
	case MSG_T_OSD_REPOP:
		osd_handle_repop(o, c, in);
		break;
	case MSG_T_OSD_REPOP_REPLY:
		osd_handle_repop_reply(o, c, in);
		break;
	case MSG_T_OSD_PING:
		handle_ping(o, c, in, 0);
		break;
	case MSG_T_OSD_PING_REPLY:
		handle_ping(o, c, in, 1);
		break;
	case MSG_T_OSD_PG_QUERY:
	case MSG_T_OSD_PG_NOTIFY:
	case MSG_T_OSD_PG_PULL:
	case MSG_T_OSD_PG_PUSH:
	case MSG_T_OSD_PG_PUSH_ACK:
	case MSG_T_OSD_PG_LOGSYNC:
	case MSG_T_OSD_PG_LOGSYNC_ACK:
		osd_handle_pg_msg(o, c, in);
		break;
	case MSG_T_OSD_PG_STRAY:
	case MSG_T_OSD_PG_REMOVE:
		osd_handle_stray_msg(o, c, in);
		break;
	default:
		NLOG(OSD, WARN, "unexpected message type %u from %s: closing", in->hdr.type,
		     msgr_conn_peer_addr(c));
		osd_conn_drop(c);
	}
}

static void on_conn_state(struct msgr_conn *c, enum msgr_conn_state st, void *user)
{
	struct osd *o = user;

	if (msgr_conn_is_outgoing(c)) {
		intptr_t id = (intptr_t)msgr_conn_user(c) - 1;
		if (id < 0 || (uint32_t)id >= o->n_peers || o->peers[id].conn != c)
			return;
		if (st == MSGR_CONN_UP) {
			osd_resend_repops(o, (int32_t)id);
		} else if (st == MSGR_CONN_AUTH_FAILED) {
			NLOG(OSD, WARN, "osd.%ld refused our ticket; reconnecting with a fresh one", (long)id);
			peer_drop(&o->peers[id]);
			monc_want_ticket(o->mc);
		}
		return;
	}
	if (st == MSGR_CONN_DOWN) {
		free(msgr_conn_user(c));
		msgr_conn_set_user(c, NULL);
	}
}

/* ---- start-up ---------------------------------------------------------------------- */

struct args {
	const char *conf;
	const char *data;
	const char *pid_file;
	int32_t id;
	int mkfs, foreground;
};

static int load_config(struct osd *o, const struct args *a, int *argc, char **argv)
{
	char err[512], dir[PATH_MAX], tmpl[PATH_MAX];
	int rc;

	snprintf(o->entity, sizeof(o->entity), "osd.%d", a->id >= 0 ? a->id : 0);
	rc = norn_config_init(&o->cfg, a->id >= 0 ? o->entity : "osd");
	if (rc)
		return rc;
	rc = norn_config_load_file(&o->cfg, a->conf, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "norn-osd: %s: %s\n", a->conf, rc == -EINVAL ? err : strerror(-rc));
		return rc;
	}
	rc = norn_config_parse_args(&o->cfg, argc, argv, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "norn-osd: %s\n", err);
		return rc;
	}
	for (int i = 1; i < *argc; i++) {
		fprintf(stderr, "norn-osd: unknown argument '%s'\n", argv[i]);
		return -EINVAL;
	}
	if (a->data)
		snprintf(tmpl, sizeof(tmpl), "%s", a->data);
	else if (o->cfg.data_dir && o->cfg.data_dir[0])
		snprintf(tmpl, sizeof(tmpl), "%s", o->cfg.data_dir);
	else {
		conf_dir(a->conf, dir, sizeof(dir));
		if (snprintf(tmpl, sizeof(tmpl), "%s/osd.$id", dir) >= (int)sizeof(tmpl))
			return -ENAMETOOLONG;
	}
	expand(o->data_dir, sizeof(o->data_dir), tmpl, a->id);
	if (o->cfg.osd_host && o->cfg.osd_host[0])
		snprintf(o->host, sizeof(o->host), "%s", o->cfg.osd_host);
	else if (gethostname(o->host, sizeof(o->host)) || !o->host[0])
		snprintf(o->host, sizeof(o->host), "localhost");
	o->host[sizeof(o->host) - 1] = 0;
	return 0;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
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

static int do_mkfs(struct osd *o, const struct args *a)
{
	struct monc_opts mo;
	char err[512], cmd[256], us[MAP_UUID_STR_LEN], *status = NULL, *out = NULL;
	size_t out_len = 0;
	int rc;

	char kpath[PATH_MAX], dir[PATH_MAX];
	if (o->cfg.keyring && o->cfg.keyring[0])
		snprintf(kpath, sizeof(kpath), "%s", o->cfg.keyring);
	else {
		conf_dir(a->conf, dir, sizeof(dir));
		if (snprintf(kpath, sizeof(kpath), "%s/norn.keyring", dir) >= (int)sizeof(kpath))
			return -ENAMETOOLONG;
	}
	/* `osd create` runs as client.admin */
	snprintf(o->cfg.entity, sizeof(o->cfg.entity), "client.admin");
	rc = monc_opts_from_config(&mo, &o->cfg, kpath, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "norn-osd --mkfs: %s\n", err);
		return rc;
	}
	norn_random_bytes(o->uuid, sizeof(o->uuid));
	o->uuid[6] = (uint8_t)((o->uuid[6] & 0x0f) | 0x40);
	o->uuid[8] = (uint8_t)((o->uuid[8] & 0x3f) | 0x80);
	map_uuid_format(o->uuid, us);
	snprintf(cmd, sizeof(cmd), "{\"prefix\":\"osd create\",\"uuid\":\"%s\",\"format\":\"json\"}", us);
	rc = monc_command_sync(&mo, cmd, 30000, &status, &out, &out_len);
	if (rc) {
		fprintf(stderr, "norn-osd --mkfs: osd create: %s (%s)\n", norn_strerror(rc),
		        status ? status : "");
		goto out;
	}
	char *ip = out ? strstr(out, "\"osd\":") : NULL;
	char *kp = out ? strstr(out, "\"key\":\"") : NULL;
	char *ke = kp ? strchr(kp + 7, '"') : NULL;
	if (!ip || !ke) {
		fprintf(stderr, "norn-osd --mkfs: unexpected reply to osd create: %s\n", out ? out : "");
		rc = -EINVAL;
		goto out;
	}
	*ke = 0;
	o->id = (int32_t)strtol(ip + 6, NULL, 10);
	if (auth_b64_decode_exact(kp + 7, o->key, AUTH_KEY_LEN)) {
		rc = -EINVAL;
		goto out;
	}
	snprintf(o->entity, sizeof(o->entity), "osd.%d", o->id);
	/* the data dir, now that we know the id */
	char tmpl[PATH_MAX];
	if (a->data)
		snprintf(tmpl, sizeof(tmpl), "%s", a->data);
	else if (o->cfg.data_dir && o->cfg.data_dir[0])
		snprintf(tmpl, sizeof(tmpl), "%s", o->cfg.data_dir);
	else {
		conf_dir(a->conf, dir, sizeof(dir));
		if (snprintf(tmpl, sizeof(tmpl), "%s/osd.$id", dir) >= (int)sizeof(tmpl))
			return -ENAMETOOLONG;
	}
	expand(o->data_dir, sizeof(o->data_dir), tmpl, o->id);
	rc = mkdir_p(o->data_dir);
	if (rc) {
		fprintf(stderr, "norn-osd --mkfs: mkdir %s: %s\n", o->data_dir, strerror(-rc));
		goto out;
	}
	char path[PATH_MAX + 64], buf[64];
	struct keyring own;
	keyring_init(&own);
	keyring_set(&own, o->entity, o->key);
	snprintf(path, sizeof(path), "%s/keyring", o->data_dir);
	rc = keyring_save(&own, path);
	keyring_free(&own);
	if (rc)
		goto out;
	int n = snprintf(buf, sizeof(buf), "%d\n", o->id);
	snprintf(path, sizeof(path), "%s/whoami", o->data_dir);
	if ((rc = write_file(path, buf, (size_t)n, 0644)))
		goto out;
	n = snprintf(buf, sizeof(buf), "%s\n", us);
	snprintf(path, sizeof(path), "%s/osd_uuid", o->data_dir);
	if ((rc = write_file(path, buf, (size_t)n, 0644)))
		goto out;
	struct store_options so;
	snprintf(path, sizeof(path), "%s/store", o->data_dir);
	store_options_init(&so, &o->cfg, path);
	so.osd_id = (uint32_t)o->id;
	rc = store_mkfs(&so);
	if (rc) {
		fprintf(stderr, "norn-osd --mkfs: store: %s\n", norn_strerror(rc));
		goto out;
	}
	printf("osd.%d\n", o->id);
	fflush(stdout);
out:
	free(status);
	free(out);
	return rc;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct osd *o = s->data;
	NLOG(OSD, INFO, "signal %d: stopping", signum);
	o->stopping = 1;
	/* Everything acknowledged is durable; queued transactions complete
	 * in store_close. */
	if (o->store)
		store_close_sync(o->store);
	o->store = NULL;
	exit(0);
}

static int osd_run(struct osd *o, const struct args *a)
{
	struct monc_opts mo;
	struct msgr_opts mso;
	struct store_options so;
	char err[512], path[PATH_MAX + 64], buf[128];
	int rc;

	o->loop = uv_default_loop();
	TAILQ_INIT(&o->wait_map);
	osdmap_init(&o->map);
	/* identity */
	snprintf(path, sizeof(path), "%s/osd_uuid", o->data_dir);
	if (read_small(path, buf, sizeof(buf)) || map_uuid_parse(buf, o->uuid)) {
		fprintf(stderr, "norn-osd: %s is not an OSD data dir (run --mkfs)\n", o->data_dir);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%s/whoami", o->data_dir);
	if (read_small(path, buf, sizeof(buf)) || strtol(buf, NULL, 10) != o->id) {
		fprintf(stderr, "norn-osd: %s belongs to another OSD (whoami %s)\n", o->data_dir, buf);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/keyring", o->data_dir);
	rc = monc_opts_from_config(&mo, &o->cfg, path, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "norn-osd: %s\n", err);
		return rc;
	}
	memcpy(o->key, mo.key, AUTH_KEY_LEN);
	/* store */
	snprintf(path, sizeof(path), "%s/store", o->data_dir);
	store_options_init(&so, &o->cfg, path);
	so.osd_id = (uint32_t)o->id;
	rc = store_open(o->loop, &so, &o->store);
	if (rc) {
		fprintf(stderr, "norn-osd: opening the store in %s: %s\n", path, norn_strerror(rc));
		return rc;
	}
	/* PGs present in the store */
	struct store_names cols = { 0 };
	if (store_list_colls(o->store, &cols) == 0) {
		for (size_t i = 0; i < cols.n; i++) {
			struct pg_id id;
			if (pgid_parse(cols.v[i], &id))
				continue;
			osd_pg_get_or_create(o, id.pool, id.seed);
		}
		store_names_free(&cols);
	}
	/* messenger */
	msgr_opts_init(&mso, &o->cfg);
	snprintf(mso.entity, sizeof(mso.entity), "%s", o->entity);
	memcpy(mso.fsid, mo.fsid, MSG_FSID_LEN);
	snprintf(mso.cred.entity, sizeof(mso.cred.entity), "%s", o->entity);
	memcpy(mso.cred.key, o->key, AUTH_KEY_LEN);
	mso.cb.on_message = on_message;
	mso.cb.on_conn_state = on_conn_state;
	mso.cb.get_key = get_key;
	mso.cb.user = o;
	mso.tls = mo.tls;
	if (mso.reconnect_max_ms > 1000)
		mso.reconnect_max_ms = 1000;
	rc = msgr_create(o->loop, &mso, &o->msgr);
	if (rc) {
		fprintf(stderr, "norn-osd: messenger: %s\n", norn_strerror(rc));
		return rc;
	}
	rc = msgr_listen(o->msgr, o->cfg.public_addr, (int)o->cfg.port, &o->port);
	if (rc) {
		fprintf(stderr, "norn-osd: listen on %s:%" PRId64 ": %s\n", o->cfg.public_addr, o->cfg.port,
		        norn_strerror(rc));
		return rc;
	}
	/* mon client */
	mo.subscribe = MONC_SUB_OSDMAP;
	mo.on_osdmap = on_osdmap;
	mo.on_ticket = on_ticket;
	mo.on_auth_failed = on_auth_failed;
	mo.user = o;
	rc = monc_create(o->loop, &mo, &mso, &o->mc);
	if (rc) {
		fprintf(stderr, "norn-osd: mon client: %s\n", norn_strerror(rc));
		return rc;
	}
	monc_want_ticket(o->mc);
	if (a->pid_file) {
		int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		write_file(a->pid_file, buf, (size_t)n, 0644);
	}
	uv_timer_init(o->loop, &o->beacon_timer);
	o->beacon_timer.data = o;
	uv_timer_start(&o->beacon_timer, beacon_tick, o->cfg.osd_beacon_interval_ms,
	               o->cfg.osd_beacon_interval_ms);
	uv_timer_init(o->loop, &o->hb_timer);
	o->hb_timer.data = o;
	uv_timer_start(&o->hb_timer, hb_tick, o->cfg.osd_heartbeat_interval_ms,
	               o->cfg.osd_heartbeat_interval_ms);
	uv_timer_init(o->loop, &o->peer_timer);
	o->peer_timer.data = o;
	uv_timer_start(&o->peer_timer, peer_tick, 500, 500);
	if (o->cfg.osd_recovery_sleep_ms) {
		uv_timer_init(o->loop, &o->recovery_timer);
		o->recovery_timer.data = o;
		uv_timer_start(&o->recovery_timer, recovery_tick, o->cfg.osd_recovery_sleep_ms,
		               o->cfg.osd_recovery_sleep_ms);
	}
	uv_signal_init(o->loop, &o->sig_term);
	o->sig_term.data = o;
	uv_signal_start(&o->sig_term, on_signal, SIGTERM);
	uv_signal_init(o->loop, &o->sig_int);
	o->sig_int.data = o;
	uv_signal_start(&o->sig_int, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	NLOG(OSD, INFO, "osd.%d listening on %s:%d, data %s, %u PGs in the store", o->id,
	     o->cfg.public_addr, o->port, o->data_dir, o->n_pgs);
	return uv_run(o->loop, UV_RUN_DEFAULT);
}

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: norn-osd --mkfs -c CONF [--osd-data DIR] [--store-size SIZE] [--OPTION=VALUE...]\n"
	        "       norn-osd -c CONF --id N [--osd-data DIR] [--foreground] [--pid-file P]\n"
	        "                [--OPTION=VALUE...]\n"
	        "\n"
	        "  --mkfs        ask the mons for a new OSD id and key (`osd create` as\n"
	        "                client.admin from CONF's keyring), create the data dir\n"
	        "                (--osd-data, else data_dir, else <dir of CONF>/osd.N; $id\n"
	        "                expands) with its keyring and object store\n"
	        "                (store_size_bytes); prints osd.N\n"
	        "  --id N        run osd.N (also --name osd.N / -i N)\n"
	        "  --foreground  stay in the foreground (default: daemonize)\n"
	        "  --pid-file P  write the pid to P\n"
	        "  options: osd_host (CRUSH host, default the host name), public_addr,\n"
	        "           port (0: any free port), log_file, log_level, osd_*\n");
}

int main(int argc, char **argv)
{
	static struct osd osd;
	struct osd *o = &osd;
	struct args a = { .id = -1 };
	int i, j, rc;

	for (i = 1, j = 1; i < argc; i++) {
		const char *s = argv[i];
		if ((!strcmp(s, "-c") || !strcmp(s, "--conf")) && i + 1 < argc)
			a.conf = argv[++i];
		else if ((!strcmp(s, "--id") || !strcmp(s, "-i")) && i + 1 < argc)
			a.id = (int32_t)strtol(argv[++i], NULL, 10);
		else if ((!strcmp(s, "--name") || !strcmp(s, "-n")) && i + 1 < argc) {
			const char *nm = argv[++i];
			if (strncmp(nm, "osd.", 4)) {
				fprintf(stderr, "norn-osd: --name must be osd.N\n");
				return 2;
			}
			a.id = (int32_t)strtol(nm + 4, NULL, 10);
		} else if (!strcmp(s, "--osd-data") && i + 1 < argc)
			a.data = argv[++i];
		else if (!strcmp(s, "--store-size") && i + 1 < argc) {
			/* alias of --store_size_bytes (a config override) */
			static char opt[] = "--store_size_bytes";
			argv[j++] = opt;
			argv[j++] = argv[++i];
		}
		else if (!strcmp(s, "--mkfs"))
			a.mkfs = 1;
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
	if (!a.conf || (!a.mkfs && a.id < 0)) {
		usage(stderr);
		return 2;
	}
	if (load_config(o, &a, &argc, argv))
		return 2;
	enum norn_log_level lvl = NORN_LOG_INFO;
	norn_log_parse_level(o->cfg.log_level, &lvl);
	if (a.mkfs) {
		norn_log_init("osd", stderr, NORN_LOG_WARN);
		return do_mkfs(o, &a) ? 1 : 0;
	}
	o->id = a.id;
	FILE *lf = NULL;
	if (o->cfg.log_file && o->cfg.log_file[0]) {
		lf = fopen(o->cfg.log_file, "a");
		if (!lf) {
			fprintf(stderr, "norn-osd: log file %s: %s\n", o->cfg.log_file, strerror(errno));
			return 1;
		}
		setvbuf(lf, NULL, _IOLBF, 0);
	}
	if (!a.foreground) {
		if (!lf) {
			char path[PATH_MAX + 16];
			if (snprintf(path, sizeof(path), "%s/osd.log", o->data_dir) < (int)sizeof(path))
				lf = fopen(path, "a");
			if (lf)
				setvbuf(lf, NULL, _IOLBF, 0);
		}
		if (daemon(1, 0)) {
			perror("norn-osd: daemon");
			return 1;
		}
	}
	norn_log_init(o->entity, lf, lvl);
	rc = osd_run(o, &a);
	return rc ? 1 : 0;
}
