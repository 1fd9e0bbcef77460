/* Raft consensus as a pure state machine: the implementation of raft.h.
 *
 * Layout of the in-memory log: log[0..log_len) holds the entries
 * snap.index+1 .. snap.index+log_len, each owning a malloc'd copy of its
 * payload. `stable` is the last index the host has made durable (through
 * raft_ready_advance); entries after it are handed out in the next ready.
 * The configuration in effect is the latest CONF entry in the log, or the
 * snapshot's when the log holds none (it takes effect when appended, per
 * Ongaro's thesis), and it is recomputed when a truncation removes it.
 *
 * Outgoing messages wait in a bounded outbox. Append and snapshot messages
 * do not hold pointers while they wait: they record an index range and are
 * resolved against the log at raft_ready_get() time, and dropped if the
 * term changed since they were made or compaction removed their entries
 * (within its term a leader's log only grows or loses a committed prefix,
 * so the range still names the same entries). A full outbox drops the newest message:
 * Raft tolerates loss, and the heartbeat repeats what matters.
 *
 * Flow control per follower: PROBE (one append in flight until the
 * follower tells us where its log matches), REPLICATE (up to
 * RAFT_MAX_INFLIGHT pipelined appends, `next` advanced optimistically) and
 * SNAPSHOT (paused until the follower acknowledges the snapshot). Every
 * heartbeat clears the in-flight count, and a follower that has not
 * answered since the previous heartbeat is rewound to probing from
 * match+1, so lost messages cost one heartbeat interval at most.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mon/raft.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "common/log.h"
#include "norn/errors.h"

/* Heartbeats a leader waits for a snapshot's acknowledgement before it
 * starts over (probing, then maybe sending the snapshot again). */
#define RAFT_SNAPSHOT_WAIT_HEARTBEATS 8

enum peer_state { PEER_PROBE = 0, PEER_REPLICATE = 1, PEER_SNAPSHOT = 2 };

struct raft_peer {
	uint64_t id;
	uint64_t next;        /* next index to send */
	uint64_t match;       /* highest index known replicated */
	uint8_t state;        /* enum peer_state */
	uint8_t acked;        /* answered since the last heartbeat */
	uint8_t active;       /* answered since the last check-quorum */
	uint8_t active_prev;  /* answered in the check-quorum window before */
	int8_t vote;          /* 0 unknown, 1 granted, -1 rejected */
	uint32_t inflight;
	uint32_t snap_heartbeats;  /* heartbeats since the snapshot was sent */
};

struct raft {
	struct raft_opts opts;
	uint64_t id;
	enum raft_role role;
	struct raft_hardstate hs;        /* current term, vote, commit */
	struct raft_hardstate hs_saved;  /* what the host has persisted */
	uint64_t leader;
	uint64_t applied;
	uint64_t stable;
	int snap_pending;                /* received snapshot not yet advanced */

	struct raft_entry *log;
	size_t log_len, log_cap;

	struct raft_snapshot_meta snap;
	uint8_t *snap_data;
	uint32_t snap_len;

	struct raft_config conf;
	uint64_t conf_index;             /* index of the entry that set conf */
	struct raft_peer peers[RAFT_MAX_PEERS]; /* parallel to conf.ids */

	uint32_t election_elapsed;
	uint32_t election_timeout;       /* randomised */
	uint32_t heartbeat_elapsed;
	uint64_t transfer_target;        /* leader transfer in progress to */
	uint32_t transfer_elapsed;
	struct norn_rand rand;

	struct raft_msg outbox[RAFT_MAX_OUTBOX];
	size_t n_out;
	uint64_t dropped_msgs;
};

/* ---- small helpers ------------------------------------------------------ */

const char *raft_role_name(enum raft_role role)
{
	switch (role) {
	case RAFT_FOLLOWER: return "follower";
	case RAFT_PRECANDIDATE: return "precandidate";
	case RAFT_CANDIDATE: return "candidate";
	case RAFT_LEADER: return "leader";
	}
	return "?";
}

int raft_config_has(const struct raft_config *c, uint64_t id)
{
	NORN_ASSERT(c->n <= RAFT_MAX_PEERS);
	for (uint32_t i = 0; i < c->n; i++)
		if (c->ids[i] == id)
			return 1;
	return 0;
}

static uint64_t last_index(const struct raft *r)
{
	return r->snap.index + r->log_len;
}

static const struct raft_entry *entry_ptr(const struct raft *r, uint64_t index)
{
	if (index <= r->snap.index || index > last_index(r))
		return NULL;
	NORN_ASSERT(r->log[index - r->snap.index - 1].index == index);
	return &r->log[index - r->snap.index - 1];
}

int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term_out)
{
	const struct raft_entry *e;

	if (index == r->snap.index) {   /* also index 0 (term 0) before any snapshot */
		*term_out = r->snap.term;
		return 0;
	}
	e = entry_ptr(r, index);
	if (!e)
		return -ENOENT;
	*term_out = e->term;
	return 0;
}

static uint64_t last_term(const struct raft *r)
{
	uint64_t t = 0;
	int rc = raft_term_at(r, last_index(r), &t);

	NORN_ASSERT(rc == 0);
	return t;
}

static uint32_t quorum(const struct raft_config *c)
{
	NORN_ASSERT(c->n > 0);
	return c->n / 2 + 1;
}

static struct raft_peer *find_peer(struct raft *r, uint64_t id)
{
	NORN_ASSERT(r->conf.n <= RAFT_MAX_PEERS);
	for (uint32_t i = 0; i < r->conf.n; i++)
		if (r->peers[i].id == id)
			return &r->peers[i];
	return NULL;
}

static void reset_timeout(struct raft *r)
{
	r->election_elapsed = 0;
	r->election_timeout = r->opts.election_ticks +
		(uint32_t)norn_rand_below(&r->rand, r->opts.election_ticks);
	NORN_ASSERT(r->election_timeout >= r->opts.election_ticks);
}

static struct raft_msg *outbox_add(struct raft *r, uint8_t type, uint64_t to)
{
	struct raft_msg *m;

