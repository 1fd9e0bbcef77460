/* raft_sim: a deterministic simulator for mon/raft.c.
 *
 * N monitors (3 or 5, plus a spare that joins in membership seeds) run in
 * one process on a fake millisecond clock. Everything random comes from one
 * seed, so a failing run replays exactly with `raft_sim --seed S`.
 *
 * The fake network carries the real wire encoding (raft_msg_encode /
 * raft_msg_decode) and drops, delays, duplicates and reorders messages;
 * leaders are asked to hand over (raft_transfer_leader) in half the seeds;
 * it also partitions nodes symmetrically (two sides) and one way (a link
 * that carries messages in one direction only). Nodes crash and restart.
 *
 * Persistence is modelled explicitly: each node has a "disk" (hard state,
 * snapshot, log) that only changes when the node's host loop processes a
 * ready, which happens a random 0-3 ms after the raft instance produced
 * it. A crash throws the raft instance away; the restart boots from the
 * disk, so everything that was not yet durable is lost, as on a real
 * machine. The host loop follows raft.h's contract (persist, then send,
 * then apply, then advance).
 *
 * The state machine folds applied entries into a hash chain; snapshots
 * are (index, chain hash) and are taken every K applied entries, which
 * compacts the log, so slow or restarted nodes get InstallSnapshot.
 *
 * Checkers (any violation prints the reason and the replay command):
 *   - election safety: at most one leader per term;
 *   - log matching: two logs with an entry of the same index and term are
 *     identical up to there;
 *   - leader completeness: a leader holds every entry applied anywhere
 *     whose commit is known to predate its term;
 *   - state-machine safety: no two nodes apply different entries (or reach
 *     different chain hashes) at one index;
 *   - liveness: after the chaos phase the network heals, every node
 *     restarts, and a client entry must commit within LIVENESS_MS.
 *
 * --broken vote|commit disables the election restriction or the §5.4.2
 * rule in raft; --broken persist makes the host break the contract (send
 * before persisting, and sometimes crash in between). With
 * --expect-failure the run passes only if some seed fails, which shows
 * the checkers (and the persistence model) see the bugs they are for.
 * The §5.4.2 mode is rarely caught by random schedules: a new leader's
 * no-op usually travels in the same append as the old-term entries, so
 * the premature commit is also a safe one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon/raft.h"
#include "common/assert.h"
#include "common/encode.h"
#include "common/env.h"
#include "common/log.h"
#include "norn/errors.h"

#define SIM_MAX_NODES 7
#define TICK_MS 10
#define ELECTION_TICKS 10
#define HEARTBEAT_TICKS 2
#define LIVENESS_MS 1500        /* a commit within 150 ticks after healing */
#define CHECK_EVERY_MS 25
#define MAX_READY_LOOPS 16
#define MAX_INFLIGHT_MSGS 100000 /* fake network queue bound */

/* ---- per-run globals (one simulation at a time) -------------------------- */

struct sim_disk {
	struct raft_hardstate hs;
	struct raft_snapshot_meta snap;
	uint8_t *snap_data;
	uint32_t snap_len;
	struct raft_entry *ents;   /* ents[i].index == snap.index + 1 + i */
	size_t n, cap;
};

struct sim_node {
	uint64_t id;
	int exists;                /* part of the simulation (spare: after join) */
	int up;
	int founder;
	struct raft *r;
	struct sim_disk disk;
	uint64_t sm_applied, sm_hash;
	int64_t io_due;            /* -1: nothing pending */
	int64_t restart_at;        /* -1: not scheduled */
	uint32_t tick_phase;
};

struct net_msg {
	int64_t at;
	uint64_t seq;
	uint64_t from, to;
	uint8_t *buf;
	size_t len;
};

struct sim {
	uint64_t seed;
	int verbose;
	int broken_vote, broken_commit, broken_persist;
	struct norn_rand rng;
	int64_t now;
	uint32_t n_founders;
	uint32_t n_nodes;          /* founders + spare */
	int membership;
	int transfers;             /* leader transfers happen in this seed */
	uint64_t stat_transfers;
	struct sim_node nodes[SIM_MAX_NODES + 1];  /* index = id */
	struct raft_config boot_conf;

