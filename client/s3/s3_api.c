/* The S3 API layer (see s3_api.h). Written in continuation-passing style:
 * every backend call is the last statement of its function and the work
 * resumes in the callback, because the cluster backend completes later on
 * the loop while the dev backend completes at once. struct op carries the
 * request's state across those hops; op_finish() frees it. */
#include "client/s3/s3_api.h"

#include <ctype.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "client/s3/s3_md5.h"
#include "client/s3/s3_sigv4.h"
#include "client/s3/s3_util.h"
#include "client/s3/s3_xml.h"
#include "common/assert.h"
#include "common/log.h"
#include "norn/errors.h"

#define S3_MAX_QUERY 64
#define S3_MIN_PART_BYTES (5ull << 20)
#define S3_LIST_MAX_KEYS 1000
#define XML_HDR "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

struct s3_api {
	struct s3_api_config cfg;
	struct s3_backend *be;
	const struct s3_backend_ops *ops;
	uint64_t req_counter;
	struct s3_md5_sched md5s;      /* MD5 of PUT bodies, many at once */
	int md5_bodies;                /* PUT bodies being read (streams that may defer) */
	uint64_t chunks_live;          /* body_chunk buffers allocated */
	int trim_state;                /* 1: chunks were freed since the last trim */
};

struct qp {
	char *k;
	char *v;
};

enum payload_mode { PL_HASH = 0, PL_UNSIGNED, PL_STREAMING };

struct op;
typedef void (*op_fn)(struct op *o);

struct op {
	struct s3_api *api;
	struct s3_http_req *req;
	const struct s3_backend_ops *be_ops;
	char request_id[24];
	char bucket[S3_NAME_MAX];
	char *key;                     /* decoded, NULL if none */
	struct qp q[S3_MAX_QUERY];
	size_t nq;
	int anonymous;
	struct s3_user user;
	struct s3_auth auth;
	uint8_t sigkey[32];
	char scope[128];
	char amz_date[17];
	enum payload_mode pmode;
	char payload_hash[65];
	char v2_date[64];              /* SigV2: Date or Expires as signed */
	int vhost;                     /* bucket came from the Host header */

	struct s3_bucket_info *binfo;  /* after load_bucket */
	op_fn next;                    /* continuation after load_bucket / body */
	int need_owner;                /* load_bucket: require ownership */
	int allow_public_read;

	/* Body. */
	struct s3_chunked chunked;
	int chunked_on;
	struct s3_digest md5, sha;
	uint64_t body_len;             /* decoded payload bytes */
	uint64_t body_limit;
	struct s3_buf body;            /* small bodies */
	struct s3_buf stage;           /* decoded aws-chunked bytes on their way */
	op_fn body_next;               /* after the body: body_error < 0 means fine */
	int body_error;
	struct s3_be_writer *writer;
	int body_to_writer;
	int body_err;                  /* S3 error index when the body failed */
	uint8_t md5_out[16];
	/* A body on its way to o->writer: bytes are copied into a chunk (the
	 * backend's piece size) that is then lent to the writer without a
	 * copy; its MD5 is deferred (see body_chunk). */
	struct s3_md5 md5m;
	int md5_counted;               /* counted in api->md5_bodies */
	struct body_chunk *chunk;      /* being filled */
	const char *feed_p;            /* the rest of the body piece being consumed */
	size_t feed_len;
	uint64_t body_expect;          /* declared decoded length, UINT64_MAX if unknown */

	/* Objects. */
	struct s3_obj_meta *meta;
	struct s3_be_reader *reader;
	uint64_t off, end;             /* GET range [off, end) */
	char *iobuf;
	size_t iobuf_len;
	int head_only;
	int part_number;
	char upload_id[S3_UPLOAD_ID_MAX];

	/* Copy source. */
	char src_bucket[S3_NAME_MAX];
	char *src_key;
	struct s3_obj_meta *src_meta;
	uint64_t copy_off, copy_end;
	int copy_replace;
	int copy_has_range;

	/* Listing. */
	struct s3_buf out;
	int list_v2;
	char *prefix, *delim, *marker;
	size_t max_keys, count;
	int truncated;
	char *next_marker;
	char *last_cp;
	int url_encode;
	int fetch_owner;
	int list_state, list_async;
	char *list_cursor;

	/* Multipart completion. */
	struct s3_xml_part *cparts;
	size_t ncparts;
	int *numbers;

	/* DeleteObjects. */
	char **dkeys;
	size_t ndkeys, di;
	int dquiet;
	struct delmany_slot *dslots;    /* one per key: its result */
	size_t ddone, dinflight;
	int ddriving;
};

/* PUT body bytes on their way to the backend, and how their MD5 is
 * computed.
 *
 * A chunk is filled from the HTTP body pieces, then lent to the backend
 * (put_write_buf, which sends it to the cluster as it is) and, at the
 * same moment, queued for MD5 in api->md5s without being hashed.
 * The chunk is freed when both are done with it (refs). Hashing waits
 * until every PUT body in progress (up to the SIMD lane count) has queued
 * bytes, then runs them together, 8 or 16 per pass (md5_schedule,
 * s3_md5.h), at a fraction of the CPU of one body at a time on this single
 * loop thread; one body never queues more than MD5_DEFER_BYTES. The
 * digest still gates everything it should: the last chunk is lent to the
 * backend only after the final digest was compared with Content-MD5, and
 * the index entry (put_commit) only follows that, so a body that fails
 * the check leaves nothing visible (its stripes are reclaimed as for any
 * aborted PUT). */
#define MD5_DEFER_BYTES (16u << 20)
#define MD5_KEEP_BYTES (12u << 20)
#define MD5_SWEEP_BYTES (8u << 20)     /* per body, on average */
#define MD5_PENDING_MAX_BYTES (192u << 20)  /* all bodies together */

struct body_chunk {
	struct s3_be_buf b;
	struct s3_api *api;
	int refs;                      /* the op (while filling) / the backend, + MD5 queue */
	char data[];
};

static void chunk_unref(struct body_chunk *c)
{
	NORN_ASSERT(c->refs > 0);
	if (--c->refs)
		return;
	struct s3_api *a = c->api;
	NORN_ASSERT(a->chunks_live > 0);
	a->chunks_live--;
	a->trim_state = 1;
	free(c);
}

static void chunk_release(struct s3_be_buf *b)
{
	chunk_unref(NORN_CONTAINER_OF(b, struct body_chunk, b));
}

static void chunk_seg_done(void *tag)
{
	chunk_unref(tag);
}

/* DeleteObjects runs up to DELMANY_INFLIGHT deletes at once (each is a
 * few cluster round trips); results are reported in request order. */
#define DELMANY_INFLIGHT 16
struct delmany_slot {
	struct op *o;
	int err;
};

/* --- errors ----------------------------------------------------------- */

struct s3_err_def {
	const char *code;
	int status;
	const char *msg;
};

enum {
	E_AccessDenied, E_BadDigest, E_BucketAlreadyExists, E_BucketAlreadyOwnedByYou,
	E_BucketNotEmpty, E_EntityTooLarge, E_EntityTooSmall, E_IncompleteBody, E_InternalError,
	E_InvalidAccessKeyId, E_InvalidArgument, E_InvalidBucketName, E_InvalidDigest,
	E_InvalidPart, E_InvalidPartOrder, E_InvalidRange, E_InvalidRequest, E_MalformedXML,
	E_MethodNotAllowed, E_MissingContentLength, E_NoSuchBucket, E_NoSuchKey, E_NoSuchUpload,
	E_NotImplemented, E_PreconditionFailed, E_RequestTimeTooSkewed, E_SignatureDoesNotMatch,
	E_SlowDown, E_XAmzContentSHA256Mismatch, E_AuthorizationHeaderMalformed, E_KeyTooLong,
	E_InvalidTag, E_ServiceUnavailable, E_NoSuchTagSet, E_MetadataTooLarge, E_ExpiredToken,
	E_NotModified, E_InvalidObjectState, E_MalformedACL, E_Count
};

