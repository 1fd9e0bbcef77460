/* libFuzzer target over the NBD decoders a client's bytes reach first:
 * client flags, option headers and the INFO/GO and EXPORT_NAME payloads
 * (the whole negotiation stream, option after option, as the server
 * consumes it), and transmission request headers with the request checker.
 * Beyond "no crash, no UB, no leak" it checks what the server relies on:
 * an accepted GO payload is exactly consistent, a request judged OK lies
 * inside the export and within the payload limit, and a decoded request
 * re-encodes to the same bytes.
 *
 * Input: byte 0 selects the mode, the rest is the wire data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/nbd/nbd_proto.h"
#include "common/assert.h"

static void negotiation_stream(const uint8_t *p, size_t n)
{
	static struct nbd_opt_go go;
	static char name[NBD_MAX_NAME_BYTES + 1];
	uint32_t flags;
	size_t off = 0;

	if (n < 4 || nbd_decode_client_flags(p, &flags))
		return;
	NORN_ASSERT(!(flags & ~NBD_FLAG_C_KNOWN));
	off = 4;
	for (int i = 0; i < 64 && n - off >= NBD_OPT_HDR_BYTES; i++) {
		struct nbd_opt_hdr h;
		if (nbd_decode_opt_hdr(p + off, &h))
			return;
		NORN_ASSERT(h.len_bytes <= NBD_MAX_OPT_BYTES);
		off += NBD_OPT_HDR_BYTES;
		if (h.len_bytes > n - off)
			return;
		const uint8_t *d = p + off;
		off += h.len_bytes;
		if (h.opt == NBD_OPT_EXPORT_NAME) {
			if (!nbd_decode_export_name(d, h.len_bytes, name, sizeof(name)))
				NORN_ASSERT(strlen(name) == h.len_bytes);
		} else if (!nbd_decode_opt_go(d, h.len_bytes, &go)) {
			NORN_ASSERT(go.name_len <= NBD_MAX_NAME_BYTES);
			NORN_ASSERT(strlen(go.name) == go.name_len);
			NORN_ASSERT(go.n_info <= NBD_MAX_INFO_REQS);
			NORN_ASSERT(6u + go.name_len + 2u * go.n_info == h.len_bytes);
		}
	}
}

static void requests(const uint8_t *p, size_t n)
{
	struct nbd_export_limits ex;
	uint8_t again[NBD_REQUEST_BYTES];

	if (n < 16)
		return;
	/* Export shape from the first 16 bytes. */
	ex.size_bytes = nbd_get_be64(p) >> (p[8] & 63);
	ex.min_block = 1u << (p[9] % 17);
	ex.max_payload = NBD_MAX_PAYLOAD_BYTES >> (p[10] % 16);
	ex.tflags = nbd_get_be16(p + 11) | NBD_FLAG_HAS_FLAGS;
	p += 16;
	n -= 16;
	while (n >= NBD_REQUEST_BYTES) {
		struct nbd_request rq;
		uint32_t err = 0;
		if (nbd_decode_request(p, &rq) == 0) {
			nbd_enc_request(again, &rq);
			NORN_ASSERT(!memcmp(again, p, NBD_REQUEST_BYTES));
			switch (nbd_request_check(&rq, &ex, &err)) {
			case NBD_VERDICT_OK:
				NORN_ASSERT(err == 0);
				if (rq.type != NBD_CMD_FLUSH) {
					NORN_ASSERT(rq.offset <= ex.size_bytes);
					NORN_ASSERT(rq.len_bytes <= ex.size_bytes - rq.offset);
					NORN_ASSERT(rq.len_bytes > 0);
				}
				if (rq.type == NBD_CMD_READ || rq.type == NBD_CMD_WRITE)
					NORN_ASSERT(rq.len_bytes <= ex.max_payload);
				if (rq.type != NBD_CMD_READ && rq.type != NBD_CMD_FLUSH)
					NORN_ASSERT(!(ex.tflags & NBD_FLAG_READ_ONLY));
				break;
			case NBD_VERDICT_ERROR:
				NORN_ASSERT(err != 0);
				break;
			case NBD_VERDICT_CLOSE:
				NORN_ASSERT(rq.type == NBD_CMD_WRITE && rq.len_bytes > ex.max_payload);
				break;
			case NBD_VERDICT_DISC:
				NORN_ASSERT(rq.type == NBD_CMD_DISC);
				break;
			}
		}
		p += NBD_REQUEST_BYTES;
		n -= NBD_REQUEST_BYTES;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nbd_opt_go go;
	static char name[NBD_MAX_NAME_BYTES + 1];
	struct nbd_opt_reply_hdr rh;
	uint32_t e;
	uint64_t c;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		negotiation_stream(data + 1, size - 1);
		break;
	case 1:
		requests(data + 1, size - 1);
		break;
	case 2:
		/* Single payload decoders on the raw rest. */
		(void)nbd_decode_opt_go(data + 1, size - 1, &go);
		(void)nbd_decode_export_name(data + 1, size - 1, name, sizeof(name));
		break;
	case 3:
		/* Client-side decoders (used by tests and tools). */
		if (size - 1 >= NBD_OPT_REPLY_HDR_BYTES)
			(void)nbd_decode_opt_reply_hdr(data + 1, &rh);
		if (size - 1 >= NBD_SIMPLE_REPLY_BYTES)
			(void)nbd_decode_simple_reply(data + 1, &e, &c);
		break;
	}
	return 0;
}
