/* Unit tests for mon/raft.c: message encoding, elections, replication,
 * the persist-before-send contract, snapshots and membership changes, on a
 * tiny in-test cluster with a perfect network (the faulty one lives in
 * tests/sim). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "mon/raft.h"
#include "common/encode.h"
#include "norn/errors.h"

/* ---- a perfect-network cluster ------------------------------------------ */

#define MAXN 6

struct tnode {
	struct raft *r;
	int up;
	uint64_t applied;
	uint64_t last_applied_val;   /* payload (u64) of the last NORMAL entry */
	int n_conf_applied;
};

struct cluster {
	struct tnode n[MAXN + 1];
	uint32_t count;
	/* queued encoded messages */
	struct { uint64_t to, from; uint8_t *buf; size_t len; } q[4096];
	size_t nq;
	uint8_t cut[MAXN + 1];        /* node isolated from everyone */
};

static struct raft_opts opts_for(uint64_t id, const struct raft_config *boot)
{
	struct raft_opts o;

	memset(&o, 0, sizeof(o));
	o.id = id;
	o.election_ticks = 10;
	o.heartbeat_ticks = 2;
	o.rand_seed = 42;
	o.bootstrap = boot;
	return o;
}

static void cl_init(struct cluster *c, uint32_t founders, uint32_t extra)
{
	struct raft_config boot = { .n = founders };

	memset(c, 0, sizeof(*c));
	for (uint32_t i = 0; i < founders; i++)
		boot.ids[i] = i + 1;
	c->count = founders + extra;
	for (uint32_t i = 1; i <= c->count; i++) {
		struct raft_opts o = opts_for(i, i <= founders ? &boot : NULL);

		CHECK_EQ(raft_create(&o, NULL, &c->n[i].r), 0);
		c->n[i].up = 1;
	}
}

static void cl_free(struct cluster *c)
{
	for (uint32_t i = 1; i <= c->count; i++)
		raft_destroy(c->n[i].r);
	for (size_t i = 0; i < c->nq; i++)
		free(c->q[i].buf);
}

/* Drain node @i's readies: "persist" (nothing to do in memory), queue the
 * encoded messages, apply. */
static void cl_io(struct cluster *c, uint32_t i)
{
	struct raft_ready rd;
	struct tnode *t = &c->n[i];

	while (raft_ready_get(t->r, &rd)) {
		for (size_t k = 0; k < rd.n_msgs; k++) {
			struct enc e;

			if (c->cut[i] || c->cut[rd.msgs[k].to] || c->nq >= 4096)
				continue;
			enc_init(&e, 128);
			CHECK_EQ(raft_msg_encode(&rd.msgs[k], &e), 0);
			c->q[c->nq].to = rd.msgs[k].to;
			c->q[c->nq].from = i;
			c->q[c->nq].len = e.len;
			c->q[c->nq].buf = enc_take(&e, &c->q[c->nq].len);
			c->nq++;
		}
		for (size_t k = 0; k < rd.n_committed; k++) {
			const struct raft_entry *e = &rd.committed[k];

			CHECK(e->index > t->applied || rd.snapshot);
			t->applied = e->index;
			if (e->type == RAFT_ENTRY_NORMAL && e->len == 8)
				t->last_applied_val = norn_get_le64(e->data);
			if (e->type == RAFT_ENTRY_CONF)
				t->n_conf_applied++;
		}
		if (rd.snapshot && rd.n_committed == 0)
			t->applied = rd.snapshot->index;
		raft_ready_advance(t->r, &rd);
	}
}

/* Deliver everything until the network is quiet. */
static void cl_settle(struct cluster *c)
{
	for (int round = 0; round < 200; round++) {
		for (uint32_t i = 1; i <= c->count; i++)
			if (c->n[i].up)
				cl_io(c, i);
		if (c->nq == 0)
			return;
		size_t n = c->nq;
		for (size_t k = 0; k < n; k++) {
			struct raft_msg m;
			struct raft_entry ents[RAFT_MAX_APPEND_ENTRIES];
			uint64_t to = c->q[k].to;

			if (to >= 1 && to <= c->count && c->n[to].up && !c->cut[to]) {
				CHECK_EQ(raft_msg_decode(c->q[k].buf, c->q[k].len, &m, ents,
				                         RAFT_MAX_APPEND_ENTRIES), 0);
				CHECK_EQ(raft_step(c->n[to].r, &m), 0);
			}
			free(c->q[k].buf);
		}
		memmove(c->q, c->q + n, (c->nq - n) * sizeof(c->q[0]));
		c->nq -= n;
	}
}