static const struct s3_err_def errs[E_Count] = {
	[E_AccessDenied] = { "AccessDenied", 403, "Access Denied" },
	[E_BadDigest] = { "BadDigest", 400, "The Content-MD5 you specified did not match what we received." },
	[E_BucketAlreadyExists] = { "BucketAlreadyExists", 409, "The requested bucket name is not available." },
	[E_BucketAlreadyOwnedByYou] = { "BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it." },
	[E_BucketNotEmpty] = { "BucketNotEmpty", 409, "The bucket you tried to delete is not empty" },
	[E_EntityTooLarge] = { "EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size." },
	[E_EntityTooSmall] = { "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size." },
	[E_IncompleteBody] = { "IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header." },
	[E_InternalError] = { "InternalError", 500, "We encountered an internal error. Please try again." },
	[E_InvalidAccessKeyId] = { "InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records." },
	[E_InvalidArgument] = { "InvalidArgument", 400, "Invalid Argument" },
	[E_InvalidBucketName] = { "InvalidBucketName", 400, "The specified bucket is not valid." },
	[E_InvalidDigest] = { "InvalidDigest", 400, "The Content-MD5 you specified is not valid." },
	[E_InvalidPart] = { "InvalidPart", 400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag." },
	[E_InvalidPartOrder] = { "InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered by part number." },
	[E_InvalidRange] = { "InvalidRange", 416, "The requested range is not satisfiable" },
	[E_InvalidRequest] = { "InvalidRequest", 400, "Invalid Request" },
	[E_MalformedXML] = { "MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema." },
	[E_MethodNotAllowed] = { "MethodNotAllowed", 405, "The specified method is not allowed against this resource." },
	[E_MissingContentLength] = { "MissingContentLength", 411, "You must provide the Content-Length HTTP header." },
	[E_NoSuchBucket] = { "NoSuchBucket", 404, "The specified bucket does not exist" },
	[E_NoSuchKey] = { "NoSuchKey", 404, "The specified key does not exist." },
	[E_NoSuchUpload] = { "NoSuchUpload", 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed." },
	[E_NotImplemented] = { "NotImplemented", 501, "A header or query you provided implies functionality that is not implemented." },
	[E_PreconditionFailed] = { "PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold" },
	[E_RequestTimeTooSkewed] = { "RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large." },
	[E_SignatureDoesNotMatch] = { "SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method." },
	[E_SlowDown] = { "SlowDown", 503, "Please reduce your request rate." },
	[E_XAmzContentSHA256Mismatch] = { "XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed." },
	[E_AuthorizationHeaderMalformed] = { "AuthorizationHeaderMalformed", 400, "The authorization header is malformed." },
	[E_KeyTooLong] = { "KeyTooLongError", 400, "Your key is too long" },
	[E_InvalidTag] = { "InvalidTag", 400, "The tag provided was not a valid tag." },
	[E_ServiceUnavailable] = { "ServiceUnavailable", 503, "Please retry: the storage cluster is busy." },
	[E_NoSuchTagSet] = { "NoSuchTagSet", 404, "The TagSet does not exist" },
	[E_MetadataTooLarge] = { "MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size." },
	[E_ExpiredToken] = { "AccessDenied", 403, "Request has expired" },
	[E_NotModified] = { "NotModified", 304, "Not Modified" },
	[E_InvalidObjectState] = { "InvalidObjectState", 403, "The operation is not valid for the current state of the object." },
	[E_MalformedACL] = { "MalformedACLError", 400, "The XML you provided was not well-formed or did not validate against our published schema." },
};

static int64_t now_ms(const struct op *o)
{
	return (int64_t)(norn_now_real_ns(o->api->cfg.clock) / 1000000ull);
}

static void op_free(struct op *o)
{
	if (o->writer)
		o->be_ops->put_abort(o->writer);
	if (o->reader)
		o->be_ops->get_close(o->reader);
	for (size_t i = 0; i < o->nq; i++) {
		free(o->q[i].k);
		free(o->q[i].v);
	}
	if (o->chunked_on)
		s3_chunked_free(&o->chunked);
	s3_md5_cancel(&o->md5m);
	if (o->md5_counted)
		o->api->md5_bodies--;
	if (o->chunk)
		chunk_unref(o->chunk);
	s3_digest_free(&o->md5);
	s3_digest_free(&o->sha);
	s3_buf_free(&o->body);
	s3_buf_free(&o->stage);
	s3_buf_free(&o->out);
	free(o->key);
	free(o->binfo);
	free(o->meta);
	free(o->iobuf);
	free(o->src_key);
	free(o->src_meta);
	free(o->prefix);
	free(o->delim);
	free(o->marker);
	free(o->next_marker);
	free(o->last_cp);
	free(o->list_cursor);
	free(o->cparts);
	free(o->numbers);
	if (o->dkeys)
		s3_xml_free_keys(o->dkeys, o->ndkeys);
	free(o->dslots);
	free(o);
}

static void op_end(struct op *o)
{
	struct s3_http_req *r = o->req;
	r->app = NULL;
	op_free(o);
	s3_http_end(r);
}

static void common_headers(struct op *o, struct s3_buf *h)
{
	s3_buf_printf(h, "x-amz-request-id: %s\r\nx-amz-id-2: %s\r\n", o->request_id, o->request_id);
}

static void send_error_msg(struct op *o, int e, const char *msg)
{
	const struct s3_err_def *d = &errs[e];
	struct s3_buf h, b;
	s3_buf_init(&h);
	s3_buf_init(&b);
	common_headers(o, &h);
	snprintf(o->req->log_op + strlen(o->req->log_op),
	         sizeof(o->req->log_op) - strlen(o->req->log_op), ":%s", d->code);
	if (d->status == 304 || !strcmp(o->req->method, "HEAD")) {
		/* No body on HEAD (and 304); the code goes in a header. */
		s3_buf_printf(&h, "x-amz-error-code: %s\r\n", d->code);
		s3_http_send_head(o->req, d->status, h.p, d->status == 304 ? -1 : 0);
	} else {
		s3_buf_adds(&b, XML_HDR "<Error><Code>");
		s3_buf_adds(&b, d->code);
		s3_buf_adds(&b, "</Code><Message>");
		s3_buf_add_xml(&b, msg ? msg : d->msg);
		s3_buf_adds(&b, "</Message>");
		if (o->bucket[0]) {
			s3_buf_adds(&b, "<BucketName>");
			s3_buf_add_xml(&b, o->bucket);
			s3_buf_adds(&b, "</BucketName>");
		}
		if (o->key) {
			s3_buf_adds(&b, "<Key>");
			s3_buf_add_xml(&b, o->key);
			s3_buf_adds(&b, "</Key>");
		}
		s3_buf_printf(&b, "<RequestId>%s</RequestId><HostId>%s</HostId></Error>",
		              o->request_id, o->request_id);
		s3_buf_adds(&h, "Content-Type: application/xml\r\n");
		s3_http_send_head(o->req, d->status, h.p, (int64_t)b.len);
		s3_http_write_copy(o->req, b.p, b.len);
	}
	s3_buf_free(&h);
	s3_buf_free(&b);
	op_end(o);
}

static void send_error(struct op *o, int e)
{
	send_error_msg(o, e, NULL);
}

/* Map a backend error to an S3 error, given what was being looked up. */
static void send_be_error(struct op *o, int err, int enoent_err)
{
	if (err == -ENOENT)
		send_error(o, enoent_err);
	else if (err == NORN_EAGAIN || err == -EAGAIN || err == -ETIMEDOUT)
		send_error(o, E_ServiceUnavailable);
	else if (err == -ENOTEMPTY)
		send_error(o, E_BucketNotEmpty);
	else if (err == NORN_ENOSPC)
		send_error_msg(o, E_ServiceUnavailable, "The storage cluster is full.");
	else {
		NLOG(S3, WARN, "%s backend error %d (%s)", o->request_id, err, norn_strerror(err));
		send_error(o, E_InternalError);
	}
}

/* Send a complete response with an XML (or empty) body. */
static void send_xml(struct op *o, int status, struct s3_buf *body, const char *extra)
{
	struct s3_buf h;
	s3_buf_init(&h);
	common_headers(o, &h);
	if (extra)
		s3_buf_adds(&h, extra);
	if (body && body->err) {
		s3_buf_free(&h);
		send_error(o, E_InternalError);
		return;
	}
	if (body && body->len)
		s3_buf_adds(&h, "Content-Type: application/xml\r\n");
	s3_http_send_head(o->req, status, h.p, body ? (int64_t)body->len : 0);
	if (body && body->len && strcmp(o->req->method, "HEAD"))
		s3_http_write_copy(o->req, body->p, body->len);
	s3_buf_free(&h);
	op_end(o);
}

/* --- request parsing -------------------------------------------------- */

static const char *qget(const struct op *o, const char *k)
{
	for (size_t i = 0; i < o->nq; i++)
		if (!strcmp(o->q[i].k, k))
			return o->q[i].v;
	return NULL;
}

static int qhas(const struct op *o, const char *k)
{
	return qget(o, k) != NULL;
}

static int parse_query(struct op *o)
{
	const char *p = o->req->query;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		if (seg) {
			if (o->nq == S3_MAX_QUERY)
				return -EINVAL;
			const char *eq = memchr(p, '=', seg);
			size_t kl = eq ? (size_t)(eq - p) : seg;
			size_t vl = eq ? seg - kl - 1 : 0;
			char *k = malloc(kl + 1), *v = malloc(vl + 1);
			if (!k || !v || s3_url_decode(p, kl, k, kl + 1, 1) < 0 ||
			    s3_url_decode(eq ? eq + 1 : p, vl, v, vl + 1, 1) < 0) {
				free(k);
				free(v);
				return -EINVAL;
			}
			o->q[o->nq].k = k;
			o->q[o->nq].v = v;
			o->nq++;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

int s3_valid_bucket_name(const char *n)
{
	size_t l = strlen(n);
	if (l < 3 || l > 63)
		return 0;
	int all_digits_dots = 1;
	for (size_t i = 0; i < l; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
		if (c != '.' && !(c >= '0' && c <= '9'))
			all_digits_dots = 0;
	}
	if (!isalnum((unsigned char)n[0]) || !isalnum((unsigned char)n[l - 1]))
		return 0;
	if (strstr(n, "..") || strstr(n, ".-") || strstr(n, "-."))
		return 0;
	return !all_digits_dots;
}

/* Split the request into bucket and key. Returns an E_* or -1 if fine. */
static int locate(struct op *o)
{
	const char *host = s3_http_header(o->req, "host");
	const char *dom = o->api->cfg.domain;
	const char *path = o->req->path;
	if (!path || path[0] != '/')
		return E_InvalidRequest;
	size_t pl = strlen(path);
	char *dec = malloc(pl + 1);
	if (!dec)
		return E_InternalError;
	long dl = s3_url_decode(path, pl, dec, pl + 1, 0);
	if (dl < 0) {
		free(dec);
		return E_InvalidRequest;
	}
	const char *rest = dec + 1;
	int vhost = 0;
	if (host && dom && dom[0]) {
		char h[256];
		snprintf(h, sizeof(h), "%s", host);
		char *colon = strrchr(h, ':');
		if (colon && !strchr(h, ']'))
			*colon = 0;
		size_t hl = strlen(h), dlen = strlen(dom);
		if (hl > dlen + 1 && h[hl - dlen - 1] == '.' && !strcasecmp(h + hl - dlen, dom)) {
			size_t bl = hl - dlen - 1;
			if (bl >= sizeof(o->bucket)) {
				free(dec);
				return E_InvalidBucketName;
			}
			memcpy(o->bucket, h, bl);
			o->bucket[bl] = 0;
			vhost = 1;
			o->vhost = 1;
		}
	}
	if (!vhost) {
		const char *slash = strchr(rest, '/');
		size_t bl = slash ? (size_t)(slash - rest) : strlen(rest);
		if (bl >= sizeof(o->bucket)) {
			free(dec);
			return E_InvalidBucketName;
		}
		memcpy(o->bucket, rest, bl);
		o->bucket[bl] = 0;
		rest = slash ? slash + 1 : rest + bl;
	}
	if (*rest) {
		if (strlen(rest) > S3_MAX_KEY_BYTES) {
			free(dec);
			return E_KeyTooLong;
		}
		o->key = strdup(rest);
		if (!o->key) {
			free(dec);
			return E_InternalError;
		}
	}
	free(dec);
	return -1;
}

/* --- authentication --------------------------------------------------- */

static void dispatch(struct op *o);

static void auth_user_cb(void *arg, int err, const struct s3_user *u)
{
	struct op *o = arg;
	if (err) {
		if (err == -ENOENT)
			send_error(o, E_InvalidAccessKeyId);
		else
			send_be_error(o, err, E_InvalidAccessKeyId);
		return;
	}
	o->user = *u;
	struct s3_buf canon, sts;
	s3_buf_init(&canon);
	s3_buf_init(&sts);
	if (o->auth.kind == S3_AUTH_V2_HEADER || o->auth.kind == S3_AUTH_V2_QUERY) {
		/* Legacy SigV2: HMAC-SHA1 over the resource and a few headers. */
		/* Clients disagree on "/bucket" vs "/bucket/" for bucket-level
		 * requests, so both are accepted there. */
		int ok = 0, rc2 = 0;
		for (int variant = 0; variant < 2 && !ok && !rc2; variant++) {
			s3_buf_reset(&canon);
			s3_buf_reset(&sts);
			if (o->vhost) {
				s3_buf_addc(&canon, '/');
				s3_buf_adds(&canon, o->bucket);
			}
			s3_buf_adds(&canon, o->req->path);
			if (variant == 1) {
				if (o->key || !canon.len || canon.p[canon.len - 1] == '/')
					break;
				s3_buf_addc(&canon, '/');
			}
			rc2 = canon.err ? canon.err :
			      s3_sigv2_string_to_sign(o->req->method, canon.p, o->req->query, o->req->hdrs,
			                              o->req->nhdrs, o->v2_date, &sts);
			char sig[64];
			if (!rc2)
				s3_sigv2_sign(o->user.secret, sts.p, sts.len, sig, sizeof(sig));
			ok = !rc2 && strlen(sig) == strlen(o->auth.signature) &&
			     CRYPTO_memcmp(sig, o->auth.signature, strlen(sig)) == 0;
		}
		if (!ok)
			NLOG(S3, DEBUG, "%s v2 signature mismatch; string to sign:\n%s", o->request_id,
			     sts.p ? sts.p : "");
		s3_buf_free(&canon);
		s3_buf_free(&sts);
		if (!ok) {
			send_error(o, E_SignatureDoesNotMatch);
			return;
		}
		snprintf(o->req->log_user, sizeof(o->req->log_user), "%s", o->user.uid);
		dispatch(o);
		return;
	}
	int rc = s3_sigv4_canonical_request(o->req->method, o->req->path, o->req->query,
	                                    o->req->hdrs, o->req->nhdrs, o->auth.signed_headers,
	                                    o->auth.kind == S3_AUTH_PRESIGNED && o->pmode == PL_UNSIGNED &&
	                                    !s3_http_header(o->req, "x-amz-content-sha256")
	                                            ? S3_UNSIGNED_PAYLOAD : o->payload_hash,
	                                    o->auth.kind == S3_AUTH_PRESIGNED, &canon);
	if (rc) {
		s3_buf_free(&canon);
		send_error(o, rc == -EINVAL ? E_SignatureDoesNotMatch : E_InternalError);
		return;
	}
	s3_sigv4_scope(&o->auth, o->scope, sizeof(o->scope));
	s3_sigv4_signing_key(o->user.secret, o->auth.date8, o->auth.region, o->auth.service, o->sigkey);
	rc = s3_sigv4_string_to_sign(o->amz_date, o->scope, canon.p, canon.len, &sts);
	char sig[65];
	if (!rc)
		s3_sigv4_sign(o->sigkey, sts.p, sts.len, sig);
	if (!rc && !s3_sigv4_sig_equal(sig, o->auth.signature)) {
		NLOG(S3, DEBUG, "%s signature mismatch; canonical request:\n%s", o->request_id, canon.p);
		rc = 1;
	}
	s3_buf_free(&canon);
	s3_buf_free(&sts);
	if (rc) {
		send_error(o, rc < 0 ? E_InternalError : E_SignatureDoesNotMatch);
		return;
	}
	if (o->pmode == PL_STREAMING) {
		s3_chunked_init(&o->chunked, 1, o->sigkey, o->amz_date, o->scope, o->auth.signature);
		o->chunked_on = 1;
	}
	snprintf(o->req->log_user, sizeof(o->req->log_user), "%s", o->user.uid);
	dispatch(o);
}

static void start_auth(struct op *o)
{
	const char *authz = s3_http_header(o->req, "authorization");
	int64_t now_s = now_ms(o) / 1000;
	int64_t t = 0;
	int rc;
	if (authz && !strncmp(authz, "AWS ", 4)) {
		if (s3_sigv2_parse_header(authz, &o->auth)) {
			send_error(o, E_AuthorizationHeaderMalformed);
			return;
		}
		const char *xd = s3_http_header(o->req, "x-amz-date");
		const char *dd = xd ? xd : s3_http_header(o->req, "date");
		if (!dd || (s3_parse_http_date(dd, &t) && s3_parse_amz_date(dd, &t))) {
			send_error_msg(o, E_AccessDenied, "AWS authentication requires a valid Date or x-amz-date header");
			return;
		}
		int64_t skew = now_s > t ? now_s - t : t - now_s;
		if ((uint64_t)skew * 1000 > o->api->cfg.max_skew_ms) {
			send_error(o, E_RequestTimeTooSkewed);
			return;
		}
		snprintf(o->v2_date, sizeof(o->v2_date), "%s", xd ? "" : dd);
		o->pmode = PL_UNSIGNED;
		o->be_ops->user_by_key(o->api->be, o->auth.access_key, auth_user_cb, o);
		return;
	}
	if (authz) {
		rc = s3_sigv4_parse_header(authz, &o->auth);
		if (rc == -ENOTSUP) {
			send_error_msg(o, E_InvalidRequest, "Please use AWS4-HMAC-SHA256.");
			return;
		}
		if (rc) {
			send_error(o, E_AuthorizationHeaderMalformed);
			return;
		}
		const char *xd = s3_http_header(o->req, "x-amz-date");
		const char *dd = s3_http_header(o->req, "date");
		if (xd ? s3_parse_amz_date(xd, &t) : (!dd || s3_parse_http_date(dd, &t))) {
			send_error_msg(o, E_AccessDenied, "AWS authentication requires a valid Date or x-amz-date header");
			return;
		}
		s3_fmt_amz_date(t, o->amz_date);
		int64_t skew = now_s > t ? now_s - t : t - now_s;
		if ((uint64_t)skew * 1000 > o->api->cfg.max_skew_ms) {
			send_error(o, E_RequestTimeTooSkewed);
			return;
		}
		const char *ph = s3_http_header(o->req, "x-amz-content-sha256");
		if (!ph) {
			send_error_msg(o, E_InvalidRequest, "Missing required header for this request: x-amz-content-sha256");
			return;
		}
		if (!strcmp(ph, S3_UNSIGNED_PAYLOAD)) {
			o->pmode = PL_UNSIGNED;
		} else if (!strcmp(ph, S3_STREAMING_PAYLOAD)) {
			o->pmode = PL_STREAMING;
		} else if (strlen(ph) == 64 && s3_unhex(ph, 64, (uint8_t[32]){ 0 }) == 0) {
			o->pmode = PL_HASH;
		} else if (!strncmp(ph, "STREAMING-", 10)) {
			send_error_msg(o, E_NotImplemented, "This x-amz-content-sha256 streaming mode is not implemented.");
			return;
		} else {
			send_error(o, E_InvalidArgument);
			return;
		}
		snprintf(o->payload_hash, sizeof(o->payload_hash), "%s", ph);
	} else {
		rc = s3_sigv4_parse_query(o->req->query, &o->auth);
		if (rc == 1 && (rc = s3_sigv2_parse_query(o->req->query, &o->auth)) == 0) {
			if (now_s > o->auth.expires_s) {
				send_error(o, E_ExpiredToken);
				return;
			}
			snprintf(o->v2_date, sizeof(o->v2_date), "%lld", (long long)o->auth.expires_s);
			o->pmode = PL_UNSIGNED;
			o->be_ops->user_by_key(o->api->be, o->auth.access_key, auth_user_cb, o);
			return;
		}
		if (rc == 1) {
			o->anonymous = 1;
			snprintf(o->req->log_user, sizeof(o->req->log_user), "anonymous");
			dispatch(o);
			return;
		}
		if (rc) {
			send_error_msg(o, rc == -ENOTSUP ? E_InvalidRequest : E_AuthorizationHeaderMalformed,
			               "Query-string authentication parameters are malformed");
			return;
		}
		if (s3_parse_amz_date(o->auth.amz_date, &t)) {
			send_error(o, E_AuthorizationHeaderMalformed);
			return;
		}
		snprintf(o->amz_date, sizeof(o->amz_date), "%s", o->auth.amz_date);
		if (now_s > t + o->auth.expires_s) {
			send_error(o, E_ExpiredToken);
			return;
		}
		if ((uint64_t)(t > now_s ? t - now_s : 0) * 1000 > o->api->cfg.max_skew_ms) {
			send_error(o, E_RequestTimeTooSkewed);
			return;
		}
		const char *ph = s3_http_header(o->req, "x-amz-content-sha256");
		o->pmode = PL_UNSIGNED;
		snprintf(o->payload_hash, sizeof(o->payload_hash), "%s", S3_UNSIGNED_PAYLOAD);
		if (ph && strlen(ph) == 64) {
			o->pmode = PL_HASH;
			snprintf(o->payload_hash, sizeof(o->payload_hash), "%s", ph);
		}
	}
	if (strncmp(o->amz_date, o->auth.date8, 8)) {
		send_error_msg(o, E_SignatureDoesNotMatch, "Credential date does not match the request date");
		return;
	}
	if (strcmp(o->auth.service, "s3")) {
		send_error(o, E_AuthorizationHeaderMalformed);
		return;
	}
	o->be_ops->user_by_key(o->api->be, o->auth.access_key, auth_user_cb, o);
}

/* --- bucket loading and authorisation ---------------------------------- */

static void load_bucket_cb(void *arg, int err, const struct s3_bucket_info *b)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchBucket);
		return;
	}
	o->binfo = malloc(sizeof(*o->binfo));
	if (!o->binfo) {
		send_error(o, E_InternalError);
		return;
	}
	*o->binfo = *b;
	int owner = !o->anonymous && !strcmp(b->owner, o->user.uid);
	if (!owner) {
		/* 2: an object read; the object's own ACL decides later. */
		int pub = o->allow_public_read == 2 ||
		          (o->allow_public_read && b->acl >= S3_ACL_PUBLIC_READ);
		if (o->need_owner || !pub) {
			send_error(o, E_AccessDenied);
			return;
		}
	}
	o->next(o);
}

/* Load the bucket, check access, then run @next. @public_ok lets an
 * anonymous or foreign reader through a public-read bucket (reads only);
 * object reads check the object's own ACL later instead. */
static void with_bucket(struct op *o, int public_ok, op_fn next)
{
	if (!s3_valid_bucket_name(o->bucket)) {
		send_error(o, E_InvalidBucketName);
		return;
	}
	o->need_owner = !public_ok;
	o->allow_public_read = public_ok;
	o->next = next;
	o->be_ops->bucket_get(o->api->be, o->bucket, load_bucket_cb, o);
}

static int is_owner(const struct op *o)
{
	return !o->anonymous && o->binfo && !strcmp(o->binfo->owner, o->user.uid);
}

/* Parse x-amz-acl. Returns -1 and *acl, or an E_* code. */
static int parse_canned_acl(struct op *o, int *acl)
{
	const char *a = s3_http_header(o->req, "x-amz-acl");
	*acl = S3_ACL_PRIVATE;
	if (!a || !strcmp(a, "private") || !strcmp(a, "bucket-owner-full-control") ||
	    !strcmp(a, "bucket-owner-read"))
		return -1;
	if (!strcmp(a, "public-read")) {
		*acl = S3_ACL_PUBLIC_READ;
		return -1;
	}
	if (!strcmp(a, "public-read-write") || !strcmp(a, "authenticated-read") ||
	    !strcmp(a, "aws-exec-read") || !strcmp(a, "log-delivery-write"))
		return E_NotImplemented;
	return E_InvalidArgument;
}

static int has_grant_headers(const struct op *o)
{
	static const char *g[] = { "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
	                           "x-amz-grant-write-acp", "x-amz-grant-full-control" };
	for (size_t i = 0; i < NORN_ARRAY_SIZE(g); i++)
		if (s3_http_header(o->req, g[i]))
			return 1;
	return 0;
}

/* --- request bodies --------------------------------------------------- */

static void body_read_next(struct op *o);
static void body_feed(struct op *o);

static int stage_emit(void *arg, const char *p, size_t n)
{
	struct op *o = arg;
	s3_buf_add(o->body_to_writer ? &o->stage : &o->body, p, n);
	return o->body_to_writer ? o->stage.err : o->body.err;
}

static void body_fail(struct op *o, int e)
{
	o->body_error = e;
	o->body_next(o);
}

/* Queue the filled part of o->chunk for MD5 (the MD5 queue takes a
 * reference; nothing may write those bytes again). */
static void chunk_defer(struct op *o)
{
	struct body_chunk *c = o->chunk;
	c->refs++;
	s3_md5_defer(&o->api->md5s, &o->md5m, c->data, c->b.len, c);
}

/* After a chunk was queued for MD5: once every PUT body in progress (or
 * as many as there are lanes) has queued bytes, hash them together while
 * at least half of them still have blocks; and never let one body queue
 * more than MD5_DEFER_BYTES (memory). */
static int md5_want(const struct s3_api *a)
{
	return NORN_MIN(a->md5s.lanes, a->md5_bodies);
}

static void md5_schedule(struct op *o)
{
	struct s3_api *a = o->api;
	int want = md5_want(a);
	if (want >= 3 && a->md5s.pend_bytes >= (uint64_t)want * MD5_SWEEP_BYTES)
		s3_md5_sweep(&a->md5s, want * 3 / 4);
	if (o->md5m.pend_bytes >= MD5_DEFER_BYTES) {
		if (want >= 3)
			s3_md5_sweep(&a->md5s, want / 2);
		s3_md5_drain_to(&o->md5m, MD5_KEEP_BYTES, want / 2);
	}
	if (a->md5s.pend_bytes > MD5_PENDING_MAX_BYTES) {
		/* many PUTs at once: hash what can share passes, then this one */
		s3_md5_sweep(&a->md5s, 3);
		if (a->md5s.pend_bytes > MD5_PENDING_MAX_BYTES)
			s3_md5_drain(&o->md5m, 3);
	}
}

/* Lend o->chunk to the writer (the op's reference goes with it). */
static void chunk_send(struct op *o, s3_be_done_cb cb)
{
	struct body_chunk *c = o->chunk;
	o->chunk = NULL;
	o->be_ops->put_write_buf(o->writer, &c->b, cb, o);
}

static void body_last_cb(void *arg, int err)
{
	struct op *o = arg;
	o->body_error = !err ? -1 : err == NORN_EAGAIN ? E_ServiceUnavailable : E_InternalError;
	o->body_next(o);
}

static void body_finish(struct op *o)
{
	if (o->chunked_on && !s3_chunked_done(&o->chunked)) {
		body_fail(o, E_IncompleteBody);
		return;
	}
	const char *dl = s3_http_header(o->req, "x-amz-decoded-content-length");
	if (o->chunked_on && dl && strtoull(dl, NULL, 10) != o->body_len) {
		body_fail(o, E_IncompleteBody);
		return;
	}
	if (o->sha.ctx) {
		uint8_t h[32];
		char hx[65];
		s3_digest_final(&o->sha, h);
		s3_hex(h, 32, hx);
		if (strcasecmp(hx, o->payload_hash)) {
			body_fail(o, E_XAmzContentSHA256Mismatch);
			return;
		}
	}
	if (o->body_to_writer) {
		/* The last chunk's MD5 (and any other stream's pending blocks
		 * that can share the SIMD passes). */
		if (o->chunk && !o->chunk->b.len) {
			chunk_unref(o->chunk);    /* allocated for bytes that never came */
			o->chunk = NULL;
		}
		if (o->chunk)
			chunk_defer(o);
		s3_md5_drain(&o->md5m, md5_want(o->api) / 2);
		if (o->md5_counted) {
			o->md5_counted = 0;
			o->api->md5_bodies--;
		}
		s3_md5_final(&o->md5m, o->md5_out);
	} else if (o->md5.ctx) {
		s3_digest_final(&o->md5, o->md5_out);
	}
	const char *cm = s3_http_header(o->req, "content-md5");
	if (cm) {
		uint8_t want[20];
		long wl = s3_unbase64(cm, strlen(cm), want, sizeof(want));
		if (wl != 16) {
			body_fail(o, E_InvalidDigest);
			return;
		}
		if (memcmp(want, o->md5_out, 16)) {
			body_fail(o, E_BadDigest);
			return;
		}
	}
	o->body_error = -1;
	if (o->chunk) {
		/* Verified: only now does the last chunk go to the writer
		 * (the caller commits after it). */
		chunk_send(o, body_last_cb);
		return;
	}
	o->body_next(o);
}

static void body_write_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err) {
		o->body_error = err == NORN_EAGAIN ? E_ServiceUnavailable : E_InternalError;
		o->body_next(o);
		return;
	}
	body_feed(o);
}

