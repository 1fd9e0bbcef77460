/* Authentication primitives: handshake messages, proofs, tickets, base64.
 *
 * Everything here is pure computation over caller buffers (see auth.h for
 * the protocol). The messenger drives the handshake state machine; the
 * mon seals tickets; OSDs open them.
 */
#include "common/auth.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/assert.h"
#include "common/encode.h"
#include "common/env.h"
#include "norn/errors.h"

#define TICKET_VERSION 1
#define TICKET_IV_LEN 12
#define TICKET_TAG_LEN 16
#define TICKET_AAD_LEN 9               /* version + key id */
#define TICKET_MIN_LEN (TICKET_AAD_LEN + TICKET_IV_LEN + TICKET_TAG_LEN)

/* "type.id": a lower-case type, a dot, then [A-Za-z0-9_-]+, shorter than
 * AUTH_ENTITY_NAME_MAX. Kept local (same rule as the authmap's) so the
 * handshake does not depend on the maps. */
static int entity_ok(const char *s)
{
	size_t n = strnlen(s, AUTH_ENTITY_NAME_MAX);
	if (n == 0 || n >= AUTH_ENTITY_NAME_MAX)
		return 0;
	size_t i = 0;
	while (i < n && s[i] >= 'a' && s[i] <= 'z')
		i++;
	if (i == 0 || i >= n || s[i] != '.' || i + 1 == n)
		return 0;
	for (i++; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

int auth__entity_ok(const char *s)
{
	return entity_ok(s);
}

const char *auth_fail_reason_str(uint32_t reason)
{
	switch (reason) {
	case AUTH_FAIL_UNKNOWN_ENTITY: return "unknown entity";
	case AUTH_FAIL_BAD_PROOF: return "bad proof";
	case AUTH_FAIL_BAD_TICKET: return "bad or expired ticket";
	case AUTH_FAIL_PROTOCOL: return "protocol error";
	case AUTH_FAIL_NOT_ACCEPTING: return "peer accepts no connections";
	default: return "unknown reason";
	}
}

/* ---- handshake messages ------------------------------------------------ */

void auth_hello_encode(struct enc *e, const struct auth_hello *h)
{
	enc_u8(e, AUTH_HANDSHAKE_VERSION);
	enc_str(e, h->entity);
	enc_bytes(e, h->nonce, AUTH_NONCE_LEN);
	enc_blob(e, h->ticket, h->ticket_len);
}

static int dec_version(struct dec *d)
{
	uint8_t v = dec_u8(d);
	if (!dec_error(d) && v != AUTH_HANDSHAKE_VERSION)
		dec_fail(d, NORN_EVERSION);
	return dec_error(d);
}

static int dec_finish(struct dec *d)
{
	if (!dec_error(d) && dec_left(d) != 0)
		dec_fail(d, NORN_ECORRUPT);
	return dec_error(d);
}

int auth_hello_decode(const void *buf, size_t len, struct auth_hello *out)
{
	struct dec d;
	dec_init(&d, buf, len);
	memset(out, 0, sizeof(*out));
	if (dec_version(&d))
		return dec_error(&d);
	dec_str(&d, out->entity, sizeof(out->entity));
	dec_copy(&d, out->nonce, AUTH_NONCE_LEN);
	size_t tl = 0;
	const void *t = dec_blob(&d, &tl);
	if (!dec_error(&d) && tl > AUTH_TICKET_MAX)
		dec_fail(&d, NORN_ECORRUPT);
	if (!dec_error(&d) && !entity_ok(out->entity))
		dec_fail(&d, NORN_ECORRUPT);
	if (dec_finish(&d))
		return dec_error(&d);
	out->ticket = tl ? t : NULL;
	out->ticket_len = tl;
	return 0;
}

void auth_challenge_encode(struct enc *e, const struct auth_challenge *c)
{
	enc_u8(e, AUTH_HANDSHAKE_VERSION);
	enc_str(e, c->entity);
	enc_bytes(e, c->nonce, AUTH_NONCE_LEN);
	enc_bytes(e, c->proof, AUTH_PROOF_LEN);
}

int auth_challenge_decode(const void *buf, size_t len, struct auth_challenge *out)
{
	struct dec d;
	dec_init(&d, buf, len);
	memset(out, 0, sizeof(*out));
	if (dec_version(&d))
		return dec_error(&d);
	dec_str(&d, out->entity, sizeof(out->entity));
	dec_copy(&d, out->nonce, AUTH_NONCE_LEN);
	dec_copy(&d, out->proof, AUTH_PROOF_LEN);
	if (!dec_error(&d) && !entity_ok(out->entity))
		dec_fail(&d, NORN_ECORRUPT);
	return dec_finish(&d);
}

void auth_proof_encode(struct enc *e, const uint8_t proof[AUTH_PROOF_LEN])
{
	enc_u8(e, AUTH_HANDSHAKE_VERSION);
	enc_bytes(e, proof, AUTH_PROOF_LEN);
}

int auth_proof_decode(const void *buf, size_t len, uint8_t proof[AUTH_PROOF_LEN])
{
	struct dec d;
	dec_init(&d, buf, len);
	if (dec_version(&d))
		return dec_error(&d);
	dec_copy(&d, proof, AUTH_PROOF_LEN);
	return dec_finish(&d);
}

void auth_fail_encode(struct enc *e, uint32_t reason)
{
	enc_u8(e, AUTH_HANDSHAKE_VERSION);
	enc_u32(e, reason);
}

int auth_fail_decode(const void *buf, size_t len, uint32_t *reason)
{
	struct dec d;
	dec_init(&d, buf, len);
	if (dec_version(&d))
		return dec_error(&d);
	*reason = dec_u32(&d);
	return dec_finish(&d);
}

/* ---- proofs ------------------------------------------------------------ */

int auth_proof_compute(const uint8_t key[AUTH_KEY_LEN], enum auth_dir dir,
                       const uint8_t nonce_c[AUTH_NONCE_LEN],
                       const uint8_t nonce_s[AUTH_NONCE_LEN],
                       const char *client_entity, const char *server_entity,
                       uint8_t out[AUTH_PROOF_LEN])
{
	/* Length-prefix the names so ("ab","c") and ("a","bc") differ. */
	uint8_t msg[32 + 2 * AUTH_NONCE_LEN + 2 * (4 + AUTH_ENTITY_NAME_MAX)];
	struct enc e;
	enc_init_fixed(&e, msg, sizeof(msg));
	enc_str(&e, dir == AUTH_DIR_SERVER ? "norn-auth-v1 server" : "norn-auth-v1 client");
	enc_bytes(&e, nonce_c, AUTH_NONCE_LEN);
	enc_bytes(&e, nonce_s, AUTH_NONCE_LEN);
	enc_str(&e, client_entity);
	enc_str(&e, server_entity);
	if (enc_error(&e))
		return -EINVAL;
	unsigned int olen = 0;
	if (!HMAC(EVP_sha256(), key, AUTH_KEY_LEN, msg, e.len, out, &olen) ||
	    olen != AUTH_PROOF_LEN)
		return NORN_EFAILED;
	return 0;
}

int auth_proof_equal(const uint8_t a[AUTH_PROOF_LEN], const uint8_t b[AUTH_PROOF_LEN])
{
	return CRYPTO_memcmp(a, b, AUTH_PROOF_LEN) == 0;
}

/* ---- tickets ----------------------------------------------------------- */

/* AES-256-GCM seal (enc=1) or open (enc=0) of @len bytes in place-ish:
 * @in -> @out. Returns 0, NORN_EAUTH (tag mismatch) or NORN_EFAILED. */
static int gcm(int enc, const uint8_t key[AUTH_KEY_LEN], const uint8_t iv[TICKET_IV_LEN],
               const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
               uint8_t *out, uint8_t tag[TICKET_TAG_LEN])
{
	int rc = NORN_EFAILED, n = 0;
	EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
	if (!cx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, TICKET_IV_LEN, NULL) != 1)
		goto out;
	if (EVP_CipherInit_ex(cx, NULL, NULL, key, iv, enc) != 1)
		goto out;
	if (EVP_CipherUpdate(cx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len && EVP_CipherUpdate(cx, out, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, TICKET_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(cx, out + n, &n) != 1) {
		rc = enc ? NORN_EFAILED : NORN_EAUTH;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, TICKET_TAG_LEN, tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(cx);
	return rc;
}

int auth_ticket_create(const uint8_t service_key[AUTH_KEY_LEN], uint64_t key_id,
                       const char *entity, const char *caps, uint64_t expires_ns,
                       uint8_t session_key_out[AUTH_KEY_LEN],
                       uint8_t *blob_out, size_t blob_cap, size_t *blob_len_out)
{
	if (!entity_ok(entity) || !caps || strlen(caps) >= AUTH_CAPS_STR_MAX)
		return -EINVAL;
	uint8_t session[AUTH_KEY_LEN];
	if (norn_random_bytes(session, sizeof(session)))
		return NORN_EFAILED;

	uint8_t plain[4 + AUTH_ENTITY_NAME_MAX + 4 + AUTH_CAPS_STR_MAX + 8 + AUTH_KEY_LEN];
	struct enc e;
	enc_init_fixed(&e, plain, sizeof(plain));
	enc_str(&e, entity);
	enc_str(&e, caps);
	enc_u64(&e, expires_ns);
	enc_bytes(&e, session, AUTH_KEY_LEN);
	NORN_ASSERT(!enc_error(&e));

	size_t total = TICKET_MIN_LEN + e.len;
	NORN_ASSERT(total <= AUTH_TICKET_MAX);
	if (blob_cap < total)
		return -ENOSPC;
	blob_out[0] = TICKET_VERSION;
	norn_put_le64(blob_out + 1, key_id);
	uint8_t *iv = blob_out + TICKET_AAD_LEN;
	if (norn_random_bytes(iv, TICKET_IV_LEN))
		return NORN_EFAILED;
	uint8_t *ct = iv + TICKET_IV_LEN;
	int rc = gcm(1, service_key, iv, blob_out, TICKET_AAD_LEN, plain, e.len, ct,
	             ct + e.len);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (rc)
		return rc;
	memcpy(session_key_out, session, AUTH_KEY_LEN);
	OPENSSL_cleanse(session, sizeof(session));
	*blob_len_out = total;
	return 0;
}

int auth_ticket_key_id(const uint8_t *blob, size_t len, uint64_t *key_id_out)
{
	if (len < TICKET_MIN_LEN || len > AUTH_TICKET_MAX || blob[0] != TICKET_VERSION)
		return NORN_ECORRUPT;
	*key_id_out = norn_get_le64(blob + 1);
	return 0;
}

int auth_ticket_verify(const uint8_t service_key[AUTH_KEY_LEN],
                       const uint8_t *blob, size_t len, uint64_t now_ns,
                       char *entity_out, char *caps_out,
                       uint8_t session_key_out[AUTH_KEY_LEN], uint64_t *expires_out)
{
	if (len < TICKET_MIN_LEN || len > AUTH_TICKET_MAX || blob[0] != TICKET_VERSION)
		return NORN_ECORRUPT;
	size_t ct_len = len - TICKET_MIN_LEN;
	uint8_t plain[AUTH_TICKET_MAX];
	uint8_t tag[TICKET_TAG_LEN];
	const uint8_t *iv = blob + TICKET_AAD_LEN;
	memcpy(tag, iv + TICKET_IV_LEN + ct_len, TICKET_TAG_LEN);
	int rc = gcm(0, service_key, iv, blob, TICKET_AAD_LEN, iv + TICKET_IV_LEN, ct_len,
	             plain, tag);
	if (rc)
		goto out;

	/* Authentic, but still validate: the sealing side could be buggy. */
	char entity[AUTH_ENTITY_NAME_MAX], caps[AUTH_CAPS_STR_MAX];
	uint8_t session[AUTH_KEY_LEN];
	struct dec d;
	dec_init(&d, plain, ct_len);
	dec_str(&d, entity, sizeof(entity));
	dec_str(&d, caps, sizeof(caps));
	uint64_t expires = dec_u64(&d);
	dec_copy(&d, session, AUTH_KEY_LEN);
	if (dec_error(&d) || dec_left(&d) || !entity_ok(entity)) {
		rc = NORN_ECORRUPT;
		goto out;
	}
	if (now_ns >= expires) {
		rc = -EKEYEXPIRED;
		goto out;
	}
	if (entity_out)
		memcpy(entity_out, entity, sizeof(entity));
	if (caps_out)
		memcpy(caps_out, caps, sizeof(caps));
	if (session_key_out)
		memcpy(session_key_out, session, AUTH_KEY_LEN);
	if (expires_out)
		*expires_out = expires;
	OPENSSL_cleanse(session, sizeof(session));
out:
	OPENSSL_cleanse(plain, sizeof(plain));
	return rc;
}

/* ---- base64 ------------------------------------------------------------ */

int auth_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need = 4 * ((len + 2) / 3) + 1;
	if (cap < need || len > (1u << 20))
		return -ENOSPC;
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return n;
}

int auth_b64_decode_exact(const char *in, uint8_t *out, size_t want)
{
	size_t il = strlen(in);
	size_t enc_len = 4 * ((want + 2) / 3);
	if (il != enc_len || want > 1024)
		return -EINVAL;
	uint8_t tmp[1024 + 3];
	int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)il);
	if (n < 0)
		return -EINVAL;
	/* EVP_DecodeBlock keeps the padding bytes as zeros in its count. */
	size_t pad = (size_t)(il && in[il - 1] == '=') + (size_t)(il > 1 && in[il - 2] == '=');
	if ((size_t)n - pad != want) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return -EINVAL;
	}
	/* Canonical: re-encoding must give the same text. */
	char back[4 * ((1024 + 2) / 3) + 1];
	EVP_EncodeBlock((unsigned char *)back, tmp, (int)want);
	int ok = strcmp(back, in) == 0;
	if (ok)
		memcpy(out, tmp, want);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	OPENSSL_cleanse(back, sizeof(back));
	return ok ? 0 : -EINVAL;
}
