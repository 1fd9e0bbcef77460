/* Unit tests of the PG bookkeeping (osd/pg.h) and the OSD<->OSD codecs:
 * version order, log append/trim, the dup index over the log window,
 * encode/decode round trips and rejection of malformed bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norn/errors.h"
#include "osd/pg.h"
#include "osd/proto_osdosd.h"
#include "tests/harness.h"

static struct pg_log_entry mk(uint64_t e, uint64_t v, const char *ent, uint64_t tid)
{
	struct pg_log_entry le;
	memset(&le, 0, sizeof(le));
	le.ver.epoch = e;
	le.ver.v = v;
	le.prior.epoch = e;
	le.prior.v = v - 1;
	snprintf(le.reqid.entity, sizeof(le.reqid.entity), "%s", ent);
	le.reqid.inc = 7;
	le.reqid.tid = tid;
	le.op = PG_LOG_MODIFY;
	le.result = 0;
	snprintf(le.oid, sizeof(le.oid), "obj%llu", (unsigned long long)tid);
	return le;
}

TEST(eversion_order)
{
	struct pg_eversion a = { 3, 10 }, b = { 4, 1 }, c = { 4, 2 };
	CHECK(pg_ev_cmp(&a, &b) < 0);
	CHECK(pg_ev_cmp(&b, &c) < 0);
	CHECK(pg_ev_cmp(&c, &a) > 0);
	CHECK(pg_ev_cmp(&c, &c) == 0);
}

TEST(log_key_sorts_like_versions)
{
	char k1[PG_LOG_KEY_LEN + 1], k2[PG_LOG_KEY_LEN + 1];
	struct pg_eversion a = { 9, 0xffff }, b = { 10, 1 };
	CHECK_EQ(pg_log_key(k1, &a), PG_LOG_KEY_LEN);
	pg_log_key(k2, &b);
	CHECK(strcmp(k1, k2) < 0);
	CHECK(!strncmp(k1, PG_CMETA_LOG_PREFIX, 4));
	/* golden: the on-disk key bytes */
	struct pg_eversion g = { 0x1234, 0xfedcba9876543210ull };
	pg_log_key(k1, &g);
	CHECK_STREQ(k1, "log.0000000000001234.fedcba9876543210");
}

TEST(log_append_trim_and_dups)
{
	struct pg_log l;
	struct pg_eversion tr;
	CHECK_EQ(pg_log_init(&l, 0), -EINVAL);
	CHECK_EQ(pg_log_init(&l, 100), 0);
	for (uint64_t i = 1; i <= 100; i++) {
		struct pg_log_entry le = mk(5, i, "client.a", i);
		CHECK_EQ(pg_log_append(&l, &le, &tr), 0);
	}
	CHECK_EQ(l.n, 100u);
	/* every reqid of the window is found, with its version */
	for (uint64_t i = 1; i <= 100; i++) {
		struct osd_reqid r = { .inc = 7, .tid = i };
		snprintf(r.entity, sizeof(r.entity), "client.a");
		const struct pg_log_entry *f = pg_log_find_reqid(&l, &r);
		CHECK(f && f->ver.v == i);
	}
	/* another client's same tid is a different request */
	struct osd_reqid other = { .inc = 7, .tid = 5 };
	snprintf(other.entity, sizeof(other.entity), "client.b");
	CHECK(pg_log_find_reqid(&l, &other) == NULL);
	/* appending past the cap trims the oldest, and its reqid leaves the window */
	for (uint64_t i = 101; i <= 350; i++) {
		struct pg_log_entry le = mk(6, i, "client.a", i);
		CHECK_EQ(pg_log_append(&l, &le, &tr), 1);
		CHECK_EQ(tr.v, i - 100);
	}
	CHECK_EQ(l.n, 100u);
	CHECK_EQ(l.tail.v, 250u);
	CHECK_EQ(pg_log_at(&l, 0)->ver.v, 251u);
	CHECK_EQ(pg_log_head(&l).v, 350u);
	for (uint64_t i = 1; i <= 350; i++) {
		struct osd_reqid r = { .inc = 7, .tid = i };
		snprintf(r.entity, sizeof(r.entity), "client.a");
		CHECK_EQ(pg_log_find_reqid(&l, &r) != NULL, i > 250);
	}
	pg_log_free(&l);
}

