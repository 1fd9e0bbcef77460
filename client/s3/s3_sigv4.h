/* AWS Signature Version 4 for the S3 gateway.
 *
 * Three ways a request can be signed, all handled here without any I/O:
 *  - the Authorization header ("AWS4-HMAC-SHA256 Credential=AK/date/region/
 *    s3/aws4_request, SignedHeaders=a;b, Signature=hex");
 *  - a presigned query string (X-Amz-Algorithm, X-Amz-Credential,
 *    X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature);
 *  - an aws-chunked body (x-amz-content-sha256:
 *    STREAMING-AWS4-HMAC-SHA256-PAYLOAD) whose every chunk carries a
 *    signature chained from the previous one, seeded by the header
 *    signature. s3_chunked_* decodes such a body incrementally and checks
 *    each chunk's signature as soon as the chunk ends.
 *
 * The canonical request follows the S3 flavour: the path is decoded and
 * re-encoded once ('/' kept), query parameters are decoded, re-encoded
 * with '/' escaped, and sorted; header values are trimmed with inner runs
 * of blanks collapsed. The gateway compares signatures in constant time.
 */
#ifndef NORN_S3_SIGV4_H
#define NORN_S3_SIGV4_H
#include <stddef.h>
#include <stdint.h>

#include "client/s3/s3_util.h"

#define S3_SIG_ALGO "AWS4-HMAC-SHA256"
#define S3_STREAMING_PAYLOAD "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Presigned URLs may live at most 7 days, as on AWS. */
#define S3_PRESIGN_MAX_EXPIRES_S (7 * 24 * 3600)
#define S3_SIG_MAX_QUERY_PARAMS 128
#define S3_SIG_MAX_SIGNED_HEADERS 64

enum s3_auth_kind {
	S3_AUTH_NONE = 0,
	S3_AUTH_HEADER,        /* SigV4 Authorization header */
	S3_AUTH_PRESIGNED,     /* SigV4 query string */
	S3_AUTH_V2_HEADER,     /* legacy SigV2 "AWS AK:sig" header */
	S3_AUTH_V2_QUERY,      /* legacy SigV2 query (AWSAccessKeyId, Expires, Signature) */
};

/* A parsed SigV4 credential set (from the header or the query). */
struct s3_auth {
	enum s3_auth_kind kind;
	char access_key[128];
	char date8[9];          /* yyyymmdd of the credential scope */
	char region[64];
	char service[16];
	char signed_headers[1024];  /* "host;x-amz-date", lower case */
	char signature[65];
	char amz_date[17];      /* presigned: X-Amz-Date (headers: filled by caller) */
	int64_t expires_s;      /* presigned only (v2: absolute Expires time) */
};

/* Parse an Authorization header value. Returns 0, -ENOTSUP (another
 * algorithm, e.g. SigV2) or -EINVAL (malformed). */
int s3_sigv4_parse_header(const char *value, struct s3_auth *a);

/* Look for X-Amz-Algorithm in @raw_query (may be NULL). Returns 0 and
 * fills @a if present and well formed, 1 if the query is not presigned,
 * -ENOTSUP for another algorithm or -EINVAL if malformed. */
int s3_sigv4_parse_query(const char *raw_query, struct s3_auth *a);

/* "date8/region/service/aws4_request" into @out (cap >= 128). */
void s3_sigv4_scope(const struct s3_auth *a, char *out, size_t cap);

/* Build the canonical request into @out. @raw_path is the request target
 * path as received (percent-encoded, no query); @raw_query the query
 * string after '?' or NULL; @hdrs the request headers; @signed_headers the
 * ';'-list of lower-case names; @payload_hash the hex SHA-256 or one of the
 * literal payload markers. With @presigned, X-Amz-Signature is left out of
 * the query. Returns 0, -EINVAL (bad encoding, a signed header missing,
 * too many params) or out->err. */