	NORN_ASSERT(to != r->id && to != RAFT_NONE);
	if (r->n_out >= RAFT_MAX_OUTBOX) {
		r->dropped_msgs++;
		return NULL;
	}
	m = &r->outbox[r->n_out++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = r->id;
	m->to = to;
	m->term = r->hs.term;
	return m;
}

/* ---- configuration ------------------------------------------------------ */

void raft_config_encode(struct enc *e, const struct raft_config *c)
{
	NORN_ASSERT(c->n <= RAFT_MAX_PEERS);
	enc_u32(e, c->n);
	for (uint32_t i = 0; i < c->n; i++)
		enc_u64(e, c->ids[i]);
}

void raft_config_decode(struct dec *d, struct raft_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n = dec_count(d, RAFT_MAX_PEERS, 8);
	for (uint32_t i = 0; i < c->n; i++) {
		c->ids[i] = dec_u64(d);
		if (c->ids[i] == RAFT_NONE)
			dec_fail(d, NORN_ECORRUPT);
		for (uint32_t j = 0; j < i; j++)
			if (c->ids[j] == c->ids[i])
				dec_fail(d, NORN_ECORRUPT);
	}
	if (dec_error(d))
		memset(c, 0, sizeof(*c));
}

int raft_conf_entry_decode(const uint8_t *data, size_t len, struct raft_config *c,
                           const uint8_t **ctx, size_t *ctx_len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;

	dec_init(&d, data, len);
	dec_struct_begin(&d, 1, &ver, &tok);
	raft_config_decode(&d, c);
	*ctx = dec_blob(&d, ctx_len);
	dec_struct_end(&d, &tok);
	if (!dec_error(&d) && dec_left(&d) != 0)
		dec_fail(&d, NORN_ECORRUPT);
	if (dec_error(&d)) {
		memset(c, 0, sizeof(*c));
		*ctx = NULL;
		*ctx_len = 0;
		return dec_error(&d);
	}
	return 0;
}

static int conf_entry_encode(struct enc *e, const struct raft_config *c,
                             const void *ctx, size_t ctx_len)
{
	size_t tok = enc_struct_begin(e, 1, 1);

	raft_config_encode(e, c);
	enc_blob(e, ctx, ctx_len);
	enc_struct_end(e, tok);
	return enc_error(e);
}

/* Make the peer table follow r->conf, keeping progress of known ids. */
static void peers_rebuild(struct raft *r)
{
	struct raft_peer old[RAFT_MAX_PEERS];
	uint32_t n_old = 0;

	NORN_ASSERT(r->conf.n <= RAFT_MAX_PEERS);
	for (uint32_t i = 0; i < RAFT_MAX_PEERS; i++)
		if (r->peers[i].id != RAFT_NONE)
			old[n_old++] = r->peers[i];
	memset(r->peers, 0, sizeof(r->peers));
	for (uint32_t i = 0; i < r->conf.n; i++) {
		struct raft_peer *p = &r->peers[i];

		p->id = r->conf.ids[i];
		p->next = last_index(r) + 1;
		p->active = 1;
		p->active_prev = 1;
		for (uint32_t j = 0; j < n_old; j++)
			if (old[j].id == p->id)
				*p = old[j];
	}
}

static void set_conf(struct raft *r, const struct raft_config *c, uint64_t index)
{
	NORN_ASSERT(c->n <= RAFT_MAX_PEERS);
	r->conf = *c;
	r->conf_index = index;
	peers_rebuild(r);
}

/* Configuration as of @index: the latest CONF entry at or before it, or the
 * snapshot's. */
static void conf_at(const struct raft *r, uint64_t index, struct raft_config *c,
                    uint64_t *conf_index)
{
	NORN_ASSERT(index >= r->snap.index && index <= last_index(r));
	for (uint64_t i = index; i > r->snap.index; i--) {
		const struct raft_entry *e = entry_ptr(r, i);
		const uint8_t *ctx;
		size_t ctx_len;

		if (e->type != RAFT_ENTRY_CONF)
			continue;
		/* Validated when it entered the log. */
		NORN_ASSERT(raft_conf_entry_decode(e->data, e->len, c, &ctx, &ctx_len) == 0);
		*conf_index = i;
		return;
	}
	*c = r->snap.conf;
	*conf_index = r->snap.index;
}

static void conf_recompute(struct raft *r)
{
	struct raft_config c;
	uint64_t ci;

	conf_at(r, last_index(r), &c, &ci);
	set_conf(r, &c, ci);
}

/* ---- log ---------------------------------------------------------------- */

static int log_append(struct raft *r, uint64_t term, uint8_t type,
                      const void *data, size_t len)
{
	struct raft_entry *e;
	uint8_t *copy = NULL;

	NORN_ASSERT(len <= RAFT_MAX_ENTRY_BYTES);
	NORN_ASSERT(term >= last_term(r));
	if (r->log_len == r->log_cap) {
		size_t ncap = r->log_cap ? r->log_cap * 2 : 64;
		struct raft_entry *nl = realloc(r->log, ncap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		r->log = nl;
		r->log_cap = ncap;
	}
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	e = &r->log[r->log_len++];
	e->term = term;
	e->index = last_index(r);
	e->type = type;
	e->len = (uint32_t)len;
	e->data = copy;
	if (type == RAFT_ENTRY_CONF) {
		struct raft_config c;
		const uint8_t *ctx;
		size_t ctx_len;

		NORN_ASSERT(raft_conf_entry_decode(copy, len, &c, &ctx, &ctx_len) == 0);
		set_conf(r, &c, e->index);
	}
	return 0;
}

/* Drop entries with index >= @from (never committed ones). */
static void log_truncate(struct raft *r, uint64_t from)
{
	uint64_t last = last_index(r);

	NORN_ASSERT(from > r->hs.commit && from > r->snap.index);
	NORN_ASSERT(from <= last);
	for (uint64_t i = from; i <= last; i++)
		free((void *)entry_ptr(r, i)->data);
	r->log_len = from - r->snap.index - 1;
	if (r->stable >= from)
		r->stable = from - 1;
	if (r->conf_index >= from)
		conf_recompute(r);
}

static void log_free_all(struct raft *r)
{
	for (size_t i = 0; i < r->log_len; i++)
		free((void *)r->log[i].data);
	r->log_len = 0;
}

/* ---- role changes ------------------------------------------------------- */

static void become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	NORN_ASSERT(term >= r->hs.term);
	if (term > r->hs.term) {
		r->hs.term = term;
		r->hs.vote = RAFT_NONE;
	}
	if (r->role == RAFT_LEADER)
		NLOG(RAFT, INFO, "raft %llu: leader steps down in term %llu",
		     (unsigned long long)r->id, (unsigned long long)r->hs.term);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	r->transfer_target = RAFT_NONE;
	reset_timeout(r);
}

static void send_append(struct raft *r, struct raft_peer *p, int force);

static void become_leader(struct raft *r)
{
	int rc;

	NORN_ASSERT(r->role == RAFT_CANDIDATE);
	NORN_ASSERT(r->hs.vote == r->id);
	r->role = RAFT_LEADER;
	r->leader = r->id;
	r->transfer_target = RAFT_NONE;
	r->heartbeat_elapsed = 0;
	r->election_elapsed = 0;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		struct raft_peer *p = &r->peers[i];

		p->next = last_index(r) + 1;
		p->match = 0;
		p->state = PEER_PROBE;
		p->inflight = 0;
		p->acked = 1;
		p->active = 1;
		p->active_prev = 1;
	}
	/* The no-op lets this leader commit entries of earlier terms (§5.4.2
	 * forbids counting replicas of anything but the current term). */
	rc = log_append(r, r->hs.term, RAFT_ENTRY_NOOP, NULL, 0);
	if (rc)
		NLOG(RAFT, ERR, "raft %llu: cannot append no-op: %d", (unsigned long long)r->id, rc);
	NLOG(RAFT, INFO, "raft %llu: leader of term %llu", (unsigned long long)r->id,
	     (unsigned long long)r->hs.term);
	for (uint32_t i = 0; i < r->conf.n; i++)
		if (r->peers[i].id != r->id)
			send_append(r, &r->peers[i], 1);
}