static void body_cb(struct s3_http_req *req, int err, const char *p, size_t n, void *arg)
{
	struct op *o = arg;
	if (err) {
		body_fail(o, E_IncompleteBody);
		return;
	}
	if (n == 0) {
		body_finish(o);
		return;
	}
	const char *data = p;
	size_t len = n;
	if (o->chunked_on) {
		size_t before = o->body.len;
		s3_buf_reset(&o->stage);
		int rc = s3_chunked_feed(&o->chunked, p, n, stage_emit, o);
		if (rc) {
			body_fail(o, rc == NORN_EAUTH ? E_SignatureDoesNotMatch :
			             rc == -E2BIG ? E_EntityTooLarge : E_IncompleteBody);
			return;
		}
		data = o->body_to_writer ? o->stage.p : o->body.p + before;
		len = o->body_to_writer ? o->stage.len : o->body.len - before;
	}
	o->body_len += len;
	if (o->body_len > o->body_limit) {
		body_fail(o, o->body_to_writer ? E_EntityTooLarge : E_MalformedXML);
		return;
	}
	if (o->md5.ctx)
		s3_digest_update(&o->md5, data, len);
	if (o->sha.ctx)
		s3_digest_update(&o->sha, data, len);
	if (o->body_to_writer) {
		o->feed_p = data;
		o->feed_len = len;
		body_feed(o);
		return;
	}
	if (!o->chunked_on)
		s3_buf_add(&o->body, data, len);
	if (o->body.err) {
		body_fail(o, E_InternalError);
		return;
	}
	body_read_next(o);
}

/* A new o->chunk for the body bytes from offset @off on: the backend's
 * piece size, or less when the declared length needs less. */
static struct body_chunk *chunk_new(struct op *o, uint64_t off)
{
	size_t cap = o->be_ops->put_piece_bytes(o->writer, off);
	if (o->body_expect != UINT64_MAX)
		cap = (size_t)NORN_MIN((uint64_t)cap, o->body_expect > off ? o->body_expect - off : 65536);
	NORN_ASSERT(cap > 0 && !o->chunk);
	struct body_chunk *c = malloc(sizeof(*c) + cap);
	if (!c)
		return NULL;
	c->b.p = c->data;
	c->b.len = 0;
	c->b.cap = cap;
	c->b.release = chunk_release;
	c->api = o->api;
	c->refs = 1;
	o->api->chunks_live++;
	o->chunk = c;
	return c;
}

/* Move o->feed_p/feed_len into chunks; a full chunk goes to the writer
 * (which may make us wait for its window) and we come back here; once
 * the piece is used up, ask for the next one. The piece stays valid until
 * then (it is the HTTP layer's or o->stage's, untouched until the next
 * body read). A piece the HTTP layer read straight into the chunk
 * (body_read_next) is already in place. */
static void body_feed(struct op *o)
{
	while (o->feed_len) {
		struct body_chunk *c = o->chunk;
		if (!c && !(c = chunk_new(o, o->body_len - o->feed_len))) {
			body_fail(o, E_InternalError);
			return;
		}
		size_t take = NORN_MIN(o->feed_len, c->b.cap - c->b.len);
		if (o->feed_p != c->data + c->b.len)
			memcpy(c->data + c->b.len, o->feed_p, take);
		c->b.len += take;
		o->feed_p += take;
		o->feed_len -= take;
		if (c->b.len == c->b.cap) {
			chunk_defer(o);
			md5_schedule(o);
			chunk_send(o, body_write_cb);
			return;
		}
	}
	body_read_next(o);
}

static void body_read_next(struct op *o)
{
	/* A PUT body (not aws-chunked: that is decoded into o->stage) can be
	 * read from the socket straight into its chunk. */
	if (o->body_to_writer && !o->chunked_on &&
	    (o->body_expect == UINT64_MAX || o->body_len < o->body_expect)) {
		struct body_chunk *c = o->chunk;
		if (!c && !(c = chunk_new(o, o->body_len))) {
			body_fail(o, E_InternalError);
			return;
		}
		NORN_ASSERT(c->b.len < c->b.cap);
		s3_http_body_read_into(o->req, c->data + c->b.len, c->b.cap - c->b.len, body_cb, o);
		return;
	}
	s3_http_body_read(o->req, body_cb, o);
}

/* Read the request body, verifying whatever the client promised about it
 * (aws-chunked signatures, x-amz-content-sha256, Content-MD5), either into
 * o->body (@to_writer 0; at most @limit bytes) or piece by piece into
 * o->writer. Then runs @next with o->body_error < 0 on success. */
