/* Peering and recovery, driven by the primary of each PG.
 *
 * On every interval change that leaves us primary the PG stops starting
 * client ops and peers:
 *
 *   QUERY    every member of the current acting set and of the prior
 *            interval's acting set that is up gets PG_QUERY and answers
 *            PG_NOTIFY: its info, its log and its object list. Our own
 *            state counts as one answer. Unanswered queries are resent
 *            every second; a member that never answers will be marked
 *            down and the next interval starts peering again. A member
 *            that lacks the query's map keeps it and answers once its map
 *            catches up (osd_peering_map_updated).
 *   CHOOSE   the authoritative log is the one with the newest last_update
 *            among the complete members (pg_info_complete: not in the middle
 *            of a recovery, no write on top of an unfilled gap). A copy
 *            that is being backfilled or recovered holds a partial mix of
 *            objects whatever its last_update says; if no complete member
 *            answers, the PG stays incomplete (down, ops wait) and peering
 *            retries until one is back. For each member (us included) the
 *            missing set is computed against the authority from the
 *            member's last_complete: log-based when it lies in
 *            the authoritative log's window (objects written after it,
 *            plus objects of the member's divergent entries); otherwise
 *            backfill: every object either side holds.
 *            A snapshot clone ("\xff" "c.<oid>.<id>") or snapdir
 *            ("\xff" "d.<oid>", osd/snap.h) changes only with a write to its
 *            head <oid>, so the log names the head alone: every head in a
 *            log-based missing set brings its companions along (see
 *            add_companions: the clones the member lacks or must drop, and
 *            the snapdir). Missing sets are ordered so that an object's
 *            clones and snapdir come right before it (obj_cmp): the head,
 *            whose snapset names the clones, is recovered last, and a
 *            write to it waits until all of them are (osd_pg_object_unrecovered).
 *   PULL     if we are not authoritative we pull each object we miss from
 *            the authoritative member (whole object: data, xattrs, omap,
 *            or "absent" -> delete), then take its log.
 *   PUSH     we push each object a replica misses, then send it the log
 *            (LOGSYNC); it answers once durable. Client ops run: reads
 *            from our (authoritative) copy; writes as osd_pg_write_plan
 *            says (below). An object larger than osd_recovery_piece_bytes
 *            goes in pieces: we read one piece, send it, and read and
 *            send the next only once the replica acknowledged the last
 *            one durable (PUSH_ACK carries the piece's end). So a piece
 *            never lands without the ones before it (a lost message only
 *            stalls that push until peering restarts), the first piece
 *            (which replaces the object and carries xattrs and omap) is
 *            always applied first, memory per push is one piece, and a
 *            replica's store never has more than one piece per object
 *            queued ahead of a client write. The object cannot change
 *            between pieces: its entry is STARTED until the last piece is
 *            acknowledged, and writes to it wait (below).
 *   ACTIVE   the queued client ops start.
 *
 * Writes while we push (osd_pg_write_plan, osd_op.c's kick). Each
 * missing entry is TODO, STARTED (push in flight) or ACKED. Pushes go in
 * the missing set's order (the cursor), except that a write waiting for
 * an object has that object pushed at once (osd_pg_recover_first, up to
 * OSD_RECOVERY_URGENT_EXTRA pushes beyond osd_max_recovery, not paced by
 * osd_recovery_sleep_ms; while any is in flight, the OSD starts only one
 * bulk push at a time: client ops first). A write to an object that a
 * member misses:
 *   - ACKED everywhere (or missing nowhere): goes to every member;
 *   - any entry STARTED: waits (alone: other objects' ops go on) until
 *     the object's entries are ACKED;
 *   - a member (backfill or log recovery alike) whose copy of the object
 *     is TODO: the write skips it (Ceph's "beyond last_backfill"); the
 *     push reads our copy later, with this write in it (a push never
 *     starts while a write to its object waits for its local commit:
 *     osd_pg_oid_writing). Not if the write could create objects the
 *     missing set does not name (a snap context, or clones/snapdir of the
 *     object exist) and not if the members left would be fewer than
 *     min_size: then it waits.
 * A skipped member keeps a gap in its log (last_complete stays behind),
 * so it can never be chosen as an authority with the write missing, and
 * any later peering puts the object in its missing set again (its
 * last_complete is older than the write's entry). Ceph makes writes wait
 * for log recovery because its replicas apply a log entry on top of the
 * object they hold; a push here replaces the whole object, so the member
 * needs no older state of it, and LOGSYNC gives it the authoritative log
 * once every push is in.
 *
 * Pulls and pushes in flight are bounded per OSD by osd_max_recovery;
 * recovery runs only while peering, so client ops of active PGs are never
 * queued behind it. Every message carries the peering epoch; answers for
 * an older peering are ignored.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "norn/errors.h"
#include "osd/osd_int.h"
#include "osd/snap.h"

#define PEER_MAX (2 * OSDMAP_MAX_POOL_SIZE)
#define PEER_RETRY_NS 1000000000ull
#define PEER_INCOMPLETE_RETRY_NS 5000000000ull
#define LOG_TXN_OPS 1500u
/* Pulls move whole objects (up to store_max_object_bytes each): at most
 * this many in flight per OSD whatever osd_max_recovery says (pushes go in
 * pieces, so their memory is osd_max_recovery x osd_recovery_piece_bytes) */
#define PULLS_MAX 4u

struct peer_info {
	struct store_names names;         /* our own object list (self only) */
	int32_t osd;
	int got;
	struct osd_pg_notify n;
	uint8_t *buf;                     /* payload n points into */
	char **missing;                   /* sorted by obj_cmp, unique */
	uint8_t *acked;                   /* per missing entry: OBJ_* */
	uint32_t n_missing;
	uint32_t next;                    /* recovery order cursor: next missing to start */
	uint32_t done;                    /* finished pushes */
	uint32_t pushing;                 /* pushes to this member in flight */
	int backfill;                     /* missing = every object (no log overlap) */
	int synced;
};

static int in_acting_or_up(const struct pg *pg, int32_t osd);

/* State of a missing entry (peer_info.acked). Pushes go in the missing
 * set's order (the cursor `next`), except that an object a client write
 * waits for is pushed at once (osd_pg_recover_first): entries after the
 * cursor may be started or acked already. */
enum { OBJ_TODO = 0, OBJ_ACKED = 1, OBJ_STARTED = 2, OBJ_URGENT = 3 /* started for a waiting write */ };

struct pg_peer_state {
	struct peer_info p[PEER_MAX];
	uint32_t n;
	int auth;                         /* index into p */
	int self;                         /* index of us */
	uint32_t inflight;                /* pulls/pushes of this PG */
	uint64_t skipped_writes;          /* writes that skipped a member missing their object */
	uint64_t urgent_pushes;           /* pushes started for writes that could not skip */
	uint32_t urgent;                  /* of inflight: pushes for waiting writes */
	uint32_t logsync_wait;
};

