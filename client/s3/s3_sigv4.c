/* AWS Signature Version 4: parsing, canonicalisation, signing and the
 * aws-chunked verifier. See s3_sigv4.h for the rules implemented. */
#include "client/s3/s3_sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/assert.h"
#include "norn/errors.h"

/* Copy the counted string into a bounded C string. */
static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(dst, s, n);
	dst[n] = 0;
	return 0;
}

/* Split "AK/date8/region/service/aws4_request" into @a. */
static int parse_credential(const char *s, size_t n, struct s3_auth *a)
{
	const char *parts[5];
	size_t lens[5];
	size_t np = 0;
	const char *start = s, *end = s + n;
	/* The access key itself contains no '/', so split from the right:
	 * the last four fields are fixed. */
	const char *p = end;
	while (np < 4) {
		const char *q = p;
		while (q > start && q[-1] != '/')
			q--;
		if (q == start)
			return -EINVAL;
		parts[4 - np] = q;
		lens[4 - np] = (size_t)(p - q);
		np++;
		p = q - 1;
	}
	parts[0] = start;
	lens[0] = (size_t)(p - start);
	if (copy_field(a->access_key, sizeof(a->access_key), parts[0], lens[0]) ||
	    copy_field(a->date8, sizeof(a->date8), parts[1], lens[1]) ||
	    copy_field(a->region, sizeof(a->region), parts[2], lens[2]) ||
	    copy_field(a->service, sizeof(a->service), parts[3], lens[3]))
		return -EINVAL;
	if (lens[1] != 8 || lens[4] != 12 || memcmp(parts[4], "aws4_request", 12))
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		if (a->date8[i] < '0' || a->date8[i] > '9')
			return -EINVAL;
	return 0;
}

static int check_signature_hex(const char *s)
{
	if (strlen(s) != 64)
		return -EINVAL;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -EINVAL;
	return 0;
}

static int check_signed_headers(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			return -EINVAL;
		if (c <= ' ' || c == ',' || c == '=' || (unsigned char)c >= 0x7f)
			return -EINVAL;
	}
	return 0;
}

int s3_sigv4_parse_header(const char *value, struct s3_auth *a)
{
	memset(a, 0, sizeof(*a));
	size_t al = strlen(S3_SIG_ALGO);
	if (strncmp(value, S3_SIG_ALGO, al) || (value[al] != ' ' && value[al] != '\t'))
		return !strncmp(value, "AWS ", 4) ? -ENOTSUP : -EINVAL;
	const char *p = value + al;
	int have = 0;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *k = p;
		while (*p && *p != '=')
			p++;
		if (*p != '=')
			return -EINVAL;
		size_t kl = (size_t)(p - k);
		const char *v = ++p;
		while (*p && *p != ',' && *p != ' ')
			p++;
		size_t vl = (size_t)(p - v);
		if (kl == 10 && !memcmp(k, "Credential", 10)) {
			if (parse_credential(v, vl, a))
				return -EINVAL;
			have |= 1;
		} else if (kl == 13 && !memcmp(k, "SignedHeaders", 13)) {
			if (copy_field(a->signed_headers, sizeof(a->signed_headers), v, vl))
				return -EINVAL;
			have |= 2;
		} else if (kl == 9 && !memcmp(k, "Signature", 9)) {
			if (copy_field(a->signature, sizeof(a->signature), v, vl))
				return -EINVAL;
			have |= 4;
		} else {
			return -EINVAL;
		}
	}
	if (have != 7 || check_signature_hex(a->signature) || check_signed_headers(a->signed_headers))
		return -EINVAL;
	a->kind = S3_AUTH_HEADER;
	return 0;
}

/* Find parameter @name in a raw query and decode its value into @out.
 * Returns 1 if found, 0 if not, -EINVAL if the value is malformed. */
