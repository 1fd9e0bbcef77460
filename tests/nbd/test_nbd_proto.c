/* Unit tests of the NBD wire protocol module (client/nbd/nbd_proto.c):
 * golden encodings of what clients parse, decoders on valid and hostile
 * input, and the request checker's verdicts at every boundary.
 */
#include <errno.h>
#include <stdlib.h>

#include "client/nbd/nbd_backend_file.h"
#include "client/nbd/nbd_proto.h"
#include "common/encode.h"
#include "norn/errors.h"
#include "tests/harness.h"

TEST(greeting_golden)
{
	static const uint8_t want[] = { 'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
	                                'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', 0x00, 0x03 };
	struct enc e;

	enc_init(&e, 0);
	nbd_enc_greeting(&e, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	CHECK_EQ(enc_error(&e), 0);
	CHECK_EQ(e.len, NBD_GREETING_BYTES);
	CHECK(!memcmp(e.buf, want, sizeof(want)));
	enc_free(&e);
}

TEST(client_flags)
{
	uint8_t b[4];
	uint32_t f;

	nbd_put_be32(b, 3);
	CHECK_EQ(nbd_decode_client_flags(b, &f), 0);
	CHECK_EQ(f, 3);
	nbd_put_be32(b, 0);
	CHECK_EQ(nbd_decode_client_flags(b, &f), 0);
	nbd_put_be32(b, 4);
	CHECK_EQ(nbd_decode_client_flags(b, &f), NORN_ECORRUPT);
	nbd_put_be32(b, 0x80000001u);
	CHECK_EQ(nbd_decode_client_flags(b, &f), NORN_ECORRUPT);
}

TEST(opt_hdr)
{
	uint8_t b[16];
	struct nbd_opt_hdr h;

	nbd_enc_opt_hdr(b, NBD_OPT_GO, 10);
	CHECK_EQ(nbd_decode_opt_hdr(b, &h), 0);
	CHECK_EQ(h.opt, NBD_OPT_GO);
	CHECK_EQ(h.len_bytes, 10);
	nbd_enc_opt_hdr(b, NBD_OPT_GO, NBD_MAX_OPT_BYTES);
	CHECK_EQ(nbd_decode_opt_hdr(b, &h), 0);
	nbd_enc_opt_hdr(b, NBD_OPT_GO, NBD_MAX_OPT_BYTES + 1);
	CHECK_EQ(nbd_decode_opt_hdr(b, &h), NORN_ECORRUPT);
	nbd_enc_opt_hdr(b, NBD_OPT_GO, 0xffffffffu);
	CHECK_EQ(nbd_decode_opt_hdr(b, &h), NORN_ECORRUPT);
	nbd_enc_opt_hdr(b, NBD_OPT_GO, 0);
	b[0] ^= 1;
	CHECK_EQ(nbd_decode_opt_hdr(b, &h), NORN_ECORRUPT);
}

static size_t go_payload(uint8_t *p, uint32_t name_len_field, const char *name, uint16_t n,
                         const uint16_t *info)
{
	size_t off = 0, nl = strlen(name);

	nbd_put_be32(p, name_len_field);
	off = 4;
	memcpy(p + off, name, nl);
	off += nl;
	nbd_put_be16(p + off, n);
	off += 2;
	for (uint16_t i = 0; i < n && info; i++, off += 2)
		nbd_put_be16(p + off, info[i]);
	return off;
}

TEST(opt_go_decode)
{
	uint8_t p[NBD_MAX_OPT_BYTES + 64];
	uint16_t info[] = { NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, 77, NBD_INFO_EXPORT };
	struct nbd_opt_go *g = malloc(sizeof(*g));
	size_t n;

	CHECK(g);
	n = go_payload(p, 8, "rbd/vol1", 4, info);
	CHECK_EQ(nbd_decode_opt_go(p, n, g), 0);
	CHECK_STREQ(g->name, "rbd/vol1");
	CHECK_EQ(g->n_info, 4);
	CHECK(g->want_block_size && g->want_name && !g->want_description);

	n = go_payload(p, 0, "", 0, NULL);
	CHECK_EQ(n, 6);
	CHECK_EQ(nbd_decode_opt_go(p, n, g), 0);
	CHECK_STREQ(g->name, "");

	/* name length larger than the payload, and off-by-one variants */
	n = go_payload(p, 9, "rbd/vol1", 0, NULL);
	CHECK_EQ(nbd_decode_opt_go(p, n, g), NORN_ECORRUPT);
	n = go_payload(p, 0xffffffffu, "x", 0, NULL);
	CHECK_EQ(nbd_decode_opt_go(p, n, g), NORN_ECORRUPT);
	/* trailing junk, missing info entries */
	n = go_payload(p, 1, "x", 1, info);
	CHECK_EQ(nbd_decode_opt_go(p, n + 1, g), NORN_ECORRUPT);
	CHECK_EQ(nbd_decode_opt_go(p, n - 1, g), NORN_ECORRUPT);
	/* too short for the fixed fields */
	for (size_t i = 0; i < 6; i++)
		CHECK_EQ(nbd_decode_opt_go(p, i, g), NORN_ECORRUPT);
	/* embedded NUL */
	n = go_payload(p, 3, "a\0b", 0, NULL);
	memcpy(p + 4, "a\0b", 3);
	nbd_put_be16(p + 7, 0);
	CHECK_EQ(nbd_decode_opt_go(p, 9, g), NORN_ECORRUPT);
	/* too many info requests */
	nbd_put_be32(p, 0);
	nbd_put_be16(p + 4, NBD_MAX_INFO_REQS + 1);
	memset(p + 6, 0, 2 * (NBD_MAX_INFO_REQS + 1));
	CHECK_EQ(nbd_decode_opt_go(p, 6 + 2 * (NBD_MAX_INFO_REQS + 1), g), NORN_ECORRUPT);
	/* the longest legal name */
	nbd_put_be32(p, NBD_MAX_NAME_BYTES);
	memset(p + 4, 'a', NBD_MAX_NAME_BYTES);
	nbd_put_be16(p + 4 + NBD_MAX_NAME_BYTES, 0);
	CHECK_EQ(nbd_decode_opt_go(p, 6 + NBD_MAX_NAME_BYTES, g), 0);
	CHECK_EQ(strlen(g->name), NBD_MAX_NAME_BYTES);
	nbd_put_be32(p, NBD_MAX_NAME_BYTES + 1);
	memset(p + 4, 'a', NBD_MAX_NAME_BYTES + 1);
	nbd_put_be16(p + 5 + NBD_MAX_NAME_BYTES, 0);
	CHECK_EQ(nbd_decode_opt_go(p, 7 + NBD_MAX_NAME_BYTES, g), NORN_ECORRUPT);
	free(g);
}

TEST(export_name_decode)
{
	char name[NBD_MAX_NAME_BYTES + 1];
	static uint8_t big[NBD_MAX_NAME_BYTES + 1];

	CHECK_EQ(nbd_decode_export_name((const uint8_t *)"pool/v", 6, name, sizeof(name)), 0);
	CHECK_STREQ(name, "pool/v");
	CHECK_EQ(nbd_decode_export_name((const uint8_t *)"", 0, name, sizeof(name)), 0);
	CHECK_STREQ(name, "");
	CHECK_EQ(nbd_decode_export_name((const uint8_t *)"a\0", 2, name, sizeof(name)), NORN_ECORRUPT);
	memset(big, 'x', sizeof(big));
	CHECK_EQ(nbd_decode_export_name(big, sizeof(big), name, sizeof(name)), NORN_ECORRUPT);
	CHECK_EQ(nbd_decode_export_name(big, 8, name, 8), NORN_ECORRUPT);
}

TEST(request_roundtrip)
{
	struct nbd_request a = { .flags = NBD_CMD_FLAG_FUA, .type = NBD_CMD_WRITE,
	                         .cookie = 0x0102030405060708ull, .offset = 0x1122334455667788ull,
	                         .len_bytes = 0xaabbccdd }, b;
	uint8_t raw[NBD_REQUEST_BYTES];
	static const uint8_t golden[NBD_REQUEST_BYTES] = {
		0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x01,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
		0xaa, 0xbb, 0xcc, 0xdd };

	nbd_enc_request(raw, &a);
	CHECK(!memcmp(raw, golden, sizeof(raw)));
	CHECK_EQ(nbd_decode_request(raw, &b), 0);
	CHECK_EQ(b.flags, a.flags);
	CHECK_EQ(b.type, a.type);
	CHECK(b.cookie == a.cookie && b.offset == a.offset);
	CHECK_EQ(b.len_bytes, a.len_bytes);
	raw[3] ^= 0xff;
	CHECK_EQ(nbd_decode_request(raw, &b), NORN_ECORRUPT);
}

TEST(simple_reply_golden)
{
	uint8_t r[16];
	uint32_t err;
	uint64_t cookie;
	static const uint8_t golden[16] = { 0x67, 0x44, 0x66, 0x98, 0, 0, 0, 22,
	                                    0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1 };

	nbd_enc_simple_reply(r, NBD_EINVAL, 0xdeadbeef00000001ull);
	CHECK(!memcmp(r, golden, 16));
	CHECK_EQ(nbd_decode_simple_reply(r, &err, &cookie), 0);
	CHECK_EQ(err, 22);
	CHECK(cookie == 0xdeadbeef00000001ull);
}

TEST(opt_replies_golden)
{
	struct enc e;
	struct nbd_opt_reply_hdr h;

	enc_init(&e, 0);
	nbd_enc_info_export(&e, NBD_OPT_GO, 1ull << 30, 0x1ed);
	CHECK_EQ(e.len, 20 + 12);
	CHECK_EQ(nbd_decode_opt_reply_hdr(e.buf, &h), 0);
	CHECK_EQ(h.opt, NBD_OPT_GO);
	CHECK_EQ(h.type, NBD_REP_INFO);
	CHECK_EQ(h.len_bytes, 12);
	CHECK_EQ(nbd_get_be16(e.buf + 20), NBD_INFO_EXPORT);
	CHECK(nbd_get_be64(e.buf + 22) == 1ull << 30);
	CHECK_EQ(nbd_get_be16(e.buf + 30), 0x1ed);
	enc_reset(&e);

	nbd_enc_info_block_size(&e, NBD_OPT_INFO, 1, 4096, 32u << 20);
	CHECK_EQ(e.len, 20 + 14);
	CHECK_EQ(nbd_get_be16(e.buf + 20), NBD_INFO_BLOCK_SIZE);
	CHECK_EQ(nbd_get_be32(e.buf + 22), 1);
	CHECK_EQ(nbd_get_be32(e.buf + 26), 4096);
	CHECK_EQ(nbd_get_be32(e.buf + 30), 32u << 20);
	enc_reset(&e);

	nbd_enc_rep_server(&e, "pool/vol", NULL);
	CHECK_EQ(nbd_decode_opt_reply_hdr(e.buf, &h), 0);
	CHECK_EQ(h.type, NBD_REP_SERVER);
	CHECK_EQ(h.len_bytes, 4 + 8);
	CHECK_EQ(nbd_get_be32(e.buf + 20), 8);
	CHECK(!memcmp(e.buf + 24, "pool/vol", 8));
	enc_reset(&e);

	nbd_enc_opt_error(&e, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "nope");
	CHECK_EQ(nbd_decode_opt_reply_hdr(e.buf, &h), 0);
	CHECK_EQ(h.type, NBD_REP_ERR_UNKNOWN);
	CHECK_EQ(h.type, 0x80000006u);
	CHECK_EQ(h.len_bytes, 4);
	enc_reset(&e);

	nbd_enc_export_name_reply(&e, 4096, 0x3, false);
	CHECK_EQ(e.len, 8 + 2 + 124);
	enc_reset(&e);
	nbd_enc_export_name_reply(&e, 4096, 0x3, true);
	CHECK_EQ(e.len, 10);
	CHECK_EQ(enc_error(&e), 0);
	enc_free(&e);
	CHECK_EQ(nbd_decode_opt_reply_hdr((const uint8_t *)"xxxxxxxxxxxxxxxxxxxx", &h), NORN_ECORRUPT);
}

static const struct nbd_export_limits rw_ex = {
	.size_bytes = 1u << 20, .min_block = 1, .max_payload = 32u << 20,
	.tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
	          NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES,
};

static enum nbd_verdict chk(const struct nbd_export_limits *ex, uint16_t type, uint16_t flags,
                            uint64_t off, uint32_t len, uint32_t *err)
{
	struct nbd_request rq = { .flags = flags, .type = type, .offset = off, .len_bytes = len };
	return nbd_request_check(&rq, ex, err);
}

TEST(request_check)
{
	uint32_t e;
	struct nbd_export_limits ro = rw_ex, al = rw_ex, bare = rw_ex;

	ro.tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH;
	al.min_block = 512;
	bare.tflags = NBD_FLAG_HAS_FLAGS;

	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, 0, 0, 4096, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, 0, (1u << 20) - 1, 1, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, 0, (1u << 20) - 1, 2, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, 0, 1u << 20, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, 0, UINT64_MAX, 2, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, 0, 0, 0, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 1, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);

	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 4096, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE, 0, (1u << 20) - 10, 11, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_ENOSPC);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE, 0, UINT64_MAX - 1, 4, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_ENOSPC);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE, 0, 0, (32u << 20) + 1, &e), NBD_VERDICT_CLOSE);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);
	CHECK_EQ(chk(&ro, NBD_CMD_WRITE, 0, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EPERM);
	CHECK_EQ(chk(&ro, NBD_CMD_TRIM, 0, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EPERM);
	CHECK_EQ(chk(&ro, NBD_CMD_WRITE_ZEROES, 0, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EPERM);
	CHECK_EQ(chk(&ro, NBD_CMD_READ, 0, 0, 1, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&ro, NBD_CMD_FLUSH, 0, 0, 0, &e), NBD_VERDICT_OK);

	CHECK_EQ(chk(&rw_ex, NBD_CMD_TRIM, 0, 0, 1u << 20, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_TRIM, 0, 1, 1u << 20, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA, 0,
	             1u << 20, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE_ZEROES, 0, 1, 1u << 20, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_ENOSPC);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 1, &e),
	         NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);

	CHECK_EQ(chk(&bare, NBD_CMD_FLUSH, 0, 0, 0, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_ENOTSUP);
	CHECK_EQ(chk(&bare, NBD_CMD_TRIM, 0, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_ENOTSUP);
	CHECK_EQ(chk(&bare, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);

	CHECK_EQ(chk(&al, NBD_CMD_READ, 0, 512, 1024, &e), NBD_VERDICT_OK);
	CHECK_EQ(chk(&al, NBD_CMD_READ, 0, 512, 1000, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(chk(&al, NBD_CMD_WRITE, 0, 100, 512, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);

	CHECK_EQ(chk(&rw_ex, NBD_CMD_DISC, 0, 0, 0, &e), NBD_VERDICT_DISC);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_CACHE, 0, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_BLOCK_STATUS, 0, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(chk(&rw_ex, 0xffff, 0, 0, 1, &e), NBD_VERDICT_ERROR);
	CHECK_EQ(e, NBD_EINVAL);
	CHECK_EQ(chk(&rw_ex, NBD_CMD_READ, 0, 0, (32u << 20) + 1, &e), NBD_VERDICT_ERROR);
}

TEST(errno_mapping)
{
	CHECK_EQ(nbd_errno_to_wire(0), 0);
	CHECK_EQ(nbd_errno_to_wire(-EPERM), NBD_EPERM);
	CHECK_EQ(nbd_errno_to_wire(-EROFS), NBD_EPERM);
	CHECK_EQ(nbd_errno_to_wire(-ENOSPC), NBD_ENOSPC);
	CHECK_EQ(nbd_errno_to_wire(NORN_ENOSPC), NBD_ENOSPC);
	CHECK_EQ(nbd_errno_to_wire(-EINVAL), NBD_EINVAL);
	CHECK_EQ(nbd_errno_to_wire(-ENOMEM), NBD_ENOMEM);
	CHECK_EQ(nbd_errno_to_wire(NORN_EAGAIN), NBD_EIO);
	CHECK_EQ(nbd_errno_to_wire(-ETIMEDOUT), NBD_EIO);
}

TEST(file_name_resolve)
{
	char path[256];
	bool ro;

	CHECK_EQ(nbd_backend_file_resolve("/d", "pool/vol", path, sizeof(path), &ro), 0);
	CHECK_STREQ(path, "/d/pool/vol");
	CHECK(!ro);
	CHECK_EQ(nbd_backend_file_resolve("/d", "pool/vol@snap1", path, sizeof(path), &ro), 0);
	CHECK(ro);
	CHECK_EQ(nbd_backend_file_resolve("/d", "disk.img", path, sizeof(path), &ro), 0);
	static const char *const bad[] = {
		"", "/abs", "pool/", "pool//vol", "../etc/passwd", "pool/../x", ".hidden",
		"pool/.x", "a b", "pool@s/vol", "vol@", "@snap", "pool/@snap", "a/b/c/d/e",
		"x\\y", "vol\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(nbd_backend_file_resolve("/d", bad[i], path, sizeof(path), &ro), -EINVAL);
	CHECK_EQ(nbd_backend_file_resolve("/d", "abcdefgh", path, 8, &ro), -ENAMETOOLONG);
}

TEST_MAIN(TEST_ENTRY(greeting_golden), TEST_ENTRY(client_flags), TEST_ENTRY(opt_hdr),
          TEST_ENTRY(opt_go_decode), TEST_ENTRY(export_name_decode),
          TEST_ENTRY(request_roundtrip), TEST_ENTRY(simple_reply_golden),
          TEST_ENTRY(opt_replies_golden), TEST_ENTRY(request_check),
          TEST_ENTRY(errno_mapping), TEST_ENTRY(file_name_resolve))