	/* network */
	struct net_msg *heap;
	size_t heap_n, heap_cap;
	uint64_t msg_seq;
	uint32_t drop_pct, dup_pct, delay_max_ms, long_delay_pct;
	uint8_t blocked[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
	int64_t heal_partition_at;

	/* workload and knobs */
	uint64_t client_seq;
	uint32_t snap_every;
	uint32_t crash_per_mille;  /* per 10 ms */
	int64_t chaos_end;

	/* membership plan */
	int add_done, remove_done;
	uint64_t remove_victim;
	int64_t add_at, remove_at;

	/* checker state */
	uint64_t *leaders;         /* leaders[term] */
	size_t leaders_cap;
	uint64_t *g_term, *g_hash, *g_chain, *g_aterm;
	size_t g_cap;
	uint64_t g_max;
	uint64_t heal_seq;         /* first client seq proposed after healing */
	int live_ok;
	int64_t heal_at, live_ms;  /* time from healing to the first commit */

	char fail[512];
	uint64_t stat_msgs, stat_elections, stat_snap_installs, stat_crashes;
};

static struct sim S;

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!S.verbose)
		return;
	fprintf(stderr, "[%6" PRId64 "] ", S.now);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	va_list ap;

	if (S.fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(S.fail, sizeof(S.fail), fmt, ap);
	va_end(ap);
	vlog("VIOLATION: %s", S.fail);
}

static uint64_t rnd(uint64_t n) { return n ? norn_rand_below(&S.rng, n) : 0; }
static int chance_pct(uint32_t pct) { return rnd(100) < pct; }

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t entry_hash(const struct raft_entry *e)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = hash_bytes(h, &e->type, 1);
	h = hash_bytes(h, &e->term, 8);
	return hash_bytes(h, e->data, e->len);
}

/* Grow a zeroed u64 array to hold index @i. */
static void grow(uint64_t **a, size_t *cap, size_t i)
{
	size_t ncap = *cap ? *cap : 256;

	if (i < *cap)
		return;
	while (ncap <= i)
		ncap *= 2;
	*a = realloc(*a, ncap * sizeof(**a));
	NORN_ASSERT(*a != NULL);
	memset(*a + *cap, 0, (ncap - *cap) * sizeof(**a));
	*cap = ncap;
}

/* ---- disk model ---------------------------------------------------------- */

static void disk_free_entries_from(struct sim_disk *d, size_t from)
{
	for (size_t i = from; i < d->n; i++)
		free((void *)d->ents[i].data);
	if (from < d->n)
		d->n = from;
}

static void disk_free(struct sim_disk *d)
{
	disk_free_entries_from(d, 0);
	free(d->ents);
	free(d->snap_data);
	memset(d, 0, sizeof(*d));
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *c;

	if (!n)
		return NULL;
	c = malloc(n);
	NORN_ASSERT(c != NULL);
	memcpy(c, p, n);
	return c;
}

static void disk_set_snapshot(struct sim_disk *d, const struct raft_snapshot_meta *m,
                              const uint8_t *data, uint32_t len)
{
	size_t drop;

	/* Delete entries covered by the snapshot. */
	drop = 0;
	while (drop < d->n && d->ents[drop].index <= m->index)
		drop++;
	for (size_t i = 0; i < drop; i++)
		free((void *)d->ents[i].data);
	if (d->n > drop)
		memmove(d->ents, d->ents + drop, (d->n - drop) * sizeof(*d->ents));
	d->n -= drop;
	free(d->snap_data);
	d->snap = *m;
	d->snap_data = dup_bytes(data, len);
	d->snap_len = len;
}

static void disk_persist(struct sim_node *nd, const struct raft_ready *rd)
{
	struct sim_disk *d = &nd->disk;

	if (rd->snapshot) {
		disk_free_entries_from(d, 0);
		disk_set_snapshot(d, rd->snapshot, rd->snapshot_data, rd->snapshot_len);
	}
	if (rd->n_entries) {
		uint64_t first = rd->entries[0].index;
		uint64_t disk_next = d->snap.index + 1 + d->n;

		if (first > disk_next || first <= d->snap.index) {
			failf("node %" PRIu64 ": ready entries start at %" PRIu64
			      " but disk holds %" PRIu64 "..%" PRIu64, nd->id, first,
			      d->snap.index + 1, disk_next - 1);
			return;
		}
		disk_free_entries_from(d, first - d->snap.index - 1);
		if (d->n + rd->n_entries > d->cap) {
			d->cap = (d->n + rd->n_entries) * 2;
			d->ents = realloc(d->ents, d->cap * sizeof(*d->ents));
			NORN_ASSERT(d->ents != NULL);
		}
		for (size_t i = 0; i < rd->n_entries; i++) {
			struct raft_entry e = rd->entries[i];

			e.data = dup_bytes(e.data, e.len);
			d->ents[d->n++] = e;
		}
	}
	if (rd->hs_changed)
		d->hs = rd->hs;
}