static int query_get(const char *q, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = q;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', seg);
		size_t kl = eq ? (size_t)(eq - p) : seg;
		char kbuf[64];
		long dk = kl < sizeof(kbuf) ? s3_url_decode(p, kl, kbuf, sizeof(kbuf), 1) : -1;
		if (dk >= 0 && (size_t)dk == nl && !memcmp(kbuf, name, nl)) {
			const char *v = eq ? eq + 1 : p + seg;
			size_t vl = eq ? seg - kl - 1 : 0;
			if (s3_url_decode(v, vl, out, cap, 1) < 0)
				return -EINVAL;
			return 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

int s3_sigv4_parse_query(const char *raw_query, struct s3_auth *a)
{
	char buf[1024];
	memset(a, 0, sizeof(*a));
	if (!raw_query)
		return 1;
	int r = query_get(raw_query, "X-Amz-Algorithm", buf, sizeof(buf));
	if (r <= 0)
		return r < 0 ? -EINVAL : 1;
	if (strcmp(buf, S3_SIG_ALGO))
		return -ENOTSUP;
	if (query_get(raw_query, "X-Amz-Credential", buf, sizeof(buf)) != 1 ||
	    parse_credential(buf, strlen(buf), a))
		return -EINVAL;
	if (query_get(raw_query, "X-Amz-Date", a->amz_date, sizeof(a->amz_date)) != 1)
		return -EINVAL;
	if (query_get(raw_query, "X-Amz-SignedHeaders", a->signed_headers,
	              sizeof(a->signed_headers)) != 1 || check_signed_headers(a->signed_headers))
		return -EINVAL;
	if (query_get(raw_query, "X-Amz-Signature", a->signature, sizeof(a->signature)) != 1 ||
	    check_signature_hex(a->signature))
		return -EINVAL;
	if (query_get(raw_query, "X-Amz-Expires", buf, 32) != 1)
		return -EINVAL;
	char *end = NULL;
	errno = 0;
	long long e = strtoll(buf, &end, 10);
	if (errno || end == buf || *end || e < 0 || e > S3_PRESIGN_MAX_EXPIRES_S)
		return -EINVAL;
	a->expires_s = e;
	a->kind = S3_AUTH_PRESIGNED;
	return 0;
}

void s3_sigv4_scope(const struct s3_auth *a, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s/%s/aws4_request", a->date8, a->region, a->service);
}

struct qparam {
	char *k;    /* encoded name */
	char *v;    /* encoded value */
};

static int qparam_cmp(const void *x, const void *y)
{
	const struct qparam *a = x, *b = y;
	int c = strcmp(a->k, b->k);
	return c ? c : strcmp(a->v, b->v);
}

/* Decode then re-encode a query component (SigV4 style, '/' escaped). */
static char *reencode(const char *s, size_t n, int *err)
{
	char *dec = malloc(n + 1);
	struct s3_buf b;
	s3_buf_init(&b);
	if (!dec) {
		*err = -ENOMEM;
		return NULL;
	}
	long dl = s3_url_decode(s, n, dec, n + 1, 1);
	if (dl < 0) {
		free(dec);
		*err = -EINVAL;
		return NULL;
	}
	s3_buf_add_uri(&b, dec, (size_t)dl, 0);
	s3_buf_add(&b, "", 0);
	free(dec);
	if (b.err) {
		*err = b.err;
		s3_buf_free(&b);
		return NULL;
	}
	return b.p;
}

static int canonical_query(const char *q, int presigned, struct s3_buf *out)
{
	struct qparam ps[S3_SIG_MAX_QUERY_PARAMS];
	size_t np = 0;
	int err = 0;
	const char *p = q;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		if (seg) {
			const char *eq = memchr(p, '=', seg);
			size_t kl = eq ? (size_t)(eq - p) : seg;
			if (np == S3_SIG_MAX_QUERY_PARAMS) {
				err = -EINVAL;
				goto out;
			}
			char *k = reencode(p, kl, &err);
			if (!k)
				goto out;
			char *v = reencode(eq ? eq + 1 : p + seg, eq ? seg - kl - 1 : 0, &err);
			if (!v) {
				free(k);
				goto out;
			}
			if (presigned && !strcmp(k, "X-Amz-Signature")) {
				free(k);
				free(v);
			} else {
				ps[np].k = k;
				ps[np].v = v;
				np++;
			}
		}
		p = amp ? amp + 1 : NULL;
	}
	qsort(ps, np, sizeof(ps[0]), qparam_cmp);
	for (size_t i = 0; i < np; i++) {
		if (i)
			s3_buf_addc(out, '&');
		s3_buf_adds(out, ps[i].k);
		s3_buf_addc(out, '=');
		s3_buf_adds(out, ps[i].v);
	}
out:
	for (size_t i = 0; i < np; i++) {
		free(ps[i].k);
		free(ps[i].v);
	}
	return err;
}

/* Append a header value trimmed, inner blank runs collapsed to one space. */
static void add_trimmed(struct s3_buf *out, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	int pending_space = 0;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			pending_space = 1;
			continue;
		}
		if (pending_space)
			s3_buf_addc(out, ' ');
		pending_space = 0;
		s3_buf_addc(out, *v);
	}
}

