/* Unit tests for the pure parts of the messenger: frame headers, handshake
 * message codecs, proofs, tickets, base64 and keyring files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "common/keyring.h"
#include "common/msg.h"
#include "norn/errors.h"
#include "tests/harness.h"

static void mkhdr(uint8_t out[MSG_HDR_LEN], uint32_t plen)
{
	struct msg_hdr h = { .type = 300, .tid = 7, .epoch = 9, .payload_len = plen };
	memset(h.fsid, 0xab, sizeof(h.fsid));
	msg_hdr_encode(&h, out);
}

TEST(hdr_roundtrip_and_errors)
{
	uint8_t b[MSG_HDR_LEN];
	struct msg_hdr h;
	mkhdr(b, 100);
	CHECK_EQ(msg_hdr_decode(b, sizeof(b), 1 << 20, &h), 0);
	CHECK_EQ(h.type, 300);
	CHECK_EQ(h.tid, 7);
	CHECK_EQ(h.epoch, 9);
	CHECK_EQ(h.payload_len, 100);
	CHECK_EQ(h.fsid[15], 0xab);
	/* Short. */
	CHECK_EQ(msg_hdr_decode(b, MSG_HDR_LEN - 1, 1 << 20, &h), NORN_ECORRUPT);
	/* Any flipped bit is a crc error. */
	for (int i = 0; i < MSG_HDR_LEN; i++) {
		uint8_t c[MSG_HDR_LEN];
		memcpy(c, b, sizeof(c));
		c[i] ^= 0x10;
		CHECK_EQ(msg_hdr_decode(c, sizeof(c), 1 << 20, &h), NORN_ECRC);
	}
	/* Bad magic with a correct crc. */
	uint8_t c[MSG_HDR_LEN];
	memcpy(c, b, sizeof(c));
	c[0] ^= 1;
	norn_put_le32(c + 60, norn_crc32c(0, c, 60));
	CHECK_EQ(msg_hdr_decode(c, sizeof(c), 1 << 20, &h), NORN_ECORRUPT);
	memcpy(c, b, sizeof(c));
	c[4] = 2;
	norn_put_le32(c + 60, norn_crc32c(0, c, 60));
	CHECK_EQ(msg_hdr_decode(c, sizeof(c), 1 << 20, &h), NORN_EVERSION);
	memcpy(c, b, sizeof(c));
	c[50] = 1;
	norn_put_le32(c + 60, norn_crc32c(0, c, 60));
	CHECK_EQ(msg_hdr_decode(c, sizeof(c), 1 << 20, &h), NORN_ECORRUPT);
	/* Oversize. */
	mkhdr(b, 0xffffffffu);
	CHECK_EQ(msg_hdr_decode(b, sizeof(b), 1 << 20, &h), -EMSGSIZE);
	mkhdr(b, (1 << 20) - MSG_HDR_LEN + 1);
	CHECK_EQ(msg_hdr_decode(b, sizeof(b), 1 << 20, &h), -EMSGSIZE);
	mkhdr(b, (1 << 20) - MSG_HDR_LEN);
	CHECK_EQ(msg_hdr_decode(b, sizeof(b), 1 << 20, &h), 0);
}

TEST(frame_decode)
{
	uint8_t f[MSG_HDR_LEN + 5 + MSG_HDR_LEN];
	struct msg_hdr h = { .type = 200, .tid = 1, .payload_len = 5 };
	h.payload_crc = norn_crc32c(0, "hello", 5);
	msg_hdr_encode(&h, f);
	memcpy(f + MSG_HDR_LEN, "hello", 5);
	struct msg_hdr h2 = { .type = 201, .tid = 2 };
	msg_hdr_encode(&h2, f + MSG_HDR_LEN + 5);
	const uint8_t *p;
	size_t fl;
	struct msg_hdr o;
	CHECK_EQ(msg_frame_decode(f, sizeof(f), 4096, &o, &p, &fl), 0);
	CHECK_EQ(fl, MSG_HDR_LEN + 5);
	CHECK(!memcmp(p, "hello", 5));
	CHECK_EQ(msg_frame_decode(f + fl, sizeof(f) - fl, 4096, &o, &p, &fl), 0);
	CHECK_EQ(o.type, 201);
	CHECK_EQ(msg_frame_decode(f, MSG_HDR_LEN + 4, 4096, &o, &p, &fl), NORN_ECORRUPT);
	f[MSG_HDR_LEN] ^= 1;
	CHECK_EQ(msg_frame_decode(f, sizeof(f), 4096, &o, &p, &fl), NORN_ECRC);
}

