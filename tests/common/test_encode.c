/* Encoding round trips, truncation at every byte offset, versioned structs,
 * crc32c check values, config parsing errors. */
#include <errno.h>
#include <stdlib.h>
#include "tests/harness.h"
#include "common/encode.h"
#include "common/crc32c.h"
#include "common/assert.h"
#include "common/config.h"
#include "common/env.h"
#include "norn/errors.h"

/* A sample record: version 2 struct with a nested list. */
static void encode_sample(struct enc *e, uint8_t version)
{
	size_t t = enc_struct_begin(e, version, 1);
	enc_u8(e, 0xab);
	enc_u16(e, 0xbeef);
	enc_u32(e, 0xdeadbeef);
	enc_u64(e, 0x0123456789abcdefull);
	enc_str(e, "osd.3");
	enc_blob(e, "\0\1\2", 3);
	enc_u32(e, 3);
	for (uint32_t i = 0; i < 3; i++)
		enc_u64(e, i * 1000);
	if (version >= 2)
		enc_str(e, "a field from the future");
	enc_struct_end(e, t);
	enc_u32(e, 0x55aa55aa);   /* trailer after the struct */
}

static int decode_sample(const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;
	char name[16];
	size_t bl;

	dec_init(&d, buf, len);
	dec_struct_begin(&d, 1, &v, &tok);
	if (dec_u8(&d) != 0xab && !d.err) return -100;
	if (dec_u16(&d) != 0xbeef && !d.err) return -101;
	if (dec_u32(&d) != 0xdeadbeef && !d.err) return -102;
	if (dec_u64(&d) != 0x0123456789abcdefull && !d.err) return -103;
	dec_str(&d, name, sizeof(name));
	if (!d.err && strcmp(name, "osd.3")) return -104;
	const uint8_t *b = dec_blob(&d, &bl);
	if (!d.err && (bl != 3 || b[2] != 2)) return -105;
	uint32_t n = dec_count(&d, 100, 8);
	for (uint32_t i = 0; i < n; i++)
		if (dec_u64(&d) != i * 1000 && !d.err) return -106;
	dec_struct_end(&d, &tok);
	if (dec_u32(&d) != 0x55aa55aa && !d.err) return -107;
	if (!d.err && dec_left(&d) != 0) return -108;
	return d.err;
}

TEST(roundtrip_and_skip_new_fields)
{
	struct enc e;
	enc_init(&e, 4);   /* tiny: forces growth */
	encode_sample(&e, 2);
	CHECK_EQ(enc_error(&e), 0);
	/* a v1 reader skips the v2 field */
	CHECK_EQ(decode_sample(e.buf, e.len), 0);
	enc_free(&e);
}

TEST(truncation_at_every_offset)
{
	struct enc e;
	enc_init(&e, 0);
	encode_sample(&e, 1);
	for (size_t cut = 0; cut < e.len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, e.buf, cut);
		int r = decode_sample(copy, cut);
		CHECK_EQ(r, NORN_ECORRUPT);
		free(copy);
	}
	CHECK_EQ(decode_sample(e.buf, e.len), 0);
	enc_free(&e);
}

TEST(refuses_newer_compat)
{
	struct enc e;
	struct dec d;
	struct dec_struct tok;
	uint8_t v;

	enc_init(&e, 0);
	size_t t = enc_struct_begin(&e, 5, 4);
	enc_u32(&e, 1);
	enc_struct_end(&e, t);
	dec_init(&d, e.buf, e.len);
	dec_struct_begin(&d, 3, &v, &tok);
	CHECK_EQ(dec_error(&d), NORN_EVERSION);
	CHECK_EQ(dec_u32(&d), 0);   /* sticky */
	enc_free(&e);
}

TEST(hostile_counts_and_lengths)
{
	uint8_t buf[8];
	struct dec d;
	size_t n;

	norn_put_le32(buf, 0xffffffffu);
	norn_put_le32(buf + 4, 0);
	dec_init(&d, buf, sizeof(buf));
	CHECK(dec_blob(&d, &n) == NULL);
	CHECK_EQ(dec_error(&d), NORN_ECORRUPT);
	dec_init(&d, buf, sizeof(buf));
	CHECK_EQ(dec_count(&d, 1u << 30, 1), 0);
	CHECK_EQ(dec_error(&d), NORN_ECORRUPT);
	/* string with an embedded NUL is refused */
	uint8_t s[7] = { 3, 0, 0, 0, 'a', 0, 'b' };
	char out[8];
	dec_init(&d, s, sizeof(s));
	dec_str(&d, out, sizeof(out));
	CHECK_EQ(dec_error(&d), NORN_ECORRUPT);
}

TEST(fixed_encoder_overflow)
{
	uint8_t buf[6];
	struct enc e;
	enc_init_fixed(&e, buf, sizeof(buf));
	enc_u32(&e, 1);
	CHECK_EQ(enc_error(&e), 0);
	enc_u32(&e, 2);
	CHECK_EQ(enc_error(&e), -ENOSPC);
}

TEST(crc32c_check_value)
{
	CHECK_EQ(norn_crc32c(0, "123456789", 9), 0xE3069283u);
	uint32_t a = norn_crc32c(0, "1234", 4);
	CHECK_EQ(norn_crc32c(a, "56789", 5), 0xE3069283u);
	CHECK_EQ(norn_crc32c(0, "", 0), 0);
}

