/* Stray PG copies: deleting the copy of a PG this OSD no longer serves,
 * only once the PG is active+clean on its acting set without it.
 *
 * A copy is a stray when its OSD is in neither the PG's up nor its acting
 * set (after `osd out`, a CRUSH change, a returning OSD whose PGs moved
 * on, ...). It is deleted only on the word of the PG's primary:
 *
 *   holder  every few seconds (osd_stray_tick), for each stray copy:
 *           PG_STRAY(info) to the current primary.
 *   primary on PG_STRAY, and at the end of peering for the prior-interval
 *           members it queried (osd_stray_offer): if the PG is active
 *           (peering finished in this interval), clean (as many acting
 *           members as the pool's size, every one of them recovered and
 *           log-synced), not remapped, and the stray's last_update is not
 *           newer than the PG's, answer PG_REMOVE(epoch = our map epoch).
 *   holder  on PG_REMOVE: only if the sender is the primary in OUR map,
 *           our map has the same epoch (so both sides talk about the same
 *           interval), we are still not a member and nothing runs on the
 *           copy: delete it.
 *
 * Deletion: the PG leaves the in-memory table at once (so a message for it
 * creates a fresh, empty PG whose collection creation is queued after the
 * deletion: store transactions apply in order) and ordered transactions
 * (1) reset the info to empty and incomplete (a crash half-way leaves a
 * copy that claims nothing and is never chosen as peering authority), (2..) remove the
 * objects, at most STRAY_TXN_OPS per transaction, the last one also the
 * collection. The struct is freed after the last one completed (every
 * earlier callback that might still use it ran before, in order).
 *
 * A copy that claims a newer last_update than the primary's is never
 * deleted: the primary peers again with it as a prior-interval member
 * (once per interval), so a complete newer copy becomes the peering
 * authority and the acting set recovers its writes; after that it is an
 * ordinary stray. An incomplete one is only logged.
 *
 * Deleted pools (osd_stray_tick -> purge_tick). The copies of a pool the
 * osdmap no longer holds have no primary to ask: each OSD removes them on
 * its own, in the background. A pool counts as deleted only if its id is
 * below the map's next_pool_id (ids are never reused: the pool existed
 * at or before our epoch) and the map lacks it, so an OSD that lags
 * behind the maps never mistakes a pool created after its epoch for a
 * deleted one (nor can a deleted pool come back). Rate: every peer tick
 * (500 ms) at most osd_pool_purge_objects_per_sec / 2 objects of one PG
 * copy are removed, in ordered transactions of at most STRAY_TXN_OPS;
 * the next batch starts only after the previous one is durable. The first
 * batch also empties the info (incomplete, like a stray deletion), the
 * batch that finds the collection empty removes it. The PG stays in the
 * table until that last batch is queued (a message for it finds it and
 * creates nothing), then leaves it like a stray deletion. Crash-safe
 * without any record of its own: after a restart the copies are loaded,
 * the map says the pool is gone, the removal goes on where it stopped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "norn/errors.h"
#include "osd/osd_int.h"

#define STRAY_ASK_NS 3000000000ull        /* re-ask the primary every 3 s */
#define STRAY_TXN_OPS 1000u
#define STRAY_LIST_MAX (1u << 20)         /* objects listed per PG (bounded) */
#define STRAY_REMOVING_MAX 4096u          /* deletions in flight at once */

#define PURGE_TICKS_PER_SEC 2u           /* osd_stray_tick runs every 500 ms */

struct osd_removal {
	struct osd_removal *next;
	struct osd *o;
	struct pg *pg;                        /* unlinked; freed when done */
	char cid[STORE_CID_MAX + 1];
	uint32_t left;                        /* transactions not completed */
	int err;
	uint64_t objects;
	int purge;                            /* a batch of a deleted pool's copy */
	int last;                             /* purge: removes the collection (pg unlinked) */
};

int osd_stray_removing(const struct osd *o, const char *cid)
{
	for (const struct osd_removal *r = o->removing; r; r = r->next)
		if (!strcmp(r->cid, cid))
			return 1;
	return 0;
}