int s3_sigv4_canonical_request(const char *method, const char *raw_path, const char *raw_query,
                               const struct s3_hdr *hdrs, size_t nhdrs,
                               const char *signed_headers, const char *payload_hash,
                               int presigned, struct s3_buf *out)
{
	int err;
	s3_buf_adds(out, method);
	s3_buf_addc(out, '\n');

	/* Canonical URI: S3 encodes the decoded path once. */
	size_t pl = strlen(raw_path);
	if (pl == 0) {
		s3_buf_addc(out, '/');
	} else {
		char *dec = malloc(pl + 1);
		if (!dec)
			return -ENOMEM;
		long dl = s3_url_decode(raw_path, pl, dec, pl + 1, 0);
		if (dl < 0) {
			free(dec);
			return -EINVAL;
		}
		s3_buf_add_uri(out, dec, (size_t)dl, 1);
		free(dec);
	}
	s3_buf_addc(out, '\n');

	err = canonical_query(raw_query, presigned, out);
	if (err)
		return err;
	s3_buf_addc(out, '\n');

	/* Canonical headers in SignedHeaders order (which the client sorted;
	 * we insist on it being sorted and unique). */
	const char *sh = signed_headers;
	char prev[128] = "";
	size_t count = 0;
	while (*sh) {
		const char *semi = strchr(sh, ';');
		size_t nl = semi ? (size_t)(semi - sh) : strlen(sh);
		char name[128];
		if (nl == 0 || nl >= sizeof(name) || ++count > S3_SIG_MAX_SIGNED_HEADERS)
			return -EINVAL;
		memcpy(name, sh, nl);
		name[nl] = 0;
		if (strcmp(prev, name) >= 0)
			return -EINVAL;
		memcpy(prev, name, nl + 1);
		s3_buf_adds(out, name);
		s3_buf_addc(out, ':');
		int found = 0;
		for (size_t i = 0; i < nhdrs; i++) {
			if (strcasecmp(hdrs[i].name, name))
				continue;
			if (found)
				s3_buf_addc(out, ',');
			add_trimmed(out, hdrs[i].value);
			found = 1;
		}
		if (!found)
			return -EINVAL;
		s3_buf_addc(out, '\n');
		sh += nl;
		if (*sh == ';')
			sh++;
	}
	s3_buf_addc(out, '\n');
	s3_buf_adds(out, signed_headers);
	s3_buf_addc(out, '\n');
	s3_buf_adds(out, payload_hash);
	return out->err;
}

void s3_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                          const char *service, uint8_t key[32])
{
	char k0[256];
	int n = snprintf(k0, sizeof(k0), "AWS4%s", secret);
	NORN_ASSERT(n > 0 && (size_t)n < sizeof(k0));
	uint8_t t[32];
	s3_hmac_sha256(k0, (size_t)n, date8, strlen(date8), t);
	s3_hmac_sha256(t, 32, region, strlen(region), t);
	s3_hmac_sha256(t, 32, service, strlen(service), t);
	s3_hmac_sha256(t, 32, "aws4_request", 12, key);
}

