/* NBD wire protocol: validated decoders and encoders. See nbd_proto.h.
 *
 * Every decoder here takes bytes straight off a socket; none of them
 * trusts a length or a count it has not checked against what it was given,
 * and none of them can reach an assertion on bad input.
 */
#include <errno.h>
#include <string.h>

#include "client/nbd/nbd_proto.h"
#include "common/assert.h"
#include "common/encode.h"
#include "norn/errors.h"

/* ---- decoders ---------------------------------------------------------- */

int nbd_decode_client_flags(const uint8_t *p, uint32_t *flags_out)
{
	uint32_t f = nbd_get_be32(p);

	if (f & ~NBD_FLAG_C_KNOWN)
		return NORN_ECORRUPT;
	*flags_out = f;
	return 0;
}

int nbd_decode_opt_hdr(const uint8_t *p, struct nbd_opt_hdr *out)
{
	if (nbd_get_be64(p) != NBD_OPTS_MAGIC)
		return NORN_ECORRUPT;
	out->opt = nbd_get_be32(p + 8);
	out->len_bytes = nbd_get_be32(p + 12);
	if (out->len_bytes > NBD_MAX_OPT_BYTES)
		return NORN_ECORRUPT;
	return 0;
}

/* Copy a name of @len bytes, refusing embedded NULs (a name is a string,
 * and a NUL would let "a\0b" alias "a" inside the server). */
static int copy_name(const uint8_t *p, size_t len, char *name, size_t cap)
{
	if (len > NBD_MAX_NAME_BYTES || len + 1 > cap)
		return NORN_ECORRUPT;
	if (len && memchr(p, 0, len))
		return NORN_ECORRUPT;
	if (len)
		memcpy(name, p, len);
	name[len] = 0;
	return 0;
}

int nbd_decode_opt_go(const uint8_t *p, size_t len, struct nbd_opt_go *out)
{
	uint32_t name_len;
	size_t off;

	memset(out, 0, sizeof(*out));
	if (len < 4 + 2)
		return NORN_ECORRUPT;
	name_len = nbd_get_be32(p);
	/* name_len <= len - 6 also keeps off below from overflowing. */
	if (name_len > len - 6)
		return NORN_ECORRUPT;
	if (copy_name(p + 4, name_len, out->name, sizeof(out->name)))
		return NORN_ECORRUPT;
	out->name_len = name_len;
	off = 4 + (size_t)name_len;
	out->n_info = nbd_get_be16(p + off);
	off += 2;
	if (out->n_info > NBD_MAX_INFO_REQS)
		return NORN_ECORRUPT;
	if (len - off != 2u * out->n_info)
		return NORN_ECORRUPT;
	for (uint16_t i = 0; i < out->n_info; i++, off += 2) {
		switch (nbd_get_be16(p + off)) {
		case NBD_INFO_NAME: out->want_name = true; break;
		case NBD_INFO_DESCRIPTION: out->want_description = true; break;
		case NBD_INFO_BLOCK_SIZE: out->want_block_size = true; break;
		default: break; /* NBD_INFO_EXPORT is always sent; others ignored */
		}
	}
	return 0;
}

int nbd_decode_export_name(const uint8_t *p, size_t len, char *name, size_t cap)
{
	return copy_name(p, len, name, cap);
}

int nbd_decode_request(const uint8_t *p, struct nbd_request *out)
{
	if (nbd_get_be32(p) != NBD_REQUEST_MAGIC)
		return NORN_ECORRUPT;
	out->flags = nbd_get_be16(p + 4);
	out->type = nbd_get_be16(p + 6);
	out->cookie = nbd_get_be64(p + 8);
	out->offset = nbd_get_be64(p + 16);
	out->len_bytes = nbd_get_be32(p + 24);
	return 0;
}

/* Offset and length inside the export and aligned to its minimum block.
 * Written so that offset + len cannot overflow. */
static bool range_ok(const struct nbd_request *rq, const struct nbd_export_limits *ex)
{
	if (rq->offset > ex->size_bytes || rq->len_bytes > ex->size_bytes - rq->offset)
		return false;
	if (ex->min_block > 1 &&
	    ((rq->offset | rq->len_bytes) & (uint64_t)(ex->min_block - 1)))
		return false;
	return true;
}