static void body_start(struct op *o, int to_writer, uint64_t limit, op_fn next)
{
	o->body_to_writer = to_writer;
	o->body_limit = limit;
	o->body_next = next;
	o->body_len = 0;
	o->body_expect = UINT64_MAX;
	if (to_writer) {
		const char *dl = s3_http_header(o->req, "x-amz-decoded-content-length");
		if (o->chunked_on && dl)
			o->body_expect = strtoull(dl, NULL, 10);
		else if (!o->chunked_on && o->req->has_content_length)
			o->body_expect = o->req->content_length;
		s3_md5_init(&o->md5m);
		if (!o->md5_counted) {
			o->md5_counted = 1;
			o->api->md5_bodies++;
		}
	}
	if ((!to_writer && s3_digest_init_md5(&o->md5)) ||
	    (o->pmode == PL_HASH && s3_digest_init_sha256(&o->sha))) {
		body_fail(o, E_InternalError);
		return;
	}
	if (!o->req->has_content_length && !o->req->chunked_te) {
		/* No body at all. */
		body_finish(o);
		return;
	}
	body_read_next(o);
}

/* Check the declared body size before reading any of it. */
static int body_precheck(struct op *o, uint64_t limit)
{
	if (!o->req->has_content_length && !o->req->chunked_te)
		return E_MissingContentLength;
	const char *dl = s3_http_header(o->req, "x-amz-decoded-content-length");
	uint64_t decl = o->req->content_length;
	if (o->pmode == PL_STREAMING) {
		if (!dl)
			return E_MissingContentLength;
		char *end;
		decl = strtoull(dl, &end, 10);
		if (*end || end == dl)
			return E_InvalidArgument;
	}
	if (decl > limit)
		return E_EntityTooLarge;
	const char *cm = s3_http_header(o->req, "content-md5");
	if (cm) {
		uint8_t want[20];
		if (s3_unbase64(cm, strlen(cm), want, sizeof(want)) != 16)
			return E_InvalidDigest;
	}
	return -1;
}

/* --- object metadata from headers ------------------------------------- */

static int add_pair(char *blob, size_t cap, size_t *len, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);
	if (*len + kl + vl + 2 > cap)
		return -E2BIG;
	memcpy(blob + *len, k, kl + 1);
	memcpy(blob + *len + kl + 1, v, vl + 1);
	*len += kl + vl + 2;
	return 0;
}

/* Walk "k\0v\0" pairs. */
#define FOR_PAIRS(blob, len, k, v) \
	for (const char *k = (blob), *v = k + strlen(k) + 1; k < (blob) + (len); \
	     k = v + strlen(v) + 1, v = k + strlen(k) + 1)

static size_t count_pairs(const char *blob, size_t len)
{
	size_t n = 0;
	FOR_PAIRS(blob, len, k, v) {
		(void)v;
		n++;
	}
	return n;
}

/* Parse x-amz-tagging ("k1=v1&k2=v2", URL-encoded) into a tag blob. */
static int parse_tag_query(const char *s, char *blob, size_t cap, size_t *len, size_t max_tags)
{
	*len = 0;
	size_t n = 0;
	while (s && *s) {
		const char *amp = strchr(s, '&');
		size_t seg = amp ? (size_t)(amp - s) : strlen(s);
		const char *eq = memchr(s, '=', seg);
		size_t kl = eq ? (size_t)(eq - s) : seg, vl = eq ? seg - kl - 1 : 0;
		char k[S3_TAG_KEY_MAX + 1], v[S3_TAG_VALUE_MAX + 1];
		if (kl == 0 || s3_url_decode(s, kl, k, sizeof(k), 1) < 0 ||
		    s3_url_decode(eq ? eq + 1 : s, vl, v, sizeof(v), 1) < 0)
			return E_InvalidTag;
		if (++n > max_tags || add_pair(blob, cap, len, k, v))
			return E_InvalidTag;
		s = amp ? amp + 1 : NULL;
	}
	return -1;
}

static void copy_hdr(struct op *o, const char *name, char *dst, size_t cap)
{
	const char *v = s3_http_header(o->req, name);
	snprintf(dst, cap, "%s", v ? v : "");
}

/* Fill @m from the request headers. Returns -1 or an E_* code. */
static int meta_from_headers(struct op *o, struct s3_obj_meta *m)
{
	memset(m, 0, sizeof(*m));
	copy_hdr(o, "content-type", m->content_type, sizeof(m->content_type));
	if (!m->content_type[0])
		snprintf(m->content_type, sizeof(m->content_type), "binary/octet-stream");
	copy_hdr(o, "content-encoding", m->content_encoding, sizeof(m->content_encoding));
	/* aws-chunked is transport framing, not the object's encoding. */
	if (!strncmp(m->content_encoding, "aws-chunked", 11)) {
		const char *rest = m->content_encoding + 11;
		while (*rest == ',' || *rest == ' ')
			rest++;
		memmove(m->content_encoding, rest, strlen(rest) + 1);
	}
	copy_hdr(o, "content-disposition", m->content_disposition, sizeof(m->content_disposition));
	copy_hdr(o, "content-language", m->content_language, sizeof(m->content_language));
	copy_hdr(o, "cache-control", m->cache_control, sizeof(m->cache_control));
	copy_hdr(o, "expires", m->expires, sizeof(m->expires));
	size_t total = 0;
	for (size_t i = 0; i < o->req->nhdrs; i++) {
		const char *n = o->req->hdrs[i].name;
		if (strncasecmp(n, "x-amz-meta-", 11))
			continue;
		char lname[256];
		size_t nl = strlen(n + 11);
		if (nl == 0 || nl >= sizeof(lname))
			return E_MetadataTooLarge;
		for (size_t j = 0; j <= nl; j++)
			lname[j] = (char)tolower((unsigned char)n[11 + j]);
		total += nl + strlen(o->req->hdrs[i].value);
		if (total > S3_USER_META_MAX ||
		    add_pair(m->user_meta, sizeof(m->user_meta), &m->user_meta_len, lname,
		             o->req->hdrs[i].value))
			return E_MetadataTooLarge;
	}
	const char *tg = s3_http_header(o->req, "x-amz-tagging");
	if (tg) {
		int e = parse_tag_query(tg, m->tags, sizeof(m->tags), &m->tags_len, 10);
		if (e >= 0)
			return e;
	}
	int acl, e = parse_canned_acl(o, &acl);
	if (e >= 0)
		return e;
	if (has_grant_headers(o))
		return E_NotImplemented;
	m->acl = acl;
	snprintf(m->owner, sizeof(m->owner), "%s", o->user.uid);
	return -1;
}

static void add_meta_headers(struct op *o, struct s3_buf *h, const struct s3_obj_meta *m)
{
	char d[32];
	s3_fmt_http_date(m->mtime_ms / 1000, d);
	s3_buf_printf(h, "Last-Modified: %s\r\nETag: \"%s\"\r\nAccept-Ranges: bytes\r\n", d, m->etag);
	struct { const char *hdr, *param, *val; } f[] = {
		{ "Content-Type", "response-content-type", m->content_type },
		{ "Content-Encoding", "response-content-encoding", m->content_encoding },
		{ "Content-Disposition", "response-content-disposition", m->content_disposition },
		{ "Content-Language", "response-content-language", m->content_language },
		{ "Cache-Control", "response-cache-control", m->cache_control },
		{ "Expires", "response-expires", m->expires },
	};
	for (size_t i = 0; i < NORN_ARRAY_SIZE(f); i++) {
		const char *ov = o->anonymous ? NULL : qget(o, f[i].param);
		const char *v = ov ? ov : f[i].val;
		/* Never let a stored or requested value split the header. */
		if (v[0] && !strpbrk(v, "\r\n"))
			s3_buf_printf(h, "%s: %s\r\n", f[i].hdr, v);
	}
	FOR_PAIRS(m->user_meta, m->user_meta_len, k, v) {
		if (!strpbrk(k, "\r\n") && !strpbrk(v, "\r\n"))
			s3_buf_printf(h, "x-amz-meta-%s: %s\r\n", k, v);
	}
	if (m->tags_len)
		s3_buf_printf(h, "x-amz-tagging-count: %zu\r\n", count_pairs(m->tags, m->tags_len));
	if (m->nparts)
		s3_buf_printf(h, "x-amz-mp-parts-count: %u\r\n", m->nparts);
}

/* --- PutObject / UploadPart ------------------------------------------- */

static void put_commit_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, o->upload_id[0] ? E_NoSuchUpload : E_NoSuchBucket);
		return;
	}
	char h[128];
	snprintf(h, sizeof(h), "ETag: \"%s\"\r\n", o->meta->etag);
	send_xml(o, 200, NULL, h);
}

static void put_body_done(struct op *o)
{
	if (o->body_error >= 0) {
		send_error(o, o->body_error);
		return;
	}
	o->meta->size = o->body_len;
	o->meta->mtime_ms = now_ms(o);
	s3_hex(o->md5_out, 16, o->meta->etag);
	struct s3_be_writer *w = o->writer;
	o->writer = NULL;   /* commit frees it */
	o->be_ops->put_commit(w, o->meta, put_commit_cb, o);
}

static void put_open_cb(void *arg, int err, struct s3_be_writer *w)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, o->upload_id[0] ? E_NoSuchUpload : E_NoSuchBucket);
		return;
	}
	o->writer = w;
	body_start(o, 1, o->api->cfg.max_put_bytes, put_body_done);
}

static void h_put_object(struct op *o)
{
	o->meta = malloc(sizeof(*o->meta));
	if (!o->meta) {
		send_error(o, E_InternalError);
		return;
	}
	int e = meta_from_headers(o, o->meta);
	if (e < 0)
		e = body_precheck(o, o->api->cfg.max_put_bytes);
	if (e >= 0) {
		send_error(o, e);
		return;
	}
	snprintf(o->req->log_op, sizeof(o->req->log_op), "PutObject");
	o->be_ops->put_open(o->api->be, o->bucket, o->key, NULL, 0, put_open_cb, o);
}

static int parse_part_number(struct op *o)
{
	const char *pn = qget(o, "partNumber");
	char *end;
	long n = pn ? strtol(pn, &end, 10) : 0;
	if (!pn || end == pn || *end || n < 1 || n > S3_MAX_PARTS)
		return -1;
	o->part_number = (int)n;
	snprintf(o->upload_id, sizeof(o->upload_id), "%s", qget(o, "uploadId"));
	return 0;
}

static void h_upload_part(struct op *o)
{
	o->meta = calloc(1, sizeof(*o->meta));
	if (!o->meta) {
		send_error(o, E_InternalError);
		return;
	}
	if (parse_part_number(o)) {
		send_error_msg(o, E_InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive");
		return;
	}
	int e = body_precheck(o, o->api->cfg.max_put_bytes);
	if (e >= 0) {
		send_error(o, e);
		return;
	}
	snprintf(o->req->log_op, sizeof(o->req->log_op), "UploadPart");
	o->be_ops->put_open(o->api->be, o->bucket, o->key, o->upload_id, o->part_number,
	                    put_open_cb, o);
}

/* --- GetObject / HeadObject ------------------------------------------- */

static void get_read_cb(void *arg, int err, size_t n);

static void get_write_cb(struct s3_http_req *req, int status, void *arg)
{
	struct op *o = arg;
	if (status < 0) {
		op_end(o);
		return;
	}
	if (o->off >= o->end) {
		op_end(o);
		return;
	}
	size_t want = o->iobuf_len;
	if (want > o->end - o->off)
		want = (size_t)(o->end - o->off);
	o->be_ops->get_read(o->reader, o->off, o->iobuf, want, get_read_cb, o);
}

static void get_read_cb(void *arg, int err, size_t n)
{
	struct op *o = arg;
	if (err || n == 0) {
		/* The head is out; all we can do is cut the connection so the
		 * client sees a short body instead of a silent truncation. */
		NLOG(S3, WARN, "%s read failed at %llu: %d", o->request_id,
		     (unsigned long long)o->off, err);
		s3_http_close_after(o->req);
		op_end(o);
		return;
	}
	o->off += n;
	s3_http_write(o->req, o->iobuf, n, get_write_cb, o);
}

static int etag_match(const char *list, const char *etag)
{
	/* "a", "b" or * ; compare without quotes. */
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != ',')
			p++;
		const char *e = p;
		while (e > s && e[-1] == ' ')
			e--;
		if (e - s == 1 && *s == '*')
			return 1;
		if (e - s >= 2 && *s == '"' && e[-1] == '"') {
			s++;
			e--;
		}
		if ((size_t)(e - s) == strlen(etag) && !memcmp(s, etag, (size_t)(e - s)))
			return 1;
	}
	return 0;
}

/* Evaluate If-* headers (prefix "" or "x-amz-copy-source-"). Returns -1,
 * E_PreconditionFailed or E_NotModified. */
static int check_conditions(struct op *o, const struct s3_obj_meta *m, const char *pfx)
{
	char n[80];
	int64_t t, mt = m->mtime_ms / 1000;
	snprintf(n, sizeof(n), "%sif-match", pfx);
	const char *im = s3_http_header(o->req, n);
	snprintf(n, sizeof(n), "%sif-unmodified-since", pfx);
	const char *ius = s3_http_header(o->req, n);
	snprintf(n, sizeof(n), "%sif-none-match", pfx);
	const char *inm = s3_http_header(o->req, n);
	snprintf(n, sizeof(n), "%sif-modified-since", pfx);
	const char *ims = s3_http_header(o->req, n);
	int copy = pfx[0] != 0;
	if (im && !etag_match(im, m->etag))
		return E_PreconditionFailed;
	if (!im && ius && !s3_parse_http_date(ius, &t) && mt > t)
		return E_PreconditionFailed;
	if (inm && etag_match(inm, m->etag))
		return copy ? E_PreconditionFailed : E_NotModified;
	if (!inm && ims && !s3_parse_http_date(ims, &t) && mt <= t)
		return copy ? E_PreconditionFailed : E_NotModified;
	return -1;
}

/* Parse a single "bytes=" range against @size. Returns 1 and [*a, *b)
 * for a usable range, 0 to ignore the header, -1 if unsatisfiable. */
static int parse_range(const char *r, uint64_t size, uint64_t *a, uint64_t *b)
{
	if (strncmp(r, "bytes=", 6) || strchr(r, ','))
		return 0;
	r += 6;
	char *end;
	if (*r == '-') {
		unsigned long long n = strtoull(r + 1, &end, 10);
		if (end == r + 1 || *end)
			return 0;
		if (n == 0)
			return -1;
		*a = n >= size ? 0 : size - n;
		*b = size;
		return size ? 1 : -1;
	}
	if (!isdigit((unsigned char)*r))
		return 0;
	unsigned long long s = strtoull(r, &end, 10);
	if (*end != '-')
		return 0;
	const char *e2 = end + 1;
	unsigned long long e = size ? size - 1 : 0;
	if (*e2) {
		e = strtoull(e2, &end, 10);
		if (*end || end == e2 || e < s)
			return 0;
	}
	if (s >= size)
		return -1;
	if (e >= size)
		e = size - 1;
	*a = s;
	*b = e + 1;
	return 1;
}