TEST(handshake_codecs)
{
	struct auth_hello h = { .entity = "client.admin" }, h2;
	memset(h.nonce, 3, sizeof(h.nonce));
	uint8_t t[10] = { 1, 2, 3 };
	h.ticket = t;
	h.ticket_len = sizeof(t);
	struct enc e;
	enc_init(&e, 0);
	auth_hello_encode(&e, &h);
	CHECK_EQ(enc_error(&e), 0);
	CHECK_EQ(auth_hello_decode(e.buf, e.len, &h2), 0);
	CHECK_STREQ(h2.entity, "client.admin");
	CHECK_EQ(h2.ticket_len, 10);
	CHECK(!memcmp(h2.nonce, h.nonce, sizeof(h.nonce)));
	/* Every truncation fails cleanly, trailing bytes too. */
	for (size_t i = 0; i < e.len; i++)
		CHECK(auth_hello_decode(e.buf, i, &h2) != 0);
	enc_u8(&e, 0);
	CHECK_EQ(auth_hello_decode(e.buf, e.len, &h2), NORN_ECORRUPT);
	enc_free(&e);
	/* Bad entity names are refused. */
	struct auth_hello bad = { .entity = "admin" };
	enc_init(&e, 0);
	auth_hello_encode(&e, &bad);
	CHECK_EQ(auth_hello_decode(e.buf, e.len, &h2), NORN_ECORRUPT);
	enc_free(&e);

	struct auth_challenge c = { .entity = "osd.3" }, c2;
	memset(c.proof, 9, sizeof(c.proof));
	enc_init(&e, 0);
	auth_challenge_encode(&e, &c);
	CHECK_EQ(auth_challenge_decode(e.buf, e.len, &c2), 0);
	CHECK_STREQ(c2.entity, "osd.3");
	for (size_t i = 0; i < e.len; i++)
		CHECK(auth_challenge_decode(e.buf, i, &c2) != 0);
	enc_free(&e);
	uint32_t r = 0;
	enc_init(&e, 0);
	auth_fail_encode(&e, AUTH_FAIL_BAD_PROOF);
	CHECK_EQ(auth_fail_decode(e.buf, e.len, &r), 0);
	CHECK_EQ(r, AUTH_FAIL_BAD_PROOF);
	enc_free(&e);
}

TEST(proofs)
{
	uint8_t k[32] = { 1 }, k2[32] = { 2 }, nc[32] = { 5 }, ns[32] = { 6 };
	uint8_t a[32], b[32], c[32], d[32];
	CHECK_EQ(auth_proof_compute(k, AUTH_DIR_SERVER, nc, ns, "client.a", "mon.a", a), 0);
	CHECK_EQ(auth_proof_compute(k, AUTH_DIR_SERVER, nc, ns, "client.a", "mon.a", b), 0);
	CHECK(auth_proof_equal(a, b));
	CHECK_EQ(auth_proof_compute(k, AUTH_DIR_CLIENT, nc, ns, "client.a", "mon.a", c), 0);
	CHECK(!auth_proof_equal(a, c));
	CHECK_EQ(auth_proof_compute(k2, AUTH_DIR_SERVER, nc, ns, "client.a", "mon.a", d), 0);
	CHECK(!auth_proof_equal(a, d));
	CHECK_EQ(auth_proof_compute(k, AUTH_DIR_SERVER, ns, nc, "client.a", "mon.a", d), 0);
	CHECK(!auth_proof_equal(a, d));
	CHECK_EQ(auth_proof_compute(k, AUTH_DIR_SERVER, nc, ns, "client.a", "mon.b", d), 0);
	CHECK(!auth_proof_equal(a, d));
}