/* ---- network ------------------------------------------------------------- */

static int heap_less(const struct net_msg *a, const struct net_msg *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct net_msg m)
{
	size_t i;

	if (S.heap_n == S.heap_cap) {
		S.heap_cap = S.heap_cap ? S.heap_cap * 2 : 1024;
		S.heap = realloc(S.heap, S.heap_cap * sizeof(*S.heap));
		NORN_ASSERT(S.heap != NULL);
	}
	i = S.heap_n++;
	S.heap[i] = m;
	while (i > 0 && heap_less(&S.heap[i], &S.heap[(i - 1) / 2])) {
		struct net_msg t = S.heap[i];

		S.heap[i] = S.heap[(i - 1) / 2];
		S.heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct net_msg heap_pop(void)
{
	struct net_msg top = S.heap[0];
	size_t i = 0;

	S.heap[0] = S.heap[--S.heap_n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < S.heap_n && heap_less(&S.heap[l], &S.heap[m]))
			m = l;
		if (r < S.heap_n && heap_less(&S.heap[r], &S.heap[m]))
			m = r;
		if (m == i)
			break;
		struct net_msg t = S.heap[i];
		S.heap[i] = S.heap[m];
		S.heap[m] = t;
		i = m;
	}
	return top;
}

static int64_t net_delay(void)
{
	if (chance_pct(S.long_delay_pct))
		return 20 + (int64_t)rnd(300);
	return 1 + (int64_t)rnd(S.delay_max_ms);
}

static void net_send(const struct raft_msg *m)
{
	struct enc e;
	struct net_msg nm;
	int copies = 1;

	if (chance_pct(S.drop_pct) || S.heap_n >= MAX_INFLIGHT_MSGS)
		return;
	enc_init(&e, 256);
	if (raft_msg_encode(m, &e) != 0) {
		failf("encode failed for a message of type %u", m->type);
		enc_free(&e);
		return;
	}
	if (chance_pct(S.dup_pct))
		copies = 2;
	for (int c = 0; c < copies; c++) {
		nm.at = S.now + net_delay();
		nm.seq = S.msg_seq++;
		nm.from = m->from;
		nm.to = m->to;
		nm.len = e.len;
		nm.buf = dup_bytes(e.buf, e.len);
		heap_push(nm);
	}
	enc_free(&e);
	S.stat_msgs++;
}

/* ---- nodes --------------------------------------------------------------- */

static void check_leader(struct sim_node *nd);

static void mark_dirty(struct sim_node *nd)
{
	if (nd->io_due < 0)
		nd->io_due = S.now + (int64_t)rnd(4);
	check_leader(nd);
}

static struct raft_opts node_opts(const struct sim_node *nd)
{
	struct raft_opts o;

	memset(&o, 0, sizeof(o));
	o.id = nd->id;
	o.election_ticks = ELECTION_TICKS;
	o.heartbeat_ticks = HEARTBEAT_TICKS;
	o.rand_seed = S.seed * 1000003u + (uint64_t)S.now;
	o.bootstrap = nd->founder ? &S.boot_conf : NULL;
	o.unsafe_vote_any_log = S.broken_vote;
	o.unsafe_commit_old_terms = S.broken_commit;
	return o;
}

/* Snapshot blob: u64 index, u64 chain hash. */
static void sm_restore(struct sim_node *nd, const uint8_t *data, uint32_t len, uint64_t index)
{
	if (index == 0) {
		nd->sm_applied = 0;
		nd->sm_hash = 0;
		return;
	}
	if (len != 16 || norn_get_le64(data) != index) {
		failf("node %" PRIu64 ": snapshot blob does not match its index %" PRIu64,
		      nd->id, index);
		return;
	}
	nd->sm_applied = index;
	nd->sm_hash = norn_get_le64(data + 8);
	if (index <= S.g_max && index < S.g_cap && S.g_chain[index] &&
	    S.g_chain[index] != nd->sm_hash)
		failf("state-machine safety: node %" PRIu64 " snapshot at %" PRIu64
		      " has chain %016" PRIx64 ", others %016" PRIx64, nd->id, index,
		      nd->sm_hash, S.g_chain[index]);
}

static void node_start(struct sim_node *nd)
{
	struct raft_boot b;
	int rc;

	memset(&b, 0, sizeof(b));
	b.hs = nd->disk.hs;
	b.snap = nd->disk.snap;
	b.snap_data = nd->disk.snap_data;
	b.snap_len = nd->disk.snap_len;
	b.entries = nd->disk.ents;
	b.n_entries = nd->disk.n;
	struct raft_opts o = node_opts(nd);
	rc = raft_create(&o, &b, &nd->r);
	if (rc) {
		failf("node %" PRIu64 ": raft_create from its disk failed: %d", nd->id, rc);
		return;
	}
	nd->up = 1;
	nd->io_due = S.now;   /* the bootstrap entry needs persisting */
	nd->restart_at = -1;
	sm_restore(nd, nd->disk.snap_data, nd->disk.snap_len, nd->disk.snap.index);
	vlog("node %" PRIu64 " starts (term %" PRIu64 ", log %" PRIu64 "..%" PRIu64 ")",
	     nd->id, raft_term(nd->r), raft_first_index(nd->r), raft_last_index(nd->r));
}

static void node_crash(struct sim_node *nd)
{
	raft_destroy(nd->r);
	nd->r = NULL;
	nd->up = 0;
	nd->io_due = -1;
	S.stat_crashes++;
	vlog("node %" PRIu64 " crashes", nd->id);
}

static void sm_apply(struct sim_node *nd, const struct raft_entry *e)
{
	uint64_t h = entry_hash(e);

	if (e->index != nd->sm_applied + 1) {
		failf("node %" PRIu64 ": applies %" PRIu64 " after %" PRIu64, nd->id, e->index,
		      nd->sm_applied);
		return;
	}
	nd->sm_applied = e->index;
	nd->sm_hash = hash_bytes(nd->sm_hash ^ h, &e->index, 8);
	if (e->index >= S.g_cap) {
		size_t c1 = S.g_cap, c2 = S.g_cap, c3 = S.g_cap;

		/* The four arrays share one capacity. */
		grow(&S.g_hash, &c1, e->index);
		grow(&S.g_chain, &c2, e->index);
		grow(&S.g_aterm, &c3, e->index);
		grow(&S.g_term, &S.g_cap, e->index);
		NORN_ASSERT(c1 == S.g_cap && c2 == S.g_cap && c3 == S.g_cap);
	}
	if (S.g_term[e->index] == 0) {
		S.g_term[e->index] = e->term;
		S.g_hash[e->index] = h;
		S.g_chain[e->index] = nd->sm_hash;
		S.g_aterm[e->index] = raft_term(nd->r);
		if (e->index > S.g_max)
			S.g_max = e->index;
	} else if (S.g_term[e->index] != e->term || S.g_hash[e->index] != h ||
	           S.g_chain[e->index] != nd->sm_hash) {
		failf("state-machine safety: node %" PRIu64 " applies a different entry at %" PRIu64
		      " (term %" PRIu64 " vs %" PRIu64 ")", nd->id, e->index, e->term,
		      S.g_term[e->index]);
	}
	if (e->type == RAFT_ENTRY_NORMAL && e->len == 16 && S.heal_seq &&
	    norn_get_le64(e->data) >= S.heal_seq && !S.live_ok) {
		S.live_ok = 1;
		S.live_ms = S.now - S.heal_at;
		vlog("liveness: post-heal entry committed at %" PRIu64, e->index);
	}
}

static void node_io(struct sim_node *nd)
{
	struct raft_ready rd;
	int loops = 0;

	nd->io_due = -1;
	while (nd->up && loops++ < MAX_READY_LOOPS && raft_ready_get(nd->r, &rd)) {
		if (S.broken_persist) {
			/* A wrong host: send first, and sometimes crash before the
			 * write reaches the disk. */
			for (size_t i = 0; i < rd.n_msgs; i++)
				net_send(&rd.msgs[i]);
			if (rd.n_msgs && (rd.hs_changed || rd.n_entries) && rnd(100) < 20) {
				node_crash(nd);
				nd->restart_at = S.now + 1 + (int64_t)rnd(50);
				return;
			}
			disk_persist(nd, &rd);
		} else {
			disk_persist(nd, &rd);
			for (size_t i = 0; i < rd.n_msgs; i++)
				net_send(&rd.msgs[i]);
		}
		if (rd.snapshot) {
			sm_restore(nd, rd.snapshot_data, rd.snapshot_len, rd.snapshot->index);
			S.stat_snap_installs++;
		}
		for (size_t i = 0; i < rd.n_committed; i++)
			sm_apply(nd, &rd.committed[i]);
		raft_ready_advance(nd->r, &rd);
		check_leader(nd);
	}
	if (!nd->up)
		return;
	/* Periodic snapshots compact the log. */
	if (nd->sm_applied >= raft_snapshot_meta(nd->r)->index + S.snap_every &&
	    nd->sm_applied == raft_applied_index(nd->r)) {
		uint8_t blob[16];
		uint32_t len;
		const uint8_t *data;

		norn_put_le64(blob, nd->sm_applied);
		norn_put_le64(blob + 8, nd->sm_hash);
		if (raft_compact(nd->r, nd->sm_applied, blob, sizeof(blob)) == 0) {
			data = raft_snapshot_data(nd->r, &len);
			disk_set_snapshot(&nd->disk, raft_snapshot_meta(nd->r), data, len);
		}
	}
	if (raft_ready_get(nd->r, &rd))
		nd->io_due = S.now + 1;
}

/* ---- checkers ------------------------------------------------------------ */

static void check_leader(struct sim_node *nd)
{
	uint64_t t;

	if (!nd->up || raft_role(nd->r) != RAFT_LEADER)
		return;
	t = raft_term(nd->r);
	grow(&S.leaders, &S.leaders_cap, t);
	if (S.leaders[t] == 0) {
		S.leaders[t] = nd->id;
		S.stat_elections++;
		vlog("node %" PRIu64 " is leader of term %" PRIu64, nd->id, t);
	} else if (S.leaders[t] != nd->id) {
		failf("election safety: nodes %" PRIu64 " and %" PRIu64 " both lead term %" PRIu64,
		      S.leaders[t], nd->id, t);
	}
}

static void check_log_matching(void)
{
	for (uint32_t a = 1; a <= S.n_nodes; a++) {
		for (uint32_t b = a + 1; b <= S.n_nodes; b++) {
			struct sim_node *x = &S.nodes[a], *y = &S.nodes[b];
			uint64_t lo, hi;
			int matched = 0;

			if (!x->up || !y->up)
				continue;
			lo = NORN_MAX(raft_first_index(x->r), raft_first_index(y->r));
			hi = NORN_MIN(raft_last_index(x->r), raft_last_index(y->r));
			for (uint64_t i = hi; i >= lo && i > 0; i--) {
				struct raft_entry ea, eb;

				NORN_ASSERT(raft_entry_at(x->r, i, &ea) == 0);
				NORN_ASSERT(raft_entry_at(y->r, i, &eb) == 0);
				if (!matched && ea.term == eb.term)
					matched = 1;
				if (matched && (ea.term != eb.term || ea.type != eb.type || ea.len != eb.len ||
				                (ea.len && memcmp(ea.data, eb.data, ea.len) != 0))) {
					failf("log matching: nodes %u and %u differ at %" PRIu64
					      " below a matching entry", a, b, i);
					return;
				}
			}
		}
	}
}

static void check_leader_completeness(void)
{
	for (uint32_t n = 1; n <= S.n_nodes; n++) {
		struct sim_node *nd = &S.nodes[n];
		uint64_t T, first, last;

		if (!nd->up || raft_role(nd->r) != RAFT_LEADER)
			continue;
		T = raft_term(nd->r);
		first = raft_first_index(nd->r);
		last = raft_last_index(nd->r);
		for (uint64_t i = first; i <= S.g_max; i++) {
			uint64_t t;

			if (S.g_term[i] == 0 || S.g_aterm[i] >= T)
				continue;
			if (i > last || raft_term_at(nd->r, i, &t) != 0 || t != S.g_term[i]) {
				failf("leader completeness: leader %" PRIu64 " of term %" PRIu64
				      " lacks committed entry %" PRIu64 " (term %" PRIu64 ")",
				      nd->id, T, i, S.g_term[i]);
				return;
			}
		}
	}
}

/* ---- chaos --------------------------------------------------------------- */

static void partition_random(void)
{
	uint32_t kind = (uint32_t)rnd(3);

	memset(S.blocked, 0, sizeof(S.blocked));
	if (kind == 0) {          /* two sides */
		uint8_t side[SIM_MAX_NODES + 1];

		for (uint32_t i = 1; i <= S.n_nodes; i++)
			side[i] = (uint8_t)rnd(2);
		for (uint32_t i = 1; i <= S.n_nodes; i++)
			for (uint32_t j = 1; j <= S.n_nodes; j++)
				S.blocked[i][j] = side[i] != side[j];
		vlog("partition: two sides");
	} else if (kind == 1) {   /* one-way links */
		uint32_t links = 1 + (uint32_t)rnd(S.n_nodes);

		for (uint32_t k = 0; k < links; k++) {
			uint32_t i = 1 + (uint32_t)rnd(S.n_nodes), j = 1 + (uint32_t)rnd(S.n_nodes);

			S.blocked[i][j] = 1;
			vlog("partition: one-way %u -> %u blocked", i, j);
		}
	} else {                  /* isolate one node (often the leader) */
		uint32_t v = 1 + (uint32_t)rnd(S.n_nodes);

		for (uint32_t i = 1; i <= S.n_nodes; i++)
			if (S.nodes[i].up && raft_role(S.nodes[i].r) == RAFT_LEADER && rnd(2))
				v = i;
		for (uint32_t j = 1; j <= S.n_nodes; j++)
			S.blocked[v][j] = S.blocked[j][v] = 1;
		vlog("partition: node %u isolated", v);
	}
	S.heal_partition_at = S.now + 100 + (int64_t)rnd(1500);
}

static void chaos_step(void)
{
	if (S.heal_partition_at < 0 && rnd(1000) < 3)
		partition_random();
	if (S.heal_partition_at >= 0 && S.now >= S.heal_partition_at) {
		memset(S.blocked, 0, sizeof(S.blocked));
		S.heal_partition_at = -1;
		vlog("partition healed");
	}
	if (S.now % TICK_MS == 0) {
		for (uint32_t i = 1; i <= S.n_nodes; i++) {
			struct sim_node *nd = &S.nodes[i];

			if (!nd->exists)
				continue;
			if (nd->up && rnd(1000) < S.crash_per_mille) {
				node_crash(nd);
				nd->restart_at = S.now + 20 + (int64_t)rnd(800);
			}
		}
	}
}

static void membership_step(void)
{
	struct sim_node *leader = NULL;
	uint64_t spare = S.n_founders + 1;
	int rc;

	for (uint32_t i = 1; i <= S.n_nodes; i++)
		if (S.nodes[i].up && raft_role(S.nodes[i].r) == RAFT_LEADER)
			leader = &S.nodes[i];
	if (!leader || S.now % 20 != 0)
		return;
	if (!S.add_done && S.now >= S.add_at) {
		if (raft_config_has(raft_config(leader->r), spare)) {
			S.add_done = 1;
		} else {
			rc = raft_propose_conf(leader->r, RAFT_CONF_ADD, spare, "add", 3, NULL);
			if (rc == 0) {
				vlog("leader %" PRIu64 " proposes adding %" PRIu64, leader->id, spare);
				mark_dirty(leader);
			}
		}
	} else if (S.add_done && !S.remove_done && S.now >= S.remove_at) {
		const struct raft_config *c = raft_config(leader->r);

		if (!raft_config_has(c, S.remove_victim)) {
			S.remove_done = 1;
		} else {
			rc = raft_propose_conf(leader->r, RAFT_CONF_REMOVE, S.remove_victim, NULL, 0, NULL);
			if (rc == 0) {
				vlog("leader %" PRIu64 " proposes removing %" PRIu64, leader->id,
				     S.remove_victim);
				mark_dirty(leader);
			}
		}
	}
}

static void transfer_step(void)
{
	if (S.now % 20 != 0 || rnd(100) >= 2)
		return;
	for (uint32_t i = 1; i <= S.n_nodes; i++) {
		struct sim_node *nd = &S.nodes[i];
		const struct raft_config *c;
		uint64_t target;

		if (!nd->up || raft_role(nd->r) != RAFT_LEADER)
			continue;
		c = raft_config(nd->r);
		target = c->ids[rnd(c->n)];
		if (raft_transfer_leader(nd->r, target) == 0) {
			vlog("leader %" PRIu64 " transfers leadership to %" PRIu64, nd->id, target);
			S.stat_transfers++;
			mark_dirty(nd);
		}
	}
}

static void client_step(void)
{
	if (rnd(8) != 0)
		return;
	for (uint32_t i = 1; i <= S.n_nodes; i++) {
		struct sim_node *nd = &S.nodes[i];
		uint8_t data[16];

		if (!nd->up || raft_role(nd->r) != RAFT_LEADER)
			continue;
		norn_put_le64(data, ++S.client_seq);
		norn_put_le64(data + 8, S.seed);
		if (raft_propose(nd->r, data, sizeof(data), NULL) == 0)
			mark_dirty(nd);
	}
}

/* ---- one run ------------------------------------------------------------- */

static void sim_reset(uint64_t seed)
{
	for (uint32_t i = 0; i <= SIM_MAX_NODES; i++) {
		raft_destroy(S.nodes[i].r);
		disk_free(&S.nodes[i].disk);
	}
	while (S.heap_n)
		free(heap_pop().buf);
	free(S.heap);
	free(S.leaders);
	free(S.g_term);
	free(S.g_hash);
	free(S.g_chain);
	free(S.g_aterm);
	int verbose = S.verbose, bv = S.broken_vote, bc = S.broken_commit, bp = S.broken_persist;
	memset(&S, 0, sizeof(S));
	S.verbose = verbose;
	S.broken_persist = bp;
	S.broken_vote = bv;
	S.broken_commit = bc;
	S.seed = seed;
	norn_rand_seed(&S.rng, seed);
}

/* Returns 0 if every checker passed. */
static int sim_run(uint64_t seed)
{
	int64_t heal_at, end;

	sim_reset(seed);
	S.n_founders = rnd(2) ? 5 : 3;
	S.membership = rnd(3) == 0;
	S.transfers = rnd(2) == 0;
	S.n_nodes = S.n_founders + (S.membership ? 1 : 0);
	S.drop_pct = (uint32_t)rnd(20);
	S.dup_pct = (uint32_t)rnd(6);
	S.delay_max_ms = 2 + (uint32_t)rnd(30);
	S.long_delay_pct = (uint32_t)rnd(3);
	S.snap_every = 10 + (uint32_t)rnd(50);
	S.crash_per_mille = (uint32_t)rnd(8);
	S.heal_partition_at = -1;
	S.chaos_end = 3000 + (int64_t)rnd(7000);
	S.boot_conf.n = S.n_founders;
	for (uint32_t i = 0; i < S.n_founders; i++)
		S.boot_conf.ids[i] = i + 1;
	if (S.membership) {
		S.add_at = 300 + (int64_t)rnd(S.chaos_end / 2);
		S.remove_at = S.add_at + (int64_t)rnd(S.chaos_end / 2);
		S.remove_victim = 1 + rnd(S.n_founders + 1);
	}
	for (uint32_t i = 1; i <= S.n_nodes; i++) {
		struct sim_node *nd = &S.nodes[i];

		nd->id = i;
		nd->exists = 1;
		nd->founder = i <= S.n_founders;
		nd->io_due = -1;
		nd->restart_at = -1;
		nd->tick_phase = (uint32_t)rnd(TICK_MS);
		node_start(nd);
	}
	vlog("seed %" PRIu64 ": %u founders%s, drop %u%%, dup %u%%, delay <= %u ms, "
	     "snapshot every %u, crash %u/1000 per tick, chaos until %" PRId64 " ms",
	     seed, S.n_founders, S.membership ? " + 1 joining" : "", S.drop_pct, S.dup_pct,
	     S.delay_max_ms, S.snap_every, S.crash_per_mille, S.chaos_end);

	heal_at = S.chaos_end;
	S.heal_at = heal_at;
	end = heal_at + LIVENESS_MS;
	for (S.now = 0; S.now < end && !S.fail[0]; S.now++) {
		if (S.now == heal_at) {
			/* Heal: a perfect network and every node up. */
			memset(S.blocked, 0, sizeof(S.blocked));
			S.heal_partition_at = -1;
			S.drop_pct = S.dup_pct = S.long_delay_pct = 0;
			S.delay_max_ms = 3;
			for (uint32_t i = 1; i <= S.n_nodes; i++)
				if (!S.nodes[i].up)
					node_start(&S.nodes[i]);
			S.heal_seq = S.client_seq + 1;
			vlog("network healed, all nodes up");
		}
		if (S.now < heal_at)
			chaos_step();
		for (uint32_t i = 1; i <= S.n_nodes; i++) {
			struct sim_node *nd = &S.nodes[i];

			if (!nd->up && nd->restart_at >= 0 && S.now >= nd->restart_at)
				node_start(nd);
		}
		while (S.heap_n && S.heap[0].at <= S.now) {
			struct net_msg nm = heap_pop();
			struct sim_node *nd = &S.nodes[nm.to];
			struct raft_msg m;
			struct raft_entry ents[RAFT_MAX_APPEND_ENTRIES];
			int rc;

			if (nm.to >= 1 && nm.to <= S.n_nodes && nd->up && !S.blocked[nm.from][nm.to]) {
				rc = raft_msg_decode(nm.buf, nm.len, &m, ents, RAFT_MAX_APPEND_ENTRIES);
				if (rc == 0)
					rc = raft_step(nd->r, &m);
				if (rc)
					failf("node %" PRIu64 ": message from %" PRIu64 " refused: %d",
					      nd->id, nm.from, rc);
				mark_dirty(nd);
			}
			free(nm.buf);
		}
		for (uint32_t i = 1; i <= S.n_nodes; i++) {
			struct sim_node *nd = &S.nodes[i];

			if (nd->up && S.now % TICK_MS == nd->tick_phase) {
				raft_tick(nd->r);
				mark_dirty(nd);
			}
		}
		if (S.membership)
			membership_step();
		if (S.transfers && S.now < heal_at)
			transfer_step();
		client_step();
		for (uint32_t i = 1; i <= S.n_nodes; i++) {
			struct sim_node *nd = &S.nodes[i];

			if (nd->up && nd->io_due >= 0 && nd->io_due <= S.now)
				node_io(nd);
		}
		if (S.now % CHECK_EVERY_MS == 0) {
			check_log_matching();
			check_leader_completeness();
		}
		if (S.live_ok && S.now > heal_at + 200)
			break;   /* liveness shown; a little extra traffic was checked */
	}
	if (!S.fail[0]) {
		check_log_matching();
		check_leader_completeness();
	}
	if (!S.fail[0] && !S.live_ok)
		failf("liveness: no entry committed within %d ms after healing", LIVENESS_MS);
	vlog("done: %" PRIu64 " msgs, %" PRIu64 " elections, %" PRIu64 " snapshot installs, "
	     "%" PRIu64 " crashes, %" PRIu64 " entries committed", S.stat_msgs, S.stat_elections,
	     S.stat_snap_installs, S.stat_crashes, S.g_max);
	return S.fail[0] ? 1 : 0;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--seed N | --seeds A:B] [--verbose] [--broken vote|commit|persist]"
	        " [--expect-failure]\n", argv0);
}