static uint32_t count_votes(const struct raft *r, int8_t which)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < r->conf.n; i++)
		if (r->peers[i].vote == which)
			n++;
	return n;
}

static void campaign(struct raft *r, int pre, int force)
{
	uint8_t type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
	struct raft_peer *self = find_peer(r, r->id);

	NORN_ASSERT(self != NULL);
	NORN_ASSERT(r->role != RAFT_LEADER);
	if (pre) {
		r->role = RAFT_PRECANDIDATE;
	} else {
		r->role = RAFT_CANDIDATE;
		r->hs.term++;
		r->hs.vote = r->id;
	}
	r->leader = RAFT_NONE;
	reset_timeout(r);
	for (uint32_t i = 0; i < r->conf.n; i++)
		r->peers[i].vote = 0;
	self->vote = 1;
	if (count_votes(r, 1) >= quorum(&r->conf)) {
		if (pre) {
			campaign(r, 0, force);
		} else {
			become_leader(r);
		}
		return;
	}
	for (uint32_t i = 0; i < r->conf.n; i++) {
		struct raft_msg *m;

		if (r->peers[i].id == r->id)
			continue;
		m = outbox_add(r, type, r->peers[i].id);
		if (!m)
			continue;
		m->term = pre ? r->hs.term + 1 : r->hs.term;
		m->force = (uint8_t)force;
		m->index = last_index(r);
		m->log_term = last_term(r);
	}
}

/* ---- leader: replication ------------------------------------------------ */

static void send_snapshot(struct raft *r, struct raft_peer *p)
{
	struct raft_msg *m;

	NORN_ASSERT(r->role == RAFT_LEADER);
	NORN_ASSERT(r->snap.index > 0);
	m = outbox_add(r, RAFT_MSG_SNAPSHOT, p->id);
	if (!m)
		return;
	/* Meta and blob are filled in at ready time (the latest snapshot). */
	p->state = PEER_SNAPSHOT;
	p->snap_heartbeats = 0;
	p->inflight = 1;
	p->next = r->snap.index + 1;
}

/* Send the next append to @p if flow control allows (@force: send at least
 * an empty heartbeat). */
static void send_append(struct raft *r, struct raft_peer *p, int force)
{
	struct raft_msg *m;
	uint64_t prev_term, n = 0, bytes = 0, last = last_index(r);

	NORN_ASSERT(r->role == RAFT_LEADER && p->id != r->id);
	NORN_ASSERT(p->next >= 1 && p->next <= last + 1);
	if (!force) {
		if (p->state == PEER_SNAPSHOT)
			return;
		if (p->state == PEER_PROBE && p->inflight > 0)
			return;
		if (p->inflight >= RAFT_MAX_INFLIGHT)
			return;
	}
	if (p->state == PEER_SNAPSHOT && force) {
		/* Heartbeats still flow while a snapshot is in flight. */
		m = outbox_add(r, RAFT_MSG_APPEND, p->id);
		if (m) {
			m->index = r->snap.index;
			m->log_term = r->snap.term;
			m->commit = NORN_MIN(r->hs.commit, p->match);
		}
		return;
	}
	if (raft_term_at(r, p->next - 1, &prev_term) != 0) {
		send_snapshot(r, p);
		return;
	}
	for (uint64_t i = p->next; i <= last && n < RAFT_MAX_APPEND_ENTRIES; i++) {
		const struct raft_entry *e = entry_ptr(r, i);

		if (n > 0 && bytes + e->len > RAFT_MAX_APPEND_BYTES)
			break;
		bytes += e->len;
		n++;
	}
	if (n == 0 && !force)
		return;
	m = outbox_add(r, RAFT_MSG_APPEND, p->id);
	if (!m)
		return;
	m->index = p->next - 1;
	m->log_term = prev_term;
	m->commit = r->hs.commit;
	m->n_entries = (uint32_t)n;  /* resolved to pointers at ready time */
	p->inflight++;
	if (p->state == PEER_REPLICATE && n > 0)
		p->next += n;
}

static void broadcast_append(struct raft *r, int force)
{
	for (uint32_t i = 0; i < r->conf.n; i++)
		if (r->peers[i].id != r->id)
			send_append(r, &r->peers[i], force);
}