TEST(tickets)
{
	uint8_t svc[32], other[32], sess[32], sess2[32];
	CHECK_EQ(keyring_generate_key(svc), 0);
	CHECK_EQ(keyring_generate_key(other), 0);
	uint8_t blob[AUTH_TICKET_MAX];
	size_t bl = 0;
	CHECK_EQ(auth_ticket_create(svc, 42, "client.s3", "osd allow rw pool=data", 1000, sess,
	                            blob, sizeof(blob), &bl), 0);
	uint64_t kid = 0;
	CHECK_EQ(auth_ticket_key_id(blob, bl, &kid), 0);
	CHECK_EQ(kid, 42);
	char ent[AUTH_ENTITY_NAME_MAX], caps[AUTH_CAPS_STR_MAX];
	uint64_t exp = 0;
	CHECK_EQ(auth_ticket_verify(svc, blob, bl, 999, ent, caps, sess2, &exp), 0);
	CHECK_STREQ(ent, "client.s3");
	CHECK_STREQ(caps, "osd allow rw pool=data");
	CHECK_EQ(exp, 1000);
	CHECK(!memcmp(sess, sess2, 32));
	/* Expired. */
	CHECK_EQ(auth_ticket_verify(svc, blob, bl, 1000, ent, caps, sess2, NULL), -EKEYEXPIRED);
	/* Wrong service key. */
	CHECK_EQ(auth_ticket_verify(other, blob, bl, 1, ent, caps, sess2, NULL), NORN_EAUTH);
	/* Every tampered byte is refused (key id and version included). */
	for (size_t i = 0; i < bl; i++) {
		uint8_t t[AUTH_TICKET_MAX];
		memcpy(t, blob, bl);
		t[i] ^= 0x01;
		int rc = auth_ticket_verify(svc, t, bl, 1, ent, caps, sess2, NULL);
		CHECK(rc == NORN_EAUTH || rc == NORN_ECORRUPT);
	}
	/* Truncated. */
	for (size_t i = 0; i < bl; i++)
		CHECK(auth_ticket_verify(svc, blob, i, 1, ent, caps, sess2, NULL) != 0);
	CHECK_EQ(auth_ticket_create(svc, 1, "nope", "", 1, sess, blob, sizeof(blob), &bl), -EINVAL);
	CHECK_EQ(auth_ticket_create(svc, 1, "client.x", "", 1, sess, blob, 10, &bl), -ENOSPC);
}

TEST(base64)
{
	uint8_t k[32], k2[32];
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(i * 37);
	char s[64];
	CHECK_EQ(auth_b64_encode(k, 32, s, sizeof(s)), 44);
	CHECK_EQ(auth_b64_decode_exact(s, k2, 32), 0);
	CHECK(!memcmp(k, k2, 32));
	CHECK_EQ(auth_b64_decode_exact(s, k2, 31), -EINVAL);
	s[5] = '!';
	CHECK_EQ(auth_b64_decode_exact(s, k2, 32), -EINVAL);
	CHECK_EQ(auth_b64_decode_exact("", k2, 32), -EINVAL);
	CHECK_EQ(auth_b64_encode(k, 32, s, 44), -ENOSPC);
}

TEST(keyring_files)
{
	char dir[] = "/tmp/norn-kr-XXXXXX";
	CHECK(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/keyring", dir);
	struct keyring kr, kr2;
	keyring_init(&kr);
	keyring_init(&kr2);
	uint8_t a[32], b[32], o[32];
	CHECK_EQ(keyring_generate_key(a), 0);
	CHECK_EQ(keyring_generate_key(b), 0);
	CHECK_EQ(keyring_set(&kr, "client.admin", a), 0);
	CHECK_EQ(keyring_set(&kr, "osd.3", b), 0);
	CHECK_EQ(keyring_set(&kr, "bad", b), -EINVAL);
	for (int i = 0; i < 20; i++) {
		char n[32];
		snprintf(n, sizeof(n), "osd.%d", 100 + i);
		CHECK_EQ(keyring_set(&kr, n, a), 0);
	}
	CHECK_EQ(keyring_save(&kr, path), 0);
	char err[256];
	CHECK_EQ(keyring_load(&kr2, path, err, sizeof(err)), 0);
	CHECK_EQ(kr2.n, 22);
	CHECK_EQ(keyring_get(&kr2, "osd.3", o), 0);
	CHECK(!memcmp(o, b, 32));
	CHECK_EQ(keyring_get(&kr2, "client.admin", o), 0);
	CHECK(!memcmp(o, a, 32));
	CHECK_EQ(keyring_get(&kr2, "mon.a", o), -ENOENT);
	keyring_free(&kr2);

	FILE *fp = fopen(path, "w");
	CHECK(fp);
	fprintf(fp, "[client.x]\nkey = AAAA\n");
	fclose(fp);
	keyring_init(&kr2);
	CHECK_EQ(keyring_load(&kr2, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "client.x"));
	keyring_free(&kr2);
	fp = fopen(path, "w");
	fprintf(fp, "[client.x]\ncaps = mon allow r\n");
	fclose(fp);
	keyring_init(&kr2);
	CHECK_EQ(keyring_load(&kr2, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no key"));
	keyring_free(&kr2);
	CHECK(keyring_load(&kr2, "/nonexistent/x", err, sizeof(err)) == -ENOENT);
	keyring_free(&kr);
	unlink(path);
	rmdir(dir);
}

TEST_MAIN(TEST_ENTRY(hdr_roundtrip_and_errors), TEST_ENTRY(frame_decode),
          TEST_ENTRY(handshake_codecs), TEST_ENTRY(proofs), TEST_ENTRY(tickets),
          TEST_ENTRY(base64), TEST_ENTRY(keyring_files))