static void cl_ticks(struct cluster *c, int ticks)
{
	for (int t = 0; t < ticks; t++) {
		for (uint32_t i = 1; i <= c->count; i++)
			if (c->n[i].up)
				raft_tick(c->n[i].r);
		cl_settle(c);
	}
}

static uint32_t cl_leader(struct cluster *c)
{
	uint32_t found = 0;

	for (uint32_t i = 1; i <= c->count; i++)
		if (c->n[i].up && !c->cut[i] && raft_role(c->n[i].r) == RAFT_LEADER) {
			CHECK(found == 0);
			found = i;
		}
	return found;
}

static void propose_u64(struct cluster *c, uint32_t leader, uint64_t v)
{
	uint8_t b[8];

	norn_put_le64(b, v);
	CHECK_EQ(raft_propose(c->n[leader].r, b, 8, NULL), 0);
}

/* ---- tests --------------------------------------------------------------- */

TEST(msg_roundtrip)
{
	struct raft_entry ents[3], out_ents[RAFT_MAX_APPEND_ENTRIES];
	struct raft_msg m, d;
	struct enc e;
	uint8_t payload[5] = "hello";

	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND;
	m.from = 1; m.to = 2; m.term = 7; m.index = 10; m.log_term = 6; m.commit = 9;
	for (int i = 0; i < 3; i++) {
		ents[i].term = 7;
		ents[i].index = 11 + (uint64_t)i;
		ents[i].type = RAFT_ENTRY_NORMAL;
		ents[i].len = 5;
		ents[i].data = payload;
	}
	m.entries = ents;
	m.n_entries = 3;
	enc_init(&e, 64);
	CHECK_EQ(raft_msg_encode(&m, &e), 0);
	CHECK_EQ(raft_msg_decode(e.buf, e.len, &d, out_ents, RAFT_MAX_APPEND_ENTRIES), 0);
	CHECK_EQ(d.type, RAFT_MSG_APPEND);
	CHECK_EQ(d.term, 7);
	CHECK_EQ(d.index, 10);
	CHECK_EQ(d.log_term, 6);
	CHECK_EQ(d.commit, 9);
	CHECK_EQ(d.n_entries, 3);
	CHECK_EQ(d.entries[2].index, 13);
	CHECK(memcmp(d.entries[1].data, "hello", 5) == 0);
	/* Every single-byte corruption is refused (crc, magic or content). */
	for (size_t i = 0; i < e.len; i++) {
		e.buf[i] ^= 0x5a;
		CHECK(raft_msg_decode(e.buf, e.len, &d, out_ents, RAFT_MAX_APPEND_ENTRIES) != 0);
		e.buf[i] ^= 0x5a;
	}
	/* Truncations too. */
	for (size_t n = 0; n < e.len; n++)
		CHECK(raft_msg_decode(e.buf, n, &d, out_ents, RAFT_MAX_APPEND_ENTRIES) != 0);
	/* Too many entries for the caller's array. */
	CHECK_EQ(raft_msg_decode(e.buf, e.len, &d, out_ents, 2), NORN_ECORRUPT);
	enc_free(&e);

	/* A snapshot message. */
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAPSHOT;
	m.from = 3; m.to = 1; m.term = 4;
	m.snap.index = 100; m.snap.term = 3;
	m.snap.conf.n = 2; m.snap.conf.ids[0] = 1; m.snap.conf.ids[1] = 3;
	m.snap_data = payload; m.snap_len = 5;
	enc_init(&e, 64);
	CHECK_EQ(raft_msg_encode(&m, &e), 0);
	CHECK_EQ(raft_msg_decode(e.buf, e.len, &d, out_ents, RAFT_MAX_APPEND_ENTRIES), 0);
	CHECK_EQ(d.snap.index, 100);
	CHECK_EQ(d.snap.conf.n, 2);
	CHECK_EQ(d.snap.conf.ids[1], 3);
	CHECK_EQ(d.snap_len, 5);
	enc_free(&e);

	/* Bad fields the crc would not catch: from == to. */
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_VOTE; m.from = 2; m.to = 2; m.term = 1;
	enc_init(&e, 64);
	CHECK_EQ(raft_msg_encode(&m, &e), 0);
	CHECK_EQ(raft_msg_decode(e.buf, e.len, &d, out_ents, RAFT_MAX_APPEND_ENTRIES), NORN_ECORRUPT);
	enc_free(&e);
}