TEST(crc32c_combine_and_tail)
{
	static uint8_t buf[70000];
	struct norn_rand r;
	norn_rand_seed(&r, 7);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)norn_rand_u64(&r);
	const size_t cuts[][2] = { { 0, 0 }, { 0, 9 }, { 9, 0 }, { 1, 1 }, { 100, 4096 },
	                           { 37, 65536 }, { 4096, 4096 }, { 3, 69997 } };
	for (size_t i = 0; i < NORN_ARRAY_SIZE(cuts); i++) {
		size_t la = cuts[i][0], lb = cuts[i][1];
		uint32_t a = norn_crc32c(0, buf, la), b = norn_crc32c(0, buf + la, lb);
		uint32_t ab = norn_crc32c(0, buf, la + lb);
		CHECK_EQ(norn_crc32c_combine(a, b, lb), ab);
		CHECK_EQ(norn_crc32c_tail(ab, a, lb), b);
	}
	CHECK_EQ(norn_crc32c_combine(norn_crc32c(0, "1234", 4), norn_crc32c(0, "56789", 5), 5),
	         0xE3069283u);
}

TEST(rand_deterministic)
{
	struct norn_rand a, b;
	norn_rand_seed(&a, 42);
	norn_rand_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		CHECK(norn_rand_u64(&a) == norn_rand_u64(&b));
	for (int i = 0; i < 1000; i++)
		CHECK(norn_rand_below(&a, 7) < 7);
}

static const char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/norn-cfg-%d.conf", (int)getpid());
	FILE *fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
	return path;
}

TEST(config_sections_and_overrides)
{
	struct norn_config c;
	char err[256] = "";
	CHECK_EQ(norn_config_init(&c, "osd.3"), 0);
	CHECK_EQ(c.msg_max_frame_bytes, 128u << 20);
	const char *p = write_tmp("[global]\nfsid = abc\nmsg_keepalive_ms = 3s\n"
	                          "[osd]\nstore_size_bytes = 4G\nosd_max_recovery = 2\n"
	                          "[osd.3]\nosd_max_recovery = 3\n[osd.4]\nosd_max_recovery = 9\n");
	CHECK_EQ(norn_config_load_file(&c, p, err, sizeof(err)), 0);
	CHECK_STREQ(c.fsid, "abc");
	CHECK_EQ(c.msg_keepalive_ms, 3000);
	CHECK_EQ(c.store_size_bytes, 4ull << 30);
	CHECK_EQ(c.osd_max_recovery, 3);
	char *argv[] = { "x", "--osd-max-recovery=5", "pos", "--msg_tls", "true", "--other", NULL };
	int argc = 6;
	CHECK_EQ(norn_config_parse_args(&c, &argc, argv, err, sizeof(err)), 0);
	CHECK_EQ(argc, 3);
	CHECK_STREQ(argv[1], "pos");
	CHECK_STREQ(argv[2], "--other");
	CHECK_EQ(c.osd_max_recovery, 5);
	CHECK(c.msg_tls);
	norn_config_free(&c);
	unlink(p);
}

TEST(config_errors_name_the_option)
{
	struct norn_config c;
	char err[256] = "";
	CHECK_EQ(norn_config_init(&c, "mon.a"), 0);
	const char *p = write_tmp("[global]\nno_such_option = 1\n");
	CHECK_EQ(norn_config_load_file(&c, p, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no_such_option") != NULL);
	p = write_tmp("[osd]\nosd_max_recovery = 0\n");
	CHECK_EQ(norn_config_load_file(&c, p, err, sizeof(err)), 0);  /* other type's section: not applied */
	norn_config_free(&c);
	CHECK_EQ(norn_config_init(&c, "osd.1"), 0);
	CHECK_EQ(norn_config_load_file(&c, p, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "osd_max_recovery") != NULL && strstr(err, "range") != NULL);
	CHECK_EQ(norn_config_set(&c, "msg_keepalive_ms", "soon", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "msg_keepalive_ms") != NULL);
	CHECK_EQ(norn_config_set(&c, "store_size_bytes", "-1", err, sizeof(err)), -EINVAL);
	CHECK_EQ(norn_config_set(&c, "msg_tls", "maybe", err, sizeof(err)), -EINVAL);
	CHECK_EQ(norn_config_load_file(&c, "/nonexistent/x.conf", err, sizeof(err)), -ENOENT);
	char *argv[] = { "x", "--msg-tls", NULL };
	int argc = 2;
	CHECK_EQ(norn_config_parse_args(&c, &argc, argv, err, sizeof(err)), -EINVAL);
	norn_config_free(&c);
	unlink(p);
}

TEST_MAIN(TEST_ENTRY(roundtrip_and_skip_new_fields), TEST_ENTRY(truncation_at_every_offset),
          TEST_ENTRY(refuses_newer_compat), TEST_ENTRY(hostile_counts_and_lengths),
          TEST_ENTRY(fixed_encoder_overflow), TEST_ENTRY(crc32c_check_value), TEST_ENTRY(crc32c_combine_and_tail),
          TEST_ENTRY(rand_deterministic), TEST_ENTRY(config_sections_and_overrides),
          TEST_ENTRY(config_errors_name_the_option))