enum nbd_verdict nbd_request_check(const struct nbd_request *rq,
                                   const struct nbd_export_limits *ex,
                                   uint32_t *err_out)
{
	bool ro = ex->tflags & NBD_FLAG_READ_ONLY;
	uint16_t allowed;

	*err_out = 0;
	switch (rq->type) {
	case NBD_CMD_READ:
		/* FUA on a read is meaningless but harmless: the spec lets a
		 * server ignore it. DF needs structured replies, which we
		 * never negotiate. */
		allowed = NBD_CMD_FLAG_FUA;
		break;
	case NBD_CMD_WRITE:
		/* A write with an absurd length is the one malformed request we
		 * cannot answer: we would have to swallow up to 4 GiB of
		 * payload first. Close instead, as the spec permits. */
		if (rq->len_bytes > ex->max_payload)
			return NBD_VERDICT_CLOSE;
		allowed = NBD_CMD_FLAG_FUA;
		break;
	case NBD_CMD_DISC:
		return NBD_VERDICT_DISC;
	case NBD_CMD_FLUSH:
		allowed = 0;
		break;
	case NBD_CMD_TRIM:
		allowed = NBD_CMD_FLAG_FUA;
		break;
	case NBD_CMD_WRITE_ZEROES:
		allowed = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
		break;
	default:
		*err_out = NBD_EINVAL;
		return NBD_VERDICT_ERROR;
	}
	if (rq->flags & ~allowed) {
		*err_out = NBD_EINVAL;
		return NBD_VERDICT_ERROR;
	}
	if ((rq->flags & NBD_CMD_FLAG_FUA) && !(ex->tflags & NBD_FLAG_SEND_FUA) &&
	    rq->type != NBD_CMD_READ) {
		*err_out = NBD_EINVAL;
		return NBD_VERDICT_ERROR;
	}

	switch (rq->type) {
	case NBD_CMD_READ:
		if (rq->len_bytes == 0 || rq->len_bytes > ex->max_payload || !range_ok(rq, ex)) {
			*err_out = NBD_EINVAL;
			return NBD_VERDICT_ERROR;
		}
		return NBD_VERDICT_OK;
	case NBD_CMD_FLUSH:
		/* Offset and length are reserved (zero) for FLUSH; the kernel
		 * client sends zeros, others might not: ignore them. */
		if (!(ex->tflags & NBD_FLAG_SEND_FLUSH)) {
			*err_out = NBD_ENOTSUP;
			return NBD_VERDICT_ERROR;
		}
		return NBD_VERDICT_OK;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		if (ro) {
			*err_out = NBD_EPERM;
			return NBD_VERDICT_ERROR;
		}
		if (rq->type == NBD_CMD_TRIM && !(ex->tflags & NBD_FLAG_SEND_TRIM)) {
			*err_out = NBD_ENOTSUP;
			return NBD_VERDICT_ERROR;
		}
		if (rq->type == NBD_CMD_WRITE_ZEROES &&
		    !(ex->tflags & NBD_FLAG_SEND_WRITE_ZEROES)) {
			*err_out = NBD_ENOTSUP;
			return NBD_VERDICT_ERROR;
		}
		if (rq->len_bytes == 0) {
			*err_out = NBD_EINVAL;
			return NBD_VERDICT_ERROR;
		}
		if (!range_ok(rq, ex)) {
			/* The spec asks for ENOSPC when a write starts or runs
			 * past the end, EINVAL for trims and bad alignment. */
			bool past_end = rq->offset > ex->size_bytes ||
			                rq->len_bytes > ex->size_bytes - rq->offset;
			*err_out = past_end && rq->type != NBD_CMD_TRIM ? NBD_ENOSPC : NBD_EINVAL;
			return NBD_VERDICT_ERROR;
		}
		return NBD_VERDICT_OK;
	default:
		NORN_ASSERT(0 && "unreachable: filtered above");
	}
	return NBD_VERDICT_CLOSE;
}