TEST(single_node)
{
	struct cluster c;

	cl_init(&c, 1, 0);
	CHECK_EQ(raft_commit_index(c.n[1].r), 1);   /* bootstrap entry */
	cl_ticks(&c, 25);
	CHECK_EQ(cl_leader(&c), 1);
	propose_u64(&c, 1, 77);
	cl_settle(&c);
	CHECK_EQ(c.n[1].last_applied_val, 77);
	CHECK_EQ(raft_commit_index(c.n[1].r), raft_last_index(c.n[1].r));
	cl_free(&c);
}

TEST(three_nodes_elect_and_replicate)
{
	struct cluster c;
	uint32_t l;
	uint8_t b[8] = { 0 };

	cl_init(&c, 3, 0);
	cl_ticks(&c, 30);
	l = cl_leader(&c);
	CHECK(l != 0);
	for (uint32_t i = 1; i <= 3; i++) {
		CHECK_EQ(raft_leader(c.n[i].r), l);
		CHECK_EQ(raft_term(c.n[i].r), raft_term(c.n[l].r));
		if (i != l)
			CHECK_EQ(raft_propose(c.n[i].r, b, 8, NULL), NORN_ENOTLEADER);
	}
	for (uint64_t v = 1; v <= 200; v++)
		propose_u64(&c, l, v);
	cl_ticks(&c, 4);
	for (uint32_t i = 1; i <= 3; i++) {
		CHECK_EQ(c.n[i].last_applied_val, 200);
		CHECK_EQ(raft_commit_index(c.n[i].r), raft_last_index(c.n[l].r));
	}
	/* Stable leadership: many ticks later, still the same leader and term. */
	uint64_t term = raft_term(c.n[l].r);
	cl_ticks(&c, 100);
	CHECK_EQ(cl_leader(&c), l);
	CHECK_EQ(raft_term(c.n[l].r), term);
	cl_free(&c);
}

TEST(leader_failover)
{
	struct cluster c;
	uint32_t l, l2;

	cl_init(&c, 5, 0);
	cl_ticks(&c, 30);
	l = cl_leader(&c);
	CHECK(l != 0);
	propose_u64(&c, l, 5);
	cl_ticks(&c, 2);
	c.cut[l] = 1;                       /* isolate the leader */
	cl_ticks(&c, 60);
	l2 = cl_leader(&c);
	CHECK(l2 != 0 && l2 != l);
	CHECK(raft_term(c.n[l2].r) > raft_term(c.n[l].r) ||
	      raft_role(c.n[l].r) != RAFT_LEADER);
	/* The isolated old leader stepped down (check-quorum). */
	CHECK(raft_role(c.n[l].r) != RAFT_LEADER);
	propose_u64(&c, l2, 6);
	cl_ticks(&c, 2);
	c.cut[l] = 0;
	cl_ticks(&c, 20);
	CHECK_EQ(c.n[l].last_applied_val, 6);   /* rejoined and caught up */
	cl_free(&c);
}

/* Check-quorum under a slow disk: with one of three nodes dead, the only
 * live follower stalls (no ticks, no messages, like a process blocked in
 * fsync) for 1.5 election timeouts. The leader must keep its leadership;
 * a leader whose follower stays silent for good still steps down. */
TEST(check_quorum_tolerates_a_stalled_follower)
{
	struct cluster c;
	uint32_t l, f1 = 0, f2 = 0;

	cl_init(&c, 3, 0);
	cl_ticks(&c, 30);
	l = cl_leader(&c);
	CHECK(l != 0);
	for (uint32_t i = 1; i <= 3; i++)
		if (i != l) {
			if (!f1)
				f1 = i;
			else
				f2 = i;
		}
	c.n[f2].up = 0;                         /* dead */
	cl_ticks(&c, 5);
	uint64_t term = raft_term(c.n[l].r);
	for (int round = 0; round < 4; round++) {
		c.n[f1].up = 0;                 /* stalled for 15 ticks */
		cl_ticks(&c, 15);
		c.n[f1].up = 1;
		cl_ticks(&c, 12);
		CHECK_EQ(raft_role(c.n[l].r), RAFT_LEADER);
		CHECK_EQ(raft_term(c.n[l].r), term);
		propose_u64(&c, l, 100 + (uint64_t)round);
		cl_ticks(&c, 6);
		CHECK_EQ(c.n[l].last_applied_val, 100 + (uint64_t)round);
		CHECK_EQ(c.n[f1].last_applied_val, 100 + (uint64_t)round);
	}
	c.n[f1].up = 0;                         /* gone for good */
	cl_ticks(&c, 30);
	CHECK(raft_role(c.n[l].r) != RAFT_LEADER);
	cl_free(&c);
}