int s3_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canon,
                            size_t canon_len, struct s3_buf *out)
{
	char h[65];
	s3_sha256_hex(canon, canon_len, h);
	s3_buf_printf(out, "%s\n%s\n%s\n%s", S3_SIG_ALGO, amz_date, scope, h);
	return out->err;
}

void s3_sigv4_sign(const uint8_t key[32], const char *sts, size_t sts_len, char sig_hex[65])
{
	uint8_t s[32];
	s3_hmac_sha256(key, 32, sts, sts_len, s);
	s3_hex(s, 32, sig_hex);
}

int s3_sigv4_sig_equal(const char *a, const char *b)
{
	if (strlen(a) != 64 || strlen(b) != 64)
		return 0;
	return CRYPTO_memcmp(a, b, 64) == 0;
}

/* --- aws-chunked ----------------------------------------------------- */

enum { CH_LINE = 0, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_DONE, CH_ERROR };

int s3_chunked_init(struct s3_chunked *c, int verify, const uint8_t key[32],
                    const char *amz_date, const char *scope, const char *seed_sig)
{
	memset(c, 0, sizeof(*c));
	c->verify = verify;
	if (verify) {
		memcpy(c->key, key, 32);
		snprintf(c->amz_date, sizeof(c->amz_date), "%s", amz_date);
		snprintf(c->scope, sizeof(c->scope), "%s", scope);
		snprintf(c->prev_sig, sizeof(c->prev_sig), "%s", seed_sig);
	}
	c->state = CH_LINE;
	return 0;
}

void s3_chunked_free(struct s3_chunked *c)
{
	s3_digest_free(&c->sha);
}

static int chunk_parse_line(struct s3_chunked *c)
{
	/* "<hex size>;chunk-signature=<64 hex>" (signature optional when not
	 * verifying). */
	const char *l = c->line;
	uint64_t size = 0;
	size_t i = 0;
	for (; i < c->line_len; i++) {
		char ch = l[i];
		int v;
		if (ch >= '0' && ch <= '9') v = ch - '0';
		else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
		else break;
		if (i >= 16)
			return -EBADMSG;
		size = size << 4 | (uint64_t)v;
	}
	if (i == 0 || size > S3_CHUNK_MAX_BYTES)
		return -EBADMSG;
	c->chunk_sig[0] = 0;
	if (i < c->line_len) {
		static const char ext[] = ";chunk-signature=";
		size_t el = sizeof(ext) - 1;
		if (c->line_len - i != el + 64 || memcmp(l + i, ext, el))
			return -EBADMSG;
		memcpy(c->chunk_sig, l + i + el, 64);
		c->chunk_sig[64] = 0;
		if (check_signature_hex(c->chunk_sig))
			return -EBADMSG;
	} else if (c->verify) {
		return -EBADMSG;
	}
	c->chunk_size = size;
	c->chunk_left = size;
	if (c->verify && s3_digest_init_sha256(&c->sha))
		return -ENOMEM;
	return 0;
}

static int chunk_verify(struct s3_chunked *c)
{
	if (!c->verify)
		return 0;
	uint8_t h[32];
	char hh[65];
	s3_digest_final(&c->sha, h);
	s3_hex(h, 32, hh);
	char sts[512];
	int n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s",
	                 c->amz_date, c->scope, c->prev_sig, S3_EMPTY_SHA256, hh);
	NORN_ASSERT(n > 0 && (size_t)n < sizeof(sts));
	char sig[65];
	s3_sigv4_sign(c->key, sts, (size_t)n, sig);
	if (!s3_sigv4_sig_equal(sig, c->chunk_sig))
		return NORN_EAUTH;
	memcpy(c->prev_sig, sig, 65);
	return 0;
}