static uint64_t self_match(const struct raft *r)
{
	return r->snap_pending ? 0 : r->stable;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void maybe_commit(struct raft *r)
{
	uint64_t m[RAFT_MAX_PEERS], n_idx, t = 0;
	uint32_t n = 0, q;

	NORN_ASSERT(r->role == RAFT_LEADER);
	if (r->conf.n == 0)
		return;
	for (uint32_t i = 0; i < r->conf.n; i++)
		m[n++] = r->peers[i].id == r->id ? self_match(r) : r->peers[i].match;
	qsort(m, n, sizeof(m[0]), cmp_desc);
	q = quorum(&r->conf);
	n_idx = m[q - 1];
	if (n_idx <= r->hs.commit)
		return;
	NORN_ASSERT(n_idx <= last_index(r));
	if (raft_term_at(r, n_idx, &t) != 0)
		return;
	if (t != r->hs.term && !r->opts.unsafe_commit_old_terms)
		return;   /* Raft §5.4.2: only count replicas of current-term entries */
	r->hs.commit = n_idx;
	if (!raft_config_has(&r->conf, r->id) && r->hs.commit >= r->conf_index) {
		/* The configuration that removed us is committed: hand over. */
		broadcast_append(r, 1);   /* tell followers the commit index */
		become_follower(r, r->hs.term, RAFT_NONE);
	}
}

static void handle_append_resp(struct raft *r, const struct raft_msg *m)
{
	struct raft_peer *p = find_peer(r, m->from);

	NORN_ASSERT(m->term == r->hs.term);
	if (r->role != RAFT_LEADER || !p || p->id == r->id)
		return;
	p->active = 1;
	if (m->reject) {
		uint64_t next;

		if (m->index <= p->match || p->state == PEER_SNAPSHOT)
			return;  /* stale, or a heartbeat answer while the snapshot travels */
		p->acked = 1;
		next = NORN_MIN(m->index, m->hint_index);
		next = NORN_MAX(next, p->match + 1);
		next = NORN_MIN(next, last_index(r) + 1);
		p->next = next;
		p->state = PEER_PROBE;
		p->inflight = 0;
		send_append(r, p, 0);
		return;
	}
	p->acked = 1;
	if (m->index > last_index(r))
		return;  /* cannot match more than we have: bogus, ignore */
	if (m->index > p->match)
		p->match = m->index;
	if (p->next < p->match + 1)
		p->next = p->match + 1;
	if (p->state == PEER_SNAPSHOT) {
		if (p->match >= r->snap.index) {
			p->state = PEER_PROBE;
			p->inflight = 0;
		}
	} else if (p->state == PEER_PROBE) {
		p->state = PEER_REPLICATE;
		p->inflight = 0;
		p->next = p->match + 1;
	} else if (p->inflight > 0) {
		p->inflight--;
	}
	maybe_commit(r);
	if (r->role != RAFT_LEADER)
		return;
	if (r->transfer_target == p->id && p->match == last_index(r)) {
		outbox_add(r, RAFT_MSG_TIMEOUT_NOW, p->id);
		r->transfer_target = RAFT_NONE;
		return;
	}
	for (int i = 0; i < RAFT_MAX_INFLIGHT && p->next <= last_index(r); i++) {
		uint32_t before = p->inflight;

		send_append(r, p, 0);
		if (p->inflight == before)
			break;
	}
}

/* ---- follower: append and snapshot -------------------------------------- */

static void respond_append(struct raft *r, uint64_t to, int reject, uint64_t index,
                           uint64_t hint)
{
	struct raft_msg *m = outbox_add(r, RAFT_MSG_APPEND_RESP, to);

	if (!m)
		return;
	m->reject = (uint8_t)reject;
	m->index = index;
	m->hint_index = hint;
}

static int handle_append(struct raft *r, const struct raft_msg *m)
{
	uint64_t prev = m->index, prev_term = m->log_term, our_term = 0, match;
	const struct raft_entry *ents = m->entries;
	uint32_t n = m->n_entries;

	NORN_ASSERT(m->term == r->hs.term);
	NORN_ASSERT(r->role != RAFT_LEADER);
	if (prev < r->hs.commit) {
		/* Our committed prefix matches any leader's log (leader
		 * completeness): skip the entries it covers. */
		uint64_t skip = r->hs.commit - prev;

		if (skip >= n) {
			respond_append(r, m->from, 0, r->hs.commit, 0);
			return 0;
		}
		prev = r->hs.commit;
		prev_term = ents[skip - 1].term;
		ents += skip;
		n -= (uint32_t)skip;
	}
	if (prev > last_index(r)) {
		respond_append(r, m->from, 1, prev, last_index(r) + 1);
		return 0;
	}
	NORN_ASSERT(raft_term_at(r, prev, &our_term) == 0);
	if (our_term != prev_term) {
		/* Fast backtracking: skip our whole conflicting term. */
		uint64_t hint = prev, t;

		while (hint - 1 > r->hs.commit && raft_term_at(r, hint - 1, &t) == 0 &&
		       t == our_term)
			hint--;
		respond_append(r, m->from, 1, prev, hint);
		return 0;
	}
	for (uint32_t k = 0; k < n; k++) {
		const struct raft_entry *e = &ents[k];
		uint64_t t;
		int rc;

		NORN_ASSERT(e->index == prev + 1 + k);
		if (e->index <= last_index(r)) {
			NORN_ASSERT(raft_term_at(r, e->index, &t) == 0);
			if (t == e->term)
				continue;
			log_truncate(r, e->index);
		}
		rc = log_append(r, e->term, e->type, e->data, e->len);
		if (rc)
			return rc;   /* out of memory: answer nothing, leader retries */
	}
	match = prev + n;
	if (m->commit > r->hs.commit)
		r->hs.commit = NORN_MAX(r->hs.commit, NORN_MIN(m->commit, match));
	respond_append(r, m->from, 0, match, 0);
	return 0;
}

static int handle_snapshot(struct raft *r, const struct raft_msg *m)
{
	uint64_t t;
	uint8_t *copy = NULL;

	NORN_ASSERT(m->term == r->hs.term && r->role == RAFT_FOLLOWER);
	NORN_ASSERT(m->snap.index > 0);
	if (m->snap.index <= r->hs.commit) {
		respond_append(r, m->from, 0, r->hs.commit, 0);
		return 0;
	}
	if (raft_term_at(r, m->snap.index, &t) == 0 && t == m->snap.term) {
		/* We hold the entry: the snapshot only tells us it committed. */
		r->hs.commit = m->snap.index;
		respond_append(r, m->from, 0, m->snap.index, 0);
		return 0;
	}
	if (m->snap_len) {
		copy = malloc(m->snap_len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, m->snap_data, m->snap_len);
	}
	log_free_all(r);
	free(r->snap_data);
	r->snap = m->snap;
	r->snap_data = copy;
	r->snap_len = m->snap_len;
	r->snap_pending = 1;
	r->hs.commit = m->snap.index;
	r->stable = m->snap.index;
	set_conf(r, &m->snap.conf, m->snap.index);
	NLOG(RAFT, INFO, "raft %llu: installing snapshot at %llu term %llu",
	     (unsigned long long)r->id, (unsigned long long)m->snap.index,
	     (unsigned long long)m->snap.term);
	respond_append(r, m->from, 0, m->snap.index, 0);
	return 0;
}

/* ---- votes -------------------------------------------------------------- */

static int in_lease(const struct raft *r)
{
	return r->leader != RAFT_NONE && r->election_elapsed < r->opts.election_ticks;
}

static void handle_vote(struct raft *r, const struct raft_msg *m)
{
	int pre = m->type == RAFT_MSG_PREVOTE;
	int can, uptodate;
	uint64_t lt = last_term(r);
	struct raft_msg *out;

	NORN_ASSERT(m->term >= r->hs.term);
	can = r->hs.vote == m->from ||
	      (r->hs.vote == RAFT_NONE && r->leader == RAFT_NONE && !pre) ||
	      (pre && m->term > r->hs.term);
	uptodate = m->log_term > lt || (m->log_term == lt && m->index >= last_index(r));
	if (r->opts.unsafe_vote_any_log)
		uptodate = 1;
	out = outbox_add(r, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
	if (can && uptodate) {
		if (!pre) {
			NORN_ASSERT(m->term == r->hs.term);
			r->hs.vote = m->from;
			reset_timeout(r);
		}
		if (out)
			out->term = m->term;
	} else if (out) {
		out->reject = 1;
	}
}

static void handle_vote_resp(struct raft *r, const struct raft_msg *m)
{
	int pre = m->type == RAFT_MSG_PREVOTE_RESP;
	struct raft_peer *p = find_peer(r, m->from);

	if (!p)
		return;
	if (pre) {
		if (r->role != RAFT_PRECANDIDATE || m->term != r->hs.term + 1)
			return;
	} else if (r->role != RAFT_CANDIDATE || m->term != r->hs.term) {
		return;
	}
	p->vote = m->reject ? -1 : 1;
	if (count_votes(r, 1) >= quorum(&r->conf)) {
		if (pre)
			campaign(r, 0, 0);
		else
			become_leader(r);
	} else if (count_votes(r, -1) >= quorum(&r->conf)) {
		become_follower(r, r->hs.term, RAFT_NONE);
	}
}

/* ---- inputs ------------------------------------------------------------- */

static int msg_valid(const struct raft *r, const struct raft_msg *m)
{
	if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TYPE_MAX)
		return 0;
	if (m->to != r->id || m->from == r->id || m->from == RAFT_NONE)
		return 0;
	if (m->n_entries > RAFT_MAX_APPEND_ENTRIES ||
	    (m->n_entries && m->type != RAFT_MSG_APPEND))
		return 0;
	if (m->type == RAFT_MSG_APPEND) {
		uint64_t t = m->log_term;

		if (m->log_term > m->term)
			return 0;
		for (uint32_t k = 0; k < m->n_entries; k++) {
			const struct raft_entry *e = &m->entries[k];

			if (e->index != m->index + 1 + k || e->term < t || e->term > m->term ||
			    e->len > RAFT_MAX_ENTRY_BYTES || (e->len && !e->data))
				return 0;
			if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF)
				return 0;
			if (e->type == RAFT_ENTRY_CONF) {
				struct raft_config c;
				const uint8_t *ctx;
				size_t cl;

				if (raft_conf_entry_decode(e->data, e->len, &c, &ctx, &cl))
					return 0;
			}
			t = e->term;
		}
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		if (m->snap.index == 0 || m->snap.term == 0 || m->snap.term > m->term ||
		    m->snap_len > RAFT_MAX_SNAPSHOT_BYTES || (m->snap_len && !m->snap_data) ||
		    m->snap.conf.n > RAFT_MAX_PEERS)
			return 0;
	}
	return 1;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	NORN_ASSERT(r != NULL && m != NULL);
	if (!msg_valid(r, m))
		return -EINVAL;
	if (m->term > r->hs.term) {
		int vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;

		if (vote && in_lease(r) && !(m->type == RAFT_MSG_VOTE && m->force))
			return 0;   /* we have a live leader: ignore disruptors */
		if (m->type == RAFT_MSG_PREVOTE) {
			/* no term change for pre-votes */
		} else if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject) {
			/* a grant at the term we would campaign in */
		} else {
			int lead = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT;

			become_follower(r, m->term, lead ? m->from : RAFT_NONE);
		}
	} else if (m->term < r->hs.term) {
		if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT) {
			/* A deposed leader: our term in the answer makes it step down. */
			respond_append(r, m->from, 0, 0, 0);
		} else if (m->type == RAFT_MSG_PREVOTE) {
			struct raft_msg *o = outbox_add(r, RAFT_MSG_PREVOTE_RESP, m->from);

			if (o)
				o->reject = 1;
		}
		return 0;
	}
	NORN_ASSERT(m->term >= r->hs.term);

	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_SNAPSHOT:
		if (r->role == RAFT_LEADER) {
			/* Another leader of our own term: impossible among correct
			 * peers (one vote per term), so the sender is broken or
			 * hostile. Refuse it rather than assert on network input. */
			NLOG(RAFT, ERR, "raft %llu: node %llu claims to lead our term %llu",
			     (unsigned long long)r->id, (unsigned long long)m->from,
			     (unsigned long long)m->term);
			return -EPROTO;
		}
		if (r->role != RAFT_FOLLOWER || r->leader != m->from)
			become_follower(r, r->hs.term, m->from);
		r->election_elapsed = 0;
		return m->type == RAFT_MSG_APPEND ? handle_append(r, m) : handle_snapshot(r, m);
	case RAFT_MSG_APPEND_RESP:
		handle_append_resp(r, m);
		return 0;
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PREVOTE:
		handle_vote(r, m);
		return 0;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
		handle_vote_resp(r, m);
		return 0;
	case RAFT_MSG_TIMEOUT_NOW:
		/* Our leader hands over: campaign without a pre-vote round. */
		if (r->role == RAFT_FOLLOWER && r->leader == m->from &&
		    raft_config_has(&r->conf, r->id))
			campaign(r, 0, 1);
		return 0;
	}
	return -EINVAL;
}