static uint32_t n_removing(const struct osd *o)
{
	uint32_t n = 0;
	for (const struct osd_removal *r = o->removing; r; r = r->next)
		n++;
	return n;
}

static int in_list(const int32_t *l, uint32_t n, int32_t x)
{
	for (uint32_t i = 0; i < n; i++)
		if (l[i] == x)
			return 1;
	return 0;
}

/* Active+clean now: peering of this interval finished, `size` acting
 * members (all up: the acting set holds only up OSDs), acting == up. */
static int pg_clean_now(const struct pg *pg)
{
	uint32_t n = 0;
	if (pg->primary != pg->osd->id || pg->peering || pg->ps || pg->want_peering)
		return 0;
	for (uint32_t i = 0; i < pg->acting_n; i++)
		if (pg->acting[i] != OSD_NONE)
			n++;
	if (n < pg->size || pg->acting_n != pg->up_n ||
	    memcmp(pg->acting, pg->up, pg->up_n * sizeof(int32_t)))
		return 0;
	return 1;
}

static void send_remove(struct pg *pg, int32_t osd)
{
	struct osd *o = pg->osd;
	struct msgr_conn *c = osd_peer_conn(o, osd);
	struct osd_pg_msg m = { .pool = pg->id.pool, .seed = pg->id.seed, .epoch = o->map.epoch };
	struct enc e;

	if (!c)
		return;
	enc_init(&e, 64);
	osd_pg_msg_encode(&e, &m);
	osd_send_enc(c, MSG_T_OSD_PG_REMOVE, 0, o->map.epoch, &e);
	enc_free(&e);
	NLOG(PG, INFO, "pg %s: active+clean at e%" PRIu64 ": osd.%d may delete its stray copy", pg->cid,
	     o->map.epoch, osd);
}

void osd_stray_offer(struct pg *pg, int32_t osd, const struct pg_eversion *last_update)
{
	struct osd *o = pg->osd;

	if (osd == o->id || in_list(pg->acting, pg->acting_n, osd) || in_list(pg->up, pg->up_n, osd))
		return;
	if (pg_ev_cmp(last_update, &pg->info.last_update) > 0) {
		/* it holds writes we lack (the PG went active without it, e.g.
		 * it was the last copy written and came back after it was
		 * out): never delete it. Peer again with it as a prior member,
		 * once per interval: a complete newer copy becomes the
		 * authority and its writes are recovered onto the acting set;
		 * then it is an ordinary stray. */
		if (pg->primary == o->id && !pg->ps && !pg->peering && !pg->want_peering &&
		    !in_list(pg->prior, pg->prior_n, osd) && pg->prior_n < OSDMAP_MAX_POOL_SIZE &&
		    osdmap_osd_is_up(&o->map, osd)) {
			NLOG(PG, WARN, "pg %s: stray copy on osd.%d is newer (%" PRIu64 "'%" PRIu64 " > %" PRIu64
			     "'%" PRIu64 "): peering again with it", pg->cid, osd, last_update->epoch,
			     last_update->v, pg->info.last_update.epoch, pg->info.last_update.v);
			pg->prior[pg->prior_n++] = osd;
			osd_pg_start_peering(pg);
			return;
		}
		if (pg_clean_now(pg))
			NLOG(PG, WARN, "pg %s: stray copy on osd.%d is newer (%" PRIu64 "'%" PRIu64 " > %" PRIu64
			     "'%" PRIu64 "): not deleting it", pg->cid, osd, last_update->epoch, last_update->v,
			     pg->info.last_update.epoch, pg->info.last_update.v);
		return;
	}
	if (!pg_clean_now(pg))
		return;
	send_remove(pg, osd);
}

/* ---- holder side -------------------------------------------------------------- */

