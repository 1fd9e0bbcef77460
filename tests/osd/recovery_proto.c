/* Unit tests of the recovery push codecs (osd/proto_osdosd.h): a whole
 * object keeps the version 1 bytes older OSDs read; a piece is version 2
 * with compat 2 (an older reader refuses it); the split encoding (data as
 * a second iovec) yields exactly the bytes of the copying one; PUSH_ACK
 * carries the end of the piece as a version 2 field older readers skip;
 * every malformed piece is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norn/errors.h"
#include "osd/proto_osdosd.h"
#include "tests/harness.h"

static const uint8_t DATA[64] = "0123456789abcdefghijklmnopqrstuvwxyz";   /* zero padded */

static struct osd_pg_push mk(uint64_t off, size_t len, uint64_t size)
{
	struct osd_pg_push p;
	memset(&p, 0, sizeof(p));
	p.pool = 3;
	p.seed = 0x1f;
	p.epoch = 42;
	p.oid = "bulk.7";
	p.oid_len = 6;
	p.exists = 1;
	p.data = DATA + (off < sizeof(DATA) ? off : 0);
	p.data_len = len;
	p.off = off;
	p.size = size;
	return p;
}

/* Encode @p with the split encoder and glue the tail back on. */
static uint8_t *split_bytes(const struct osd_pg_push *p, size_t *len)
{
	struct enc e;
	enc_init(&e, 64);
	if (osd_pg_push_encode_split(&e, p)) {
		enc_free(&e);
		return NULL;
	}
	uint8_t *b = malloc(e.len + p->data_len);
	if (b) {
		memcpy(b, e.buf, e.len);
		memcpy(b + e.len, p->data, p->data_len);
		*len = e.len + p->data_len;
	}
	enc_free(&e);
	return b;
}

TEST(push_whole_is_version_1)
{
	struct osd_pg_push p = mk(0, 10, 10), q;
	struct enc e;
	enc_init(&e, 64);
	CHECK_EQ(osd_pg_push_encode(&e, &p), 0);
	CHECK_EQ(e.buf[0], 1);             /* version */
	CHECK_EQ(e.buf[1], 1);             /* compat */
	CHECK_EQ(osd_pg_push_decode(&q, e.buf, e.len), 0);
	CHECK_EQ(q.off, 0);
	CHECK_EQ(q.size, 10);
	CHECK_EQ(q.data_len, 10);
	CHECK(!memcmp(q.data, DATA, 10));
	size_t sl = 0;
	uint8_t *s = split_bytes(&p, &sl);
	CHECK(s != NULL);
	CHECK_EQ(sl, e.len);
	CHECK(!memcmp(s, e.buf, e.len));
	free(s);
	enc_free(&e);
}

TEST(push_piece_roundtrip_and_split)
{
	uint64_t offs[] = { 0, 8, 32 };
	size_t lens[] = { 8, 8, 4 };
	for (int i = 0; i < 3; i++) {
		struct osd_pg_push p = mk(offs[i], lens[i], 36), q;
		struct enc e;
		enc_init(&e, 64);
		CHECK_EQ(osd_pg_push_encode(&e, &p), 0);
		CHECK_EQ(e.buf[0], 2);
		CHECK_EQ(e.buf[1], 2);     /* an older reader refuses a piece */
		CHECK_EQ(osd_pg_push_decode(&q, e.buf, e.len), 0);
		CHECK_EQ(q.off, offs[i]);
		CHECK_EQ(q.size, 36);
		CHECK_EQ(q.data_len, lens[i]);
		CHECK(!memcmp(q.data, DATA + offs[i], lens[i]));
		CHECK_EQ(q.oid_len, 6);
		size_t sl = 0;
		uint8_t *s = split_bytes(&p, &sl);
		CHECK(s != NULL);
		CHECK_EQ(sl, e.len);
		CHECK(!memcmp(s, e.buf, e.len));
		free(s);
		enc_free(&e);
	}
}

static int decodes(const struct osd_pg_push *p)
{
	struct osd_pg_push q;
	struct enc e;
	enc_init(&e, 64);
	int rc = osd_pg_push_encode(&e, p);
	if (!rc)
		rc = osd_pg_push_decode(&q, e.buf, e.len);
	enc_free(&e);
	return rc;
}

TEST(push_bad_pieces_refused)
{
	struct osd_pg_push p = mk(30, 8, 36);   /* past the end */
	CHECK_EQ(decodes(&p), NORN_ECORRUPT);
	p = mk(40, 0, 36);                        /* starts past the end */
	CHECK_EQ(decodes(&p), NORN_ECORRUPT);
	p = mk(8, 0, 36);                         /* a later piece without data */
	CHECK_EQ(decodes(&p), NORN_ECORRUPT);
	p = mk(8, 8, 36);                         /* a later piece with xattrs */
	p.xattrs = DATA;
	p.xattrs_len = 4;
	CHECK_EQ(decodes(&p), NORN_ECORRUPT);
	p = mk(0, 0, 0);                          /* absent, but with a size */
	p.exists = 0;
	p.size = 5;
	CHECK_EQ(decodes(&p), NORN_ECORRUPT);
	p = mk(0, 0, 0);                          /* absent: fine */
	p.exists = 0;
	CHECK_EQ(decodes(&p), 0);
	p = mk(0, 8, OSD_PUSH_MAX_OBJECT_BYTES + 1);
	CHECK_EQ(decodes(&p), NORN_ECORRUPT);
	/* every truncation of a good piece is refused */
	p = mk(8, 8, 36);
	struct enc e;
	struct osd_pg_push q;
	enc_init(&e, 64);
	CHECK_EQ(osd_pg_push_encode(&e, &p), 0);
	for (size_t n = 0; n < e.len; n++)
		CHECK(osd_pg_push_decode(&q, e.buf, n) != 0);
	enc_free(&e);
}

TEST(push_ack_carries_the_piece_end)
{
	struct osd_pg_msg m = { .pool = 1, .seed = 2, .epoch = 3, .result = 0, .oid = "x", .oid_len = 1,
	                        .off = 1u << 20 }, d;
	struct enc e;
	enc_init(&e, 64);
	CHECK_EQ(osd_pg_msg_encode(&e, &m), 0);
	CHECK_EQ(e.buf[0], 2);
	CHECK_EQ(e.buf[1], 1);             /* older readers skip the field */
	CHECK_EQ(osd_pg_msg_decode(&d, e.buf, e.len), 0);
	CHECK_EQ(d.off, 1u << 20);
	CHECK_EQ(d.oid_len, 1);
	/* a version 1 message (an older sender) decodes with off 0 */
	uint8_t v1[64];
	size_t n = e.len - 8;
	memcpy(v1, e.buf, n);
	v1[0] = 1;
	uint32_t body = (uint32_t)v1[2] | (uint32_t)v1[3] << 8 | (uint32_t)v1[4] << 16 | (uint32_t)v1[5] << 24;
	body -= 8;
	v1[2] = (uint8_t)body;
	v1[3] = (uint8_t)(body >> 8);
	v1[4] = (uint8_t)(body >> 16);
	v1[5] = (uint8_t)(body >> 24);
	CHECK_EQ(osd_pg_msg_decode(&d, v1, n), 0);
	CHECK_EQ(d.off, 0);
	CHECK_EQ(d.epoch, 3);
	enc_free(&e);
}

TEST_MAIN(TEST_ENTRY(push_whole_is_version_1), TEST_ENTRY(push_piece_roundtrip_and_split),
          TEST_ENTRY(push_bad_pieces_refused), TEST_ENTRY(push_ack_carries_the_piece_end))
