/* The NBD wire protocol: constants, encoders and validated decoders.
 *
 * This is the pure half of norn-nbd (library norn_nbd_proto): no sockets,
 * no event loop, no allocation except through struct enc. The server
 * (nbd_server.c), the tests' raw clients and the fuzzer all go through it,
 * so every byte the server acts on has been checked here first.
 *
 * Norn speaks the "fixed newstyle" handshake only (no oldstyle, no TLS,
 * no structured replies): the server greets with NBDMAGIC + IHAVEOPT and
 * its handshake flags, the client answers with its flags, then sends
 * options (GO, INFO, LIST, ABORT, EXPORT_NAME; everything else is
 * refused with NBD_REP_ERR_UNSUP) until GO or EXPORT_NAME moves the
 * connection to the transmission phase, where it sends 28-byte requests
 * and gets 16-byte simple replies carrying the request's cookie.
 *
 * Unlike the rest of Norn, NBD is big-endian on the wire; the nbd_get_be*
 * and nbd_put_be* helpers below are the only byte-order code here.
 * Reference: the NBD protocol specification (doc/proto.md of the
 * NetworkBlockDevice project).
 */
#ifndef NORN_NBD_PROTO_H
#define NORN_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct enc;

/* ---- magics and fixed sizes ------------------------------------------ */

#define NBD_MAGIC               0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC          0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC           0x0003e889045565a9ull /* option reply */
#define NBD_REQUEST_MAGIC       0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC  0x67446698u

#define NBD_GREETING_BYTES      18u  /* NBDMAGIC, IHAVEOPT, u16 flags */
#define NBD_CLIENT_FLAGS_BYTES  4u
#define NBD_OPT_HDR_BYTES       16u  /* IHAVEOPT, u32 option, u32 length */
#define NBD_OPT_REPLY_HDR_BYTES 20u  /* magic, u32 option, u32 type, u32 length */
#define NBD_REQUEST_BYTES       28u
#define NBD_SIMPLE_REPLY_BYTES  16u
#define NBD_EXPORT_NAME_ZEROES  124u /* padding after the EXPORT_NAME reply */

/* Limits the server enforces. Names are capped by the spec at 4096 bytes;
 * option payloads beyond NBD_MAX_OPT_BYTES close the connection (no valid
 * option we support needs that much); 32 MiB is the largest payload
 * (READ/WRITE length) any NBD implementation is required to accept. */
#define NBD_MAX_NAME_BYTES      4096u
#define NBD_MAX_OPT_BYTES       (NBD_MAX_NAME_BYTES + 4u + 2u + 2u * 64u)
#define NBD_MAX_INFO_REQS       64u
#define NBD_MAX_PAYLOAD_BYTES   (32u << 20)

/* ---- handshake flags ------------------------------------------------- */

#define NBD_FLAG_FIXED_NEWSTYLE   (1u << 0) /* server, u16 */
#define NBD_FLAG_NO_ZEROES        (1u << 1) /* server, u16 */
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0) /* client, u32 */
#define NBD_FLAG_C_NO_ZEROES      (1u << 1) /* client, u32 */
#define NBD_FLAG_C_KNOWN          (NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)

/* ---- options ---------------------------------------------------------- */

#define NBD_OPT_EXPORT_NAME       1u
#define NBD_OPT_ABORT             2u
#define NBD_OPT_LIST              3u
#define NBD_OPT_STARTTLS          5u
#define NBD_OPT_INFO              6u
#define NBD_OPT_GO                7u
#define NBD_OPT_STRUCTURED_REPLY  8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT  10u
#define NBD_OPT_EXTENDED_HEADERS  11u

#define NBD_REP_ACK               1u
#define NBD_REP_SERVER            2u
#define NBD_REP_INFO              3u
#define NBD_REP_FLAG_ERROR        (1u << 31)
#define NBD_REP_ERR_UNSUP         (NBD_REP_FLAG_ERROR | 1u)
#define NBD_REP_ERR_POLICY        (NBD_REP_FLAG_ERROR | 2u)
#define NBD_REP_ERR_INVALID       (NBD_REP_FLAG_ERROR | 3u)
#define NBD_REP_ERR_PLATFORM      (NBD_REP_FLAG_ERROR | 4u)
#define NBD_REP_ERR_TLS_REQD      (NBD_REP_FLAG_ERROR | 5u)
#define NBD_REP_ERR_UNKNOWN       (NBD_REP_FLAG_ERROR | 6u)
#define NBD_REP_ERR_SHUTDOWN      (NBD_REP_FLAG_ERROR | 7u)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8u)
#define NBD_REP_ERR_TOO_BIG       (NBD_REP_FLAG_ERROR | 9u)

#define NBD_INFO_EXPORT           0u
#define NBD_INFO_NAME             1u
#define NBD_INFO_DESCRIPTION      2u
#define NBD_INFO_BLOCK_SIZE       3u

/* ---- transmission flags (u16, per export) ----------------------------- */