int s3_chunked_feed(struct s3_chunked *c, const char *p, size_t n,
                    s3_chunked_emit_fn emit, void *arg)
{
	size_t i = 0;
	int err = 0;
	while (i < n) {
		switch (c->state) {
		case CH_LINE: {
			char ch = p[i++];
			if (ch == '\n') {
				if (c->line_len == 0 || c->line[c->line_len - 1] != '\r') {
					err = -EBADMSG;
					goto fail;
				}
				c->line_len--;
				err = chunk_parse_line(c);
				if (err)
					goto fail;
				c->line_len = 0;
				c->state = c->chunk_left ? CH_DATA : CH_DATA_CR;
				if (c->chunk_size == 0) {
					/* The final chunk signs the empty string. */
					err = chunk_verify(c);
					if (err)
						goto fail;
				}
				break;
			}
			if (c->line_len + 1 >= sizeof(c->line)) {
				err = -EBADMSG;
				goto fail;
			}
			c->line[c->line_len++] = ch;
			break;
		}
		case CH_DATA: {
			size_t take = n - i;
			if (take > c->chunk_left)
				take = (size_t)c->chunk_left;
			if (c->verify)
				s3_digest_update(&c->sha, p + i, take);
			err = emit(arg, p + i, take);
			if (err)
				goto fail;
			c->decoded_bytes += take;
			c->chunk_left -= take;
			i += take;
			if (c->chunk_left == 0) {
				err = chunk_verify(c);
				if (err)
					goto fail;
				c->state = CH_DATA_CR;
			}
			break;
		}
		case CH_DATA_CR:
			if (p[i++] != '\r') {
				err = -EBADMSG;
				goto fail;
			}
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (p[i++] != '\n') {
				err = -EBADMSG;
				goto fail;
			}
			c->state = c->chunk_size == 0 ? CH_DONE : CH_LINE;
			break;
		case CH_DONE:
			/* Nothing may follow the final chunk (no trailers are
			 * signed in this mode). */
			err = -EBADMSG;
			goto fail;
		default:
			return -EBADMSG;
		}
	}
	return 0;
fail:
	c->state = CH_ERROR;
	s3_digest_free(&c->sha);
	return err;
}

int s3_chunked_done(const struct s3_chunked *c)
{
	return c->state == CH_DONE;
}

/* --- SigV2 ------------------------------------------------------------ */

int s3_sigv2_parse_header(const char *value, struct s3_auth *a)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(value, "AWS ", 4))
		return -EINVAL;
	const char *ak = value + 4;
	const char *colon = strrchr(ak, ':');
	if (!colon || copy_field(a->access_key, sizeof(a->access_key), ak, (size_t)(colon - ak)) ||
	    copy_field(a->signature, sizeof(a->signature), colon + 1, strlen(colon + 1)))
		return -EINVAL;
	a->kind = S3_AUTH_V2_HEADER;
	return 0;
}

int s3_sigv2_parse_query(const char *raw_query, struct s3_auth *a)
{
	char buf[64];
	memset(a, 0, sizeof(*a));
	if (!raw_query)
		return 1;
	int r = query_get(raw_query, "AWSAccessKeyId", a->access_key, sizeof(a->access_key));
	if (r <= 0)
		return r < 0 ? -EINVAL : 1;
	if (query_get(raw_query, "Signature", a->signature, sizeof(a->signature)) != 1 ||
	    query_get(raw_query, "Expires", buf, sizeof(buf)) != 1)
		return -EINVAL;
	char *end;
	errno = 0;
	long long e = strtoll(buf, &end, 10);
	if (errno || end == buf || *end || e < 0)
		return -EINVAL;
	a->expires_s = e;
	a->kind = S3_AUTH_V2_QUERY;
	return 0;
}

static const char *const v2_subresources[] = {
	"acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber",
	"policy", "requestPayment", "response-cache-control", "response-content-disposition",
	"response-content-encoding", "response-content-language", "response-content-type",
	"response-expires", "restore", "tagging", "torrent", "uploadId", "uploads", "versionId",
	"versioning", "versions", "website",
};

struct v2kv {
	char *k, *v;
	int has_v;
};

static int v2kv_cmp(const void *x, const void *y)
{
	return strcmp(((const struct v2kv *)x)->k, ((const struct v2kv *)y)->k);
}