int main(int argc, char **argv)
{
	uint64_t a = 1, b = 100;
	int expect_failure = 0, failures = 0;
	uint64_t tot_msgs = 0, tot_elections = 0, tot_snaps = 0, tot_crashes = 0, tot_entries = 0;
	uint64_t tot_adds = 0, tot_removes = 0, tot_transfers = 0;
	int64_t max_live_ms = 0;
	const char *broken = NULL;

	norn_log_init("raft_sim", stderr, NORN_LOG_ERR);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			a = b = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			if (sscanf(argv[++i], "%" SCNu64 ":%" SCNu64, &a, &b) != 2 || b < a) {
				usage(argv[0]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--verbose")) {
			S.verbose = 1;
			norn_log_init("raft_sim", stderr, NORN_LOG_INFO);
		} else if (!strcmp(argv[i], "--broken") && i + 1 < argc) {
			broken = argv[++i];
			if (!strcmp(broken, "vote"))
				S.broken_vote = 1;
			else if (!strcmp(broken, "commit"))
				S.broken_commit = 1;
			else if (!strcmp(broken, "persist"))
				S.broken_persist = 1;
			else {
				usage(argv[0]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--expect-failure")) {
			expect_failure = 1;
		} else {
			usage(argv[0]);
			return 2;
		}
	}
	for (uint64_t s = a; s <= b; s++) {
		int rc = sim_run(s);

		tot_msgs += S.stat_msgs;
		tot_elections += S.stat_elections;
		tot_snaps += S.stat_snap_installs;
		tot_crashes += S.stat_crashes;
		tot_entries += S.g_max;
		tot_adds += S.membership && S.add_done;
		tot_removes += S.membership && S.remove_done;
		tot_transfers += S.stat_transfers;
		if (S.live_ok && S.live_ms > max_live_ms)
			max_live_ms = S.live_ms;
		if (rc == 0)
			continue;
		failures++;
		printf("FAIL seed %" PRIu64 ": %s\n  replay: %s --seed %" PRIu64 "%s%s --verbose\n",
		       s, S.fail, argv[0], s, broken ? " --broken " : "", broken ? broken : "");
		if (expect_failure)
			break;
	}
	sim_reset(0);
	printf("raft_sim: seeds %" PRIu64 "..%" PRIu64 ": %d failed (%" PRIu64 " msgs, %" PRIu64
	       " elections, %" PRIu64 " crashes, %" PRIu64 " snapshot installs, %" PRIu64
	       " entries committed, %" PRIu64 " mons added, %" PRIu64 " removed, %" PRIu64
	       " leader transfers; slowest"
	       " commit after healing %" PRId64 " ms = %" PRId64 " ticks, bound %d)\n", a, b,
	       failures, tot_msgs, tot_elections, tot_crashes, tot_snaps, tot_entries, tot_adds,
	       tot_removes, tot_transfers, max_live_ms, max_live_ms / TICK_MS, LIVENESS_MS / TICK_MS);
	if (expect_failure) {
		printf(failures ? "raft_sim: the checkers caught the broken mode, as expected\n"
		                : "raft_sim: the broken mode went unnoticed\n");
		return failures ? 0 : 1;
	}
	return failures ? 1 : 0;
}
