/* Authentication: the messenger handshake, tickets, and their wire forms.
 *
 * Every entity ("mon.a", "osd.3", "client.admin") has a 32-byte secret
 * (keyring.h). A connection is authenticated by a mutual challenge-
 * response right after connect, before any message:
 *
 *   client -> server  HELLO      {client entity, nonce_c, optional ticket}
 *   server -> client  CHALLENGE  {server entity, nonce_s, proof_s}
 *   client -> server  PROOF      {proof_c}
 *   server -> client  DONE       (or FAIL {reason} and close)
 *
 * Nonces are fresh 32-byte values from norn_random_bytes(). The server
 * looks up the key for the client's entity (or verifies the ticket and
 * takes the session key sealed in it). Both proofs are
 * HMAC-SHA256(key, label || nonce_c || nonce_s || client || server) with
 * a different label per direction, so one side's proof can never be
 * replayed as the other's and nothing secret crosses the wire. Each side
 * only accepts the other after checking its proof, in constant time.
 *
 * Tickets let OSDs authenticate clients without knowing their secrets:
 * the mon seals {entity, caps, expiry, session key} with AES-256-GCM under
 * a rotating service key that it shares with the OSDs; the client gets the
 * blob plus the session key (over its own authenticated connection to the
 * mon) and presents the blob in HELLO; the OSD opens it and uses the
 * session key as the handshake key. A tampered or expired ticket is
 * refused. Blob layout: u8 version, u64 service key id, 12-byte IV,
 * ciphertext, 16-byte GCM tag; the version and key id are authenticated
 * as additional data.
 *
 * The functions here are pure (no I/O) apart from drawing random bytes.
 */
#ifndef NORN_AUTH_H
#define NORN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/map_auth.h"   /* AUTH_ENTITY_NAME_MAX, AUTH_CAPS_STR_MAX */

#define AUTH_KEY_LEN 32
#define AUTH_NONCE_LEN 32
#define AUTH_PROOF_LEN 32
#define AUTH_TICKET_MAX 2048          /* bytes of a ticket blob */
#define AUTH_HANDSHAKE_VERSION 1

/* Reasons carried by MSG_T_AUTH_FAIL. */
enum auth_fail_reason {
	AUTH_FAIL_UNKNOWN_ENTITY = 1,
	AUTH_FAIL_BAD_PROOF = 2,
	AUTH_FAIL_BAD_TICKET = 3,
	AUTH_FAIL_PROTOCOL = 4,
	AUTH_FAIL_NOT_ACCEPTING = 5,
};
/* Static text for a reason ("bad proof"); never NULL. */
const char *auth_fail_reason_str(uint32_t reason);

struct auth_hello {
	char entity[AUTH_ENTITY_NAME_MAX];
	uint8_t nonce[AUTH_NONCE_LEN];
	const uint8_t *ticket;      /* points into the decoded buffer */
	size_t ticket_len;          /* 0: no ticket */
};

struct auth_challenge {
	char entity[AUTH_ENTITY_NAME_MAX];
	uint8_t nonce[AUTH_NONCE_LEN];
	uint8_t proof[AUTH_PROOF_LEN];
};

/* Encoders append to @e (see encode.h; errors are sticky in @e).
 * Decoders read exactly one message from @buf/@len and return 0,
 * NORN_ECORRUPT (short, trailing bytes, bad entity name, ticket too
 * long) or NORN_EVERSION. */
struct enc;
void auth_hello_encode(struct enc *e, const struct auth_hello *h);
int auth_hello_decode(const void *buf, size_t len, struct auth_hello *out);
void auth_challenge_encode(struct enc *e, const struct auth_challenge *c);
int auth_challenge_decode(const void *buf, size_t len, struct auth_challenge *out);
void auth_proof_encode(struct enc *e, const uint8_t proof[AUTH_PROOF_LEN]);
int auth_proof_decode(const void *buf, size_t len, uint8_t proof[AUTH_PROOF_LEN]);
void auth_fail_encode(struct enc *e, uint32_t reason);
int auth_fail_decode(const void *buf, size_t len, uint32_t *reason);

/* Which proof to compute. */
enum auth_dir { AUTH_DIR_SERVER = 0, AUTH_DIR_CLIENT = 1 };

/* Compute a handshake proof (see above) into @out. Returns 0 or
 * NORN_EFAILED (OpenSSL failure). */
int auth_proof_compute(const uint8_t key[AUTH_KEY_LEN], enum auth_dir dir,
                       const uint8_t nonce_c[AUTH_NONCE_LEN],
                       const uint8_t nonce_s[AUTH_NONCE_LEN],
                       const char *client_entity, const char *server_entity,
                       uint8_t out[AUTH_PROOF_LEN]);

/* Constant-time comparison of two proofs; returns 1 if equal. */
int auth_proof_equal(const uint8_t a[AUTH_PROOF_LEN], const uint8_t b[AUTH_PROOF_LEN]);

/* Seal a ticket for @entity with @caps (NUL-terminated, may be "")
 * valid until @expires_ns (wall clock), under @service_key whose id is
 * @key_id. A fresh session key is drawn into @session_key_out (give it to
 * the client with the blob). The blob goes to @blob_out (@blob_cap bytes;
 * AUTH_TICKET_MAX always suffices), its length to *@blob_len_out.
 * Returns 0, -EINVAL (bad entity name, caps too long), -ENOSPC (@blob_cap
 * too small) or NORN_EFAILED (OpenSSL). */
int auth_ticket_create(const uint8_t service_key[AUTH_KEY_LEN], uint64_t key_id,
                       const char *entity, const char *caps, uint64_t expires_ns,
                       uint8_t session_key_out[AUTH_KEY_LEN],
                       uint8_t *blob_out, size_t blob_cap, size_t *blob_len_out);

/* The service key id a blob was sealed with (to pick the rotating key).
 * Returns 0 or NORN_ECORRUPT. */
int auth_ticket_key_id(const uint8_t *blob, size_t len, uint64_t *key_id_out);

/* Open a ticket. Returns 0 and fills the outputs (each may be NULL), or
 *   NORN_ECORRUPT  malformed blob (too short/long, unknown version)
 *   NORN_EAUTH     wrong service key or tampered blob (GCM tag mismatch)
 *   -EKEYEXPIRED   authentic but expired (@now_ns >= its expiry)
 * @entity_out has AUTH_ENTITY_NAME_MAX bytes, @caps_out AUTH_CAPS_STR_MAX. */
int auth_ticket_verify(const uint8_t service_key[AUTH_KEY_LEN],
                       const uint8_t *blob, size_t len, uint64_t now_ns,
                       char *entity_out, char *caps_out,
                       uint8_t session_key_out[AUTH_KEY_LEN], uint64_t *expires_out);

/* Base64 (standard alphabet, padded) via OpenSSL. Encode writes a NUL-
 * terminated string; needs 4*ceil(len/3)+1 bytes. Returns the string
 * length or -ENOSPC. Decode accepts only canonical input of exactly
 * @want bytes when decoded; returns 0 or -EINVAL. */
int auth_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int auth_b64_decode_exact(const char *in, uint8_t *out, size_t want);

/* Module-internal (auth/keyring/msg): 1 if @s is a valid "type.id". */
int auth__entity_ok(const char *s);

#endif