static int obj_readable(const struct op *o, const struct s3_obj_meta *m)
{
	return is_owner(o) || m->acl >= S3_ACL_PUBLIC_READ ||
	       (o->binfo && o->binfo->acl >= S3_ACL_PUBLIC_READ);
}

static void get_open_cb(void *arg, int err, struct s3_be_reader *r, const struct s3_obj_meta *m)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchKey);
		return;
	}
	o->reader = r;
	if (!obj_readable(o, m)) {
		send_error(o, E_AccessDenied);
		return;
	}
	o->meta = malloc(sizeof(*o->meta));
	if (!o->meta) {
		send_error(o, E_InternalError);
		return;
	}
	*o->meta = *m;
	int e = check_conditions(o, m, "");
	if (e >= 0) {
		if (e == E_NotModified) {
			struct s3_buf h;
			s3_buf_init(&h);
			common_headers(o, &h);
			char d[32];
			s3_fmt_http_date(m->mtime_ms / 1000, d);
			s3_buf_printf(&h, "ETag: \"%s\"\r\nLast-Modified: %s\r\n", m->etag, d);
			s3_http_send_head(o->req, 304, h.p, -1);
			s3_buf_free(&h);
			op_end(o);
			return;
		}
		send_error(o, e);
		return;
	}
	if (qhas(o, "partNumber")) {
		send_error_msg(o, E_NotImplemented, "GET by partNumber is not implemented");
		return;
	}
	uint64_t a = 0, b = m->size;
	int ranged = 0;
	const char *rh = s3_http_header(o->req, "range");
	if (rh) {
		int pr = parse_range(rh, m->size, &a, &b);
		if (pr < 0) {
			send_error(o, E_InvalidRange);
			return;
		}
		ranged = pr == 1;
		if (!ranged) {
			a = 0;
			b = m->size;
		}
	}
	struct s3_buf h;
	s3_buf_init(&h);
	common_headers(o, &h);
	add_meta_headers(o, &h, m);
	if (ranged)
		s3_buf_printf(&h, "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)a,
		              (unsigned long long)b - 1, (unsigned long long)m->size);
	if (h.err) {
		s3_buf_free(&h);
		send_error(o, E_InternalError);
		return;
	}
	s3_http_send_head(o->req, ranged ? 206 : 200, h.p, (int64_t)(b - a));
	s3_buf_free(&h);
	if (o->head_only || a == b) {
		op_end(o);
		return;
	}
	o->off = a;
	o->end = b;
	o->iobuf_len = o->api->cfg.io_chunk_bytes;
	if (o->iobuf_len > b - a)
		o->iobuf_len = (size_t)(b - a);
	o->iobuf = malloc(o->iobuf_len);
	if (!o->iobuf) {
		s3_http_close_after(o->req);
		op_end(o);
		return;
	}
	get_write_cb(o->req, 0, o);
}

static void h_get_object2(struct op *o)
{
	o->be_ops->get_open(o->api->be, o->bucket, o->key, get_open_cb, o);
}

static void h_get_object(struct op *o)
{
	o->head_only = !strcmp(o->req->method, "HEAD");
	snprintf(o->req->log_op, sizeof(o->req->log_op), o->head_only ? "HeadObject" : "GetObject");
	with_bucket(o, 2, h_get_object2);
}

/* --- DeleteObject ------------------------------------------------------ */

static void del_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err && err != -ENOENT) {
		send_be_error(o, err, E_NoSuchKey);
		return;
	}
	send_xml(o, 204, NULL, NULL);
}

static void h_delete_object(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "DeleteObject");
	o->be_ops->obj_delete(o->api->be, o->bucket, o->key, del_cb, o);
}

/* --- CopyObject / UploadPartCopy --------------------------------------- */

static void copy_read_cb(void *arg, int err, size_t n);
static void copy_commit_cb(void *arg, int err);

static void copy_write_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchKey);
		return;
	}
	if (o->copy_off >= o->copy_end) {
		o->meta->mtime_ms = now_ms(o);
		if (!o->meta->etag[0]) {
			s3_digest_final(&o->md5, o->md5_out);
			s3_hex(o->md5_out, 16, o->meta->etag);
		}
		struct s3_be_writer *w = o->writer;
		o->writer = NULL;
		o->be_ops->put_commit(w, o->meta, copy_commit_cb, o);
		return;
	}
	size_t want = o->iobuf_len;
	if (want > o->copy_end - o->copy_off)
		want = (size_t)(o->copy_end - o->copy_off);
	o->be_ops->get_read(o->reader, o->copy_off, o->iobuf, want, copy_read_cb, o);
}

static void copy_read_cb(void *arg, int err, size_t n)
{
	struct op *o = arg;
	if (err || n == 0) {
		send_be_error(o, err ? err : -EIO, E_NoSuchKey);
		return;
	}
	o->copy_off += n;
	if (o->md5.ctx)
		s3_digest_update(&o->md5, o->iobuf, n);
	o->be_ops->put_write(o->writer, o->iobuf, n, copy_write_cb, o);
}

static void copy_commit_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, o->upload_id[0] ? E_NoSuchUpload : E_NoSuchBucket);
		return;
	}
	struct s3_buf b;
	char ts[32];
	s3_buf_init(&b);
	s3_fmt_iso8601(o->meta->mtime_ms, ts);
	const char *root = o->upload_id[0] ? "CopyPartResult" : "CopyObjectResult";
	s3_buf_printf(&b, XML_HDR "<%s xmlns=\"" S3_NS "\"><LastModified>%s</LastModified>"
	              "<ETag>&quot;%s&quot;</ETag></%s>", root, ts, o->meta->etag, root);
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void copy_wopen_cb(void *arg, int err, struct s3_be_writer *w)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, o->upload_id[0] ? E_NoSuchUpload : E_NoSuchBucket);
		return;
	}
	o->writer = w;
	o->iobuf_len = o->api->cfg.io_chunk_bytes;
	o->iobuf = malloc(o->iobuf_len);
	if (!o->iobuf || s3_digest_init_md5(&o->md5)) {
		send_error(o, E_InternalError);
		return;
	}
	copy_write_cb(o, 0);
}

static void copy_src_open_cb(void *arg, int err, struct s3_be_reader *r,
                             const struct s3_obj_meta *m)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchKey);
		return;
	}
	o->reader = r;
	o->src_meta = malloc(sizeof(*o->src_meta));
	if (!o->src_meta) {
		send_error(o, E_InternalError);
		return;
	}
	*o->src_meta = *m;
	int e = check_conditions(o, m, "x-amz-copy-source-");
	if (e >= 0) {
		send_error(o, e);
		return;
	}
	o->copy_off = 0;
	o->copy_end = m->size;
	if (o->upload_id[0]) {
		const char *rg = s3_http_header(o->req, "x-amz-copy-source-range");
		if (rg) {
			uint64_t a, b;
			if (parse_range(rg, m->size, &a, &b) != 1) {
				send_error_msg(o, E_InvalidRange, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy");
				return;
			}
			o->copy_off = a;
			o->copy_end = b;
		}
		memset(o->meta, 0, sizeof(*o->meta));
		o->meta->size = o->copy_end - o->copy_off;
	} else {
		if (o->copy_end > o->api->cfg.max_put_bytes) {
			send_error(o, E_EntityTooLarge);
			return;
		}
		if (!o->copy_replace) {
			/* COPY: the source's metadata, the new owner and ACL. */
			int acl = o->meta->acl;
			char tags[sizeof(o->meta->tags)];
			size_t tl = o->meta->tags_len;
			int tag_dir_replace = s3_http_header(o->req, "x-amz-tagging-directive") &&
			        !strcmp(s3_http_header(o->req, "x-amz-tagging-directive"), "REPLACE");
			memcpy(tags, o->meta->tags, tl);
			*o->meta = *m;
			o->meta->acl = acl;
			snprintf(o->meta->owner, sizeof(o->meta->owner), "%s", o->user.uid);
			if (tag_dir_replace) {
				memcpy(o->meta->tags, tags, tl);
				o->meta->tags_len = tl;
			}
		} else {
			if (!s3_http_header(o->req, "x-amz-tagging-directive") ||
			    strcmp(s3_http_header(o->req, "x-amz-tagging-directive"), "REPLACE")) {
				memcpy(o->meta->tags, m->tags, m->tags_len);
				o->meta->tags_len = m->tags_len;
			}
		}
		o->meta->size = m->size;
		o->meta->nparts = 0;
		o->meta->etag[0] = 0;
	}
	o->meta->etag[0] = 0;
	o->be_ops->put_open(o->api->be, o->bucket, o->key, o->upload_id[0] ? o->upload_id : NULL,
	                    o->part_number, copy_wopen_cb, o);
}

static void copy_src_bucket_cb(void *arg, int err, const struct s3_bucket_info *b)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchBucket);
		return;
	}
	/* Reading the source needs read access to it: ours, or public. */
	if (strcmp(b->owner, o->user.uid) && b->acl < S3_ACL_PUBLIC_READ) {
		send_error(o, E_AccessDenied);
		return;
	}
	o->be_ops->get_open(o->api->be, o->src_bucket, o->src_key, copy_src_open_cb, o);
}

static void h_copy(struct op *o)
{
	const char *src = s3_http_header(o->req, "x-amz-copy-source");
	size_t sl = strlen(src);
	char *dec = malloc(sl + 1);
	if (!dec || s3_url_decode(src, sl, dec, sl + 1, 0) < 0) {
		free(dec);
		send_error_msg(o, E_InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
		return;
	}
	char *q = strstr(dec, "?versionId=");
	if (q)
		*q = 0;
	const char *p = dec[0] == '/' ? dec + 1 : dec;
	const char *slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= sizeof(o->src_bucket) || !slash[1] ||
	    strlen(slash + 1) > S3_MAX_KEY_BYTES) {
		free(dec);
		send_error_msg(o, E_InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
		return;
	}
	memcpy(o->src_bucket, p, (size_t)(slash - p));
	o->src_bucket[slash - p] = 0;
	o->src_key = strdup(slash + 1);
	free(dec);
	o->meta = malloc(sizeof(*o->meta));
	if (!o->src_key || !o->meta) {
		send_error(o, E_InternalError);
		return;
	}
	if (!s3_valid_bucket_name(o->src_bucket)) {
		send_error(o, E_InvalidBucketName);
		return;
	}
	if (qhas(o, "uploadId")) {
		if (parse_part_number(o)) {
			send_error(o, E_InvalidArgument);
			return;
		}
		snprintf(o->req->log_op, sizeof(o->req->log_op), "UploadPartCopy");
	} else {
		const char *dir = s3_http_header(o->req, "x-amz-metadata-directive");
		if (dir && strcmp(dir, "COPY") && strcmp(dir, "REPLACE")) {
			send_error_msg(o, E_InvalidArgument, "Unknown metadata directive.");
			return;
		}
		o->copy_replace = dir && !strcmp(dir, "REPLACE");
		int e = meta_from_headers(o, o->meta);
		if (e >= 0) {
			send_error(o, e);
			return;
		}
		if (!o->copy_replace && !strcmp(o->src_bucket, o->bucket) && !strcmp(o->src_key, o->key)) {
			send_error_msg(o, E_InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
			return;
		}
		snprintf(o->req->log_op, sizeof(o->req->log_op), "CopyObject");
	}
	o->be_ops->bucket_get(o->api->be, o->src_bucket, copy_src_bucket_cb, o);
}

/* --- tagging and ACLs --------------------------------------------------- */

static void acl_xml(struct op *o, struct s3_buf *b, int acl);

static void tags_xml(struct s3_buf *b, const char *blob, size_t len)
{
	s3_buf_adds(b, XML_HDR "<Tagging xmlns=\"" S3_NS "\"><TagSet>");
	FOR_PAIRS(blob, len, k, v) {
		s3_buf_adds(b, "<Tag><Key>");
		s3_buf_add_xml(b, k);
		s3_buf_adds(b, "</Key><Value>");
		s3_buf_add_xml(b, v);
		s3_buf_adds(b, "</Value></Tag>");
	}
	s3_buf_adds(b, "</TagSet></Tagging>");
}

static void done_204_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, o->key ? E_NoSuchKey : E_NoSuchBucket);
		return;
	}
	send_xml(o, strcmp(o->req->method, "DELETE") ? 200 : 204, NULL, NULL);
}

/* Parse a Tagging body into @blob. Returns -1 or E_*. */
static int tags_from_body(struct op *o, char *blob, size_t cap, size_t *len, size_t max)
{
	struct s3_tag *tags = calloc(S3_MAX_TAGS, sizeof(*tags));
	size_t n = 0;
	if (!tags)
		return E_InternalError;
	int rc = s3_xml_parse_tagging(o->body.p, o->body.len, tags, max, &n);
	int e = -1;
	if (rc == -E2BIG)
		e = E_InvalidTag;
	else if (rc)
		e = E_MalformedXML;
	*len = 0;
	for (size_t i = 0; e < 0 && i < n; i++)
		if (add_pair(blob, cap, len, tags[i].key, tags[i].value))
			e = E_InvalidTag;
	free(tags);
	return e;
}