int s3_sigv4_canonical_request(const char *method, const char *raw_path, const char *raw_query,
                               const struct s3_hdr *hdrs, size_t nhdrs,
                               const char *signed_headers, const char *payload_hash,
                               int presigned, struct s3_buf *out);

/* Derive the signing key for (secret, date8, region, service). */
void s3_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                          const char *service, uint8_t key[32]);

/* The string to sign for a canonical request, and its hex signature. */
int s3_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canon,
                            size_t canon_len, struct s3_buf *out);
void s3_sigv4_sign(const uint8_t key[32], const char *sts, size_t sts_len, char sig_hex[65]);

/* Constant-time comparison of two hex signatures. Returns 1 if equal. */
int s3_sigv4_sig_equal(const char *a, const char *b);

/* --- legacy Signature Version 2 ---------------------------------------
 * Older clients (and boto3's default presigned URLs for S3 of this
 * vintage) still sign with HMAC-SHA1 over a simpler string. Supported for
 * the header form and the query form; no streaming variant exists. */

/* "AWS AK:base64sig". Returns 0 (kind S3_AUTH_V2_HEADER), -EINVAL. */
int s3_sigv2_parse_header(const char *value, struct s3_auth *a);
/* AWSAccessKeyId + Expires + Signature in the query. Returns 0, 1 if
 * absent, -EINVAL if malformed. */
int s3_sigv2_parse_query(const char *raw_query, struct s3_auth *a);
/* String to sign: method, Content-MD5, Content-Type, @date_or_expires,
 * canonical x-amz-* headers, then @resource_path (raw, with the bucket)
 * and the signed subresources of @raw_query. */
int s3_sigv2_string_to_sign(const char *method, const char *resource_path, const char *raw_query,
                            const struct s3_hdr *hdrs, size_t nhdrs, const char *date_or_expires,
                            struct s3_buf *out);
/* base64(HMAC-SHA1(secret, sts)) into @out (cap >= 32). */
void s3_sigv2_sign(const char *secret, const char *sts, size_t len, char *out, size_t cap);

/* --- aws-chunked streaming payload ----------------------------------- */

/* Longest chunk-header line accepted ("hex;chunk-signature=<64 hex>"). */
#define S3_CHUNK_LINE_MAX 256
/* Largest single chunk accepted: clients use 64 KiB - 8 MiB. */
#define S3_CHUNK_MAX_BYTES (64ull << 20)

struct s3_chunked {
	int state;
	int verify;             /* 0: framing only (unsigned streaming) */
	uint8_t key[32];
	char amz_date[17];
	char scope[128];
	char prev_sig[65];
	char chunk_sig[65];
	char line[S3_CHUNK_LINE_MAX];
	size_t line_len;
	uint64_t chunk_left;
	uint64_t chunk_size;
	uint64_t decoded_bytes;
	struct s3_digest sha;
};

/* Emit callback: decoded payload bytes. Return 0 to continue or a
 * negative code to stop s3_chunked_feed with that code. */
typedef int (*s3_chunked_emit_fn)(void *arg, const char *p, size_t n);

/* Start decoding; @seed_sig is the request's header signature. With
 * @verify 0 only the framing is checked. Returns 0 or -ENOMEM. */
int s3_chunked_init(struct s3_chunked *c, int verify, const uint8_t key[32],
                    const char *amz_date, const char *scope, const char *seed_sig);
void s3_chunked_free(struct s3_chunked *c);

/* Feed raw body bytes. Decoded bytes of a chunk are emitted before its
 * signature is known to be good; the caller must not make them visible
 * until s3_chunked_done() says the body ended well. Returns 0, -EBADMSG
 * (framing), NORN_EAUTH (a chunk signature did not match) or the emit
 * callback's error. Errors are sticky. */
int s3_chunked_feed(struct s3_chunked *c, const char *p, size_t n,
                    s3_chunked_emit_fn emit, void *arg);

/* 1 once the final zero-length chunk and its CRLF have been read. */
int s3_chunked_done(const struct s3_chunked *c);

#endif