uint32_t nbd_errno_to_wire(int err)
{
	switch (err) {
	case 0: return 0;
	case -EPERM: case -EACCES: case -EROFS: case NORN_EPERM: return NBD_EPERM;
	case -ENOMEM: return NBD_ENOMEM;
	case -EINVAL: return NBD_EINVAL;
	case -ENOSPC: case -EDQUOT: case -EFBIG: case NORN_ENOSPC: return NBD_ENOSPC;
	case -EOVERFLOW: return NBD_EOVERFLOW;
	case -ENOTSUP: return NBD_ENOTSUP;
	case -ESHUTDOWN: return NBD_ESHUTDOWN;
	default: return NBD_EIO;
	}
}

const char *nbd_cmd_name(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ: return "READ";
	case NBD_CMD_WRITE: return "WRITE";
	case NBD_CMD_DISC: return "DISC";
	case NBD_CMD_FLUSH: return "FLUSH";
	case NBD_CMD_TRIM: return "TRIM";
	case NBD_CMD_CACHE: return "CACHE";
	case NBD_CMD_WRITE_ZEROES: return "WRITE_ZEROES";
	case NBD_CMD_BLOCK_STATUS: return "BLOCK_STATUS";
	default: return "UNKNOWN";
	}
}

const char *nbd_opt_name(uint32_t opt)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME: return "EXPORT_NAME";
	case NBD_OPT_ABORT: return "ABORT";
	case NBD_OPT_LIST: return "LIST";
	case NBD_OPT_STARTTLS: return "STARTTLS";
	case NBD_OPT_INFO: return "INFO";
	case NBD_OPT_GO: return "GO";
	case NBD_OPT_STRUCTURED_REPLY: return "STRUCTURED_REPLY";
	case NBD_OPT_LIST_META_CONTEXT: return "LIST_META_CONTEXT";
	case NBD_OPT_SET_META_CONTEXT: return "SET_META_CONTEXT";
	case NBD_OPT_EXTENDED_HEADERS: return "EXTENDED_HEADERS";
	default: return "UNKNOWN";
	}
}

/* ---- encoders ----------------------------------------------------------- */

static void enc_be16(struct enc *e, uint16_t v) { uint8_t *p = enc_reserve(e, 2); if (p) nbd_put_be16(p, v); }
static void enc_be32(struct enc *e, uint32_t v) { uint8_t *p = enc_reserve(e, 4); if (p) nbd_put_be32(p, v); }
static void enc_be64(struct enc *e, uint64_t v) { uint8_t *p = enc_reserve(e, 8); if (p) nbd_put_be64(p, v); }

void nbd_enc_greeting(struct enc *e, uint16_t hs_flags)
{
	enc_be64(e, NBD_MAGIC);
	enc_be64(e, NBD_OPTS_MAGIC);
	enc_be16(e, hs_flags);
}

void nbd_enc_opt_reply(struct enc *e, uint32_t opt, uint32_t type,
                       const void *data, uint32_t len)
{
	enc_be64(e, NBD_REP_MAGIC);
	enc_be32(e, opt);
	enc_be32(e, type);
	enc_be32(e, len);
	if (len)
		enc_bytes(e, data, len);
}

void nbd_enc_opt_error(struct enc *e, uint32_t opt, uint32_t type, const char *msg)
{
	size_t n = msg ? strnlen(msg, NBD_MAX_NAME_BYTES) : 0;

	NORN_ASSERT(type & NBD_REP_FLAG_ERROR);
	nbd_enc_opt_reply(e, opt, type, msg, (uint32_t)n);
}

void nbd_enc_rep_server(struct enc *e, const char *name, const char *desc)
{
	size_t nl = strnlen(name, NBD_MAX_NAME_BYTES);
	size_t dl = desc ? strnlen(desc, NBD_MAX_NAME_BYTES) : 0;

	enc_be64(e, NBD_REP_MAGIC);
	enc_be32(e, NBD_OPT_LIST);
	enc_be32(e, NBD_REP_SERVER);
	enc_be32(e, (uint32_t)(4 + nl + dl));
	enc_be32(e, (uint32_t)nl);
	enc_bytes(e, name, nl);
	if (dl)
		enc_bytes(e, desc, dl);
}

