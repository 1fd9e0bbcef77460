/* Round trips and truncation for the mon and OSD protocol messages. */
#include <stdlib.h>
#include "tests/harness.h"
#include "common/proto_osd.h"
#include "common/proto_mon.h"
#include "norn/errors.h"

static void build_op(struct osd_op_msg *m, const uint8_t *data, size_t dlen)
{
	static const uint8_t snaps[16] = { 7, 0, 0, 0, 0, 0, 0, 0, 3 };
	memset(m, 0, sizeof(*m));
	m->epoch = 42;
	m->pool = 3;
	m->pg_seed = 0x2f;
	m->oid = "vol.0000000000000001";
	m->oid_len = strlen(m->oid);
	snprintf(m->reqid.entity, sizeof(m->reqid.entity), "client.admin");
	m->reqid.inc = 0x1234;
	m->reqid.tid = 99;
	m->flags = OSD_OPF_WRITE;
	m->snap_seq = 7;
	m->n_snaps = 2;
	m->snaps = snaps;
	m->n_steps = 2;
	m->steps[0].code = OSD_OP_SETXATTR;
	m->steps[0].name = "user.k";
	m->steps[0].name_len = 6;
	m->steps[0].data = (const uint8_t *)"v";
	m->steps[0].data_len = 1;
	m->steps[1].code = OSD_OP_WRITE;
	m->steps[1].off = 4096;
	m->steps[1].len = dlen;
	m->steps[1].data = data;
	m->steps[1].data_len = dlen;
}

TEST(osd_op_roundtrip_and_split)
{
	uint8_t data[1000];
	struct osd_op_msg m, out;
	struct enc e;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	build_op(&m, data, sizeof(data));
	enc_init(&e, 0);
	CHECK_EQ(osd_op_encode(&e, &m), 0);
	CHECK_EQ(osd_op_decode(&out, e.buf, e.len), 0);
	CHECK_EQ(out.epoch, 42);
	CHECK_EQ(out.pool, 3);
	CHECK_EQ(out.reqid.tid, 99);
	CHECK_STREQ(out.reqid.entity, "client.admin");
	CHECK_EQ(out.n_snaps, 2);
	CHECK_EQ(norn_get_le64(out.snaps + 8), 3);
	CHECK_EQ(out.n_steps, 2);
	CHECK_EQ(out.steps[1].data_len, sizeof(data));
	CHECK(!memcmp(out.steps[1].data, data, sizeof(data)));
	CHECK(out.oid_len == m.oid_len && !memcmp(out.oid, m.oid, m.oid_len));

	/* split encoding + tail == full encoding */
	struct enc e2;
	const uint8_t *tail;
	size_t tail_len;
	enc_init(&e2, 0);
	CHECK_EQ(osd_op_encode_split(&e2, &m, &tail, &tail_len), 0);
	CHECK_EQ(tail_len, sizeof(data));
	CHECK_EQ(e2.len + tail_len, e.len);
	CHECK(!memcmp(e2.buf, e.buf, e2.len));
	CHECK(!memcmp(e.buf + e2.len, tail, tail_len));

	/* every truncation fails cleanly */
	for (size_t cut = 0; cut < e.len; cut++) {
		uint8_t *c = malloc(cut + 1);
		memcpy(c, e.buf, cut);
		CHECK(osd_op_decode(&out, c, cut) != 0);
		free(c);
	}
	enc_free(&e);
	enc_free(&e2);
}

TEST(osd_op_rejects_unknown_step)
{
	struct osd_op_msg m, out;
	struct enc e;
	build_op(&m, (const uint8_t *)"x", 1);
	m.steps[1].code = 999;
	enc_init(&e, 0);
	CHECK_EQ(osd_op_encode(&e, &m), 0);
	CHECK_EQ(osd_op_decode(&out, e.buf, e.len), NORN_ECORRUPT);
	enc_free(&e);
}