#define NBD_FLAG_HAS_FLAGS         (1u << 0)
#define NBD_FLAG_READ_ONLY         (1u << 1)
#define NBD_FLAG_SEND_FLUSH        (1u << 2)
#define NBD_FLAG_SEND_FUA          (1u << 3)
#define NBD_FLAG_ROTATIONAL        (1u << 4)
#define NBD_FLAG_SEND_TRIM         (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF           (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN    (1u << 8)
#define NBD_FLAG_SEND_RESIZE       (1u << 9)
#define NBD_FLAG_SEND_CACHE        (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO    (1u << 11)

/* ---- commands ---------------------------------------------------------- */

#define NBD_CMD_READ              0u
#define NBD_CMD_WRITE             1u
#define NBD_CMD_DISC              2u
#define NBD_CMD_FLUSH             3u
#define NBD_CMD_TRIM              4u
#define NBD_CMD_CACHE             5u
#define NBD_CMD_WRITE_ZEROES      6u
#define NBD_CMD_BLOCK_STATUS      7u

#define NBD_CMD_FLAG_FUA          (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE      (1u << 1)
#define NBD_CMD_FLAG_DF           (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE      (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO    (1u << 4)

/* NBD error values carried in replies (errno numbers fixed by the spec,
 * independent of the host's errno.h). */
#define NBD_EPERM      1u
#define NBD_EIO        5u
#define NBD_ENOMEM     12u
#define NBD_EINVAL     22u
#define NBD_ENOSPC     28u
#define NBD_EOVERFLOW  75u
#define NBD_ENOTSUP    95u
#define NBD_ESHUTDOWN  108u

/* ---- big-endian helpers ------------------------------------------------ */

static inline void nbd_put_be16(void *p, uint16_t v) { uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v }; memcpy(p, b, 2); }
static inline void nbd_put_be32(void *p, uint32_t v) { uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v }; memcpy(p, b, 4); }
static inline void nbd_put_be64(void *p, uint64_t v) { nbd_put_be32(p, (uint32_t)(v >> 32)); nbd_put_be32((uint8_t *)p + 4, (uint32_t)v); }
static inline uint16_t nbd_get_be16(const void *p) { uint8_t b[2]; memcpy(b, p, 2); return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t nbd_get_be32(const void *p) { uint8_t b[4]; memcpy(b, p, 4); return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3]; }
static inline uint64_t nbd_get_be64(const void *p) { return (uint64_t)nbd_get_be32(p) << 32 | nbd_get_be32((const uint8_t *)p + 4); }

/* ---- decoded forms ----------------------------------------------------- */

/* An option request header (the payload follows on the wire). */
struct nbd_opt_hdr {
	uint32_t opt;
	uint32_t len_bytes;
};

/* The payload of NBD_OPT_INFO / NBD_OPT_GO. */
struct nbd_opt_go {
	char name[NBD_MAX_NAME_BYTES + 1]; /* NUL-terminated; "" = default export */
	uint32_t name_len;
	uint16_t n_info;                   /* information requests as sent */
	bool want_name;                    /* NBD_INFO_NAME requested */
	bool want_description;             /* NBD_INFO_DESCRIPTION requested */
	bool want_block_size;              /* NBD_INFO_BLOCK_SIZE requested */
};

/* A transmission-phase request header. */
struct nbd_request {
	uint16_t flags;     /* NBD_CMD_FLAG_* */
	uint16_t type;      /* NBD_CMD_* */
	uint64_t cookie;    /* opaque, echoed in the reply ("handle") */
	uint64_t offset;
	uint32_t len_bytes;
};

/* What the server knows about the export a request is checked against. */
struct nbd_export_limits {
	uint64_t size_bytes;
	uint32_t min_block;      /* power of two >= 1: offsets/lengths align to it */
	uint32_t max_payload;    /* largest READ/WRITE length accepted */
	uint16_t tflags;         /* transmission flags sent to the client */
};

/* The verdict on one request header. */
enum nbd_verdict {
	NBD_VERDICT_OK = 0,   /* run it */
	NBD_VERDICT_ERROR,    /* reply with *err_out (after consuming any payload) */
	NBD_VERDICT_DISC,     /* NBD_CMD_DISC: finish in-flight requests, close */
	NBD_VERDICT_CLOSE,    /* protocol violation: close the connection now */
};

/* ---- decoders (server side) -------------------------------------------- */

/* Client flags (4 bytes at @p). Returns 0 and *flags_out, or
 * NORN_ECORRUPT if unknown bits are set (the spec says close). */
int nbd_decode_client_flags(const uint8_t *p, uint32_t *flags_out);

/* Option request header (NBD_OPT_HDR_BYTES at @p). Returns 0, or
 * NORN_ECORRUPT for a bad magic or a length above NBD_MAX_OPT_BYTES
 * (both close the connection). */
int nbd_decode_opt_hdr(const uint8_t *p, struct nbd_opt_hdr *out);

