/* libFuzzer target over the Raft message decoder, and over raft_step with
 * whatever the decoder accepts.
 *
 * Each input is tried twice: as a whole framed message (magic + body +
 * crc, which random bytes rarely pass) and as a body that the fuzzer wraps
 * in a valid frame, so the field validation behind the crc gets explored.
 * Accepted messages must re-encode to the same bytes, and are then fed to
 * a follower and to a leader of a 3-node group: no input may crash,
 * assert or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mon/raft.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(struct raft *r)
{
	struct raft_ready rd;

	for (int i = 0; i < 8 && raft_ready_get(r, &rd); i++)
		raft_ready_advance(r, &rd);
}

static struct raft *make_node(int leader)
{
	struct raft_config boot = { .n = 3, .ids = { 1, 2, 3 } };
	struct raft_opts o = { .id = 1, .election_ticks = 3, .heartbeat_ticks = 1,
	                       .rand_seed = 7, .bootstrap = &boot };
	struct raft *r;
	struct raft_msg m;

	NORN_ASSERT(raft_create(&o, NULL, &r) == 0);
	drain(r);
	if (!leader)
		return r;
	for (int t = 0; t < 10 && raft_role(r) != RAFT_PRECANDIDATE; t++)
		raft_tick(r);
	drain(r);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_PREVOTE_RESP;
	m.from = 2;
	m.to = 1;
	m.term = raft_term(r) + 1;
	NORN_ASSERT(raft_step(r, &m) == 0);
	drain(r);
	m.type = RAFT_MSG_VOTE_RESP;
	m.term = raft_term(r);
	NORN_ASSERT(raft_step(r, &m) == 0);
	drain(r);
	NORN_ASSERT(raft_role(r) == RAFT_LEADER);
	raft_propose(r, "x", 1, NULL);
	drain(r);
	return r;
}

static void try_msg(const uint8_t *buf, size_t len)
{
	struct raft_entry ents[RAFT_MAX_APPEND_ENTRIES], ents2[RAFT_MAX_APPEND_ENTRIES];
	struct raft_msg m, m2;
	struct enc e;

	if (raft_msg_decode(buf, len, &m, ents, RAFT_MAX_APPEND_ENTRIES) != 0)
		return;
	/* Round trip: what we re-encode decodes to the same message (the
	 * bytes may differ: a newer writer's unknown fields are skipped). */
	enc_init(&e, len + 16);
	NORN_ASSERT(raft_msg_encode(&m, &e) == 0);
	NORN_ASSERT(raft_msg_decode(e.buf, e.len, &m2, ents2, RAFT_MAX_APPEND_ENTRIES) == 0);
	NORN_ASSERT(m2.type == m.type && m2.reject == m.reject && m2.from == m.from &&
	            m2.to == m.to && m2.term == m.term && m2.index == m.index &&
	            m2.log_term == m.log_term && m2.commit == m.commit &&
	            m2.hint_index == m.hint_index && m2.n_entries == m.n_entries &&
	            m2.snap.index == m.snap.index && m2.snap.term == m.snap.term &&
	            memcmp(&m2.snap.conf, &m.snap.conf, sizeof(m.snap.conf)) == 0 &&
	            m2.snap_len == m.snap_len &&
	            (!m.snap_len || memcmp(m2.snap_data, m.snap_data, m.snap_len) == 0));
	for (uint32_t i = 0; i < m.n_entries; i++)
		NORN_ASSERT(ents2[i].term == ents[i].term && ents2[i].index == ents[i].index &&
		            ents2[i].type == ents[i].type && ents2[i].len == ents[i].len &&
		            (!ents[i].len || memcmp(ents2[i].data, ents[i].data, ents[i].len) == 0));
	enc_free(&e);
	m.to = 1;
	if (m.from == 1)
		return;
	for (int leader = 0; leader < 2; leader++) {
		struct raft *r = make_node(leader);

		raft_step(r, &m);
		drain(r);
		raft_tick(r);
		drain(r);
		raft_destroy(r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *framed;

	try_msg(data, size);
	if (size > (1u << 20))
		return 0;
	framed = malloc(size + 8);
	if (!framed)
		return 0;
	norn_put_le32(framed, 0x5446524eu);   /* "NRFT" */
	memcpy(framed + 4, data, size);
	norn_put_le32(framed + 4 + size, norn_crc32c(0, framed, size + 4));
	try_msg(framed, size + 8);
	free(framed);
	return 0;
}