void raft_tick(struct raft *r)
{
	NORN_ASSERT(r->opts.heartbeat_ticks > 0);
	r->election_elapsed++;
	if (r->role != RAFT_LEADER) {
		if (r->election_elapsed >= r->election_timeout) {
			reset_timeout(r);
			if (raft_config_has(&r->conf, r->id))
				campaign(r, 1, 0);
		}
		return;
	}
	if (r->transfer_target != RAFT_NONE && ++r->transfer_elapsed >= r->opts.election_ticks)
		r->transfer_target = RAFT_NONE;   /* the target did not make it: carry on */
	if (++r->heartbeat_elapsed >= r->opts.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		for (uint32_t i = 0; i < r->conf.n; i++) {
			struct raft_peer *p = &r->peers[i];

			if (p->id == r->id)
				continue;
			if (p->state == PEER_SNAPSHOT && ++p->snap_heartbeats < RAFT_SNAPSHOT_WAIT_HEARTBEATS) {
				/* A big snapshot takes a while: give it time before resending. */
				send_append(r, p, 1);
				continue;
			}
			if (!p->acked || p->state == PEER_SNAPSHOT) {
				p->state = PEER_PROBE;
				p->next = p->match + 1;
			}
			p->inflight = 0;
			p->acked = 0;
			send_append(r, p, 1);
		}
	}
	if (r->election_elapsed >= r->opts.election_ticks) {
		uint32_t active = 0;

		/* A peer counts if it answered in this window or the one
		 * before: one follower stalled for a little longer than an
		 * election timeout (an fsync on a busy disk) must not cost a
		 * healthy leader its quorum. A leader cut off from the
		 * majority still steps down, after two windows. */
		r->election_elapsed = 0;
		for (uint32_t i = 0; i < r->conf.n; i++) {
			struct raft_peer *p = &r->peers[i];
			if (p->id == r->id || p->active || p->active_prev)
				active++;
			p->active_prev = p->active;
			p->active = 0;
		}
		if (active < quorum(&r->conf)) {
			NLOG(RAFT, INFO, "raft %llu: lost contact with the quorum",
			     (unsigned long long)r->id);
			become_follower(r, r->hs.term, RAFT_NONE);
		}
	}
}