/* Payload of NBD_OPT_INFO/NBD_OPT_GO (@len bytes at @p). Returns 0, or
 * NORN_ECORRUPT if the lengths are inconsistent, the name is longer than
 * NBD_MAX_NAME_BYTES or contains a NUL byte, or there are more than
 * NBD_MAX_INFO_REQS requests (answer NBD_REP_ERR_INVALID). Unknown info
 * types are ignored, as the spec requires. */
int nbd_decode_opt_go(const uint8_t *p, size_t len, struct nbd_opt_go *out);

/* Payload of NBD_OPT_EXPORT_NAME: the whole payload is the name. Copies it
 * NUL-terminated into @name (cap >= NBD_MAX_NAME_BYTES + 1). Returns 0 or
 * NORN_ECORRUPT (too long, embedded NUL, small @cap). */
int nbd_decode_export_name(const uint8_t *p, size_t len, char *name, size_t cap);

/* Request header (NBD_REQUEST_BYTES at @p). Returns 0, or NORN_ECORRUPT
 * for a bad magic. Says nothing about whether the request is valid: see
 * nbd_request_check(). */
int nbd_decode_request(const uint8_t *p, struct nbd_request *out);

/* Judge a decoded request against @ex. Returns the verdict; for
 * NBD_VERDICT_ERROR, *err_out gets the NBD error to reply (NBD_EINVAL for
 * bad ranges, flags or alignment and unknown commands, NBD_ENOSPC for a
 * write past the end, NBD_EPERM for a write to a read-only export,
 * NBD_ENOTSUP for a command the export did not advertise). A WRITE longer
 * than max_payload is NBD_VERDICT_CLOSE: its payload cannot be trusted to
 * be skipped safely. Pure function. */
enum nbd_verdict nbd_request_check(const struct nbd_request *rq,
                                   const struct nbd_export_limits *ex,
                                   uint32_t *err_out);

/* Bytes of payload that follow @rq on the wire (the WRITE length, else 0). */
static inline uint32_t nbd_request_payload(const struct nbd_request *rq)
{
	return rq->type == NBD_CMD_WRITE ? rq->len_bytes : 0;
}

/* Map a negative errno or NORN_E* code to an NBD reply error. 0 -> 0. */
uint32_t nbd_errno_to_wire(int err);

/* Printable names for logs ("READ", "GO", ...); never NULL. */
const char *nbd_cmd_name(uint16_t type);
const char *nbd_opt_name(uint32_t opt);

/* ---- encoders ------------------------------------------------------------
 * The nbd_enc_* functions append to a struct enc (common/encode.h) and
 * report failure through its sticky error (check enc_error() once). */

void nbd_enc_greeting(struct enc *e, uint16_t hs_flags);
/* An option reply header followed by @len bytes of @data (may be NULL if
 * @len is 0). */
void nbd_enc_opt_reply(struct enc *e, uint32_t opt, uint32_t type,
                       const void *data, uint32_t len);
/* An error reply with a human-readable message (may be "" or NULL). */
void nbd_enc_opt_error(struct enc *e, uint32_t opt, uint32_t type, const char *msg);
/* NBD_REP_SERVER for NBD_OPT_LIST: an export name and optional description. */
void nbd_enc_rep_server(struct enc *e, const char *name, const char *desc);
void nbd_enc_info_export(struct enc *e, uint32_t opt, uint64_t size_bytes, uint16_t tflags);
void nbd_enc_info_block_size(struct enc *e, uint32_t opt, uint32_t min_block,
                             uint32_t pref_block, uint32_t max_payload);
/* NBD_INFO_NAME or NBD_INFO_DESCRIPTION with the string @s. */
void nbd_enc_info_string(struct enc *e, uint32_t opt, uint16_t info, const char *s);
/* The reply to a successful NBD_OPT_EXPORT_NAME. */
void nbd_enc_export_name_reply(struct enc *e, uint64_t size_bytes, uint16_t tflags,
                               bool no_zeroes);
/* A simple reply into 16 bytes at @out. */
void nbd_enc_simple_reply(uint8_t *out, uint32_t err, uint64_t cookie);

/* ---- client side (tests and tools) ------------------------------------- */

/* Encode a request header into 28 bytes at @out. */
void nbd_enc_request(uint8_t *out, const struct nbd_request *rq);
/* Encode an option request header into 16 bytes at @out. */
void nbd_enc_opt_hdr(uint8_t *out, uint32_t opt, uint32_t len_bytes);

struct nbd_opt_reply_hdr {
	uint32_t opt;
	uint32_t type;
	uint32_t len_bytes;
};
/* Option reply header (20 bytes). Returns 0 or NORN_ECORRUPT (bad magic). */
int nbd_decode_opt_reply_hdr(const uint8_t *p, struct nbd_opt_reply_hdr *out);
/* Simple reply (16 bytes). Returns 0 or NORN_ECORRUPT (bad magic). */
int nbd_decode_simple_reply(const uint8_t *p, uint32_t *err_out, uint64_t *cookie_out);

#endif