static void obj_tag_meta_cb(void *arg, int err, struct s3_be_reader *r, const struct s3_obj_meta *m)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchKey);
		return;
	}
	o->reader = r;
	o->meta = malloc(sizeof(*o->meta));
	if (!o->meta) {
		send_error(o, E_InternalError);
		return;
	}
	*o->meta = *m;
	const char *meth = o->req->method;
	if (!strcmp(meth, "GET")) {
		struct s3_buf b;
		s3_buf_init(&b);
		if (qhas(o, "tagging")) {
			tags_xml(&b, m->tags, m->tags_len);
		} else {
			acl_xml(o, &b, m->acl);
		}
		send_xml(o, 200, &b, NULL);
		s3_buf_free(&b);
		return;
	}
	if (!strcmp(meth, "DELETE")) {
		o->meta->tags_len = 0;
	} else if (qhas(o, "tagging")) {
		int e = tags_from_body(o, o->meta->tags, sizeof(o->meta->tags), &o->meta->tags_len, 10);
		if (e >= 0) {
			send_error(o, e);
			return;
		}
	} else {
		int acl, e = parse_canned_acl(o, &acl);
		if (e >= 0 || (!s3_http_header(o->req, "x-amz-acl") && o->body.len)) {
			send_error(o, e >= 0 ? e : E_NotImplemented);
			return;
		}
		o->meta->acl = acl;
	}
	o->be_ops->get_close(o->reader);
	o->reader = NULL;
	o->be_ops->obj_update_meta(o->api->be, o->bucket, o->key, o->meta, done_204_cb, o);
}

static void obj_sub_body_done(struct op *o)
{
	if (o->body_error >= 0) {
		send_error(o, o->body_error);
		return;
	}
	o->be_ops->get_open(o->api->be, o->bucket, o->key, obj_tag_meta_cb, o);
}

/* GET/PUT/DELETE ?tagging and GET/PUT ?acl on an object. */
static void h_object_sub(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "%sObject%s", o->req->method,
	         qhas(o, "tagging") ? "Tagging" : "Acl");
	if (!strcmp(o->req->method, "PUT"))
		body_start(o, 0, S3_XML_MAX_BYTES, obj_sub_body_done);
	else
		o->be_ops->get_open(o->api->be, o->bucket, o->key, obj_tag_meta_cb, o);
}

static void acl_xml(struct op *o, struct s3_buf *b, int acl)
{
	const char *owner = o->binfo ? o->binfo->owner : o->user.uid;
	s3_buf_adds(b, XML_HDR "<AccessControlPolicy xmlns=\"" S3_NS "\"><Owner><ID>");
	s3_buf_add_xml(b, owner);
	s3_buf_adds(b, "</ID><DisplayName>");
	s3_buf_add_xml(b, owner);
	s3_buf_adds(b, "</DisplayName></Owner><AccessControlList><Grant><Grantee "
	               "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>");
	s3_buf_add_xml(b, owner);
	s3_buf_adds(b, "</ID><DisplayName>");
	s3_buf_add_xml(b, owner);
	s3_buf_adds(b, "</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>");
	if (acl >= S3_ACL_PUBLIC_READ)
		s3_buf_adds(b, "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		               "xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>"
		               "</Grantee><Permission>READ</Permission></Grant>");
	s3_buf_adds(b, "</AccessControlList></AccessControlPolicy>");
}

/* --- buckets ------------------------------------------------------------ */

static void list_buckets_cb(void *arg, int err, const struct s3_bucket_info *bs, size_t n)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchBucket);
		return;
	}
	struct s3_buf b;
	s3_buf_init(&b);
	s3_buf_adds(&b, XML_HDR "<ListAllMyBucketsResult xmlns=\"" S3_NS "\"><Owner><ID>");
	s3_buf_add_xml(&b, o->user.uid);
	s3_buf_adds(&b, "</ID><DisplayName>");
	s3_buf_add_xml(&b, o->user.display_name);
	s3_buf_adds(&b, "</DisplayName></Owner><Buckets>");
	for (size_t i = 0; i < n; i++) {
		char ts[32];
		s3_fmt_iso8601(bs[i].created_ms, ts);
		s3_buf_adds(&b, "<Bucket><Name>");
		s3_buf_add_xml(&b, bs[i].name);
		s3_buf_printf(&b, "</Name><CreationDate>%s</CreationDate></Bucket>", ts);
	}
	s3_buf_adds(&b, "</Buckets></ListAllMyBucketsResult>");
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void h_list_buckets(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "ListBuckets");
	if (o->anonymous) {
		send_error(o, E_AccessDenied);
		return;
	}
	o->be_ops->bucket_list(o->api->be, o->user.uid, list_buckets_cb, o);
}

static void create_exists_cb(void *arg, int err, const struct s3_bucket_info *b)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_BucketAlreadyExists);
		return;
	}
	send_error(o, strcmp(b->owner, o->user.uid) ? E_BucketAlreadyExists : E_BucketAlreadyOwnedByYou);
}

static void create_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err == -EEXIST) {
		o->be_ops->bucket_get(o->api->be, o->bucket, create_exists_cb, o);
		return;
	}
	if (err) {
		send_be_error(o, err, E_NoSuchBucket);
		return;
	}
	char h[128];
	snprintf(h, sizeof(h), "Location: /%s\r\n", o->bucket);
	send_xml(o, 200, NULL, h);
}

static void create_body_done(struct op *o)
{
	if (o->body_error >= 0) {
		send_error(o, o->body_error);
		return;
	}
	o->binfo = calloc(1, sizeof(*o->binfo));
	if (!o->binfo) {
		send_error(o, E_InternalError);
		return;
	}
	struct s3_bucket_info *b = o->binfo;
	if (o->body.len) {
		if (s3_xml_parse_location(o->body.p, o->body.len, b->location, sizeof(b->location))) {
			send_error(o, E_MalformedXML);
			return;
		}
	}
	if (!b->location[0])
		snprintf(b->location, sizeof(b->location), "%s", o->api->cfg.region);
	int acl, e = parse_canned_acl(o, &acl);
	if (e >= 0 || has_grant_headers(o)) {
		send_error(o, e >= 0 ? e : E_NotImplemented);
		return;
	}
	snprintf(b->name, sizeof(b->name), "%s", o->bucket);
	snprintf(b->owner, sizeof(b->owner), "%s", o->user.uid);
	b->created_ms = now_ms(o);
	b->acl = acl;
	o->be_ops->bucket_create(o->api->be, b, create_cb, o);
}

static void h_create_bucket(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "CreateBucket");
	if (o->anonymous) {
		send_error(o, E_AccessDenied);
		return;
	}
	if (!s3_valid_bucket_name(o->bucket)) {
		send_error(o, E_InvalidBucketName);
		return;
	}
	body_start(o, 0, 64 << 10, create_body_done);
}

static void h_head_bucket(struct op *o)
{
	char h[128];
	snprintf(h, sizeof(h), "x-amz-bucket-region: %s\r\n", o->binfo->location);
	send_xml(o, 200, NULL, h);
}

static void h_delete_bucket(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "DeleteBucket");
	o->be_ops->bucket_delete(o->api->be, o->bucket, done_204_cb, o);
}

static void h_bucket_location(struct op *o)
{
	struct s3_buf b;
	s3_buf_init(&b);
	s3_buf_adds(&b, XML_HDR "<LocationConstraint xmlns=\"" S3_NS "\">");
	/* AWS answers an empty constraint for us-east-1. */
	if (strcmp(o->binfo->location, "us-east-1"))
		s3_buf_add_xml(&b, o->binfo->location);
	s3_buf_adds(&b, "</LocationConstraint>");
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void bucket_sub_body_done(struct op *o)
{
	if (o->body_error >= 0) {
		send_error(o, o->body_error);
		return;
	}
	if (qhas(o, "tagging")) {
		int e = tags_from_body(o, o->binfo->tags, sizeof(o->binfo->tags), &o->binfo->tags_len,
		                       S3_MAX_TAGS);
		if (e >= 0) {
			send_error(o, e);
			return;
		}
	} else {
		int acl, e = parse_canned_acl(o, &acl);
		if (e >= 0 || (!s3_http_header(o->req, "x-amz-acl") && o->body.len)) {
			send_error(o, e >= 0 ? e : E_NotImplemented);
			return;
		}
		o->binfo->acl = acl;
	}
	o->be_ops->bucket_update(o->api->be, o->binfo, done_204_cb, o);
}

/* ?tagging and ?acl on a bucket. */
static void h_bucket_sub(struct op *o)
{
	const char *m = o->req->method;
	int tagging = qhas(o, "tagging");
	snprintf(o->req->log_op, sizeof(o->req->log_op), "%sBucket%s", m, tagging ? "Tagging" : "Acl");
	if (!strcmp(m, "GET")) {
		struct s3_buf b;
		s3_buf_init(&b);
		if (tagging) {
			if (!o->binfo->tags_len) {
				s3_buf_free(&b);
				send_error(o, E_NoSuchTagSet);
				return;
			}
			tags_xml(&b, o->binfo->tags, o->binfo->tags_len);
		} else {
			acl_xml(o, &b, o->binfo->acl);
		}
		send_xml(o, 200, &b, NULL);
		s3_buf_free(&b);
	} else if (!strcmp(m, "DELETE") && tagging) {
		o->binfo->tags_len = 0;
		o->be_ops->bucket_update(o->api->be, o->binfo, done_204_cb, o);
	} else if (!strcmp(m, "PUT")) {
		body_start(o, 0, S3_XML_MAX_BYTES, bucket_sub_body_done);
	} else {
		send_error(o, E_MethodNotAllowed);
	}
}

/* --- ListObjects v1/v2 ---------------------------------------------------- */

enum { LS_PENDING = 0, LS_AGAIN, LS_DONE, LS_ERROR };

static void add_key_xml(struct op *o, struct s3_buf *b, const char *s)
{
	if (o->url_encode)
		s3_buf_add_uri(b, s, strlen(s), 1);
	else
		s3_buf_add_xml(b, s);
}

static int set_str(char **dst, const char *s, size_t n)
{
	char *c = malloc(n + 1);
	if (!c)
		return -ENOMEM;
	memcpy(c, s, n);
	c[n] = 0;
	free(*dst);
	*dst = c;
	return 0;
}

static void list_finish(struct op *o);
static void list_drive(struct op *o);

static void list_cb(void *arg, int err, const struct s3_index_entry *e, size_t n, int more)
{
	struct op *o = arg;
	if (err) {
		o->list_state = LS_ERROR;
		o->body_error = err;
		goto out;
	}
	size_t pl = strlen(o->prefix);
	size_t dl = o->delim ? strlen(o->delim) : 0;
	o->list_state = LS_DONE;
	for (size_t i = 0; i < n; i++) {
		if (o->count == o->max_keys) {
			o->truncated = 1;
			goto out;
		}
		const char *k = e[i].key;
		const char *d = dl ? strstr(k + pl, o->delim) : NULL;
		if (d) {
			size_t cl = (size_t)(d - k) + dl;
			s3_buf_adds(&o->body, "<CommonPrefixes><Prefix>");
			char *cp = NULL;
			if (set_str(&cp, k, cl)) {
				o->list_state = LS_ERROR;
				o->body_error = -ENOMEM;
				goto out;
			}
			add_key_xml(o, &o->body, cp);
			s3_buf_adds(&o->body, "</Prefix></CommonPrefixes>");
			o->count++;
			free(o->next_marker);
			o->next_marker = cp;
			/* Skip every key under this prefix: no UTF-8 key
			 * contains 0xff, so cp+"\xff" sorts after all of them. */
			char *cur = malloc(cl + 2);
			if (!cur) {
				o->list_state = LS_ERROR;
				o->body_error = -ENOMEM;
				goto out;
			}
			memcpy(cur, k, cl);
			cur[cl] = (char)0xff;
			cur[cl + 1] = 0;
			free(o->list_cursor);
			o->list_cursor = cur;
			o->list_state = LS_AGAIN;
			goto out;
		}
		char ts[32];
		s3_fmt_iso8601(e[i].mtime_ms, ts);
		s3_buf_adds(&o->out, "<Contents><Key>");
		add_key_xml(o, &o->out, k);
		s3_buf_printf(&o->out, "</Key><LastModified>%s</LastModified><ETag>&quot;%s&quot;</ETag>"
		              "<Size>%llu</Size>", ts, e[i].etag, (unsigned long long)e[i].size);
		if (!o->list_v2 || o->fetch_owner) {
			s3_buf_adds(&o->out, "<Owner><ID>");
			s3_buf_add_xml(&o->out, e[i].owner);
			s3_buf_adds(&o->out, "</ID><DisplayName>");
			s3_buf_add_xml(&o->out, e[i].owner);
			s3_buf_adds(&o->out, "</DisplayName></Owner>");
		}
		s3_buf_adds(&o->out, "<StorageClass>STANDARD</StorageClass></Contents>");
		o->count++;
		if (set_str(&o->next_marker, k, strlen(k)) || set_str(&o->list_cursor, k, strlen(k))) {
			o->list_state = LS_ERROR;
			o->body_error = -ENOMEM;
			goto out;
		}
	}
	if (more)
		o->list_state = LS_AGAIN;
out:
	if (o->list_async) {
		o->list_async = 0;
		if (o->list_state == LS_AGAIN)
			list_drive(o);
		else
			list_finish(o);
	}
}

/* Pages through the index; a trampoline so a backend that answers at
 * once does not grow the stack by one frame per page. */
static void list_drive(struct op *o)
{
	for (;;) {
		o->list_state = LS_PENDING;
		size_t page = o->max_keys - o->count + 1;
		if (page > S3_LIST_MAX_KEYS + 1)
			page = S3_LIST_MAX_KEYS + 1;
		o->be_ops->index_list(o->api->be, o->bucket, o->prefix, o->list_cursor, page, list_cb, o);
		if (o->list_state == LS_PENDING) {
			o->list_async = 1;
			return;
		}
		if (o->list_state != LS_AGAIN)
			break;
	}
	list_finish(o);
}

static void list_finish(struct op *o)
{
	if (o->list_state == LS_ERROR) {
		send_be_error(o, o->body_error, E_NoSuchBucket);
		return;
	}
	struct s3_buf b;
	s3_buf_init(&b);
	s3_buf_adds(&b, XML_HDR "<ListBucketResult xmlns=\"" S3_NS "\"><Name>");
	s3_buf_add_xml(&b, o->bucket);
	s3_buf_adds(&b, "</Name><Prefix>");
	add_key_xml(o, &b, o->prefix);
	s3_buf_adds(&b, "</Prefix>");
	if (o->list_v2) {
		const char *sa = qget(o, "start-after");
		const char *ct = qget(o, "continuation-token");
		if (sa) {
			s3_buf_adds(&b, "<StartAfter>");
			add_key_xml(o, &b, sa);
			s3_buf_adds(&b, "</StartAfter>");
		}
		if (ct) {
			s3_buf_adds(&b, "<ContinuationToken>");
			s3_buf_add_xml(&b, ct);
			s3_buf_adds(&b, "</ContinuationToken>");
		}
		s3_buf_printf(&b, "<KeyCount>%zu</KeyCount>", o->count);
	} else {
		s3_buf_adds(&b, "<Marker>");
		add_key_xml(o, &b, o->marker ? o->marker : "");
		s3_buf_adds(&b, "</Marker>");
	}
	s3_buf_printf(&b, "<MaxKeys>%zu</MaxKeys>", o->max_keys);
	if (o->delim) {
		s3_buf_adds(&b, "<Delimiter>");
		add_key_xml(o, &b, o->delim);
		s3_buf_adds(&b, "</Delimiter>");
	}
	if (o->url_encode)
		s3_buf_adds(&b, "<EncodingType>url</EncodingType>");
	s3_buf_printf(&b, "<IsTruncated>%s</IsTruncated>", o->truncated ? "true" : "false");
	if (o->truncated && o->next_marker) {
		if (o->list_v2) {
			size_t l = strlen(o->next_marker);
			char *hx = malloc(2 * l + 1);
			if (hx) {
				s3_hex((const uint8_t *)o->next_marker, l, hx);
				s3_buf_printf(&b, "<NextContinuationToken>%s</NextContinuationToken>", hx);
				free(hx);
			} else {
				b.err = -ENOMEM;
			}
		} else if (o->delim) {
			s3_buf_adds(&b, "<NextMarker>");
			add_key_xml(o, &b, o->next_marker);
			s3_buf_adds(&b, "</NextMarker>");
		}
	}
	s3_buf_add(&b, o->out.p ? o->out.p : "", o->out.len);
	s3_buf_add(&b, o->body.p ? o->body.p : "", o->body.len);
	s3_buf_adds(&b, "</ListBucketResult>");
	if (o->out.err || o->body.err)
		b.err = -ENOMEM;
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void h_list_objects(struct op *o)
{
	o->list_v2 = qget(o, "list-type") && !strcmp(qget(o, "list-type"), "2");
	snprintf(o->req->log_op, sizeof(o->req->log_op), o->list_v2 ? "ListObjectsV2" : "ListObjects");
	const char *et = qget(o, "encoding-type");
	if (et && strcmp(et, "url")) {
		send_error_msg(o, E_InvalidArgument, "Invalid Encoding Method specified in Request");
		return;
	}
	o->url_encode = et != NULL;
	const char *fo = qget(o, "fetch-owner");
	o->fetch_owner = fo && !strcmp(fo, "true");
	const char *p = qget(o, "prefix");
	const char *d = qget(o, "delimiter");
	const char *mk = qget(o, "max-keys");
	o->max_keys = S3_LIST_MAX_KEYS;
	if (mk) {
		char *end;
		long v = strtol(mk, &end, 10);
		if (end == mk || *end || v < 0) {
			send_error_msg(o, E_InvalidArgument, "Provided max-keys not an integer or within integer range");
			return;
		}
		if (v < S3_LIST_MAX_KEYS)
			o->max_keys = (size_t)v;
	}
	if (set_str(&o->prefix, p ? p : "", p ? strlen(p) : 0) ||
	    (d && d[0] && set_str(&o->delim, d, strlen(d)))) {
		send_error(o, E_InternalError);
		return;
	}
	const char *start = NULL;
	char *tok = NULL;
	if (o->list_v2) {
		const char *ct = qget(o, "continuation-token");
		if (ct) {
			size_t l = strlen(ct);
			tok = calloc(1, l / 2 + 1);
			if (!tok || l % 2 || s3_unhex(ct, l, (uint8_t *)tok) || strlen(tok) != l / 2) {
				free(tok);
				send_error_msg(o, E_InvalidArgument, "The continuation token provided is incorrect");
				return;
			}
			start = tok;
		} else {
			start = qget(o, "start-after");
		}
	} else {
		start = qget(o, "marker");
		if (start && set_str(&o->marker, start, strlen(start))) {
			send_error(o, E_InternalError);
			return;
		}
	}
	if (start && start[0]) {
		/* A continuation token may name a common prefix we emitted:
		 * resume after everything under it. */
		size_t sl = strlen(start);
		int is_cp = o->delim && sl >= strlen(o->delim) &&
		            !strcmp(start + sl - strlen(o->delim), o->delim) &&
		            !strncmp(start, o->prefix, strlen(o->prefix));
		o->list_cursor = malloc(sl + 2);
		if (o->list_cursor) {
			memcpy(o->list_cursor, start, sl + 1);
			if (is_cp) {
				o->list_cursor[sl] = (char)0xff;
				o->list_cursor[sl + 1] = 0;
			}
		}
	}
	free(tok);
	if (o->max_keys == 0) {
		list_finish(o);
		return;
	}
	list_drive(o);
}

/* --- multipart ------------------------------------------------------------ */

static void mpu_create_cb(void *arg, int err, const char *id)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchBucket);
		return;
	}
	struct s3_buf b;
	s3_buf_init(&b);
	s3_buf_adds(&b, XML_HDR "<InitiateMultipartUploadResult xmlns=\"" S3_NS "\"><Bucket>");
	s3_buf_add_xml(&b, o->bucket);
	s3_buf_adds(&b, "</Bucket><Key>");
	s3_buf_add_xml(&b, o->key);
	s3_buf_adds(&b, "</Key><UploadId>");
	s3_buf_add_xml(&b, id);
	s3_buf_adds(&b, "</UploadId></InitiateMultipartUploadResult>");
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void h_mpu_create(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "CreateMultipartUpload");
	o->meta = malloc(sizeof(*o->meta));
	if (!o->meta) {
		send_error(o, E_InternalError);
		return;
	}
	int e = meta_from_headers(o, o->meta);
	if (e >= 0) {
		send_error(o, e);
		return;
	}
	o->meta->mtime_ms = now_ms(o);
	o->be_ops->mpu_create(o->api->be, o->bucket, o->key, o->meta, mpu_create_cb, o);
}

