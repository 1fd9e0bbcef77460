/* Small helpers shared by the S3 gateway's layers: a growing byte buffer
 * with a sticky error, hex and percent-encoding, S3 time formats and the
 * OpenSSL EVP digests (MD5 for ETags, SHA-256 and HMAC for SigV4).
 *
 * Nothing here touches the network or the backend; everything is pure and
 * unit-tested, so the HTTP, SigV4 and XML layers (and their fuzzers) can
 * link it alone.
 */
#ifndef NORN_S3_UTIL_H
#define NORN_S3_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Largest buffer an s3_buf may grow to: response XML bodies and request
 * bodies we parse are all far below this; anything bigger is a bug or an
 * attack, and the buffer refuses it with -E2BIG (sticky). */
#define S3_BUF_MAX_BYTES (64u << 20)

struct s3_buf {
	char *p;        /* always NUL-terminated when len > 0 or cap > 0 */
	size_t len;
	size_t cap;
	int err;        /* first error (-ENOMEM, -E2BIG); later appends are no-ops */
};

void s3_buf_init(struct s3_buf *b);
void s3_buf_free(struct s3_buf *b);
void s3_buf_reset(struct s3_buf *b);
/* Append @n bytes. Errors are sticky in b->err. */
void s3_buf_add(struct s3_buf *b, const void *p, size_t n);
void s3_buf_adds(struct s3_buf *b, const char *s);
void s3_buf_addc(struct s3_buf *b, char c);
void s3_buf_printf(struct s3_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append @s with XML escaping of & < > " '. */
void s3_buf_add_xml(struct s3_buf *b, const char *s);
/* Append @s percent-encoded per SigV4 (unreserved A-Za-z0-9-_.~ kept;
 * '/' kept iff @keep_slash). */
void s3_buf_add_uri(struct s3_buf *b, const char *s, size_t n, int keep_slash);


/* Lower-case hex of @n bytes into @out (2n+1 bytes). */
void s3_hex(const uint8_t *in, size_t n, char *out);
/* Parse 2n hex digits into @out. Returns 0 or -EINVAL. */
int s3_unhex(const char *in, size_t hexlen, uint8_t *out);

/* Percent-decode @in[0..n) into @out (cap bytes incl. NUL). '+' is kept as
 * '+' unless @plus_space. Returns decoded length or -EINVAL (bad escape,
 * embedded NUL, too long). */
long s3_url_decode(const char *in, size_t n, char *out, size_t cap, int plus_space);

/* Digests. */
void s3_md5(const void *p, size_t n, uint8_t out[16]);
void s3_sha256(const void *p, size_t n, uint8_t out[32]);
void s3_sha256_hex(const void *p, size_t n, char out[65]);
void s3_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, uint8_t out[32]);
/* Base64 of @n bytes into @out (cap >= 4*ceil(n/3)+1). */
void s3_base64(const uint8_t *in, size_t n, char *out, size_t cap);
/* Decode base64; returns decoded length or -EINVAL. */
long s3_unbase64(const char *in, size_t n, uint8_t *out, size_t cap);

/* Incremental digest (EVP) used for bodies streamed in chunks. */
struct s3_digest { void *ctx; };
int s3_digest_init_md5(struct s3_digest *d);
int s3_digest_init_sha256(struct s3_digest *d);
void s3_digest_update(struct s3_digest *d, const void *p, size_t n);
/* Finish into @out (16 or 32 bytes) and free; safe to call once. */
void s3_digest_final(struct s3_digest *d, uint8_t *out);
void s3_digest_free(struct s3_digest *d);

/* One HTTP header as the gateway keeps it: NUL-terminated name (any
 * case, as received) and value (leading/trailing blanks trimmed). */
struct s3_hdr {
	const char *name;
	const char *value;
};

/* Times. All are UTC seconds since the epoch. */
/* "20130524T000000Z" -> seconds. Returns 0 or -EINVAL. */
int s3_parse_amz_date(const char *s, int64_t *out);
/* RFC 1123 "Fri, 24 May 2013 00:00:00 GMT" (also accepts RFC 850 and
 * asctime forms as HTTP requires). Returns 0 or -EINVAL. */
int s3_parse_http_date(const char *s, int64_t *out);
/* Format helpers; @out must hold 32 bytes. */
void s3_fmt_http_date(int64_t t, char *out);      /* RFC 1123 */
void s3_fmt_iso8601(int64_t t_ms, char *out);     /* 2013-05-24T00:00:00.000Z */
void s3_fmt_amz_date(int64_t t, char *out);       /* 20130524T000000Z */

/* Case-insensitive equality of a counted string with a C string. */
int s3_streq_ci(const char *a, size_t alen, const char *b);

#endif