int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index_out)
{
	int rc;

	NORN_ASSERT(r != NULL);
	if (r->role != RAFT_LEADER)
		return NORN_ENOTLEADER;
	if (len > RAFT_MAX_ENTRY_BYTES)
		return -EMSGSIZE;
	if (r->transfer_target != RAFT_NONE)
		return NORN_EAGAIN;
	if (last_index(r) - r->hs.commit >= RAFT_MAX_UNCOMMITTED ||
	    r->log_len >= RAFT_MAX_LOG_ENTRIES)
		return NORN_EAGAIN;
	rc = log_append(r, r->hs.term, RAFT_ENTRY_NORMAL, data, len);
	if (rc)
		return rc;
	if (index_out)
		*index_out = last_index(r);
	broadcast_append(r, 0);
	NORN_ASSERT(r->log[r->log_len - 1].term == r->hs.term);
	return 0;
}

int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t node_id,
                      const void *ctx, size_t ctx_len, uint64_t *index_out)
{
	struct raft_config c = r->conf;
	struct enc e;
	uint64_t t = 0;
	int rc;

	if (r->role != RAFT_LEADER)
		return NORN_ENOTLEADER;
	if (node_id == RAFT_NONE || (op != RAFT_CONF_ADD && op != RAFT_CONF_REMOVE))
		return -EINVAL;
	if (r->transfer_target != RAFT_NONE)
		return NORN_EAGAIN;
	/* One change at a time, and only once our term has a committed entry
	 * (Ongaro's fix for single-server changes across leader changes). */
	if (r->conf_index > r->hs.commit)
		return NORN_EAGAIN;
	if (raft_term_at(r, r->hs.commit, &t) != 0 || t != r->hs.term)
		return NORN_EAGAIN;
	if (last_index(r) - r->hs.commit >= RAFT_MAX_UNCOMMITTED)
		return NORN_EAGAIN;
	if (op == RAFT_CONF_ADD) {
		if (raft_config_has(&c, node_id))
			return -EEXIST;
		if (c.n >= RAFT_MAX_PEERS)
			return -E2BIG;
		c.ids[c.n++] = node_id;
	} else {
		uint32_t j = 0;

		if (!raft_config_has(&c, node_id))
			return -ENOENT;
		if (c.n == 1)
			return -EINVAL;
		for (uint32_t i = 0; i < c.n; i++)
			if (c.ids[i] != node_id)
				c.ids[j++] = c.ids[i];
		c.n = j;
	}
	enc_init(&e, 64 + ctx_len);
	rc = conf_entry_encode(&e, &c, ctx, ctx_len);
	if (rc == 0 && e.len > RAFT_MAX_ENTRY_BYTES)
		rc = -EMSGSIZE;
	if (rc == 0)
		rc = log_append(r, r->hs.term, RAFT_ENTRY_CONF, e.buf, e.len);
	enc_free(&e);
	if (rc)
		return rc;
	NORN_ASSERT(r->conf_index == last_index(r));
	if (index_out)
		*index_out = last_index(r);
	/* New members start probing from our end of the log. */
	broadcast_append(r, 0);
	return 0;
}

int raft_transfer_leader(struct raft *r, uint64_t target)
{
	struct raft_peer *p;

	NORN_ASSERT(r != NULL);
	if (r->role != RAFT_LEADER)
		return NORN_ENOTLEADER;
	p = find_peer(r, target);
	if (target == r->id || !p)
		return -EINVAL;
	NORN_ASSERT(p->id == target);
	r->transfer_target = target;
	r->transfer_elapsed = 0;
	if (p->match == last_index(r)) {
		outbox_add(r, RAFT_MSG_TIMEOUT_NOW, target);
		r->transfer_target = RAFT_NONE;
	} else {
		send_append(r, p, 1);
	}
	return 0;
}

int raft_compact(struct raft *r, uint64_t index, const void *data, size_t len)
{
	struct raft_config c;
	uint64_t ci, t = 0, drop;
	uint8_t *copy = NULL;

	NORN_ASSERT(r != NULL);
	if (index <= r->snap.index || index > r->applied || r->snap_pending)
		return -EINVAL;
	if (len > RAFT_MAX_SNAPSHOT_BYTES)
		return -EMSGSIZE;
	NORN_ASSERT(index <= r->stable && index <= last_index(r));
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	NORN_ASSERT(raft_term_at(r, index, &t) == 0);
	conf_at(r, index, &c, &ci);
	drop = index - r->snap.index;
	for (uint64_t i = 0; i < drop; i++)
		free((void *)r->log[i].data);
	memmove(r->log, r->log + drop, (r->log_len - drop) * sizeof(*r->log));
	r->log_len -= drop;
	r->snap.index = index;
	r->snap.term = t;
	r->snap.conf = c;
	free(r->snap_data);
	r->snap_data = copy;
	r->snap_len = (uint32_t)len;
	return 0;
}

/* ---- ready -------------------------------------------------------------- */

/* Resolve append/snapshot messages against the log; drop those made
 * obsolete by a change of role or term, or by compaction. */
static void outbox_resolve(struct raft *r)
{
	size_t j = 0;

	for (size_t i = 0; i < r->n_out; i++) {
		struct raft_msg *m = &r->outbox[i];
		int keep = 1;

		if (m->type == RAFT_MSG_APPEND) {
			/* Within one term this node's log was only ever extended by
			 * itself as leader (one leader per term), so an index range
			 * made in this term still names the same entries, even if it
			 * has stepped down since. */
			if (m->term != r->hs.term) {
				keep = 0;
			} else if (m->n_entries) {
				const struct raft_entry *e = entry_ptr(r, m->index + 1);

				if (!e || m->index + m->n_entries > last_index(r))
					keep = 0;
				else
					m->entries = e;
			}
		} else if (m->type == RAFT_MSG_SNAPSHOT) {
			if (m->term != r->hs.term || r->snap.index == 0) {
				keep = 0;
			} else {
				m->snap = r->snap;
				m->snap_data = r->snap_data;
				m->snap_len = r->snap_len;
			}
		}
		if (keep)
			r->outbox[j++] = *m;
	}
	r->n_out = j;
}