TEST(leader_transfer)
{
	struct cluster c;
	uint32_t l, target;
	uint8_t b[8] = { 0 };

	cl_init(&c, 3, 0);
	cl_ticks(&c, 30);
	l = cl_leader(&c);
	CHECK(l != 0);
	target = l % 3 + 1;
	CHECK_EQ(raft_transfer_leader(c.n[l].r, l), -EINVAL);
	CHECK_EQ(raft_transfer_leader(c.n[l].r, 9), -EINVAL);
	CHECK_EQ(raft_transfer_leader(c.n[target].r, l), NORN_ENOTLEADER);
	propose_u64(&c, l, 1);
	CHECK_EQ(raft_transfer_leader(c.n[l].r, target), 0);
	CHECK_EQ(raft_propose(c.n[l].r, b, 8, NULL), NORN_EAGAIN);
	cl_settle(&c);
	CHECK_EQ(cl_leader(&c), target);      /* no election timeout needed */
	cl_ticks(&c, 4);
	CHECK_EQ(cl_leader(&c), target);
	propose_u64(&c, target, 2);
	cl_ticks(&c, 2);
	for (uint32_t i = 1; i <= 3; i++)
		CHECK_EQ(c.n[i].last_applied_val, 2);
	cl_free(&c);
}

TEST(vote_persisted_with_grant)
{
	/* A vote grant must travel in the same ready as the hard state that
	 * records it, so the host persists it before sending. */
	struct raft *r;
	struct raft_config boot = { .n = 3, .ids = { 1, 2, 3 } };
	struct raft_opts o = opts_for(2, &boot);
	struct raft_ready rd;
	struct raft_msg m;

	CHECK_EQ(raft_create(&o, NULL, &r), 0);
	while (raft_ready_get(r, &rd))
		raft_ready_advance(r, &rd);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_VOTE;
	m.from = 1; m.to = 2; m.term = 5; m.index = 1; m.log_term = 1;
	CHECK_EQ(raft_step(r, &m), 0);
	CHECK(raft_ready_get(r, &rd));
	CHECK(rd.hs_changed);
	CHECK_EQ(rd.hs.term, 5);
	CHECK_EQ(rd.hs.vote, 1);
	CHECK_EQ(rd.n_msgs, 1);
	CHECK_EQ(rd.msgs[0].type, RAFT_MSG_VOTE_RESP);
	CHECK_EQ(rd.msgs[0].reject, 0);
	raft_ready_advance(r, &rd);
	/* A second candidate in the same term is refused. */
	m.from = 3;
	CHECK_EQ(raft_step(r, &m), 0);
	CHECK(raft_ready_get(r, &rd));
	CHECK_EQ(rd.msgs[0].reject, 1);
	raft_ready_advance(r, &rd);
	/* A candidate with a shorter log is refused even in a new term. */
	m.term = 6; m.from = 3; m.index = 0; m.log_term = 0;
	CHECK_EQ(raft_step(r, &m), 0);
	CHECK(raft_ready_get(r, &rd));
	CHECK_EQ(rd.msgs[0].reject, 1);
	CHECK_EQ(rd.hs.vote, 0);
	raft_ready_advance(r, &rd);
	/* A message to someone else is refused as malformed. */
	m.to = 3; m.from = 1;
	CHECK_EQ(raft_step(r, &m), -EINVAL);
	raft_destroy(r);
}