TEST(entry_and_info_roundtrip)
{
	struct pg_log_entry le = mk(3, 42, "client.s3", 99), out;
	struct enc e;
	struct dec d;
	le.op = PG_LOG_DELETE;
	le.result = -2;
	enc_init(&e, 0);
	pg_log_entry_encode(&e, &le);
	CHECK_EQ(enc_error(&e), 0);
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(pg_log_entry_decode(&d, &out), 0);
	CHECK(out.ver.v == 42 && out.op == PG_LOG_DELETE && out.result == -2 &&
	      !strcmp(out.oid, le.oid) && !strcmp(out.reqid.entity, "client.s3"));
	/* every truncation fails cleanly */
	for (size_t n = 0; n < e.len; n++) {
		dec_init(&d, e.buf, n);
		CHECK(pg_log_entry_decode(&d, &out) != 0);
	}
	enc_free(&e);

	struct pg_info i = { .last_update = { 4, 9 }, .last_complete = { 4, 9 },
	                     .log_tail = { 2, 1 }, .last_epoch_started = 4, .same_interval_since = 4 }, io;
	enc_init(&e, 0);
	pg_info_encode(&e, &i);
	CHECK_EQ(pg_info_decode(e.buf, e.len, &io), 0);
	CHECK(io.last_update.v == 9 && io.log_tail.epoch == 2 && io.same_interval_since == 4);
	for (size_t n = 0; n < e.len; n++)
		CHECK(pg_info_decode(e.buf, n, &io) != 0);
	enc_free(&e);
	/* inconsistent info (tail after head) is refused */
	i.log_tail.v = 100;
	i.log_tail.epoch = 9;
	enc_init(&e, 0);
	pg_info_encode(&e, &i);
	CHECK_EQ(pg_info_decode(e.buf, e.len, &io), NORN_ECORRUPT);
	enc_free(&e);
}

TEST(info_incomplete_flag)
{
	struct pg_info i = { .last_update = { 4, 9 }, .last_complete = { 4, 9 } }, io;
	struct enc e;
	CHECK(pg_info_complete(&i));
	/* a write on top of an unfilled gap */
	i.last_complete.v = 7;
	CHECK(!pg_info_complete(&i));
	/* a copy in the middle of a backfill, even at 0'0 */
	struct pg_info b = { .incomplete = 1 };
	CHECK(!pg_info_complete(&b));
	enc_init(&e, 0);
	pg_info_encode(&e, &b);
	CHECK_EQ(pg_info_decode(e.buf, e.len, &io), 0);
	CHECK(io.incomplete == 1 && !pg_info_complete(&io));
	/* a flag other than 0/1 is corruption */
	e.buf[e.len - 1] = 2;
	CHECK_EQ(pg_info_decode(e.buf, e.len, &io), NORN_ECORRUPT);
	enc_free(&e);
	/* a v1 info (no flag) still decodes, as complete */
	uint8_t v1[6 + 3 * 16 + 2 * 8];
	memset(v1, 0, sizeof(v1));
	v1[0] = 1;
	v1[1] = 1;
	norn_put_le32(v1 + 2, 3 * 16 + 2 * 8);
	v1[6 + 8] = 3;                 /* last_update 0'3 */
	v1[6 + 16 + 8] = 3;            /* last_complete 0'3 */
	CHECK_EQ(pg_info_decode(v1, sizeof(v1), &io), 0);
	CHECK(io.last_update.v == 3 && !io.incomplete && pg_info_complete(&io));
}