int raft_ready_get(struct raft *r, struct raft_ready *rd)
{
	uint64_t from, to, last = last_index(r);

	NORN_ASSERT(r->stable >= r->snap.index && r->stable <= last);
	NORN_ASSERT(r->applied <= r->hs.commit || r->snap_pending);
	memset(rd, 0, sizeof(*rd));
	outbox_resolve(r);
	rd->hs = r->hs;
	rd->hs_changed = memcmp(&r->hs, &r->hs_saved, sizeof(r->hs)) != 0;
	if (r->snap_pending) {
		rd->snapshot = &r->snap;
		rd->snapshot_data = r->snap_data;
		rd->snapshot_len = r->snap_len;
	}
	if (r->stable < last) {
		rd->entries = entry_ptr(r, r->stable + 1);
		rd->n_entries = last - r->stable;
	}
	from = NORN_MAX(r->applied, r->snap.index) + 1;
	to = NORN_MIN(r->hs.commit, last);
	if (to >= from) {
		rd->committed = entry_ptr(r, from);
		rd->n_committed = to - from + 1;
	}
	rd->msgs = r->outbox;
	rd->n_msgs = r->n_out;
	return rd->hs_changed || rd->snapshot || rd->n_entries || rd->n_committed || rd->n_msgs;
}

void raft_ready_advance(struct raft *r, const struct raft_ready *rd)
{
	NORN_ASSERT(rd->n_msgs == r->n_out);
	if (rd->hs_changed)
		r->hs_saved = rd->hs;
	if (rd->snapshot) {
		NORN_ASSERT(r->snap_pending);
		r->snap_pending = 0;
		r->applied = NORN_MAX(r->applied, r->snap.index);
	}
	if (rd->n_entries) {
		NORN_ASSERT(rd->entries[rd->n_entries - 1].index == last_index(r));
		r->stable = rd->entries[rd->n_entries - 1].index;
	}
	if (rd->n_committed) {
		NORN_ASSERT(rd->committed[rd->n_committed - 1].index <= r->hs.commit);
		r->applied = rd->committed[rd->n_committed - 1].index;
	}
	r->n_out = 0;
	if (r->role == RAFT_LEADER)
		maybe_commit(r);
}

/* ---- lifecycle ---------------------------------------------------------- */

static int boot_valid(const struct raft_opts *o, const struct raft_boot *b)
{
	if (b->snap.conf.n > RAFT_MAX_PEERS || b->snap_len > RAFT_MAX_SNAPSHOT_BYTES)
		return 0;
	if (b->hs.vote != RAFT_NONE && b->hs.term == 0)
		return 0;
	if (b->snap.index && b->snap.term == 0)
		return 0;
	if (b->hs.commit > b->snap.index + b->n_entries || b->snap.term > b->hs.term)
		return 0;
	for (size_t i = 0; i < b->n_entries; i++) {
		const struct raft_entry *e = &b->entries[i];
		uint64_t pt = i ? b->entries[i - 1].term : b->snap.term;

		if (e->index != b->snap.index + 1 + i || e->term < pt || e->term > b->hs.term ||
		    e->len > RAFT_MAX_ENTRY_BYTES)
			return 0;
		if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF)
			return 0;
		if (e->type == RAFT_ENTRY_CONF) {
			struct raft_config c;
			const uint8_t *ctx;
			size_t cl;

			if (raft_conf_entry_decode(e->data, e->len, &c, &ctx, &cl))
				return 0;
		}
	}
	return 1;
}

int raft_create(const struct raft_opts *opts, const struct raft_boot *boot,
                struct raft **out)
{
	static const struct raft_boot empty;
	struct raft *r;
	int rc = -ENOMEM;

	if (!boot)
		boot = &empty;
	*out = NULL;
	if (opts->id == RAFT_NONE || opts->election_ticks < 3 || opts->heartbeat_ticks == 0 ||
	    opts->heartbeat_ticks >= opts->election_ticks || !boot_valid(opts, boot))
		return -EINVAL;
	if (opts->bootstrap && (opts->bootstrap->n == 0 || opts->bootstrap->n > RAFT_MAX_PEERS))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->opts = *opts;
	r->opts.bootstrap = NULL;
	r->id = opts->id;
	norn_rand_seed(&r->rand, opts->rand_seed ^ (opts->id * 0x9e3779b97f4a7c15ull));
	r->hs = boot->hs;
	r->hs_saved = boot->hs;
	r->snap = boot->snap;
	if (boot->snap_len) {
		r->snap_data = malloc(boot->snap_len);
		if (!r->snap_data)
			goto fail;
		memcpy(r->snap_data, boot->snap_data, boot->snap_len);
		r->snap_len = (uint32_t)boot->snap_len;
	}
	r->applied = r->snap.index;
	r->hs.commit = NORN_MAX(r->hs.commit, r->snap.index);
	r->conf = r->snap.conf;
	r->conf_index = r->snap.index;
	for (size_t i = 0; i < boot->n_entries; i++) {
		const struct raft_entry *e = &boot->entries[i];

		rc = log_append(r, e->term, e->type, e->data, e->len);
		if (rc)
			goto fail;
	}
	r->stable = last_index(r);
	if (opts->bootstrap && last_index(r) == 0 && r->hs.term == 0) {
		struct enc e;

		enc_init(&e, 256);
		rc = conf_entry_encode(&e, opts->bootstrap, NULL, 0);
		r->hs.term = 1;
		if (rc == 0)
			rc = log_append(r, 1, RAFT_ENTRY_CONF, e.buf, e.len);
		enc_free(&e);
		if (rc)
			goto fail;
		r->hs.commit = 1;
	}
	peers_rebuild(r);
	r->role = RAFT_FOLLOWER;
	reset_timeout(r);
	NORN_ASSERT(r->hs.commit <= last_index(r));
	*out = r;
	return 0;
fail:
	raft_destroy(r);
	return rc;
}

void raft_destroy(struct raft *r)
{
	if (!r)
		return;
	log_free_all(r);
	free(r->log);
	free(r->snap_data);
	memset(r, 0, sizeof(*r));
	free(r);
}

/* ---- queries ------------------------------------------------------------ */

enum raft_role raft_role(const struct raft *r) { return r->role; }
uint64_t raft_id(const struct raft *r) { return r->id; }
uint64_t raft_term(const struct raft *r) { return r->hs.term; }
uint64_t raft_leader(const struct raft *r) { return r->leader; }
uint64_t raft_commit_index(const struct raft *r) { return r->hs.commit; }
uint64_t raft_applied_index(const struct raft *r) { return r->applied; }
uint64_t raft_first_index(const struct raft *r) { return r->snap.index + 1; }
uint64_t raft_last_index(const struct raft *r) { return last_index(r); }
const struct raft_config *raft_config(const struct raft *r) { return &r->conf; }
const struct raft_snapshot_meta *raft_snapshot_meta(const struct raft *r) { return &r->snap; }