TEST(snapshot_catches_up_lagging_node)
{
	struct cluster c;
	uint32_t l, lag;
	uint8_t blob[8];

	cl_init(&c, 3, 0);
	cl_ticks(&c, 30);
	l = cl_leader(&c);
	CHECK(l != 0);
	lag = l == 3 ? 2 : 3;
	c.cut[lag] = 1;
	for (uint64_t v = 1; v <= 300; v++)
		propose_u64(&c, l, v);
	cl_ticks(&c, 4);
	/* The leader snapshots and compacts its log. */
	norn_put_le64(blob, c.n[l].applied);
	CHECK_EQ(raft_compact(c.n[l].r, c.n[l].applied, blob, 8), 0);
	CHECK_EQ(raft_first_index(c.n[l].r), c.n[l].applied + 1);
	CHECK_EQ(raft_compact(c.n[l].r, c.n[l].applied, blob, 8), -EINVAL); /* not beyond */
	CHECK(raft_entry_at(c.n[l].r, 5, &(struct raft_entry){ 0 }) == -ENOENT);
	propose_u64(&c, l, 301);
	cl_ticks(&c, 2);
	c.cut[lag] = 0;
	cl_ticks(&c, 20);
	CHECK_EQ(raft_snapshot_meta(c.n[lag].r)->index, raft_snapshot_meta(c.n[l].r)->index);
	CHECK_EQ(c.n[lag].last_applied_val, 301);
	CHECK_EQ(raft_commit_index(c.n[lag].r), raft_commit_index(c.n[l].r));
	cl_free(&c);
}

TEST(membership_add_and_remove_leader)
{
	struct cluster c;
	uint32_t l, l2;
	uint64_t idx;

	cl_init(&c, 3, 1);                 /* node 4 starts empty, not a member */
	cl_ticks(&c, 30);
	l = cl_leader(&c);
	CHECK(l != 0 && l != 4);
	CHECK_EQ(raft_config(c.n[4].r)->n, 0);
	CHECK_EQ(raft_propose_conf(c.n[l].r, RAFT_CONF_ADD, 2, NULL, 0, NULL), -EEXIST);
	CHECK_EQ(raft_propose_conf(c.n[l].r, RAFT_CONF_ADD, 4, "mon.d", 5, &idx), 0);
	/* Only one change at a time. */
	CHECK_EQ(raft_propose_conf(c.n[l].r, RAFT_CONF_REMOVE, 1, NULL, 0, NULL), NORN_EAGAIN);
	cl_ticks(&c, 6);
	CHECK_EQ(raft_config(c.n[4].r)->n, 4);
	CHECK(raft_commit_index(c.n[4].r) >= idx);
	{
		struct raft_entry e;
		struct raft_config cc;
		const uint8_t *ctx;
		size_t ctx_len;

		CHECK_EQ(raft_entry_at(c.n[4].r, idx, &e), 0);
		CHECK_EQ(e.type, RAFT_ENTRY_CONF);
		CHECK_EQ(raft_conf_entry_decode(e.data, e.len, &cc, &ctx, &ctx_len), 0);
		CHECK_EQ(cc.n, 4);
		CHECK_EQ(ctx_len, 5);
		CHECK(memcmp(ctx, "mon.d", 5) == 0);
	}
	/* Remove the leader itself: it steps down once the removal commits. */
	CHECK_EQ(raft_propose_conf(c.n[l].r, RAFT_CONF_REMOVE, l, NULL, 0, NULL), 0);
	cl_ticks(&c, 4);
	CHECK(raft_role(c.n[l].r) != RAFT_LEADER);
	cl_ticks(&c, 60);
	l2 = cl_leader(&c);
	CHECK(l2 != 0 && l2 != l);
	CHECK_EQ(raft_config(c.n[l2].r)->n, 3);
	CHECK(!raft_config_has(raft_config(c.n[l2].r), l));
	propose_u64(&c, l2, 99);
	cl_ticks(&c, 4);
	for (uint32_t i = 1; i <= 4; i++)
		if (i != l)
			CHECK_EQ(c.n[i].last_applied_val, 99);
	/* The removed node never campaigns again. */
	uint64_t t = raft_term(c.n[l].r);
	cl_ticks(&c, 100);
	CHECK(raft_role(c.n[l].r) == RAFT_FOLLOWER);
	CHECK(raft_term(c.n[l].r) <= t + 1);
	cl_free(&c);
}

/* Make node 1 (log: bootstrap conf {1,2,3} at 1, a term-2 entry at 2,
 * current term 3) leader of term 4 by feeding it votes from node 2. */
static struct raft *old_entry_leader(int unsafe)
{
	struct raft_config c = { .n = 3, .ids = { 1, 2, 3 } };
	struct raft_opts o = opts_for(1, NULL);
	struct raft_boot b;
	struct raft_entry e[2];
	struct raft_ready rd;
	struct raft_msg m;
	struct raft *r;
	struct enc en;
	size_t tok;

