/* libFuzzer target: the frame decoder and the handshake message decoders.
 *
 * The input is treated as a byte stream of frames (as a connection would
 * deliver it); every decoded frame's payload is also run through the
 * handshake decoder its type selects, and through all of them, so the
 * decoders see both well-framed and arbitrary bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/auth.h"
#include "common/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_all(const uint8_t *p, size_t len)
{
	struct auth_hello h;
	struct auth_challenge c;
	uint8_t proof[AUTH_PROOF_LEN];
	uint32_t reason;
	if (auth_hello_decode(p, len, &h) == 0) {
		NORN_ASSERT(h.ticket_len <= AUTH_TICKET_MAX);
		NORN_ASSERT(strlen(h.entity) < sizeof(h.entity));
		NORN_ASSERT(!h.ticket || (h.ticket >= p && h.ticket + h.ticket_len <= p + len));
	}
	(void)auth_challenge_decode(p, len, &c);
	(void)auth_proof_decode(p, len, proof);
	(void)auth_fail_decode(p, len, &reason);
	uint8_t key[AUTH_KEY_LEN] = { 1 };
	char ent[AUTH_ENTITY_NAME_MAX], caps[AUTH_CAPS_STR_MAX];
	uint8_t sess[AUTH_KEY_LEN];
	uint64_t kid;
	(void)auth_ticket_key_id(p, len, &kid);
	(void)auth_ticket_verify(key, p, len, 0, ent, caps, sess, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	for (int i = 0; i < 64 && off < size; i++) {
		struct msg_hdr h;
		const uint8_t *pl;
		size_t fl;
		int rc = msg_frame_decode(data + off, size - off, 1u << 20, &h, &pl, &fl);
		if (rc) {
			/* The header decoder alone must agree on header errors. */
			struct msg_hdr h2;
			int hr = msg_hdr_decode(data + off, size - off, 1u << 20, &h2);
			NORN_ASSERT(hr == 0 || hr == rc);
			break;
		}
		NORN_ASSERT(fl == MSG_HDR_LEN + h.payload_len && fl <= size - off);
		/* Re-encoding the header gives the same bytes. */
		uint8_t again[MSG_HDR_LEN];
		msg_hdr_encode(&h, again);
		NORN_ASSERT(memcmp(again, data + off, MSG_HDR_LEN) == 0);
		decode_all(pl, h.payload_len);
		off += fl;
	}
	decode_all(data, size);
	return 0;
}