void nbd_enc_info_export(struct enc *e, uint32_t opt, uint64_t size_bytes, uint16_t tflags)
{
	enc_be64(e, NBD_REP_MAGIC);
	enc_be32(e, opt);
	enc_be32(e, NBD_REP_INFO);
	enc_be32(e, 2 + 8 + 2);
	enc_be16(e, NBD_INFO_EXPORT);
	enc_be64(e, size_bytes);
	enc_be16(e, tflags);
}

void nbd_enc_info_block_size(struct enc *e, uint32_t opt, uint32_t min_block,
                             uint32_t pref_block, uint32_t max_payload)
{
	enc_be64(e, NBD_REP_MAGIC);
	enc_be32(e, opt);
	enc_be32(e, NBD_REP_INFO);
	enc_be32(e, 2 + 4 + 4 + 4);
	enc_be16(e, NBD_INFO_BLOCK_SIZE);
	enc_be32(e, min_block);
	enc_be32(e, pref_block);
	enc_be32(e, max_payload);
}

void nbd_enc_info_string(struct enc *e, uint32_t opt, uint16_t info, const char *s)
{
	size_t n = strnlen(s, NBD_MAX_NAME_BYTES);

	NORN_ASSERT(info == NBD_INFO_NAME || info == NBD_INFO_DESCRIPTION);
	enc_be64(e, NBD_REP_MAGIC);
	enc_be32(e, opt);
	enc_be32(e, NBD_REP_INFO);
	enc_be32(e, (uint32_t)(2 + n));
	enc_be16(e, info);
	enc_bytes(e, s, n);
}

void nbd_enc_export_name_reply(struct enc *e, uint64_t size_bytes, uint16_t tflags,
                               bool no_zeroes)
{
	enc_be64(e, size_bytes);
	enc_be16(e, tflags);
	if (!no_zeroes) {
		uint8_t *z = enc_reserve(e, NBD_EXPORT_NAME_ZEROES);
		if (z)
			memset(z, 0, NBD_EXPORT_NAME_ZEROES);
	}
}

void nbd_enc_simple_reply(uint8_t *out, uint32_t err, uint64_t cookie)
{
	nbd_put_be32(out, NBD_SIMPLE_REPLY_MAGIC);
	nbd_put_be32(out + 4, err);
	nbd_put_be64(out + 8, cookie);
}

/* ---- client side ---------------------------------------------------------- */

void nbd_enc_request(uint8_t *out, const struct nbd_request *rq)
{
	nbd_put_be32(out, NBD_REQUEST_MAGIC);
	nbd_put_be16(out + 4, rq->flags);
	nbd_put_be16(out + 6, rq->type);
	nbd_put_be64(out + 8, rq->cookie);
	nbd_put_be64(out + 16, rq->offset);
	nbd_put_be32(out + 24, rq->len_bytes);
}

void nbd_enc_opt_hdr(uint8_t *out, uint32_t opt, uint32_t len_bytes)
{
	nbd_put_be64(out, NBD_OPTS_MAGIC);
	nbd_put_be32(out + 8, opt);
	nbd_put_be32(out + 12, len_bytes);
}

int nbd_decode_opt_reply_hdr(const uint8_t *p, struct nbd_opt_reply_hdr *out)
{
	if (nbd_get_be64(p) != NBD_REP_MAGIC)
		return NORN_ECORRUPT;
	out->opt = nbd_get_be32(p + 8);
	out->type = nbd_get_be32(p + 12);
	out->len_bytes = nbd_get_be32(p + 16);
	return 0;
}

int nbd_decode_simple_reply(const uint8_t *p, uint32_t *err_out, uint64_t *cookie_out)
{
	if (nbd_get_be32(p) != NBD_SIMPLE_REPLY_MAGIC)
		return NORN_ECORRUPT;
	*err_out = nbd_get_be32(p + 4);
	*cookie_out = nbd_get_be64(p + 8);
	return 0;
}