	enc_init(&en, 64);
	tok = enc_struct_begin(&en, 1, 1);
	raft_config_encode(&en, &c);
	enc_blob(&en, NULL, 0);
	enc_struct_end(&en, tok);
	memset(&b, 0, sizeof(b));
	e[0] = (struct raft_entry){ .term = 1, .index = 1, .type = RAFT_ENTRY_CONF,
	                            .len = (uint32_t)en.len, .data = en.buf };
	e[1] = (struct raft_entry){ .term = 2, .index = 2, .type = RAFT_ENTRY_NORMAL,
	                            .len = 3, .data = (const uint8_t *)"old" };
	b.hs.term = 3;
	b.hs.commit = 1;
	b.entries = e;
	b.n_entries = 2;
	o.unsafe_commit_old_terms = unsafe;
	CHECK_EQ(raft_create(&o, &b, &r), 0);
	enc_free(&en);
	for (int t = 0; t < 30 && raft_role(r) != RAFT_PRECANDIDATE; t++)
		raft_tick(r);
	CHECK_EQ(raft_role(r), RAFT_PRECANDIDATE);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_PREVOTE_RESP; m.from = 2; m.to = 1; m.term = 4;
	CHECK_EQ(raft_step(r, &m), 0);
	m.type = RAFT_MSG_VOTE_RESP;
	CHECK_EQ(raft_step(r, &m), 0);
	CHECK_EQ(raft_role(r), RAFT_LEADER);
	CHECK_EQ(raft_term(r), 4);
	CHECK_EQ(raft_last_index(r), 3);              /* the term-4 no-op */
	while (raft_ready_get(r, &rd))
		raft_ready_advance(r, &rd);
	return r;
}

TEST(commit_only_current_term_by_counting)
{
	/* Raft §5.4.2 (Figure 8): a majority holding the term-2 entry is not
	 * enough to commit it; only the current term's entry can be committed
	 * by counting, which then commits everything before it. */
	struct raft_msg m;
	struct raft *r = old_entry_leader(0);

	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND_RESP; m.from = 2; m.to = 1; m.term = 4; m.index = 2;
	CHECK_EQ(raft_step(r, &m), 0);
	CHECK_EQ(raft_commit_index(r), 1);
	m.index = 3;
	CHECK_EQ(raft_step(r, &m), 0);
	CHECK_EQ(raft_commit_index(r), 3);
	raft_destroy(r);

	/* The deliberately broken mode commits it early (the simulator's
	 * self-test relies on this switch doing what it says). */
	r = old_entry_leader(1);
	m.index = 2;
	CHECK_EQ(raft_step(r, &m), 0);
	CHECK_EQ(raft_commit_index(r), 2);
	raft_destroy(r);
}

TEST(boot_validation)
{
	struct raft *r = NULL;
	struct raft_opts o = opts_for(1, NULL);
	struct raft_boot b;
	struct raft_entry e[2];

	memset(&b, 0, sizeof(b));
	memset(e, 0, sizeof(e));
	e[0].term = 1; e[0].index = 1; e[0].type = RAFT_ENTRY_NOOP;
	e[1].term = 1; e[1].index = 3; e[1].type = RAFT_ENTRY_NOOP;   /* gap */
	b.hs.term = 1;
	b.entries = e;
	b.n_entries = 2;
	CHECK_EQ(raft_create(&o, &b, &r), -EINVAL);
	e[1].index = 2;
	b.hs.commit = 5;                                                /* beyond log */
	CHECK_EQ(raft_create(&o, &b, &r), -EINVAL);
	b.hs.commit = 2;
	CHECK_EQ(raft_create(&o, &b, &r), 0);
	CHECK_EQ(raft_last_index(r), 2);
	CHECK_EQ(raft_commit_index(r), 2);
	raft_destroy(r);
	o.election_ticks = 2;
	CHECK_EQ(raft_create(&o, NULL, &r), -EINVAL);
	o = opts_for(0, NULL);
	CHECK_EQ(raft_create(&o, NULL, &r), -EINVAL);
}

TEST_MAIN(TEST_ENTRY(msg_roundtrip), TEST_ENTRY(single_node),
          TEST_ENTRY(three_nodes_elect_and_replicate), TEST_ENTRY(leader_failover),
          TEST_ENTRY(check_quorum_tolerates_a_stalled_follower),
          TEST_ENTRY(leader_transfer), TEST_ENTRY(vote_persisted_with_grant), TEST_ENTRY(snapshot_catches_up_lagging_node),
          TEST_ENTRY(membership_add_and_remove_leader),
          TEST_ENTRY(commit_only_current_term_by_counting), TEST_ENTRY(boot_validation))