TEST(repop_roundtrip_and_garbage)
{
	struct osd_repop r = { .pool = 3, .seed = 0x2f, .epoch = 12, .entry = mk(12, 5, "client.x", 1),
	                       .ops = (const uint8_t *)"abc", .ops_len = 3 }, o;
	struct enc e;
	enc_init(&e, 0);
	CHECK_EQ(osd_repop_encode(&e, &r), 0);
	CHECK_EQ(osd_repop_decode(&o, e.buf, e.len), 0);
	CHECK(o.pool == 3 && o.seed == 0x2f && o.entry.ver.v == 5 && o.ops_len == 3 &&
	      !memcmp(o.ops, "abc", 3));
	for (size_t n = 0; n < e.len; n++)
		CHECK(osd_repop_decode(&o, e.buf, n) != 0);
	/* random bytes never crash and almost never decode */
	srand(1);
	for (int k = 0; k < 2000; k++) {
		uint8_t buf[128];
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand();
		osd_repop_decode(&o, buf, len);
	}
	enc_free(&e);
	struct osd_repop_reply rr = { .pool = 1, .seed = 2, .ver = { 3, 4 }, .result = -5 }, ro;
	enc_init(&e, 0);
	CHECK_EQ(osd_repop_reply_encode(&e, &rr), 0);
	CHECK_EQ(osd_repop_reply_decode(&ro, e.buf, e.len), 0);
	CHECK(ro.ver.v == 4 && ro.result == -5);
	enc_free(&e);
	struct osd_ping p = { .from = 3, .epoch = 9, .stamp_ns = 77 }, po;
	enc_init(&e, 0);
	CHECK_EQ(osd_ping_encode(&e, &p), 0);
	CHECK_EQ(osd_ping_decode(&po, e.buf, e.len), 0);
	CHECK(po.from == 3 && po.stamp_ns == 77);
	CHECK(osd_ping_decode(&po, e.buf, e.len - 1) != 0);
	enc_free(&e);
}

TEST(repop_split_equals_whole)
{
	uint8_t data[5000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	/* an OSD_OP whose last step carries the data */
	struct osd_op_msg *m = calloc(1, sizeof(*m));
	m->oid = "obj";
	m->oid_len = 3;
	m->n_steps = 1;
	m->steps[0].code = OSD_OP_WRITE;
	m->steps[0].data = data;
	m->steps[0].data_len = sizeof(data);
	struct enc ops, whole, head;
	const uint8_t *tail;
	size_t tail_len;
	enc_init(&ops, 0);
	CHECK_EQ(osd_op_encode_split(&ops, m, &tail, &tail_len), 0);
	CHECK_EQ(tail_len, sizeof(data));
	struct osd_repop r = { .pool = 1, .seed = 2, .epoch = 3, .entry = mk(3, 1, "client.x", 1),
	                       .ops = ops.buf, .ops_len = ops.len };
	enc_init(&head, 0);
	CHECK_EQ(osd_repop_encode_split(&head, &r, tail_len), 0);
	/* the same message encoded in one piece */
	uint8_t *full_ops = malloc(ops.len + tail_len);
	memcpy(full_ops, ops.buf, ops.len);
	memcpy(full_ops + ops.len, tail, tail_len);
	r.ops = full_ops;
	r.ops_len = ops.len + tail_len;
	enc_init(&whole, 0);
	CHECK_EQ(osd_repop_encode(&whole, &r), 0);
	CHECK_EQ(whole.len, head.len + tail_len);
	CHECK(!memcmp(whole.buf, head.buf, head.len));
	CHECK(!memcmp(whole.buf + head.len, tail, tail_len));
	/* and it decodes back to the write */
	struct osd_repop o;
	struct osd_op_msg *d = calloc(1, sizeof(*d));
	CHECK_EQ(osd_repop_decode(&o, whole.buf, whole.len), 0);
	CHECK_EQ(osd_op_decode(d, o.ops, o.ops_len), 0);
	CHECK(d->n_steps == 1 && d->steps[0].data_len == sizeof(data) &&
	      !memcmp(d->steps[0].data, data, sizeof(data)));
	free(d);
	free(full_ops);
	free(m);
	enc_free(&ops);
	enc_free(&head);
	enc_free(&whole);
}

TEST_MAIN(TEST_ENTRY(repop_split_equals_whole), TEST_ENTRY(eversion_order), TEST_ENTRY(log_key_sorts_like_versions),
          TEST_ENTRY(log_append_trim_and_dups), TEST_ENTRY(entry_and_info_roundtrip),
          TEST_ENTRY(info_incomplete_flag), TEST_ENTRY(repop_roundtrip_and_garbage))