static void mpu_complete_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchUpload);
		return;
	}
	struct s3_buf b;
	s3_buf_init(&b);
	s3_buf_adds(&b, XML_HDR "<CompleteMultipartUploadResult xmlns=\"" S3_NS "\"><Location>/");
	s3_buf_add_xml(&b, o->bucket);
	s3_buf_addc(&b, '/');
	s3_buf_add_xml(&b, o->key);
	s3_buf_adds(&b, "</Location><Bucket>");
	s3_buf_add_xml(&b, o->bucket);
	s3_buf_adds(&b, "</Bucket><Key>");
	s3_buf_add_xml(&b, o->key);
	s3_buf_printf(&b, "</Key><ETag>&quot;%s&quot;</ETag></CompleteMultipartUploadResult>",
	              o->meta->etag);
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void mpu_complete_parts_cb(void *arg, int err, const struct s3_part_info *p, size_t n)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchUpload);
		return;
	}
	struct s3_digest d;
	if (s3_digest_init_md5(&d)) {
		send_error(o, E_InternalError);
		return;
	}
	uint64_t total = 0;
	size_t j = 0;
	for (size_t i = 0; i < o->ncparts; i++) {
		const struct s3_xml_part *want = &o->cparts[i];
		while (j < n && p[j].number < want->number)
			j++;
		if (j == n || p[j].number != want->number || strcasecmp(p[j].etag, want->etag)) {
			s3_digest_free(&d);
			send_error(o, E_InvalidPart);
			return;
		}
		if (i + 1 < o->ncparts && p[j].size < S3_MIN_PART_BYTES) {
			s3_digest_free(&d);
			send_error(o, E_EntityTooSmall);
			return;
		}
		uint8_t raw[16];
		if (strlen(p[j].etag) != 32 || s3_unhex(p[j].etag, 32, raw)) {
			s3_digest_free(&d);
			send_error(o, E_InvalidPart);
			return;
		}
		s3_digest_update(&d, raw, 16);
		total += p[j].size;
		o->numbers[i] = want->number;
	}
	uint8_t md[16];
	char hx[33];
	s3_digest_final(&d, md);
	s3_hex(md, 16, hx);
	snprintf(o->meta->etag, sizeof(o->meta->etag), "%s-%zu", hx, o->ncparts);
	o->meta->size = total;
	o->meta->nparts = (uint32_t)o->ncparts;
	o->meta->mtime_ms = now_ms(o);
	o->be_ops->mpu_complete(o->api->be, o->bucket, o->upload_id, o->numbers, o->ncparts, o->meta,
	                        mpu_complete_cb, o);
}

static void mpu_complete_get_cb(void *arg, int err, const struct s3_upload_info *u)
{
	struct op *o = arg;
	if (err || strcmp(u->key, o->key)) {
		send_be_error(o, err ? err : -ENOENT, E_NoSuchUpload);
		return;
	}
	o->meta = malloc(sizeof(*o->meta));
	if (!o->meta) {
		send_error(o, E_InternalError);
		return;
	}
	*o->meta = *u->meta;
	o->be_ops->mpu_parts(o->api->be, o->bucket, o->upload_id, mpu_complete_parts_cb, o);
}

static void mpu_complete_body_done(struct op *o)
{
	if (o->body_error >= 0) {
		send_error(o, o->body_error);
		return;
	}
	int rc = s3_xml_parse_complete(o->body.p, o->body.len, &o->cparts, &o->ncparts);
	if (rc) {
		send_error(o, rc == -ENOMEM ? E_InternalError : E_MalformedXML);
		return;
	}
	for (size_t i = 1; i < o->ncparts; i++)
		if (o->cparts[i].number <= o->cparts[i - 1].number) {
			send_error(o, E_InvalidPartOrder);
			return;
		}
	o->numbers = calloc(o->ncparts, sizeof(int));
	if (!o->numbers) {
		send_error(o, E_InternalError);
		return;
	}
	o->be_ops->mpu_get(o->api->be, o->bucket, o->upload_id, mpu_complete_get_cb, o);
}

static void h_mpu_complete(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "CompleteMultipartUpload");
	snprintf(o->upload_id, sizeof(o->upload_id), "%s", qget(o, "uploadId"));
	body_start(o, 0, S3_XML_MAX_BYTES, mpu_complete_body_done);
}

static void mpu_abort_cb(void *arg, int err)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchUpload);
		return;
	}
	send_xml(o, 204, NULL, NULL);
}

static void h_mpu_abort(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "AbortMultipartUpload");
	o->be_ops->mpu_abort(o->api->be, o->bucket, qget(o, "uploadId"), mpu_abort_cb, o);
}

static void list_parts_cb(void *arg, int err, const struct s3_part_info *p, size_t n)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchUpload);
		return;
	}
	const char *pm = qget(o, "part-number-marker"), *mp = qget(o, "max-parts");
	long marker = pm ? strtol(pm, NULL, 10) : 0;
	long max = mp ? strtol(mp, NULL, 10) : 1000;
	if (max <= 0 || max > 1000)
		max = 1000;
	struct s3_buf b;
	s3_buf_init(&b);
	s3_buf_adds(&b, XML_HDR "<ListPartsResult xmlns=\"" S3_NS "\"><Bucket>");
	s3_buf_add_xml(&b, o->bucket);
	s3_buf_adds(&b, "</Bucket><Key>");
	s3_buf_add_xml(&b, o->key);
	s3_buf_adds(&b, "</Key><UploadId>");
	s3_buf_add_xml(&b, o->upload_id);
	s3_buf_printf(&b, "</UploadId><PartNumberMarker>%ld</PartNumberMarker>", marker);
	struct s3_buf parts;
	s3_buf_init(&parts);
	long cnt = 0, last = marker;
	int trunc = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i].number <= marker)
			continue;
		if (cnt == max) {
			trunc = 1;
			break;
		}
		char ts[32];
		s3_fmt_iso8601(p[i].mtime_ms, ts);
		s3_buf_printf(&parts, "<Part><PartNumber>%d</PartNumber><LastModified>%s</LastModified>"
		              "<ETag>&quot;%s&quot;</ETag><Size>%llu</Size></Part>", p[i].number, ts,
		              p[i].etag, (unsigned long long)p[i].size);
		last = p[i].number;
		cnt++;
	}
	s3_buf_printf(&b, "<NextPartNumberMarker>%ld</NextPartNumberMarker><MaxParts>%ld</MaxParts>"
	              "<IsTruncated>%s</IsTruncated>", last, max, trunc ? "true" : "false");
	s3_buf_adds(&b, "<Initiator><ID>");
	s3_buf_add_xml(&b, o->user.uid);
	s3_buf_adds(&b, "</ID></Initiator><Owner><ID>");
	s3_buf_add_xml(&b, o->user.uid);
	s3_buf_adds(&b, "</ID></Owner><StorageClass>STANDARD</StorageClass>");
	s3_buf_add(&b, parts.p ? parts.p : "", parts.len);
	s3_buf_adds(&b, "</ListPartsResult>");
	if (parts.err)
		b.err = parts.err;
	s3_buf_free(&parts);
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void list_parts_get_cb(void *arg, int err, const struct s3_upload_info *u)
{
	struct op *o = arg;
	if (err || strcmp(u->key, o->key)) {
		send_be_error(o, err ? err : -ENOENT, E_NoSuchUpload);
		return;
	}
	o->be_ops->mpu_parts(o->api->be, o->bucket, o->upload_id, list_parts_cb, o);
}

static void h_list_parts(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "ListParts");
	snprintf(o->upload_id, sizeof(o->upload_id), "%s", qget(o, "uploadId"));
	o->be_ops->mpu_get(o->api->be, o->bucket, o->upload_id, list_parts_get_cb, o);
}