static void ask_primary(struct pg *pg)
{
	struct osd *o = pg->osd;
	struct msgr_conn *c = osd_peer_conn(o, pg->primary);
	struct osd_pg_notify n;
	struct enc e;

	if (!c)
		return;
	memset(&n, 0, sizeof(n));
	n.pool = pg->id.pool;
	n.seed = pg->id.seed;
	n.epoch = o->map.epoch;
	n.info = pg->info;
	enc_init(&e, 128);
	osd_pg_notify_encode(&e, &n);
	osd_send_enc(c, MSG_T_OSD_PG_STRAY, 0, o->map.epoch, &e);
	enc_free(&e);
	NLOG(PG, DEBUG, "pg %s: stray copy (%" PRIu64 "'%" PRIu64 "): asking primary osd.%d", pg->cid,
	     pg->info.last_update.epoch, pg->info.last_update.v, pg->primary);
}

static int pg_is_stray(const struct pg *pg)
{
	return !pg->member && pg->primary != OSD_NONE && pg->primary != pg->osd->id && !pg->ps &&
	       !pg->peering && !pg->n_queued && !pg->n_inflight && TAILQ_EMPTY(&pg->queue) &&
	       TAILQ_EMPTY(&pg->inflight);
}

static void purge_tick(struct osd *o);

void osd_stray_tick(struct osd *o)
{
	uint64_t now = norn_mono_ns();
	purge_tick(o);
	if (!o->map.epoch || !o->have_ticket)
		return;
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			if (!pg_is_stray(pg) || now - pg->stray_asked_ns < STRAY_ASK_NS)
				continue;
			pg->stray_asked_ns = now;
			ask_primary(pg);
		}
}

static void pg_unlink(struct osd *o, struct pg *pg)
{
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg **pp = &o->pgs[h]; *pp; pp = &(*pp)->hnext)
			if (*pp == pg) {
				*pp = pg->hnext;
				pg->hnext = NULL;
				NORN_ASSERT(o->n_pgs > 0);
				o->n_pgs--;
				return;
			}
}

/* One transaction of removal @r completed with @err: 1 when it was the
 * last (@r has left the OSD's list and the caller finishes it), else 0. */