TEST(osd_reply_roundtrip)
{
	struct osd_op_reply r, out;
	struct enc e;
	memset(&r, 0, sizeof(r));
	r.result = -2;
	r.epoch = 9;
	r.version = 77;
	r.reqid.tid = 5;
	r.n_steps = 1;
	r.steps[0].rval = -2;
	r.steps[0].out = (const uint8_t *)"abc";
	r.steps[0].out_len = 3;
	enc_init(&e, 0);
	CHECK_EQ(osd_op_reply_encode(&e, &r), 0);
	CHECK_EQ(osd_op_reply_decode(&out, e.buf, e.len), 0);
	CHECK_EQ(out.result, -2);
	CHECK_EQ(out.version, 77);
	CHECK_EQ(out.steps[0].out_len, 3);
	for (size_t cut = 0; cut < e.len; cut++)
		CHECK(osd_op_reply_decode(&out, e.buf, cut) != 0);
	enc_free(&e);
}

TEST(mon_messages_roundtrip)
{
	struct enc e;
	struct mon_osd_beacon b = { 0 }, bo;
	struct mon_pg_stat st[2];
	memset(st, 0, sizeof(st));
	st[0].pool = 1; st[0].seed = 3; st[0].state = PG_STATE_ACTIVE | PG_STATE_CLEAN;
	st[0].n_acting = 3; st[0].acting[0] = 1; st[0].acting[1] = 2; st[0].acting[2] = 0;
	st[1].pool = 1; st[1].seed = 4; st[1].state = PG_STATE_ACTIVE | PG_STATE_DEGRADED;
	b.osd = 2; b.epoch = 10; b.n_pgs = 2; b.pgs = st;
	enc_init(&e, 0);
	CHECK_EQ(mon_osd_beacon_encode(&e, &b), 0);
	CHECK_EQ(mon_osd_beacon_decode(&bo, e.buf, e.len), 0);
	CHECK_EQ(bo.n_pgs, 2);
	CHECK_EQ(bo.pgs[0].acting[1], 2);
	CHECK_EQ(bo.pgs[1].state, PG_STATE_ACTIVE | PG_STATE_DEGRADED);
	mon_osd_beacon_free(&bo);
	for (size_t cut = 0; cut < e.len; cut++) {
		CHECK(mon_osd_beacon_decode(&bo, e.buf, cut) != 0);
		CHECK(bo.pgs == NULL);
	}
	enc_free(&e);

	char s[128];
	pg_state_format(PG_STATE_ACTIVE | PG_STATE_UNDERSIZED | PG_STATE_DEGRADED, s, sizeof(s));
	CHECK_STREQ(s, "active+degraded+undersized");

	struct mon_osdmap_msg om = { 0 }, oo;
	om.full_epoch = 5; om.full = (const uint8_t *)"FULL"; om.full_len = 4;
	om.first_inc = 6; om.n_incs = 2;
	om.incs[0] = (const uint8_t *)"a"; om.inc_lens[0] = 1;
	om.incs[1] = (const uint8_t *)"bb"; om.inc_lens[1] = 2;
	enc_init(&e, 0);
	CHECK_EQ(mon_osdmap_msg_encode(&e, &om), 0);
	CHECK_EQ(mon_osdmap_msg_decode(&oo, e.buf, e.len), 0);
	CHECK_EQ(oo.n_incs, 2);
	CHECK_EQ(oo.inc_lens[1], 2);
	for (size_t cut = 0; cut < e.len; cut++)
		CHECK(mon_osdmap_msg_decode(&oo, e.buf, cut) != 0);
	enc_free(&e);

	struct mon_command_reply cr = { 0 }, co;
	cr.result = -22; cr.status = "bad pool"; cr.status_len = 8; cr.leader_rank = 1;
	enc_init(&e, 0);
	CHECK_EQ(mon_command_reply_encode(&e, &cr), 0);
	CHECK_EQ(mon_command_reply_decode(&co, e.buf, e.len), 0);
	CHECK_EQ(co.result, -22);
	CHECK_EQ(co.leader_rank, 1);
	enc_free(&e);
}

TEST_MAIN(TEST_ENTRY(osd_op_roundtrip_and_split), TEST_ENTRY(osd_op_rejects_unknown_step),
          TEST_ENTRY(osd_reply_roundtrip), TEST_ENTRY(mon_messages_roundtrip))