int s3_sigv2_string_to_sign(const char *method, const char *resource_path, const char *raw_query,
                            const struct s3_hdr *hdrs, size_t nhdrs, const char *date_or_expires,
                            struct s3_buf *out)
{
	const char *md5 = "", *ctype = "";
	for (size_t i = 0; i < nhdrs; i++) {
		if (!strcasecmp(hdrs[i].name, "content-md5"))
			md5 = hdrs[i].value;
		else if (!strcasecmp(hdrs[i].name, "content-type"))
			ctype = hdrs[i].value;
	}
	s3_buf_printf(out, "%s\n%s\n%s\n%s\n", method, md5, ctype, date_or_expires);
	/* x-amz-* headers, lower-cased, sorted, repeated ones joined. */
	const char *names[S3_SIG_MAX_SIGNED_HEADERS];
	size_t nn = 0;
	for (size_t i = 0; i < nhdrs; i++) {
		if (strncasecmp(hdrs[i].name, "x-amz-", 6))
			continue;
		int dup = 0;
		for (size_t j = 0; j < nn; j++)
			if (!strcasecmp(names[j], hdrs[i].name))
				dup = 1;
		if (dup)
			continue;
		if (nn == S3_SIG_MAX_SIGNED_HEADERS)
			return -EINVAL;
		names[nn++] = hdrs[i].name;
	}
	for (size_t i = 1; i < nn; i++)       /* insertion sort, case-insensitive */
		for (size_t j = i; j > 0 && strcasecmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < nn; i++) {
		for (const char *c = names[i]; *c; c++)
			s3_buf_addc(out, (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c));
		s3_buf_addc(out, ':');
		int first = 1;
		for (size_t j = 0; j < nhdrs; j++) {
			if (strcasecmp(hdrs[j].name, names[i]))
				continue;
			if (!first)
				s3_buf_addc(out, ',');
			add_trimmed(out, hdrs[j].value);
			first = 0;
		}
		s3_buf_addc(out, '\n');
	}
	s3_buf_adds(out, resource_path);
	/* Signed subresources, sorted, decoded values. */
	struct v2kv kv[S3_SIG_MAX_QUERY_PARAMS];
	size_t nk = 0;
	int err = 0;
	const char *p = raw_query;
	while (p && *p && !err) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', seg);
		size_t kl = eq ? (size_t)(eq - p) : seg, vl = eq ? seg - kl - 1 : 0;
		char *k = malloc(kl + 1), *v = malloc(vl + 1);
		if (!k || !v || s3_url_decode(p, kl, k, kl + 1, 1) < 0 ||
		    s3_url_decode(eq ? eq + 1 : p, vl, v, vl + 1, 1) < 0) {
			free(k);
			free(v);
			err = -EINVAL;
			break;
		}
		int keep = 0;
		for (size_t i = 0; i < NORN_ARRAY_SIZE(v2_subresources); i++)
			if (!strcmp(k, v2_subresources[i]))
				keep = 1;
		if (keep && nk < S3_SIG_MAX_QUERY_PARAMS) {
			kv[nk].k = k;
			kv[nk].v = v;
			kv[nk].has_v = eq != NULL && vl > 0;
			nk++;
		} else {
			free(k);
			free(v);
		}
		p = amp ? amp + 1 : NULL;
	}
	if (!err && nk) {
		qsort(kv, nk, sizeof(kv[0]), v2kv_cmp);
		for (size_t i = 0; i < nk; i++) {
			s3_buf_addc(out, i ? '&' : '?');
			s3_buf_adds(out, kv[i].k);
			if (kv[i].has_v) {
				s3_buf_addc(out, '=');
				s3_buf_adds(out, kv[i].v);
			}
		}
	}
	for (size_t i = 0; i < nk; i++) {
		free(kv[i].k);
		free(kv[i].v);
	}
	return err ? err : out->err;
}

void s3_sigv2_sign(const char *secret, const char *sts, size_t len, char *out, size_t cap)
{
	uint8_t mac[20];
	unsigned int ml = 20;
	NORN_ASSERT(HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)sts, len, mac,
	                 &ml) != NULL);
	s3_base64(mac, 20, out, cap);
}