const uint8_t *raft_snapshot_data(const struct raft *r, uint32_t *len_out)
{
	*len_out = r->snap_len;
	return r->snap_data;
}

int raft_entry_at(const struct raft *r, uint64_t index, struct raft_entry *out)
{
	const struct raft_entry *e = entry_ptr(r, index);

	if (!e)
		return -ENOENT;
	*out = *e;
	return 0;
}

/* ---- message encoding --------------------------------------------------- */

#define RAFT_MSG_MAGIC 0x5446524eu   /* "NRFT" little-endian */
#define RAFT_MSG_VERSION 1

int raft_msg_encode(const struct raft_msg *m, struct enc *e)
{
	size_t start = e->len, tok;
	uint32_t crc;

	NORN_ASSERT(m->type >= RAFT_MSG_APPEND && m->type <= RAFT_MSG_TYPE_MAX);
	NORN_ASSERT(m->n_entries <= RAFT_MAX_APPEND_ENTRIES);
	enc_u32(e, RAFT_MSG_MAGIC);
	tok = enc_struct_begin(e, RAFT_MSG_VERSION, 1);
	enc_u8(e, m->type);
	enc_u8(e, m->reject);
	enc_u8(e, m->force);
	enc_u64(e, m->from);
	enc_u64(e, m->to);
	enc_u64(e, m->term);
	enc_u64(e, m->index);
	enc_u64(e, m->log_term);
	enc_u64(e, m->commit);
	enc_u64(e, m->hint_index);
	if (m->type == RAFT_MSG_APPEND) {
		enc_u32(e, m->n_entries);
		for (uint32_t i = 0; i < m->n_entries; i++) {
			enc_u64(e, m->entries[i].term);
			enc_u64(e, m->entries[i].index);
			enc_u8(e, m->entries[i].type);
			enc_blob(e, m->entries[i].data, m->entries[i].len);
		}
	} else if (m->type == RAFT_MSG_SNAPSHOT) {
		enc_u64(e, m->snap.index);
		enc_u64(e, m->snap.term);
		raft_config_encode(e, &m->snap.conf);
		enc_blob(e, m->snap_data, m->snap_len);
	}
	enc_struct_end(e, tok);
	if (enc_error(e))
		return enc_error(e);
	crc = norn_crc32c(0, e->buf + start, e->len - start);
	enc_u32(e, crc);
	if (!enc_error(e) && e->len - start > RAFT_MAX_MSG_BYTES)
		return -EMSGSIZE;
	return enc_error(e);
}

int raft_msg_decode_body(struct dec *d, struct raft_msg *m,
                         struct raft_entry *ents, uint32_t ents_cap)
{
	struct dec_struct tok;
	uint8_t ver;

	memset(m, 0, sizeof(*m));
	dec_struct_begin(d, RAFT_MSG_VERSION, &ver, &tok);
	m->type = dec_u8(d);
	m->reject = dec_u8(d);
	m->force = dec_u8(d);
	m->from = dec_u64(d);
	m->to = dec_u64(d);
	m->term = dec_u64(d);
	m->index = dec_u64(d);
	m->log_term = dec_u64(d);
	m->commit = dec_u64(d);
	m->hint_index = dec_u64(d);
	if (dec_error(d))
		goto out;
	if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TYPE_MAX || m->reject > 1 ||
	    m->force > 1 ||
	    m->from == RAFT_NONE || m->to == RAFT_NONE || m->from == m->to || m->term == 0) {
		dec_fail(d, NORN_ECORRUPT);
		goto out;
	}
	if (m->type == RAFT_MSG_APPEND) {
		uint32_t cap = NORN_MIN(ents_cap, (uint32_t)RAFT_MAX_APPEND_ENTRIES);
		uint64_t pt = m->log_term;

		if (m->log_term > m->term || m->index == UINT64_MAX - RAFT_MAX_APPEND_ENTRIES ||
		    m->index > UINT64_MAX - 2 * RAFT_MAX_APPEND_ENTRIES)
			dec_fail(d, NORN_ECORRUPT);
		m->n_entries = dec_count(d, cap, 8 + 8 + 1 + 4);
		for (uint32_t i = 0; i < m->n_entries && !dec_error(d); i++) {
			struct raft_entry *e = &ents[i];
			size_t len;

			e->term = dec_u64(d);
			e->index = dec_u64(d);
			e->type = dec_u8(d);
			e->data = dec_blob(d, &len);
			e->len = (uint32_t)len;
			if (dec_error(d))
				break;
			if (e->index != m->index + 1 + i || e->term < pt || e->term > m->term ||
			    len > RAFT_MAX_ENTRY_BYTES || e->type < RAFT_ENTRY_NORMAL ||
			    e->type > RAFT_ENTRY_CONF) {
				dec_fail(d, NORN_ECORRUPT);
				break;
			}
			if (e->type == RAFT_ENTRY_CONF) {
				struct raft_config c;
				const uint8_t *ctx;
				size_t cl;

				if (raft_conf_entry_decode(e->data, e->len, &c, &ctx, &cl)) {
					dec_fail(d, NORN_ECORRUPT);
					break;
				}
			}
			pt = e->term;
		}
		m->entries = ents;
	} else if (m->type == RAFT_MSG_SNAPSHOT) {
		size_t len;

		m->snap.index = dec_u64(d);
		m->snap.term = dec_u64(d);
		raft_config_decode(d, &m->snap.conf);
		m->snap_data = dec_blob(d, &len);
		m->snap_len = (uint32_t)len;
		if (!dec_error(d) && (m->snap.index == 0 || m->snap.term == 0 ||
		                      m->snap.term > m->term || len > RAFT_MAX_SNAPSHOT_BYTES))
			dec_fail(d, NORN_ECORRUPT);
	}
	dec_struct_end(d, &tok);
out:
	if (dec_error(d)) {
		int err = dec_error(d);

		memset(m, 0, sizeof(*m));
		return err;
	}
	return 0;
}

int raft_msg_decode(const void *buf, size_t len, struct raft_msg *m,
                    struct raft_entry *ents, uint32_t ents_cap)
{
	struct dec d;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len < 8 || len > RAFT_MAX_MSG_BYTES)
		return NORN_ECORRUPT;
	if (norn_get_le32(buf) != RAFT_MSG_MAGIC)
		return NORN_ECORRUPT;
	if (norn_crc32c(0, buf, len - 4) != norn_get_le32((const uint8_t *)buf + len - 4))
		return NORN_ECRC;
	dec_init(&d, (const uint8_t *)buf + 4, len - 8);
	rc = raft_msg_decode_body(&d, m, ents, ents_cap);
	if (rc == 0 && dec_left(&d) != 0) {
		memset(m, 0, sizeof(*m));
		return NORN_ECORRUPT;
	}
	return rc;
}
