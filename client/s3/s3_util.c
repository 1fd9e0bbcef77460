/* Helpers for the S3 gateway: buffers, encodings, digests and times.
 * See s3_util.h. Digests go through OpenSSL EVP so the same code uses the
 * CPU's SHA and AES-NI-era MD5 paths where OpenSSL has them. */
#include "client/s3/s3_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/assert.h"

void s3_buf_init(struct s3_buf *b) { memset(b, 0, sizeof(*b)); }

void s3_buf_free(struct s3_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void s3_buf_reset(struct s3_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->p)
		b->p[0] = 0;
}

static int buf_grow(struct s3_buf *b, size_t extra)
{
	if (b->err)
		return b->err;
	if (extra > S3_BUF_MAX_BYTES || b->len + extra + 1 > S3_BUF_MAX_BYTES) {
		b->err = -E2BIG;
		return b->err;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void s3_buf_add(struct s3_buf *b, const void *p, size_t n)
{
	if (buf_grow(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

void s3_buf_adds(struct s3_buf *b, const char *s) { s3_buf_add(b, s, strlen(s)); }
void s3_buf_addc(struct s3_buf *b, char c) { s3_buf_add(b, &c, 1); }

void s3_buf_printf(struct s3_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	if (buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void s3_buf_add_xml(struct s3_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': s3_buf_adds(b, "&amp;"); break;
		case '<': s3_buf_adds(b, "&lt;"); break;
		case '>': s3_buf_adds(b, "&gt;"); break;
		case '"': s3_buf_adds(b, "&quot;"); break;
		case '\'': s3_buf_adds(b, "&apos;"); break;
		default:
			/* XML 1.0 cannot carry most control characters at all;
			 * S3 keys may contain them, so write a char reference
			 * the way AWS does. */
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
				s3_buf_printf(b, "&#x%X;", (unsigned char)*s);
			else
				s3_buf_addc(b, *s);
		}
	}
}

void s3_buf_add_uri(struct s3_buf *b, const char *s, size_t n, int keep_slash)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
			s3_buf_addc(b, (char)c);
		} else {
			char e[3] = { '%', hx[c >> 4], hx[c & 15] };
			s3_buf_add(b, e, 3);
		}
	}
}

void s3_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int s3_unhex(const char *in, size_t hexlen, uint8_t *out)
{
	if (hexlen % 2)
		return -EINVAL;
	for (size_t i = 0; i < hexlen / 2; i++) {
		int h = hexval(in[2 * i]), l = hexval(in[2 * i + 1]);
		if (h < 0 || l < 0)
			return -EINVAL;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

long s3_url_decode(const char *in, size_t n, char *out, size_t cap, int plus_space)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -EINVAL;
			int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == 0)
			return -EINVAL;
		if (o + 1 >= cap)
			return -EINVAL;
		out[o++] = c;
	}
	if (cap == 0)
		return -EINVAL;
	out[o] = 0;
	return (long)o;
}

void s3_md5(const void *p, size_t n, uint8_t out[16])
{
	unsigned int len = 16;
	NORN_ASSERT(EVP_Digest(p, n, out, &len, EVP_md5(), NULL) == 1);
}

void s3_sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 32;
	NORN_ASSERT(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1);
}

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t h[32];
	s3_sha256(p, n, h);
	s3_hex(h, 32, out);
}

void s3_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 32;
	NORN_ASSERT(HMAC(EVP_sha256(), key, (int)klen, p, n, out, &len) != NULL);
}

void s3_base64(const uint8_t *in, size_t n, char *out, size_t cap)
{
	NORN_ASSERT(cap >= 4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

long s3_unbase64(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n % 4 || n / 4 * 3 > cap || n > (1u << 20))
		return -EINVAL;
	if (n == 0)
		return 0;
	int r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (r < 0)
		return -EINVAL;
	/* EVP_DecodeBlock keeps the padding bytes as zeros; drop them. */
	if (in[n - 1] == '=')
		r--;
	if (in[n - 2] == '=')
		r--;
	return r;
}

int s3_digest_init_md5(struct s3_digest *d)
{
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(d->ctx, EVP_md5(), NULL) != 1) {
		s3_digest_free(d);
		return -ENOMEM;
	}
	return 0;
}