static void list_uploads_cb(void *arg, int err, const struct s3_upload_info *u, size_t n)
{
	struct op *o = arg;
	if (err) {
		send_be_error(o, err, E_NoSuchBucket);
		return;
	}
	const char *prefix = qget(o, "prefix") ? qget(o, "prefix") : "";
	const char *km = qget(o, "key-marker"), *um = qget(o, "upload-id-marker");
	const char *mu = qget(o, "max-uploads");
	long max = mu ? strtol(mu, NULL, 10) : 1000;
	if (max <= 0 || max > 1000)
		max = 1000;
	struct s3_buf b, items;
	s3_buf_init(&b);
	s3_buf_init(&items);
	long cnt = 0;
	int trunc = 0;
	const char *nk = "", *nu = "";
	for (size_t i = 0; i < n; i++) {
		if (strncmp(u[i].key, prefix, strlen(prefix)))
			continue;
		if (km && km[0]) {
			int c = strcmp(u[i].key, km);
			if (c < 0 || (c == 0 && (!um || strcmp(u[i].upload_id, um) <= 0)))
				continue;
		}
		if (cnt == max) {
			trunc = 1;
			break;
		}
		char ts[32];
		s3_fmt_iso8601(u[i].initiated_ms, ts);
		s3_buf_adds(&items, "<Upload><Key>");
		s3_buf_add_xml(&items, u[i].key);
		s3_buf_adds(&items, "</Key><UploadId>");
		s3_buf_add_xml(&items, u[i].upload_id);
		s3_buf_printf(&items, "</UploadId><Initiated>%s</Initiated><StorageClass>STANDARD"
		              "</StorageClass></Upload>", ts);
		nk = u[i].key;
		nu = u[i].upload_id;
		cnt++;
	}
	s3_buf_adds(&b, XML_HDR "<ListMultipartUploadsResult xmlns=\"" S3_NS "\"><Bucket>");
	s3_buf_add_xml(&b, o->bucket);
	s3_buf_adds(&b, "</Bucket><KeyMarker>");
	s3_buf_add_xml(&b, km ? km : "");
	s3_buf_adds(&b, "</KeyMarker><UploadIdMarker>");
	s3_buf_add_xml(&b, um ? um : "");
	s3_buf_adds(&b, "</UploadIdMarker><NextKeyMarker>");
	s3_buf_add_xml(&b, nk);
	s3_buf_adds(&b, "</NextKeyMarker><NextUploadIdMarker>");
	s3_buf_add_xml(&b, nu);
	s3_buf_adds(&b, "</NextUploadIdMarker><Prefix>");
	s3_buf_add_xml(&b, prefix);
	s3_buf_printf(&b, "</Prefix><MaxUploads>%ld</MaxUploads><IsTruncated>%s</IsTruncated>", max,
	              trunc ? "true" : "false");
	s3_buf_add(&b, items.p ? items.p : "", items.len);
	s3_buf_adds(&b, "</ListMultipartUploadsResult>");
	if (items.err)
		b.err = items.err;
	s3_buf_free(&items);
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void h_list_uploads(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "ListMultipartUploads");
	o->be_ops->mpu_list(o->api->be, o->bucket, list_uploads_cb, o);
}

/* --- DeleteObjects -------------------------------------------------------- */

static void delmany_drive(struct op *o);

static void delmany_cb(void *arg, int err)
{
	struct delmany_slot *sl = arg;
	struct op *o = sl->o;
	sl->err = err;
	NORN_ASSERT(o->dinflight > 0);
	o->dinflight--;
	o->ddone++;
	if (!o->ddriving)
		delmany_drive(o);
}

static void delmany_drive(struct op *o)
{
	/* Callbacks that run inside obj_delete (synchronous answers) only
	 * count; this loop starts the next ones, so there is no recursion. */
	o->ddriving = 1;
	while (o->di < o->ndkeys && o->dinflight < DELMANY_INFLIGHT) {
		struct delmany_slot *sl = &o->dslots[o->di];
		const char *k = o->dkeys[o->di];
		o->di++;
		o->dinflight++;
		o->be_ops->obj_delete(o->api->be, o->bucket, k, delmany_cb, sl);
	}
	o->ddriving = 0;
	if (o->ddone < o->ndkeys)
		return;
	struct s3_buf b;
	s3_buf_init(&b);
	s3_buf_adds(&b, XML_HDR "<DeleteResult xmlns=\"" S3_NS "\">");
	for (size_t i = 0; i < o->ndkeys; i++) {
		const char *k = o->dkeys[i];
		int err = o->dslots[i].err;
		if (err && err != -ENOENT) {
			s3_buf_adds(&b, "<Error><Key>");
			s3_buf_add_xml(&b, k);
			s3_buf_adds(&b, "</Key><Code>InternalError</Code><Message>delete failed</Message></Error>");
		} else if (!o->dquiet) {
			s3_buf_adds(&b, "<Deleted><Key>");
			s3_buf_add_xml(&b, k);
			s3_buf_adds(&b, "</Key></Deleted>");
		}
	}
	s3_buf_adds(&b, "</DeleteResult>");
	send_xml(o, 200, &b, NULL);
	s3_buf_free(&b);
}

static void delmany_body_done(struct op *o)
{
	if (o->body_error >= 0) {
		send_error(o, o->body_error);
		return;
	}
	int rc = s3_xml_parse_delete(o->body.p, o->body.len, &o->dkeys, &o->ndkeys, &o->dquiet);
	if (rc) {
		send_error(o, rc == -ENOMEM ? E_InternalError : E_MalformedXML);
		return;
	}
	o->di = 0;
	o->ddone = 0;
	o->dinflight = 0;
	o->dslots = calloc(o->ndkeys + 1, sizeof(*o->dslots));
	if (!o->dslots) {
		send_error(o, E_InternalError);
		return;
	}
	for (size_t i = 0; i < o->ndkeys; i++)
		o->dslots[i].o = o;
	delmany_drive(o);
}

static void h_delete_objects(struct op *o)
{
	snprintf(o->req->log_op, sizeof(o->req->log_op), "DeleteObjects");
	body_start(o, 0, S3_XML_MAX_BYTES, delmany_body_done);
}

/* --- dispatch ------------------------------------------------------------- */

/* Subresources we know but do not implement: answered 501 at once. */
static const char *const unsupported_sub[] = {
	"policy", "cors", "lifecycle", "website", "versions", "replication", "encryption",
	"logging", "notification", "object-lock", "retention", "legal-hold", "torrent", "select",
	"restore", "accelerate", "analytics", "inventory", "metrics", "intelligent-tiering",
	"ownershipControls", "publicAccessBlock", "requestPayment", "policyStatus", "attributes",
	"versionId",
};

static void dispatch_bucket(struct op *o);
static void dispatch_object(struct op *o);

static void dispatch(struct op *o)
{
	const char *m = o->req->method;
	for (size_t i = 0; i < NORN_ARRAY_SIZE(unsupported_sub); i++)
		if (qhas(o, unsupported_sub[i])) {
			/* versionId=null is what unversioned S3 reports. */
			if (!strcmp(unsupported_sub[i], "versionId") && !strcmp(qget(o, "versionId"), "null"))
				continue;
			snprintf(o->req->log_op, sizeof(o->req->log_op), "?%s", unsupported_sub[i]);
			send_error(o, E_NotImplemented);
			return;
		}
	if (!o->bucket[0]) {
		if (!strcmp(m, "GET"))
			h_list_buckets(o);
		else
			send_error(o, E_MethodNotAllowed);
		return;
	}
	if (!o->key) {
		if (!strcmp(m, "PUT") && !qhas(o, "tagging") && !qhas(o, "acl") && !qhas(o, "versioning")) {
			h_create_bucket(o);
			return;
		}
		int public_ok = (!strcmp(m, "GET") || !strcmp(m, "HEAD")) && !qhas(o, "acl") &&
		                !qhas(o, "tagging") && !qhas(o, "uploads");
		with_bucket(o, public_ok, dispatch_bucket);
		return;
	}
	if (!strcmp(m, "GET") && !qhas(o, "uploadId") && !qhas(o, "tagging") && !qhas(o, "acl")) {
		h_get_object(o);
		return;
	}
	if (!strcmp(m, "HEAD")) {
		h_get_object(o);
		return;
	}
	with_bucket(o, 0, dispatch_object);
}

static void dispatch_bucket(struct op *o)
{
	const char *m = o->req->method;
	if (!strcmp(m, "HEAD")) {
		snprintf(o->req->log_op, sizeof(o->req->log_op), "HeadBucket");
		h_head_bucket(o);
	} else if (!strcmp(m, "DELETE") && !o->nq) {
		h_delete_bucket(o);
	} else if (qhas(o, "tagging") || qhas(o, "acl")) {
		h_bucket_sub(o);
	} else if (!strcmp(m, "GET") && qhas(o, "location")) {
		snprintf(o->req->log_op, sizeof(o->req->log_op), "GetBucketLocation");
		h_bucket_location(o);
	} else if (!strcmp(m, "GET") && qhas(o, "versioning")) {
		struct s3_buf b;
		s3_buf_init(&b);
		s3_buf_adds(&b, XML_HDR "<VersioningConfiguration xmlns=\"" S3_NS "\"/>");
		send_xml(o, 200, &b, NULL);
		s3_buf_free(&b);
	} else if (!strcmp(m, "GET") && qhas(o, "uploads")) {
		h_list_uploads(o);
	} else if (!strcmp(m, "GET")) {
		h_list_objects(o);
	} else if (!strcmp(m, "POST") && qhas(o, "delete")) {
		h_delete_objects(o);
	} else if (!strcmp(m, "PUT") && qhas(o, "versioning")) {
		send_error(o, E_NotImplemented);
	} else {
		send_error(o, strcmp(m, "POST") && strcmp(m, "PUT") ? E_MethodNotAllowed : E_NotImplemented);
	}
}

static void dispatch_object(struct op *o)
{
	const char *m = o->req->method;
	if (qhas(o, "tagging") || qhas(o, "acl")) {
		if (!strcmp(m, "POST") || (qhas(o, "acl") && !strcmp(m, "DELETE")))
			send_error(o, E_MethodNotAllowed);
		else
			h_object_sub(o);
	} else if (!strcmp(m, "PUT") && qhas(o, "uploadId")) {
		if (s3_http_header(o->req, "x-amz-copy-source"))
			h_copy(o);
		else
			h_upload_part(o);
	} else if (!strcmp(m, "PUT") && s3_http_header(o->req, "x-amz-copy-source")) {
		h_copy(o);
	} else if (!strcmp(m, "PUT")) {
		h_put_object(o);
	} else if (!strcmp(m, "GET") && qhas(o, "uploadId")) {
		h_list_parts(o);
	} else if (!strcmp(m, "DELETE") && qhas(o, "uploadId")) {
		h_mpu_abort(o);
	} else if (!strcmp(m, "DELETE")) {
		h_delete_object(o);
	} else if (!strcmp(m, "POST") && qhas(o, "uploads")) {
		h_mpu_create(o);
	} else if (!strcmp(m, "POST") && qhas(o, "uploadId")) {
		h_mpu_complete(o);
	} else {
		send_error(o, !strcmp(m, "POST") ? E_NotImplemented : E_MethodNotAllowed);
	}
}

void s3_api_on_request(void *ctx, struct s3_http_req *req)
{
	struct s3_api *api = ctx;
	struct op *o = calloc(1, sizeof(*o));
	if (!o) {
		s3_http_send_head(req, 503, "Connection: close\r\n", 0);
		s3_http_close_after(req);
		s3_http_end(req);
		return;
	}
	o->api = api;
	o->req = req;
	o->be_ops = api->ops;
	req->app = o;
	snprintf(o->request_id, sizeof(o->request_id), "%016llX",
	         (unsigned long long)(++api->req_counter ^ (norn_mono_ns() << 20)));
	s3_buf_init(&o->body);
	s3_buf_init(&o->stage);
	s3_buf_init(&o->out);
	if (req->limit == S3_HTTP_LIMIT_RATE) {
		send_error(o, E_SlowDown);
		return;
	}
	const char *m = req->method;
	if (strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "PUT") && strcmp(m, "POST") &&
	    strcmp(m, "DELETE")) {
		send_error(o, strcmp(m, "OPTIONS") ? E_MethodNotAllowed : E_NotImplemented);
		return;
	}
	if (req->chunked_te) {
		/* S3 wants a length; aws-chunked goes with Content-Length. */
		send_error(o, E_MissingContentLength);
		return;
	}
	if (parse_query(o)) {
		send_error(o, E_InvalidArgument);
		return;
	}
	int e = locate(o);
	if (e >= 0) {
		send_error(o, e);
		return;
	}
	start_auth(o);
}

int s3_api_create(const struct s3_api_config *cfg, struct s3_backend *be, struct s3_api **out)
{
	struct s3_api *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	if (!a->cfg.region)
		a->cfg.region = "us-east-1";
	if (!a->cfg.max_skew_ms)
		a->cfg.max_skew_ms = 15 * 60 * 1000;
	if (!a->cfg.max_put_bytes)
		a->cfg.max_put_bytes = 5ull << 30;
	if (!a->cfg.io_chunk_bytes)
		a->cfg.io_chunk_bytes = 1u << 20;
	if (!a->cfg.clock)
		a->cfg.clock = norn_clock_system();
	a->be = be;
	a->ops = be->ops;
	s3_md5_sched_init(&a->md5s, a->cfg.md5_lanes, chunk_seg_done);
	NLOG(S3, INFO, "body MD5: %d stream(s) per pass", a->md5s.lanes);
	*out = a;
	return 0;
}

void s3_api_tick(struct s3_api *api)
{
	if (api->chunks_live || !api->trim_state)
		return;
	api->trim_state = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

void s3_api_destroy(struct s3_api *api)
{
	if (api->md5s.nstreams || api->chunks_live)
		NLOG(S3, WARN, "%zu PUT bodies still hashing, %llu PUT buffers alive at exit",
		     api->md5s.nstreams, (unsigned long long)api->chunks_live);
	NLOG(S3, INFO, "body MD5 blocks: %llu in SIMD passes (%llu lane slots), %llu one stream at a time",
	     (unsigned long long)api->md5s.simd_blocks, (unsigned long long)api->md5s.simd_slots,
	     (unsigned long long)api->md5s.scalar_blocks);
	char h[256];
	size_t hl = 0;
	for (int k = 1; k <= 16; k++)
		hl += (size_t)snprintf(h + hl, sizeof(h) - hl, " %llu",
		                       (unsigned long long)api->md5s.passes_by_lanes[k]);
	NLOG(S3, INFO, "body MD5 passes by busy lanes (1..16):%s", h);
	free(api);
}