static int removal_part_done(struct osd_removal *r, int err)
{
	if (err == NORN_EFAILED)
		exit(1);
	if (err && !r->err)
		r->err = err;
	NORN_ASSERT(r->left > 0);
	if (--r->left)
		return 0;
	for (struct osd_removal **pp = &r->o->removing; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	return 1;
}

static void removal_cb(void *arg, int err)
{
	struct osd_removal *r = arg;
	struct osd *o = r->o;

	if (!removal_part_done(r, err))
		return;
	if (r->err) {
		/* e.g. a late write put an object in it: the copy stays and is
		 * found again (loaded anew) and re-offered later */
		NLOG(PG, WARN, "pg %s: deleting the stray copy failed: %s", r->cid, norn_strerror(r->err));
		if (!osd_pg_get(o, r->pg->id.pool, r->pg->id.seed))
			osd_pg_get_or_create(o, r->pg->id.pool, r->pg->id.seed);
	} else {
		NLOG(PG, INFO, "pg %s: stray copy deleted (%" PRIu64 " objects)", r->cid, r->objects);
	}
	/* a new copy of this PG started while the deletion was queued (we
	 * became a member again): what its peering read of the store came
	 * before the deletion applied, so peer again now */
	struct pg *now = osd_pg_get(o, r->pg->id.pool, r->pg->id.seed);
	if (!r->err && now && now->primary == o->id && now->ps) {
		NLOG(PG, INFO, "pg %s: peering again after the old copy was deleted", r->cid);
		osd_pg_start_peering(now);
	}
	pg_log_free(&r->pg->log);
	free(r->pg);
	free(r);
}

/* Queue the deletion of @pg's collection; @pg leaves the table. */
static int stray_delete(struct osd *o, struct pg *pg)
{
	struct osd_removal *r = calloc(1, sizeof(*r));
	struct store_names names = { 0 };
	struct store_txn *t = NULL;
	struct pg_info empty;
	struct enc e;
	int rc;

	if (!r)
		return -ENOMEM;
	rc = store_list_objects(o->store, pg->cid, NULL, STRAY_LIST_MAX, &names);
	if (rc) {
		free(r);
		return rc;
	}
	if (names.n >= STRAY_LIST_MAX) {
		store_names_free(&names);
		free(r);
		return -E2BIG;
	}
	r->o = o;
	r->pg = pg;
	r->objects = names.n;
	snprintf(r->cid, sizeof(r->cid), "%s", pg->cid);
	/* (1) the copy claims nothing any more */
	memset(&empty, 0, sizeof(empty));
	empty.same_interval_since = pg->info.same_interval_since;
	empty.incomplete = 1;          /* a half-deleted copy is never an authority */
	enc_init(&e, 128);
	pg_info_encode(&e, &empty);
	t = store_txn_new();
	rc = !t ? -ENOMEM
	        : enc_error(&e) ? -ENOMEM
	                        : store_txn_cmeta_set(t, pg->cid, PG_CMETA_INFO, strlen(PG_CMETA_INFO),
	                                              e.buf, e.len);
	enc_free(&e);
	if (rc) {
		store_txn_free(t);
		store_names_free(&names);
		free(r);
		return rc;
	}
	/* from here on the deletion is committed to: every transaction below
	 * is queued in order after (1); nothing fails before queueing but
	 * memory or a full queue, and those stop after what was queued */
	r->left = 1;
	r->next = o->removing;
	o->removing = r;
	pg_unlink(o, pg);
	rc = store_queue_txn(o->store, t, removal_cb, r);
	if (rc) {
		if (rc == NORN_EFAILED)
			exit(1);
		store_names_free(&names);
		removal_cb(r, rc);          /* puts the PG back */
		return 0;
	}
	size_t i = 0;
	while (!rc) {
		t = store_txn_new();
		if (!t) {
			rc = -ENOMEM;
			break;
		}
		uint32_t ops = 0;
		for (; i < names.n && ops < STRAY_TXN_OPS && !rc; i++, ops++)
			rc = store_txn_remove(t, pg->cid, names.v[i]);
		int last = i >= names.n;
		if (!rc && last)
			rc = store_txn_coll_remove(t, pg->cid);
		if (rc) {
			store_txn_free(t);
			break;
		}
		r->left++;
		rc = store_queue_txn(o->store, t, removal_cb, r);
		if (rc) {
			r->left--;
			if (rc == NORN_EFAILED)
				exit(1);
			break;
		}
		if (last)
			break;
	}
	if (rc && !r->err)
		r->err = rc;           /* the copy stays (claiming nothing): retried later */
	NLOG(PG, INFO, "pg %s: deleting the stray copy (%zu objects)", r->cid, names.n);
	store_names_free(&names);
	return 0;
}

/* ---- copies of deleted pools ------------------------------------------------ */

/* 1 if pool @id existed once and is gone in our map (see the top). */
static int pool_deleted(const struct osd *o, int64_t id)
{
	return o->map.epoch && id >= 0 && id < o->map.next_pool_id && !osdmap_pool(&o->map, id);
}

static int pg_idle(const struct pg *pg)
{
	return !pg->ps && !pg->peering && !pg->want_peering && !pg->n_queued && !pg->n_inflight &&
	       TAILQ_EMPTY(&pg->queue) && TAILQ_EMPTY(&pg->inflight);
}

static void pg_free_unlinked(struct pg *pg)
{
	if (pg->dq_conn)
		msgr_conn_put(pg->dq_conn);
	pg_log_free(&pg->log);
	free(pg);
}

static int pool_has_pgs(const struct osd *o, int64_t pool)
{
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (const struct pg *pg = o->pgs[h]; pg; pg = pg->hnext)
			if (pg->id.pool == pool)
				return 1;
	return 0;
}

static void purge_cb(void *arg, int err)
{
	struct osd_removal *r = arg;
	struct osd *o = r->o;
	int64_t pool = r->pg->id.pool;
	uint32_t seed = r->pg->id.seed;

	if (!removal_part_done(r, err))
		return;
	if (r->err)
		NLOG(PG, WARN, "pg %s: removing objects of a deleted pool failed: %s (retried)", r->cid,
		     norn_strerror(r->err));
	if (r->last) {
		/* the PG left the table when this batch was queued */
		pg_free_unlinked(r->pg);
		if (r->err) {
			/* e.g. a late message put an object in it: load it again,
			 * the next tick goes on */
			if (!osd_pg_get(o, pool, seed))
				osd_pg_get_or_create(o, pool, seed);
		} else {
			NLOG(PG, INFO, "pg %s: copy of deleted pool %" PRId64 " removed", r->cid, pool);
			if (!pool_has_pgs(o, pool))
				NLOG(PG, INFO, "pool %" PRId64 " deleted: every copy removed from this OSD", pool);
		}
	}
	free(r);
}

/* Queue one batch (at most @budget objects) of @pg's removal. Returns the
 * objects it removes (>= 0) or an error. */
static int purge_batch(struct osd *o, struct pg *pg, uint32_t budget)
{
	struct store_names names = { 0 };
	struct osd_removal *r;
	struct store_txn *t = NULL;
	int rc;

	rc = store_list_objects(o->store, pg->cid, NULL, budget, &names);
	if (rc == -ENOENT) {
		/* nothing on disk (its creation never applied) */
		pg_unlink(o, pg);
		NLOG(PG, INFO, "pg %s: copy of deleted pool %" PRId64 " had no collection", pg->cid,
		     pg->id.pool);
		int64_t pool = pg->id.pool;
		pg_free_unlinked(pg);
		if (!pool_has_pgs(o, pool))
			NLOG(PG, INFO, "pool %" PRId64 " deleted: every copy removed from this OSD", pool);
		return 0;
	}
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r) {
		store_names_free(&names);
		return -ENOMEM;
	}
	r->o = o;
	r->pg = pg;
	r->purge = 1;
	r->objects = names.n;
	int want_last = names.n < budget;   /* listed everything: the collection goes too */
	snprintf(r->cid, sizeof(r->cid), "%s", pg->cid);
	if (pg->info.last_update.v || !pg->info.incomplete) {
		/* first batch: the copy claims nothing any more */
		NLOG(PG, INFO, "pg %s: deleted pool %" PRId64 ": removing this copy", pg->cid, pg->id.pool);
		struct pg_info empty;
		struct enc e;
		memset(&empty, 0, sizeof(empty));
		empty.same_interval_since = pg->info.same_interval_since;
		empty.incomplete = 1;
		enc_init(&e, 128);
		pg_info_encode(&e, &empty);
		t = store_txn_new();
		rc = !t ? -ENOMEM
		        : enc_error(&e) ? -ENOMEM
		                        : store_txn_cmeta_set(t, pg->cid, PG_CMETA_INFO,
		                                              strlen(PG_CMETA_INFO), e.buf, e.len);
		enc_free(&e);
		if (!rc)
			pg->info = empty;
	}
	size_t i = 0;
	while (!rc) {
		if (!t && !(t = store_txn_new())) {
			rc = -ENOMEM;
			break;
		}
		uint32_t ops = 0;
		/* touch first: a listing that lags a removal already made
		 * durable must not fail the whole batch */
		for (; i < names.n && ops < STRAY_TXN_OPS && !rc; i++, ops++) {
			rc = store_txn_touch(t, pg->cid, names.v[i]);
			if (!rc)
				rc = store_txn_remove(t, pg->cid, names.v[i]);
		}
		int final = i >= names.n;
		if (!rc && final && want_last)
			rc = store_txn_coll_remove(t, pg->cid);
		if (rc)
			break;
		if (!r->left) {
			r->next = o->removing;
			o->removing = r;
		}
		r->left++;
		rc = store_queue_txn(o->store, t, purge_cb, r);
		t = NULL;
		if (rc) {
			if (rc == NORN_EFAILED)
				exit(1);
			r->left--;
			break;
		}
		if (final && want_last) {
			/* (callbacks never run inside store_queue_txn) new messages
			 * for this PG make a new one, whose creation follows this */
			pg_unlink(o, pg);
			r->last = 1;
		}
		if (final)
			break;
	}
	store_txn_free(t);
	store_names_free(&names);
	if (!r->left) {
		/* nothing queued */
		if (o->removing == r)
			o->removing = r->next;
		free(r);
		return rc;
	}
	if (rc && !r->err)
		r->err = rc;                   /* what was queued completes; the rest waits */
	return (int)names.n;
}