static int ev_in_entries(const struct osd_pg_notify *n, const struct pg_eversion *v, const char *oid)
{
	/* entries are sorted by version: binary search */
	uint32_t lo = 0, hi = n->n_entries;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = pg_ev_cmp(&n->entries[mid].ver, v);
		if (c == 0)
			return !oid || !strcmp(n->entries[mid].oid, oid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---- object order: companions before their head ------------------------------------ */

enum { KIND_CLONE = 0, KIND_SNAPDIR = 1, KIND_HEAD = 2 };

/* The head an object belongs to: a clone "\xff" "c.<oid>.<16 hex>" and a
 * snapdir "\xff" "d.<oid>" belong to <oid>; anything else (a head, or an
 * internal name of another form) to itself. */
static int obj_kind(const char *name, size_t len, const char **base, size_t *blen)
{
	*base = name;
	*blen = len;
	if (len < 4 || (unsigned char)name[0] != SNAP_HIDDEN_BYTE || name[2] != '.')
		return KIND_HEAD;
	if (name[1] == 'd') {
		*base = name + 3;
		*blen = len - 3;
		return KIND_SNAPDIR;
	}
	if (name[1] != 'c' || len < 3 + 1 + 17 || name[len - 17] != '.')
		return KIND_HEAD;
	for (size_t i = len - 16; i < len; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return KIND_HEAD;
	*base = name + 3;
	*blen = len - 3 - 17;
	return KIND_CLONE;
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* Compare @name (@len bytes) with the position (head @base, @kind). */
static int obj_cmp_key(const char *name, size_t len, const char *base, size_t blen, int kind)
{
	const char *nb;
	size_t nbl;
	int nk = obj_kind(name, len, &nb, &nbl);
	int c = bytes_cmp(nb, nbl, base, blen);
	if (c)
		return c;
	return nk < kind ? -1 : nk > kind;
}

/* The order of missing sets: by head, then clones (by name), the
 * snapdir, the head itself. Heads alone sort as strcmp. */
static int obj_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	const char *ab, *bb;
	size_t abl, bbl;
	int ak = obj_kind(a, al, &ab, &abl), bk = obj_kind(b, bl, &bb, &bbl);
	int c = bytes_cmp(ab, abl, bb, bbl);
	if (c)
		return c;
	if (ak != bk)
		return ak < bk ? -1 : 1;
	return bytes_cmp(a, al, b, bl);
}

/* Index of @name in the sorted @v[0..n), or -1. */
static int64_t obj_find(char *const *v, uint32_t n, const char *name, size_t len)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = obj_cmp(v[mid], strlen(v[mid]), name, len);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* First index of @v[0..n) at or after position (@base, @kind). */
static uint32_t obj_lower_bound(char *const *v, uint32_t n, const char *base, size_t blen, int kind)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (obj_cmp_key(v[mid], strlen(v[mid]), base, blen, kind) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- own state as a notify ------------------------------------------------------ */

static int self_notify(struct pg *pg, struct osd_pg_notify *n, struct store_names *names)
{
	struct osd *o = pg->osd;
	memset(n, 0, sizeof(*n));
	n->pool = pg->id.pool;
	n->seed = pg->id.seed;
	n->epoch = pg->peer_epoch;
	n->info = pg->info;
	n->n_entries = pg->log.n;
	if (n->n_entries) {
		n->entries = malloc(n->n_entries * sizeof(*n->entries));
		if (!n->entries)
			return -ENOMEM;
		for (uint32_t i = 0; i < n->n_entries; i++)
			n->entries[i] = *pg_log_at(&pg->log, i);
	}
	memset(names, 0, sizeof(*names));
	int rc = store_list_objects(o->store, pg->cid, NULL, OSD_NOTIFY_MAX_OBJECTS, names);
	if (rc && rc != -ENOENT)
		return rc;
	n->n_objs = (uint32_t)names->n;
	if (n->n_objs) {
		n->objs = malloc(n->n_objs * sizeof(*n->objs));
		n->obj_lens = malloc(n->n_objs * sizeof(*n->obj_lens));
		if (!n->objs || !n->obj_lens)
			return -ENOMEM;
		for (uint32_t i = 0; i < n->n_objs; i++) {
			n->objs[i] = names->v[i];
			n->obj_lens[i] = strlen(names->v[i]);
		}
	}
	return 0;
}

static void send_pg_msg(struct osd *o, struct msgr_conn *c, uint16_t type, const struct osd_pg_msg *m)
{
	struct enc e;
	enc_init(&e, 64 + m->oid_len);
	osd_pg_msg_encode(&e, m);
	osd_send_enc(c, type, 0, o->map.epoch, &e);
	enc_free(&e);
}

/* ---- state ---------------------------------------------------------------------- */

static void ps_free(struct pg_peer_state *ps)
{
	if (!ps)
		return;
	for (uint32_t i = 0; i < ps->n; i++) {
		osd_pg_notify_free(&ps->p[i].n);
		free(ps->p[i].buf);
		for (uint32_t k = 0; k < ps->p[i].n_missing; k++)
			free(ps->p[i].missing[k]);
		free(ps->p[i].missing);
		free(ps->p[i].acked);
		store_names_free(&ps->p[i].names);
	}
	free(ps);
}

void osd_pg_stop_peering(struct pg *pg)
{
	struct osd *o = pg->osd;
	if (pg->ps) {
		NORN_ASSERT(o->recovery_inflight >= pg->ps->inflight);
		NORN_ASSERT(o->recovery_urgent >= pg->ps->urgent);
		o->recovery_inflight -= pg->ps->inflight;
		o->recovery_urgent -= pg->ps->urgent;
		ps_free(pg->ps);
	}
	pg->ps = NULL;
	pg->peering = 0;
	pg->backfilling = 0;
}

int osd_pg_object_unrecovered(const struct pg *pg, const char *oid)
{
	size_t len = strlen(oid);
	if (!pg->ps)
		return 0;
	/* the object itself and its clones and snapdir (right before it):
	 * a write to it would clone and trim them */
	for (uint32_t i = 0; i < pg->ps->n; i++) {
		const struct peer_info *p = &pg->ps->p[i];
		if (p->done >= p->n_missing)
			continue;
		for (uint32_t k = obj_lower_bound(p->missing, p->n_missing, oid, len, KIND_CLONE);
		     k < p->n_missing; k++) {
			const char *b;
			size_t bl;
			obj_kind(p->missing[k], strlen(p->missing[k]), &b, &bl);
			if (bytes_cmp(b, bl, oid, len))
				break;
			if (!p->acked || p->acked[k] != OBJ_ACKED)
				return 1;
		}
	}
	return 0;
}

/* Mark @name recovered in @p's missing set (if it is there). */
static void mark_acked(struct peer_info *p, const char *name, size_t len)
{
	int64_t k = p->acked && len ? obj_find(p->missing, p->n_missing, name, len) : -1;
	if (k >= 0)
		p->acked[k] = OBJ_ACKED;
}

uint64_t osd_pg_recovery_left(const struct pg *pg)
{
	uint64_t n = 0;
	if (!pg->ps)
		return 0;
	for (uint32_t i = 0; i < pg->ps->n; i++)
		n += pg->ps->p[i].n_missing - pg->ps->p[i].done;
	return n;
}

static int add_member(struct pg_peer_state *ps, int32_t osd)
{
	for (uint32_t i = 0; i < ps->n; i++)
		if (ps->p[i].osd == osd)
			return (int)i;
	if (ps->n >= PEER_MAX)
		return -1;
	ps->p[ps->n].osd = osd;
	return (int)ps->n++;
}

static void send_queries(struct pg *pg)
{
	struct osd *o = pg->osd;
	struct pg_peer_state *ps = pg->ps;
	for (uint32_t i = 0; i < ps->n; i++) {
		if (ps->p[i].got)
			continue;
		struct msgr_conn *c = osd_peer_conn(o, ps->p[i].osd);
		if (!c)
			continue;
		struct osd_pg_msg m = { .pool = pg->id.pool, .seed = pg->id.seed, .epoch = pg->peer_epoch };
		send_pg_msg(o, c, MSG_T_OSD_PG_QUERY, &m);
	}
	pg->query_sent_ns = norn_mono_ns();
}

static void peering_advance(struct pg *pg);

/* osd_recovery_sleep_ms: 1 if no recovery op may start yet, else 0 and
 * the next one may start only after the pause. */
static int recovery_throttled(struct osd *o)
{
	uint64_t now;
	if (!o->cfg.osd_recovery_sleep_ms)
		return 0;
	now = norn_mono_ns();
	if (now < o->recovery_next_ns)
		return 1;
	o->recovery_next_ns = now + o->cfg.osd_recovery_sleep_ms * 1000000ull;
	return 0;
}

void osd_pg_start_peering(struct pg *pg)
{
	struct osd *o = pg->osd;
	struct pg_peer_state *ps;
	struct store_names names;

	osd_pg_stop_peering(pg);
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		NLOG(PG, ERR, "pg %s: out of memory for peering", pg->cid);
		return;
	}
	pg->ps = ps;
	pg->peering = PG_PEER_QUERY;
	pg->peer_epoch = o->map.epoch;
	pg->peer_started_ns = norn_mono_ns();
	ps->auth = -1;
	ps->self = add_member(ps, o->id);
	for (uint32_t i = 0; i < pg->acting_n; i++)
		if (pg->acting[i] != OSD_NONE)
			add_member(ps, pg->acting[i]);
	for (uint32_t i = 0; i < pg->prior_n; i++)
		if (pg->prior[i] != OSD_NONE && osdmap_osd_is_up(&o->map, pg->prior[i]))
			add_member(ps, pg->prior[i]);
	struct peer_info *me = &ps->p[ps->self];
	int rc = self_notify(pg, &me->n, &names);
	me->names = names;             /* me->n.objs point into it */
	if (rc) {
		NLOG(PG, ERR, "pg %s: cannot read own state for peering", pg->cid);
		osd_pg_stop_peering(pg);
		return;
	}
	me->got = 1;
	NLOG(PG, DEBUG, "pg %s: peering at e%" PRIu64 " with %u members", pg->cid, pg->peer_epoch, ps->n);
	send_queries(pg);
	peering_advance(pg);
}

/* ---- missing sets ---------------------------------------------------------------- */

static int cmp_obj(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	return obj_cmp(x, strlen(x), y, strlen(y));
}

struct strset {
	char **v;
	uint32_t n, cap;
};

static int ss_add(struct strset *s, const char *p, size_t len)
{
	if (s->n == s->cap) {
		uint32_t nc = s->cap ? s->cap * 2 : 64;
		char **nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n] = strndup(p, len);
	if (!s->v[s->n])
		return -ENOMEM;
	s->n++;
	return 0;
}

/* Sort (obj_cmp) and drop duplicates. */
static void ss_finish(struct strset *s)
{
	uint32_t w = 0;
	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_obj);
	for (uint32_t i = 0; i < s->n; i++) {
		if (w && !strcmp(s->v[w - 1], s->v[i])) {
			free(s->v[i]);
			continue;
		}
		s->v[w++] = s->v[i];
	}
	s->n = w;
}

static void ss_free(struct strset *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* 1 if @name is in a notify's object list (sorted in store byte order). */
static int notify_has_obj(const struct osd_pg_notify *n, const char *name, size_t len)
{
	uint32_t lo = 0, hi = n->n_objs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = bytes_cmp(n->objs[mid], n->obj_lens[mid], name, len);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* 1 if head @base is in the finished set @s. */
static int ss_has_head(const struct strset *s, const char *base, size_t blen)
{
	uint32_t k = obj_lower_bound(s->v, s->n, base, blen, KIND_HEAD);
	return k < s->n && obj_cmp_key(s->v[k], strlen(s->v[k]), base, blen, KIND_HEAD) == 0;
}

/* Snapshot companions of the heads in @heads (finished) into @s: a
 * clone the authority has and the member lacks (pushed), one the member
 * has and the authority does not (pushed as absent: deleted), the
 * snapdir on either side (small; its snapset changes with the head's).
 * A clone both hold is the same bytes (a clone never changes after it
 * is made, and no later one takes its name), except where the member's
 * own divergent writes to the head made it: those heads (@div) get
 * every clone again. The object lists are bounded by the notify decoder
 * (OSD_NOTIFY_MAX_OBJECTS); internal names sort last in them. */
static int add_companions(struct strset *s, const struct strset *heads, const struct strset *div,
                          const struct osd_pg_notify *a, const struct osd_pg_notify *m)
{
	const struct osd_pg_notify *side[2] = { a, m };
	int rc = 0;

	if (!heads->n)
		return 0;
	for (int w = 0; w < 2 && !rc; w++) {
		const struct osd_pg_notify *n = side[w], *other = side[!w];
		for (uint32_t i = n->n_objs; i-- > 0 && !rc;) {
			const char *name = n->objs[i], *base;
			size_t len = n->obj_lens[i], blen;
			if (len == 0 || (unsigned char)name[0] != SNAP_HIDDEN_BYTE)
				break;                 /* past the internal names */
			int kind = obj_kind(name, len, &base, &blen);
			if (kind == KIND_HEAD || !ss_has_head(heads, base, blen))
				continue;
			if (kind == KIND_SNAPDIR || !notify_has_obj(other, name, len) ||
			    ss_has_head(div, base, blen))
				rc = ss_add(s, name, len);
		}
	}
	return rc;
}

static int compute_missing(const struct peer_info *auth, struct peer_info *t, int *backfill)
{
	const struct osd_pg_notify *a = &auth->n, *m = &t->n;
	struct strset s = { 0 }, div = { 0 };
	int rc = 0;

	/* a copy is whole up to last_complete only; what came after a gap
	 * is recopied (harmless) */
	const struct pg_eversion *mv = &m->info.last_complete;

	*backfill = 0;
	if (pg_info_complete(&m->info) && pg_ev_cmp(&m->info.last_update, &a->info.last_update) == 0 &&
	    (a->n_entries == 0 || ev_in_entries(m, &a->entries[a->n_entries - 1].ver,
	                                        a->entries[a->n_entries - 1].oid))) {
		t->missing = NULL;
		t->n_missing = 0;
		return 0;
	}
	int overlap = pg_ev_cmp(mv, &a->info.log_tail) >= 0 &&
	              (pg_ev_cmp(mv, &a->info.log_tail) == 0 ||
	               ev_in_entries(a, mv, NULL) ||
	               (mv->v == 0 && a->info.log_tail.v == 0));
	if (overlap) {
		for (uint32_t i = 0; i < a->n_entries && !rc; i++)
			if (pg_ev_cmp(&a->entries[i].ver, mv) > 0)
				rc = ss_add(&s, a->entries[i].oid, strlen(a->entries[i].oid));
		/* divergent: entries the authority does not have */
		for (uint32_t i = 0; i < m->n_entries && !rc; i++)
			if (pg_ev_cmp(&m->entries[i].ver, &a->info.log_tail) > 0 &&
			    !ev_in_entries(a, &m->entries[i].ver, m->entries[i].oid)) {
				rc = ss_add(&s, m->entries[i].oid, strlen(m->entries[i].oid));
				if (!rc)
					rc = ss_add(&div, m->entries[i].oid, strlen(m->entries[i].oid));
			}
		if (!rc) {
			/* the log names heads only: bring their clones along */
			struct strset heads = s;
			ss_finish(&heads);
			ss_finish(&div);
			s = (struct strset){ 0 };
			for (uint32_t i = 0; i < heads.n && !rc; i++)
				rc = ss_add(&s, heads.v[i], strlen(heads.v[i]));
			if (!rc)
				rc = add_companions(&s, &heads, &div, a, m);
			ss_free(&heads);
		}
	} else {
		/* backfill: every object either side holds, clones included */
		*backfill = 1;
		for (uint32_t i = 0; i < a->n_objs && !rc; i++)
			rc = ss_add(&s, a->objs[i], a->obj_lens[i]);
		for (uint32_t i = 0; i < m->n_objs && !rc; i++)
			rc = ss_add(&s, m->objs[i], m->obj_lens[i]);
	}
	ss_free(&div);
	ss_finish(&s);
	t->missing = s.v;
	t->n_missing = s.n;
	t->acked = NULL;
	if (!rc && s.n && !(t->acked = calloc(s.n, 1)))
		rc = -ENOMEM;
	return rc;
}

/* ---- moving objects ---------------------------------------------------------------- */

struct push_ctx {
	struct osd *o;
	int64_t pool;
	uint32_t seed;
	uint64_t epoch;
	char oid[STORE_OID_MAX + 1];
	struct msgr_conn *conn;           /* where the PUSH goes (a reference) */
	uint16_t type;
	uint64_t off;                     /* first byte of this piece */
	uint64_t size;                    /* the object's size (when it exists) */
	uint64_t want;                    /* bytes this push reads */
	int piece;                        /* a piece push: version 2 framing */
};

/* The two buffers of a PUSH in flight: the encoded head and the data
 * read from the store (sent as a second iovec, not copied). */
struct push_msg {
	uint8_t *head;
	uint8_t *data;
};

static void push_msg_free(void *arg, int status)
{
	struct push_msg *m = arg;
	(void)status;
	free(m->head);
	free(m->data);
	free(m);
}

/* Encode a store listing as a PUSH key/value list (empty when the listing
 * failed, @rc != 0), and free it. */
static void kv_list_put(struct enc *e, int rc, struct store_kvs *kv)
{
	if (rc) {
		osd_kv_list_begin(e, 0);
		return;
	}
	osd_kv_list_begin(e, (uint32_t)kv->n);
	for (size_t i = 0; i < kv->n; i++)
		osd_kv_list_add(e, kv->v[i].key, kv->v[i].klen, kv->v[i].val, kv->v[i].vlen);
	store_kvs_free(kv);
}

/* Read the object (or one piece of it) and send it as a PUSH. */
static void push_read_cb(void *arg, int err, uint8_t *buf, size_t len)
{
	struct push_ctx *x = arg;
	struct osd *o = x->o;
	char cid[STORE_CID_MAX + 1];
	struct osd_pg_push p;
	struct enc xe, oe, e;
	struct store_kvs kv = { 0 };
	struct push_msg *pm = NULL;

	store_cid(cid, (uint64_t)x->pool, x->seed);
	memset(&p, 0, sizeof(p));
	p.pool = x->pool;
	p.seed = x->seed;
	p.epoch = x->epoch;
	p.oid = x->oid;
	p.oid_len = strlen(x->oid);
	enc_init(&xe, 256);
	enc_init(&oe, 256);
	enc_init(&e, 256);
	if (err == -ENOENT && x->off == 0) {
		p.exists = 0;
	} else if (err) {
		NLOG(PG, ERR, "pg %s: reading %s for recovery: %s", cid, x->oid, norn_strerror(err));
		goto out;
	} else if (len != x->want) {
		/* the object is stable while its push is in flight (writes
		 * to it wait): a short read means it changed under us */
		NLOG(PG, ERR, "pg %s: %s changed while being pushed (%zu bytes at %" PRIu64 " of %" PRIu64
		     ")", cid, x->oid, len, x->off, x->size);
		goto out;
	} else {
		p.exists = 1;
		p.data = buf;
		p.data_len = len;
		p.off = x->off;
		p.size = x->piece ? x->size : len;
		if (x->off == 0) {
			kv_list_put(&xe, store_getxattrs(o->store, cid, x->oid, &kv), &kv);
			kv_list_put(&oe, store_omap_list(o->store, cid, x->oid, NULL, 0, NULL, 0, 1u << 20, &kv),
			            &kv);
			p.xattrs = xe.buf;
			p.xattrs_len = xe.len;
			p.omap = oe.buf;
			p.omap_len = oe.len;
		}
	}
	pm = calloc(1, sizeof(*pm));
	if (!pm || osd_pg_push_encode_split(&e, &p) || !(pm->head = enc_take(&e, &len))) {
		NLOG(PG, ERR, "pg %s: encoding a push of %s: out of memory", cid, x->oid);
		free(pm);
		goto out;
	}
	struct iovec iov[2] = { { pm->head, len }, { buf, p.data_len } };
	pm->data = buf;
	buf = NULL;
	if (msgr_send(x->conn, x->type, 0, o->map.epoch, iov, p.data_len ? 2 : 1, push_msg_free, pm)) {
		/* no ack will come: peering's stuck timer restarts it */
		NLOG(PG, WARN, "pg %s: sending a push of %s failed", cid, x->oid);
		push_msg_free(pm, 0);
	} else {
		o->recovered_bytes += p.data_len;
	}
out:
	enc_free(&e);
	enc_free(&xe);
	enc_free(&oe);
	free(buf);
	msgr_conn_put(x->conn);
	free(x);
}

/* Push @oid (from byte @off; @piece > 0: at most @piece bytes, a piece
 * push; 0: the whole object) over @c. 0, or an error (nothing sent). */
static int start_push(struct osd *o, struct msgr_conn *c, int64_t pool, uint32_t seed, uint64_t epoch,
                      const char *oid, size_t oid_len, uint64_t off, uint64_t piece)
{
	struct push_ctx *x = calloc(1, sizeof(*x));
	char cid[STORE_CID_MAX + 1];
	struct store_stat st;
	int rc;

	if (!x || oid_len > STORE_OID_MAX) {
		free(x);
		return -ENOMEM;
	}
	x->o = o;
	x->pool = pool;
	x->seed = seed;
	x->epoch = epoch;
	memcpy(x->oid, oid, oid_len);
	x->oid[oid_len] = 0;
	x->conn = c;
	x->type = MSG_T_OSD_PG_PUSH;
	x->off = off;
	msgr_conn_get(c);
	store_cid(cid, (uint64_t)pool, seed);
	rc = store_stat(o->store, cid, x->oid, &st);
	if (rc == -ENOENT && off == 0) {
		push_read_cb(x, -ENOENT, NULL, 0);
		return 0;
	}
	if (rc == 0 && off > st.size)
		rc = -ERANGE;
	if (rc == 0) {
		x->size = st.size;
		x->piece = piece && (off > 0 || st.size > piece);
		x->want = x->piece ? NORN_MIN(st.size - off, piece) : st.size - off;
		rc = store_read(o->store, cid, x->oid, off, x->want ? x->want : 1, push_read_cb, x);
	}
	if (rc) {
		msgr_conn_put(c);
		free(x);
	}
	return rc;
}

struct apply_ctx {
	struct osd *o;
	struct msgr_conn *conn;           /* ack target, or NULL (a pull at the primary) */
	struct osd_pg_msg ack;
	char oid[STORE_OID_MAX + 1];
	int64_t pool;
	uint32_t seed;
	uint64_t epoch;
};

static void pull_done(struct osd *o, int64_t pool, uint32_t seed, uint64_t epoch, const char *oid,
                      int err);

static void apply_push_cb(void *arg, int err)
{
	struct apply_ctx *x = arg;
	if (err == NORN_EFAILED)
		exit(1);
	if (x->conn) {
		x->ack.result = err;
		x->ack.oid = x->oid;
		x->ack.oid_len = strlen(x->oid);
		send_pg_msg(x->o, x->conn, MSG_T_OSD_PG_PUSH_ACK, &x->ack);
		msgr_conn_put(x->conn);
	} else {
		pull_done(x->o, x->pool, x->seed, x->epoch, x->oid, err);
	}
	free(x);
}

/* Replace the local copy of an object with a pushed one. */
static int apply_push(struct osd *o, struct pg *pg, const struct osd_pg_push *p, struct apply_ctx *x)
{
	struct store_txn *t = store_txn_new();
	struct store_stat st;
	struct dec d;
	uint32_t left;
	const void *k, *v;
	size_t kl, vl;
	int rc = 0, r;

	if (!t)
		return -ENOMEM;
	/* a later piece (off > 0) only writes its range: the first piece
	 * replaced the object, and the pusher sends each piece only after
	 * the one before it is durable here */
	int exists = p->off == 0 && store_stat(o->store, pg->cid, x->oid, &st) == 0;
	if (p->off)
		rc = store_txn_write(t, pg->cid, x->oid, p->off, p->data, p->data_len);
	/* the stat can be stale (the deletion of a stray copy of this PG may
	 * be queued ahead of us, stray.c): touch first, so the remove never
	 * fails the transaction on an object that is already gone */
	if (!rc && p->off == 0)
		rc = store_txn_touch(t, pg->cid, x->oid);
	if (!rc && p->off == 0)
		rc = store_txn_remove(t, pg->cid, x->oid);
	if (!rc && p->off == 0 && p->exists) {
		rc = p->data_len ? store_txn_write(t, pg->cid, x->oid, 0, p->data, p->data_len)
		                 : store_txn_touch(t, pg->cid, x->oid);
		dec_init(&d, p->xattrs, p->xattrs_len);
		left = dec_count(&d, STORE_XATTRS_MAX, 8);
		while (!rc && (r = osd_kv_list_next(&d, &left, &k, &kl, &v, &vl)) == 1) {
			char name[STORE_XATTR_NAME_MAX + 1];
			if (kl == 0 || kl > STORE_XATTR_NAME_MAX || memchr(k, 0, kl)) {
				rc = -EINVAL;
				break;
			}
			memcpy(name, k, kl);
			name[kl] = 0;
			rc = store_txn_setxattr(t, pg->cid, x->oid, name, v, vl);
		}
		if (!rc && dec_error(&d))
			rc = -EINVAL;
		dec_init(&d, p->omap, p->omap_len);
		left = dec_count(&d, 1u << 20, 8);
		while (!rc && (r = osd_kv_list_next(&d, &left, &k, &kl, &v, &vl)) == 1)
			rc = store_txn_omap_set(t, pg->cid, x->oid, k, kl, v, vl);
		if (!rc && dec_error(&d))
			rc = -EINVAL;
	}
	if (!rc && p->off == 0 && !exists && !p->exists) {
		/* nothing to do: still go through the store to keep order */
		rc = store_txn_touch(t, pg->cid, ".norn-recovery-noop");
		if (!rc)
			rc = store_txn_remove(t, pg->cid, ".norn-recovery-noop");
	}
	if (!rc && !pg->info.incomplete) {
		/* from the first recovered object until the authority's log
		 * arrives this copy is a partial mix: say so durably, in the
		 * same transaction, so that it is never taken for complete */
		struct enc e;
		struct pg_info ni = pg->info;
		ni.incomplete = 1;
		enc_init(&e, 128);
		pg_info_encode(&e, &ni);
		rc = enc_error(&e) ? -ENOMEM
		                   : store_txn_cmeta_set(t, pg->cid, PG_CMETA_INFO, strlen(PG_CMETA_INFO),
		                                         e.buf, e.len);
		enc_free(&e);
		if (!rc)
			pg->info.incomplete = 1;
	}
	if (rc) {
		store_txn_free(t);
		return rc;
	}
	/* clones and snapdirs are not counted (as in the op path) */
	if (!snap_is_hidden(x->oid) && p->off == 0 && !exists && p->exists)
		pg->objects++;
	else if (!snap_is_hidden(x->oid) && p->off == 0 && exists && !p->exists && pg->objects)
		pg->objects--;
	return store_queue_txn(o->store, t, apply_push_cb, x);
}

/* ---- log replacement --------------------------------------------------------------- */

struct relog_ctx {
	uint32_t left;
	int err;
	void (*cb)(void *arg, int err);
	void *arg;
};

static void relog_cb(void *arg, int err)
{
	struct relog_ctx *x = arg;
	if (err && !x->err)
		x->err = err;
	if (err == NORN_EFAILED)
		exit(1);
	if (--x->left == 0) {
		if (x->cb)
			x->cb(x->arg, x->err);
		free(x);
	}
}

int osd_pg_replace_log(struct pg *pg, const struct pg_log_entry *entries, uint32_t n,
                       const struct pg_info *info, void (*cb)(void *arg, int err), void *arg)
{
	struct osd *o = pg->osd;
	struct relog_ctx *x = calloc(1, sizeof(*x));
	struct store_txn *t = NULL;
	uint32_t ops = 0;
	char key[PG_LOG_KEY_LEN + 1];
	struct enc e;
	int rc = 0;

	if (!x)
		return -ENOMEM;
	x->cb = cb;
	x->arg = arg;
	x->left = 1;
	/* keep only the newest entries that fit our log */
	if (n > pg->log.cap) {
		entries += n - pg->log.cap;
		n = pg->log.cap;
	}
	/* drop our entries the new log does not have, write the new ones */
	struct osd_pg_notify nn = { .n_entries = n, .entries = (struct pg_log_entry *)entries };
	for (uint32_t i = 0; i < pg->log.n && !rc; i++) {
		const struct pg_log_entry *le = pg_log_at(&pg->log, i);
		if (ev_in_entries(&nn, &le->ver, le->oid))
			continue;
		if (!t && !(t = store_txn_new()))
			rc = -ENOMEM;
		pg_log_key(key, &le->ver);
		if (!rc)
			rc = store_txn_cmeta_rm(t, pg->cid, key, PG_LOG_KEY_LEN);
		if (!rc && ++ops >= LOG_TXN_OPS) {
			x->left++;
			rc = store_queue_txn(o->store, t, relog_cb, x);
			if (rc)
				x->left--;
			t = NULL;
			ops = 0;
		}
	}
	for (uint32_t i = 0; i < n && !rc; i++) {
		const struct pg_log_entry *le = &entries[i];
		if (!t && !(t = store_txn_new()))
			rc = -ENOMEM;
		enc_init(&e, 256);
		pg_log_entry_encode(&e, le);
		pg_log_key(key, &le->ver);
		if (!rc)
			rc = enc_error(&e) ? -ENOMEM
			                   : store_txn_cmeta_set(t, pg->cid, key, PG_LOG_KEY_LEN, e.buf, e.len);
		enc_free(&e);
		if (!rc && ++ops >= LOG_TXN_OPS) {
			x->left++;
			rc = store_queue_txn(o->store, t, relog_cb, x);
			if (rc)
				x->left--;
			t = NULL;
			ops = 0;
		}
	}
	/* in memory */
	uint32_t cap = pg->log.cap;
	pg_log_free(&pg->log);
	if (!rc)
		rc = pg_log_init(&pg->log, cap);
	for (uint32_t i = 0; i < n && !rc; i++)
		pg_log_append(&pg->log, &entries[i], NULL);
	uint64_t sis = pg->info.same_interval_since, les = pg->info.last_epoch_started;
	pg->info = *info;
	pg->info.same_interval_since = sis;
	pg->info.last_epoch_started = les;
	pg->info.last_complete = pg->info.last_update;
	pg->info.incomplete = 0;       /* every recovered object is in (callers' order) */
	if (n)
		pg->log.tail = entries[0].prior;
	else
		pg->log.tail = info->last_update;
	pg->info.log_tail = pg->log.tail;
	if (!rc && !t && !(t = store_txn_new()))
		rc = -ENOMEM;
	if (!rc) {
		enc_init(&e, 128);
		pg_info_encode(&e, &pg->info);
		rc = enc_error(&e) ? -ENOMEM
		                   : store_txn_cmeta_set(t, pg->cid, PG_CMETA_INFO, strlen(PG_CMETA_INFO),
		                                         e.buf, e.len);
		enc_free(&e);
	}
	if (!rc) {
		rc = store_queue_txn(o->store, t, relog_cb, x);
		t = NULL;
	}
	if (rc) {
		store_txn_free(t);
		NLOG(PG, ERR, "pg %s: replacing the log failed: %s", pg->cid, norn_strerror(rc));
		if (x->left == 1)
			free(x);
		return rc;
	}
	return 0;
}

/* ---- the state machine ------------------------------------------------------------- */

static void go_active(struct pg *pg)
{
	uint64_t ms = (norn_mono_ns() - pg->peer_started_ns) / 1000000;
	NLOG(PG, INFO, "pg %s: active at e%" PRIu64 " (last_update %" PRIu64 "'%" PRIu64 ", peering %" PRIu64
	     " ms)", pg->cid, pg->peer_epoch, pg->info.last_update.epoch, pg->info.last_update.v, ms);
	/* prior-interval members we heard from hold copies we no longer
	 * need once this PG is clean (stray.c decides) */
	int32_t strays[PEER_MAX];
	struct pg_eversion stray_lu[PEER_MAX];
	uint32_t n_strays = 0;
	for (uint32_t i = 0; pg->ps && i < pg->ps->n; i++) {
		const struct peer_info *p = &pg->ps->p[i];
		if ((int)i == pg->ps->self || !p->got || in_acting_or_up(pg, p->osd))
			continue;
		stray_lu[n_strays] = p->n.info.last_update;
		strays[n_strays++] = p->osd;
	}
	if (pg->ps && (pg->ps->skipped_writes || pg->ps->urgent_pushes))
		NLOG(PG, INFO, "pg %s: %" PRIu64 " writes skipped a recovering member (objects it had not "
		     "been sent yet); %" PRIu64 " pushes went first for writes that waited", pg->cid,
		     pg->ps->skipped_writes, pg->ps->urgent_pushes);
	osd_pg_stop_peering(pg);
	osd_pg_kick(pg);
	osd_beacon_soon(pg->osd);      /* active (+clean): tell the mon now */
	for (uint32_t i = 0; i < n_strays; i++)
		osd_stray_offer(pg, strays[i], &stray_lu[i]);
}

static void self_log_cb(void *arg, int err);

static void logsync_all(struct pg *pg)
{
	struct osd *o = pg->osd;
	struct pg_peer_state *ps = pg->ps;
	struct osd_pg_notify n;
	uint32_t waiting = 0;

	memset(&n, 0, sizeof(n));
	n.pool = pg->id.pool;
	n.seed = pg->id.seed;
	n.epoch = pg->peer_epoch;
	n.info = pg->info;
	n.n_entries = pg->log.n;
	n.entries = n.n_entries ? malloc(n.n_entries * sizeof(*n.entries)) : NULL;
	if (n.n_entries && !n.entries)
		return;
	for (uint32_t i = 0; i < n.n_entries; i++)
		n.entries[i] = *pg_log_at(&pg->log, i);
	for (uint32_t i = 0; i < ps->n; i++) {
		struct peer_info *p = &ps->p[i];
		if ((int)i == ps->self || !p->got || p->synced)
			continue;
		if (!in_acting_or_up(pg, p->osd)) {
			p->synced = 1;
			continue;
		}
		if (p->n_missing == 0 && pg_info_complete(&p->n.info) &&
		    pg_ev_cmp(&p->n.info.last_update, &pg->info.last_update) == 0) {
			p->synced = 1;
			continue;
		}
		struct msgr_conn *c = osd_peer_conn(o, p->osd);
		if (!c)
			continue;
		struct enc e;
		enc_init(&e, 256 + n.n_entries * 128);
		osd_pg_notify_encode(&e, &n);
		osd_send_enc(c, MSG_T_OSD_PG_LOGSYNC, 0, o->map.epoch, &e);
		enc_free(&e);
		waiting++;
	}
	free(n.entries);
	ps->logsync_wait = waiting;
	pg->peering = PG_PEER_LOGSYNC;
	if (!waiting)
		go_active(pg);
}

/* 1 while @oid's head has a write whose local commit is not in: the
 * push would read the object mid-write. */
static int push_blocked(const struct pg *pg, const char *oid)
{
	const char *b;
	size_t bl;
	obj_kind(oid, strlen(oid), &b, &bl);
	return osd_pg_oid_writing(pg, b, bl);
}

/* A piece of missing entry @k ending at @end reached member @p durably:
 * send the next one. 1 if one was sent (the push goes on), 0 if the
 * object is complete (or cannot go on: logged, the entry ends as if it
 * were acknowledged, as a failed whole push does). The object does not
 * change meanwhile: writes to it wait while its push is in flight. */
static int more_pieces(struct osd *o, struct pg *pg, struct peer_info *p, uint32_t k, uint64_t end)
{
	struct store_stat st;
	struct msgr_conn *c;
	int rc = store_stat(o->store, pg->cid, p->missing[k], &st);
	if (rc == 0 && end >= st.size)
		return 0;
	if (rc == 0 && !(c = osd_peer_conn(o, p->osd)))
		rc = -ENOTCONN;
	if (rc == 0)
		rc = start_push(o, c, pg->id.pool, pg->id.seed, pg->peer_epoch, p->missing[k],
		                strlen(p->missing[k]), end, o->cfg.osd_recovery_piece_bytes);
	if (rc == 0)
		return 1;
	NLOG(PG, ERR, "pg %s: cannot push %s to osd.%d from byte %" PRIu64 ": %s", pg->cid, p->missing[k],
	     p->osd, end, norn_strerror(rc));
	return 0;
}

/* Push missing entry @k to member @p. 0, or an error (nothing started). */
static int push_one(struct pg *pg, struct peer_info *p, uint32_t k, struct msgr_conn *c, int urgent)
{
	struct osd *o = pg->osd;
	const char *oid = p->missing[k];
	int rc = start_push(o, c, pg->id.pool, pg->id.seed, pg->peer_epoch, oid, strlen(oid), 0,
	                    o->cfg.osd_recovery_piece_bytes);
	if (rc)
		return rc;
	p->acked[k] = urgent ? OBJ_URGENT : OBJ_STARTED;
	if (urgent) {
		o->recovery_urgent++;
		pg->ps->urgent++;
		pg->ps->urgent_pushes++;
	}
	p->pushing++;
	o->recovery_inflight++;
	pg->ps->inflight++;
	return 0;
}

void osd_pg_recover_first(struct pg *pg, const char *oid)
{
	struct osd *o = pg->osd;
	struct pg_peer_state *ps = pg->ps;
	uint32_t limit = (uint32_t)o->cfg.osd_max_recovery + OSD_RECOVERY_URGENT_EXTRA;
	size_t len = strlen(oid);

	if (!ps || pg->peering != PG_PEER_PUSH ||
	    (o->map.flags & (OSDMAP_FLAG_NORECOVER | OSDMAP_FLAG_NOBACKFILL)) ||
	    osd_pg_oid_writing(pg, oid, len))
		return;
	for (uint32_t i = 0; i < ps->n; i++) {
		struct peer_info *p = &ps->p[i];
		if ((int)i == ps->self || p->done >= p->n_missing || !in_acting_or_up(pg, p->osd))
			continue;
		struct msgr_conn *c = osd_peer_conn(o, p->osd);
		/* the object's clones and snapdir sort right before it */
		for (uint32_t k = obj_lower_bound(p->missing, p->n_missing, oid, len, KIND_CLONE);
		     c && k < p->n_missing && o->recovery_inflight < limit; k++) {
			const char *b;
			size_t bl;
			obj_kind(p->missing[k], strlen(p->missing[k]), &b, &bl);
			if (bytes_cmp(b, bl, oid, len))
				break;
			if (p->acked[k] == OBJ_TODO && push_one(pg, p, k, c, 1))
				break;
		}
	}
}

int osd_pg_write_plan(struct pg *pg, const char *oid, int has_snapc, int32_t *skip, uint32_t *n_skip)
{
	struct pg_peer_state *ps = pg->ps;
	size_t len = strlen(oid);
	uint32_t members = 0;

	*n_skip = 0;
	if (!ps)
		return 0;
	for (uint32_t i = 0; i < pg->acting_n; i++)
		if (pg->acting[i] != OSD_NONE)
			members++;
	for (uint32_t i = 0; i < ps->n; i++) {
		const struct peer_info *p = &ps->p[i];
		uint32_t todo = 0, started = 0, companions = 0, entries = 0;
		if (p->done >= p->n_missing)
			continue;
		for (uint32_t k = obj_lower_bound(p->missing, p->n_missing, oid, len, KIND_CLONE);
		     k < p->n_missing; k++) {
			const char *b;
			size_t bl;
			int kind = obj_kind(p->missing[k], strlen(p->missing[k]), &b, &bl);
			if (bytes_cmp(b, bl, oid, len))
				break;
			entries++;
			companions += kind != KIND_HEAD;
			todo += p->acked[k] == OBJ_TODO;
			started += p->acked[k] >= OBJ_STARTED;
		}
		if (!entries || todo + started == 0)
			continue;              /* complete for this object */
		/* a member whose copy of the object has not been started (backfill
		 * or log recovery alike) gets the newest state when the push reads
		 * it: the write skips it. Not when the write could create objects
		 * its missing set does not name (a clone or snapdir: a snap
		 * context, or clones already there), nor while the copy is in
		 * flight (it could carry the state from before this write) */
		if ((int)i == ps->self || started || companions || has_snapc ||
		    !in_acting_or_up(pg, p->osd) || *n_skip >= OSDMAP_MAX_POOL_SIZE)
			return 1;
		skip[(*n_skip)++] = p->osd;
	}
	/* min_size counts the members complete for the object */
	if (*n_skip && members - NORN_MIN(members, *n_skip) < pg->min_size) {
		*n_skip = 0;
		return 1;
	}
	if (*n_skip)
		ps->skipped_writes++;
	return 0;
}

void osd_pg_recovery_resume(struct pg *pg)
{
	if (pg->ps && pg->peering == PG_PEER_PUSH)
		peering_advance(pg);
}

/* Start pushes/pulls up to the limits; move phases when done. */
static void peering_advance(struct pg *pg)
{
	struct osd *o = pg->osd;
	struct pg_peer_state *ps = pg->ps;
	uint32_t limit = (uint32_t)o->cfg.osd_max_recovery;

	if (!ps)
		return;
	if (pg->peering == PG_PEER_QUERY) {
		for (uint32_t i = 0; i < ps->n; i++)
			if (!ps->p[i].got)
				return;
		/* choose the authority: the newest complete copy (us on a tie) */
		int auth = pg_info_complete(&ps->p[ps->self].n.info) ? ps->self : -1;
		for (uint32_t i = 0; i < ps->n; i++)
			if (pg_info_complete(&ps->p[i].n.info) &&
			    (auth < 0 || pg_ev_cmp(&ps->p[i].n.info.last_update, &ps->p[auth].n.info.last_update) > 0))
				auth = (int)i;
		if (auth < 0) {
			NLOG(PG, WARN, "pg %s: incomplete: none of the %u members holds a complete copy "
			     "(own last_update %" PRIu64 "'%" PRIu64 ", last_complete %" PRIu64 "'%" PRIu64
			     "%s); waiting for one", pg->cid, ps->n, pg->info.last_update.epoch,
			     pg->info.last_update.v, pg->info.last_complete.epoch, pg->info.last_complete.v,
			     pg->info.incomplete ? ", recovery unfinished" : "");
			pg->peering = PG_PEER_INCOMPLETE;
			return;
		}
		ps->auth = auth;
		for (uint32_t i = 0; i < ps->n; i++) {
			int bf = 0;
			if ((int)i == auth)
				continue;
			if (compute_missing(&ps->p[auth], &ps->p[i], &bf)) {
				NLOG(PG, ERR, "pg %s: out of memory computing missing sets", pg->cid);
				return;
			}
			ps->p[i].backfill = bf;
			if (bf && ps->p[i].n_missing && ((int)i == ps->self || in_acting_or_up(pg, ps->p[i].osd)))
				pg->backfilling = 1;
			if (ps->p[i].n_missing)
				NLOG(PG, INFO, "pg %s: osd.%d misses %u objects (%s, at %" PRIu64 "'%" PRIu64
				     ", authority osd.%d at %" PRIu64 "'%" PRIu64 ")", pg->cid, ps->p[i].osd,
				     ps->p[i].n_missing, bf ? "backfill" : "log", ps->p[i].n.info.last_update.epoch,
				     ps->p[i].n.info.last_update.v, ps->p[auth].osd,
				     ps->p[auth].n.info.last_update.epoch, ps->p[auth].n.info.last_update.v);
		}
		pg->peering = auth == ps->self ? PG_PEER_PUSH : PG_PEER_PULL;
	}
	if (pg->peering == PG_PEER_PULL) {
		struct peer_info *me = &ps->p[ps->self], *a = &ps->p[ps->auth];
		if (o->map.flags & OSDMAP_FLAG_NORECOVER)
			return;
		struct msgr_conn *c = osd_peer_conn(o, a->osd);
		/* not throttled: client ops of this PG wait for our own pulls */
		while (c && me->next < me->n_missing && o->recovery_inflight < NORN_MIN(limit, PULLS_MAX)) {
			const char *oid = me->missing[me->next++];
			struct osd_pg_msg m = { .pool = pg->id.pool, .seed = pg->id.seed,
			                        .epoch = pg->peer_epoch, .oid = oid, .oid_len = strlen(oid) };
			send_pg_msg(o, c, MSG_T_OSD_PG_PULL, &m);
			o->recovery_inflight++;
			ps->inflight++;
		}
		if (me->done < me->n_missing)
			return;
		/* every object is here: take the authority's log */
		pg->peering = PG_PEER_PULL + 100; /* waiting for the log write */
		if (osd_pg_replace_log(pg, a->n.entries, a->n.n_entries, &a->n.info, self_log_cb, pg)) {
			osd_pg_stop_peering(pg);
			return;
		}
		return;
	}
	if (pg->peering == PG_PEER_PUSH) {
		uint32_t pending = 0;
		for (uint32_t i = 0; i < ps->n; i++) {
			struct peer_info *p = &ps->p[i];
			if ((int)i == ps->self)
				continue;
			if (!in_acting_or_up(pg, p->osd)) {
				/* prior-interval members only inform; they are not repaired */
				p->done = p->next = p->n_missing;
				continue;
			}
			if (o->map.flags & (OSDMAP_FLAG_NORECOVER | OSDMAP_FLAG_NOBACKFILL))
				return;
			struct msgr_conn *c = osd_peer_conn(o, p->osd);
			/* client ops first: while pushes for waiting writes are in
			 * flight, one bulk push at a time per OSD */
			while (c && p->next < p->n_missing &&
			       o->recovery_inflight - o->recovery_urgent < (o->recovery_urgent ? 1 : limit)) {
				if (p->acked[p->next] != OBJ_TODO) {
					p->next++;     /* pushed ahead of order for a waiting write */
					continue;
				}
				if (push_blocked(pg, p->missing[p->next]) || recovery_throttled(o))
					break;         /* osd_pg_recovery_resume / the next ack retries */
				if (push_one(pg, p, p->next, c, 0))
					break;
				p->next++;
			}
			pending += p->n_missing - p->done;
		}
		if (pending)
			return;
		logsync_all(pg);
	}
}

static int in_acting_or_up(const struct pg *pg, int32_t osd)
{
	for (uint32_t i = 0; i < pg->acting_n; i++)
		if (pg->acting[i] == osd)
			return 1;
	for (uint32_t i = 0; i < pg->up_n; i++)
		if (pg->up[i] == osd)
			return 1;
	return 0;
}

static void self_log_cb(void *arg, int err)
{
	struct pg *pg = arg;
	if (err)
		NLOG(PG, ERR, "pg %s: writing the recovered log: %s", pg->cid, norn_strerror(err));
	if (!pg->ps || pg->peering != PG_PEER_PULL + 100)
		return;
	/* we now hold the authority's state: push to the others from it */
	pg->ps->auth = pg->ps->self;
	pg->peering = PG_PEER_PUSH;
	peering_advance(pg);
}

static void kick_recovery(struct osd *o)
{
	/* writes waiting for an object go first (their pushes may have found
	 * the urgent budget full), then the recovery order */
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext)
			if (pg->ps && pg->peering == PG_PEER_PUSH && pg->n_queued)
				osd_pg_kick(pg);
	for (uint32_t h = 0; h < OSD_PG_HASH &&
	                     o->recovery_inflight - o->recovery_urgent < (uint32_t)o->cfg.osd_max_recovery; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext)
			if (pg->ps && (pg->peering == PG_PEER_PULL || pg->peering == PG_PEER_PUSH))
				peering_advance(pg);
}

static void pull_done(struct osd *o, int64_t pool, uint32_t seed, uint64_t epoch, const char *oid,
                      int err)
{
	struct pg *pg = osd_pg_get(o, pool, seed);
	if (!pg || !pg->ps || pg->peer_epoch != epoch || pg->peering != PG_PEER_PULL)
		return;
	if (err)
		NLOG(PG, ERR, "pg %s: applying a pulled object: %s", pg->cid, norn_strerror(err));
	mark_acked(&pg->ps->p[pg->ps->self], oid, strlen(oid));
	pg->ps->p[pg->ps->self].done++;
	o->recovered_objects++;
	NORN_ASSERT(o->recovery_inflight > 0 && pg->ps->inflight > 0);
	o->recovery_inflight--;
	pg->ps->inflight--;
	peering_advance(pg);
	kick_recovery(o);
}

void osd_recovery_tick(struct osd *o)
{
	kick_recovery(o);
}

/* 1 if a member we still wait for is down in our map. */
static int query_member_down(const struct pg *pg)
{
	const struct osd *o = pg->osd;
	for (uint32_t i = 0; i < pg->ps->n; i++)
		if (!pg->ps->p[i].got && !osdmap_osd_is_up(&o->map, pg->ps->p[i].osd))
			return 1;
	return 0;
}

void osd_peering_tick(struct osd *o)
{
	uint64_t now = norn_mono_ns();
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			if (!pg->ps)
				continue;
			if (pg->peering == PG_PEER_QUERY && query_member_down(pg)) {
				/* a prior-interval member (or a stray peered with)
				 * died before answering: its death changes no
				 * interval, so start over without it */
				osd_pg_start_peering(pg);
				continue;
			}
			if (pg->peering == PG_PEER_QUERY && now - pg->query_sent_ns > PEER_RETRY_NS)
				send_queries(pg);
			if (pg->peering == PG_PEER_INCOMPLETE && now - pg->peer_started_ns > PEER_INCOMPLETE_RETRY_NS) {
				osd_pg_start_peering(pg);   /* a complete member may be back */
				continue;
			}
			if (pg->peering == PG_PEER_PULL || pg->peering == PG_PEER_PUSH)
				peering_advance(pg);
			/* send_queries() above may have stamped query_sent_ns after @now */
			if (now - pg->peer_started_ns > 30000000000ull && now > pg->query_sent_ns &&
			    now - pg->query_sent_ns > 30000000000ull) {
				/* stuck (a lost message): start over */
				NLOG(PG, WARN, "pg %s: peering stuck in phase %d for 30 s: restarting", pg->cid,
				     pg->peering);
				osd_pg_start_peering(pg);
			}
		}
}

/* ---- messages ------------------------------------------------------------------- */

static void handle_query(struct osd *o, struct msgr_conn *c, const struct osd_pg_msg *m)
{
	struct pg *pg = osd_pg_get_or_create(o, m->pool, m->seed);
	struct osd_pg_notify n;
	struct store_names names;
	struct enc e;

	if (!pg)
		return;
	if (m->epoch > o->map.epoch) {
		/* the querier is in an interval we have not seen: while we lag
		 * we may still be serving writes as primary of the old one, and
		 * an answer now would miss them (and lose them). Fetch the map;
		 * we answer once we have it (osd_peering_map_updated), as if it
		 * had come first; the query is resent every second too. */
		monc_renew_subs(o->mc);
		if (!pg->dq_conn || m->epoch >= pg->dq_epoch) {
			if (pg->dq_conn)
				msgr_conn_put(pg->dq_conn);
			msgr_conn_get(c);
			pg->dq_conn = c;
			pg->dq_epoch = m->epoch;
		}
		return;
	}
	if (self_notify(pg, &n, &names)) {
		osd_pg_notify_free(&n);
		store_names_free(&names);
		return;
	}
	n.epoch = m->epoch;
	enc_init(&e, 256 + n.n_entries * 128 + n.n_objs * 64);
	osd_pg_notify_encode(&e, &n);
	osd_send_enc(c, MSG_T_OSD_PG_NOTIFY, 0, o->map.epoch, &e);
	enc_free(&e);
	osd_pg_notify_free(&n);
	store_names_free(&names);
}

void osd_peering_map_updated(struct osd *o)
{
	for (uint32_t h = 0; h < OSD_PG_HASH; h++)
		for (struct pg *pg = o->pgs[h]; pg; pg = pg->hnext) {
			struct msgr_conn *c = pg->dq_conn;
			if (!c || pg->dq_epoch > o->map.epoch)
				continue;
			struct osd_pg_msg m = { .pool = pg->id.pool, .seed = pg->id.seed, .epoch = pg->dq_epoch };
			pg->dq_conn = NULL;
			handle_query(o, c, &m);
			msgr_conn_put(c);
		}
}

static void handle_notify(struct osd *o, struct msgr_conn *c, struct msg_in *in, int32_t from)
{
	struct osd_pg_notify n;
	uint8_t *buf;
	struct pg *pg;

	if (osd_pg_notify_decode(&n, in->payload, in->len)) {
		NLOG(PG, WARN, "malformed PG_NOTIFY from %s", msgr_conn_peer_entity(c));
		return;
	}
	pg = osd_pg_get(o, n.pool, n.seed);
	if (!pg || !pg->ps || pg->peering != PG_PEER_QUERY || n.epoch != pg->peer_epoch) {
		osd_pg_notify_free(&n);
		return;
	}
	for (uint32_t i = 0; i < pg->ps->n; i++) {
		struct peer_info *p = &pg->ps->p[i];
		if (p->osd != from || p->got)
			continue;
		/* n's object names point into the payload: keep it */
		buf = msg_in_steal(in);
		if (!buf) {
			osd_pg_notify_free(&n);
			return;
		}
		osd_pg_notify_free(&n);
		if (osd_pg_notify_decode(&p->n, buf, in->len)) {
			free(buf);
			return;
		}
		p->buf = buf;
		p->got = 1;
		peering_advance(pg);
		return;
	}
	osd_pg_notify_free(&n);
}

static void handle_push(struct osd *o, struct msgr_conn *c, struct msg_in *in)
{
	struct osd_pg_push p;
	struct apply_ctx *x;
	struct pg *pg;

	if (osd_pg_push_decode(&p, in->payload, in->len)) {
		NLOG(PG, WARN, "malformed PG_PUSH from %s", msgr_conn_peer_entity(c));
		return;
	}
	pg = osd_pg_get_or_create(o, p.pool, p.seed);
	if (!pg)
		return;
	x = calloc(1, sizeof(*x));
	if (!x)
		return;
	x->o = o;
	memcpy(x->oid, p.oid, p.oid_len);
	x->pool = p.pool;
	x->seed = p.seed;
	x->epoch = p.epoch;
	int is_pull_reply = pg->ps && pg->peering == PG_PEER_PULL && p.epoch == pg->peer_epoch &&
	                    msgr_conn_is_outgoing(c);
	if (!is_pull_reply) {
		x->conn = c;
		msgr_conn_get(c);
		x->ack = (struct osd_pg_msg){ .pool = p.pool, .seed = p.seed, .epoch = p.epoch,
		                              .off = p.off + p.data_len };
	} else if (p.off || p.size != p.data_len) {
		NLOG(PG, WARN, "pg %s: a pulled object came in pieces: ignored", pg->cid);
		free(x);
		return;
	}
	int rc = apply_push(o, pg, &p, x);
	if (rc) {
		NLOG(PG, ERR, "pg %s: applying pushed %s: %s", pg->cid, x->oid, norn_strerror(rc));
		apply_push_cb(x, rc);
	}
}

static void handle_push_ack(struct osd *o, const struct osd_pg_msg *m, int32_t from)
{
	struct pg *pg = osd_pg_get(o, m->pool, m->seed);
	if (!pg || !pg->ps || pg->peering != PG_PEER_PUSH || m->epoch != pg->peer_epoch)
		return;
	for (uint32_t i = 0; i < pg->ps->n; i++) {
		struct peer_info *p = &pg->ps->p[i];
		if (p->osd != from || !p->pushing)
			continue;
		int64_t k = m->oid_len ? obj_find(p->missing, p->n_missing, m->oid, m->oid_len) : -1;
		if (k < 0 || p->acked[k] < OBJ_STARTED)
			break;         /* not a push of ours in flight */
		if (!m->result && m->off && more_pieces(o, pg, p, (uint32_t)k, m->off))
			return;        /* the next piece is on its way */
		if (p->acked[k] == OBJ_URGENT) {
			NORN_ASSERT(o->recovery_urgent > 0 && pg->ps->urgent > 0);
			o->recovery_urgent--;
			pg->ps->urgent--;
		}
		p->acked[k] = OBJ_ACKED;
		p->pushing--;
		p->done++;
		o->recovered_objects++;
		NORN_ASSERT(o->recovery_inflight > 0 && pg->ps->inflight > 0);
		o->recovery_inflight--;
		pg->ps->inflight--;
		if (m->result)
			NLOG(PG, ERR, "pg %s: osd.%d failed to apply a pushed object: %s", pg->cid, from,
			     norn_strerror(m->result));
		break;
	}
	peering_advance(pg);
	kick_recovery(o);
	osd_pg_kick(pg);               /* writes waiting for this object */
}

struct logsync_ctx {
	struct osd *o;
	struct msgr_conn *conn;
	struct osd_pg_msg ack;
};

static void logsync_cb(void *arg, int err)
{
	struct logsync_ctx *x = arg;
	x->ack.result = err;
	send_pg_msg(x->o, x->conn, MSG_T_OSD_PG_LOGSYNC_ACK, &x->ack);
	msgr_conn_put(x->conn);
	free(x);
}

static void handle_logsync(struct osd *o, struct msgr_conn *c, struct msg_in *in)
{
	struct osd_pg_notify n;
	struct pg *pg;
	struct logsync_ctx *x;

	if (osd_pg_notify_decode(&n, in->payload, in->len)) {
		NLOG(PG, WARN, "malformed PG_LOGSYNC from %s", msgr_conn_peer_entity(c));
		return;
	}
	pg = osd_pg_get_or_create(o, n.pool, n.seed);
	x = calloc(1, sizeof(*x));
	if (!pg || !x) {
		free(x);
		osd_pg_notify_free(&n);
		return;
	}
	x->o = o;
	x->conn = c;
	msgr_conn_get(c);
	x->ack = (struct osd_pg_msg){ .pool = n.pool, .seed = n.seed, .epoch = n.epoch };
	if (osd_pg_replace_log(pg, n.entries, n.n_entries, &n.info, logsync_cb, x)) {
		msgr_conn_put(c);
		free(x);
	}
	osd_pg_notify_free(&n);
}

static void handle_logsync_ack(struct osd *o, const struct osd_pg_msg *m, int32_t from)
{
	struct pg *pg = osd_pg_get(o, m->pool, m->seed);
	if (!pg || !pg->ps || pg->peering != PG_PEER_LOGSYNC || m->epoch != pg->peer_epoch)
		return;
	for (uint32_t i = 0; i < pg->ps->n; i++) {
		struct peer_info *p = &pg->ps->p[i];
		if (p->osd != from || p->synced)
			continue;
		p->synced = 1;
		if (pg->ps->logsync_wait)
			pg->ps->logsync_wait--;
	}
	if (!pg->ps->logsync_wait)
		go_active(pg);
}

void osd_handle_pg_msg(struct osd *o, struct msgr_conn *c, struct msg_in *in)
{
	struct osd_pg_msg m;
	const char *ent = msgr_conn_peer_entity(c);
	int32_t from = -1;

	if (!strncmp(ent, "osd.", 4))
		from = (int32_t)strtol(ent + 4, NULL, 10);
	if (from < 0) {
		NLOG(PG, WARN, "peering message from non-OSD %s: closing", ent);
		osd_conn_drop(c);
		return;
	}
	switch (in->hdr.type) {
	case MSG_T_OSD_PG_NOTIFY:
		handle_notify(o, c, in, from);
		return;
	case MSG_T_OSD_PG_PUSH:
		handle_push(o, c, in);
		return;
	case MSG_T_OSD_PG_LOGSYNC:
		handle_logsync(o, c, in);
		return;
	default:
		break;
	}
	if (osd_pg_msg_decode(&m, in->payload, in->len)) {
		NLOG(PG, WARN, "malformed peering message %u from %s", in->hdr.type, ent);
		return;
	}
	switch (in->hdr.type) {
	case MSG_T_OSD_PG_QUERY:
		handle_query(o, c, &m);
		break;
	case MSG_T_OSD_PG_PULL: {
		if (start_push(o, c, m.pool, m.seed, m.epoch, m.oid, m.oid_len, 0, 0))
			NLOG(PG, WARN, "cannot serve a pull of %.*s", (int)m.oid_len, m.oid);
		break;
	}
	case MSG_T_OSD_PG_PUSH_ACK:
		handle_push_ack(o, &m, from);
		break;
	case MSG_T_OSD_PG_LOGSYNC_ACK:
		handle_logsync_ack(o, &m, from);
		break;
	}
}