int s3_digest_init_sha256(struct s3_digest *d)
{
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
		s3_digest_free(d);
		return -ENOMEM;
	}
	return 0;
}

void s3_digest_update(struct s3_digest *d, const void *p, size_t n)
{
	NORN_ASSERT(d->ctx);
	if (n)
		NORN_ASSERT(EVP_DigestUpdate(d->ctx, p, n) == 1);
}

void s3_digest_final(struct s3_digest *d, uint8_t *out)
{
	unsigned int len = 0;
	NORN_ASSERT(d->ctx);
	NORN_ASSERT(EVP_DigestFinal_ex(d->ctx, out, &len) == 1);
	s3_digest_free(d);
}

void s3_digest_free(struct s3_digest *d)
{
	if (d->ctx)
		EVP_MD_CTX_free(d->ctx);
	d->ctx = NULL;
}

static int parse_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int tm_valid(const struct tm *t)
{
	return t->tm_year >= 70 && t->tm_year < 1100 && t->tm_mon >= 0 && t->tm_mon < 12 &&
	       t->tm_mday >= 1 && t->tm_mday <= 31 && t->tm_hour >= 0 && t->tm_hour < 24 &&
	       t->tm_min >= 0 && t->tm_min < 60 && t->tm_sec >= 0 && t->tm_sec <= 60;
}

int s3_parse_amz_date(const char *s, int64_t *out)
{
	struct tm t;
	memset(&t, 0, sizeof(t));
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -EINVAL;
	int y, mo;
	if (parse_digits(s, 4, &y) || parse_digits(s + 4, 2, &mo) || parse_digits(s + 6, 2, &t.tm_mday) ||
	    parse_digits(s + 9, 2, &t.tm_hour) || parse_digits(s + 11, 2, &t.tm_min) ||
	    parse_digits(s + 13, 2, &t.tm_sec))
		return -EINVAL;
	t.tm_year = y - 1900;
	t.tm_mon = mo - 1;
	if (!tm_valid(&t))
		return -EINVAL;
	*out = (int64_t)timegm(&t);
	return 0;
}

static int month_index(const char *m)
{
	static const char *names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	for (int i = 0; i < 12; i++)
		if (!strncasecmp(m, names[i], 3))
			return i;
	return -1;
}

int s3_parse_http_date(const char *s, int64_t *out)
{
	struct tm t;
	char mon[4] = { 0 }, wd[16] = { 0 }, zone[8] = { 0 };
	int y = 0;
	memset(&t, 0, sizeof(t));
	if (strlen(s) > 64)
		return -EINVAL;
	/* RFC 1123: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d %7s", wd, &t.tm_mday, mon, &y,
	           &t.tm_hour, &t.tm_min, &t.tm_sec, zone) == 8) {
		/* ok */
	} else if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %7s", wd, &t.tm_mday, mon, &y,
	                  &t.tm_hour, &t.tm_min, &t.tm_sec, zone) == 8) {
		y += y < 70 ? 2000 : 1900;   /* RFC 850 */
	} else if (sscanf(s, "%15s %3s %2d %2d:%2d:%2d %4d", wd, mon, &t.tm_mday, &t.tm_hour,
	                  &t.tm_min, &t.tm_sec, &y) == 7) {
		/* asctime */
	} else {
		return -EINVAL;
	}
	t.tm_mon = month_index(mon);
	t.tm_year = y - 1900;
	if (t.tm_mon < 0 || !tm_valid(&t))
		return -EINVAL;
	*out = (int64_t)timegm(&t);
	return 0;
}

void s3_fmt_http_date(int64_t t, char *out)
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void s3_fmt_iso8601(int64_t t_ms, char *out)
{
	struct tm tm;
	time_t tt = (time_t)(t_ms / 1000);
	gmtime_r(&tt, &tm);
	char b[24];
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", b, (int)(t_ms % 1000));
}

void s3_fmt_amz_date(int64_t t, char *out)
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y%m%dT%H%M%SZ", &tm);
}

int s3_streq_ci(const char *a, size_t alen, const char *b)
{
	size_t bl = strlen(b);
	return alen == bl && !strncasecmp(a, b, bl);
}