static int purge_in_flight(const struct osd *o)
{
	for (const struct osd_removal *r = o->removing; r; r = r->next)
		if (r->purge)
			return 1;
	return 0;
}

/* One batch per tick, bounded by osd_pool_purge_objects_per_sec. */
static void purge_tick(struct osd *o)
{
	uint64_t rate = (uint64_t)o->cfg.osd_pool_purge_objects_per_sec;
	uint32_t budget = (uint32_t)NORN_MAX(1u, NORN_MIN(rate / PURGE_TICKS_PER_SEC, 1u << 20));

	if (!o->map.epoch || purge_in_flight(o))
		return;
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			if (!pool_deleted(o, pg->id.pool) || !pg_idle(pg))
				continue;
			int rc = purge_batch(o, pg, budget);
			if (rc < 0)
				NLOG(PG, WARN, "pg %s: cannot remove the copy of deleted pool %" PRId64 ": %s",
				     pg->cid, pg->id.pool, norn_strerror(rc));
			return;                /* @pg may be gone: one batch per tick */
		}
}

static void handle_remove(struct osd *o, const struct osd_pg_msg *m, int32_t from)
{
	struct pg *pg = osd_pg_get(o, m->pool, m->seed);
	const char *why = NULL;

	if (!pg)
		return;
	if (pg->primary != from)
		why = "the sender is not the primary in our map";
	else if (m->epoch != o->map.epoch)
		why = "our map epoch differs";
	else if (!pg_is_stray(pg))
		why = "the copy is in use";
	else if (n_removing(o) >= STRAY_REMOVING_MAX)
		why = "too many deletions in flight";
	if (why) {
		NLOG(PG, DEBUG, "pg %s: not deleting our copy at e%" PRIu64 " (osd.%d said e%" PRIu64 "): %s",
		     pg->cid, o->map.epoch, from, m->epoch, why);
		if (m->epoch > o->map.epoch)
			monc_renew_subs(o->mc);
		return;
	}
	int rc = stray_delete(o, pg);
	if (rc)
		NLOG(PG, WARN, "pg %s: cannot delete the stray copy: %s", pg->cid, norn_strerror(rc));
}

void osd_handle_stray_msg(struct osd *o, struct msgr_conn *c, struct msg_in *in)
{
	const char *ent = msgr_conn_peer_entity(c);
	int32_t from = -1;

	if (!strncmp(ent, "osd.", 4))
		from = (int32_t)strtol(ent + 4, NULL, 10);
	if (from < 0) {
		NLOG(PG, WARN, "stray message from non-OSD %s: closing", ent);
		osd_conn_drop(c);
		return;
	}
	if (in->hdr.type == MSG_T_OSD_PG_STRAY) {
		struct osd_pg_notify n;
		if (osd_pg_notify_decode(&n, in->payload, in->len)) {
			NLOG(PG, WARN, "malformed PG_STRAY from %s", ent);
			return;
		}
		struct pg *pg = osd_pg_get(o, n.pool, n.seed);
		if (pg)
			osd_stray_offer(pg, from, &n.info.last_update);
		osd_pg_notify_free(&n);
		return;
	}
	struct osd_pg_msg m;
	if (osd_pg_msg_decode(&m, in->payload, in->len)) {
		NLOG(PG, WARN, "malformed PG_REMOVE from %s", ent);
		return;
	}
	handle_remove(o, &m, from);
}
