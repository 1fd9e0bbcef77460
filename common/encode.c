/* Implementation of the encoder/decoder described in encode.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/encode.h"
#include "common/assert.h"
#include "norn/errors.h"

void enc_init(struct enc *e, size_t cap)
{
	memset(e, 0, sizeof(*e));
	e->cap = cap ? cap : 256;
	e->buf = malloc(e->cap);
	if (!e->buf) {
		e->cap = 0;
		e->err = -ENOMEM;
	}
}

void enc_init_fixed(struct enc *e, void *buf, size_t cap)
{
	memset(e, 0, sizeof(*e));
	e->buf = buf;
	e->cap = cap;
	e->fixed = 1;
}

void enc_free(struct enc *e)
{
	if (!e->fixed)
		free(e->buf);
	memset(e, 0, sizeof(*e));
}

void enc_reset(struct enc *e)
{
	e->len = 0;
	e->err = 0;
}

uint8_t *enc_take(struct enc *e, size_t *len_out)
{
	uint8_t *b;

	NORN_ASSERT(!e->fixed);
	if (e->err) {
		enc_free(e);
		return NULL;
	}
	b = e->buf;
	*len_out = e->len;
	memset(e, 0, sizeof(*e));
	return b;
}

void *enc_reserve(struct enc *e, size_t n)
{
	void *p;

	if (e->err)
		return NULL;
	if (n > e->cap - e->len) {
		size_t ncap;
		uint8_t *nb;

		if (e->fixed) {
			e->err = -ENOSPC;
			return NULL;
		}
		ncap = e->cap ? e->cap : 256;
		while (ncap - e->len < n) {
			if (ncap > SIZE_MAX / 2) {
				e->err = -ENOMEM;
				return NULL;
			}
			ncap *= 2;
		}
		nb = realloc(e->buf, ncap);
		if (!nb) {
			e->err = -ENOMEM;
			return NULL;
		}
		e->buf = nb;
		e->cap = ncap;
	}
	p = e->buf + e->len;
	e->len += n;
	return p;
}

void enc_bytes(struct enc *e, const void *p, size_t n)
{
	void *d = enc_reserve(e, n);
	if (d && n)
		memcpy(d, p, n);
}

void enc_u8(struct enc *e, uint8_t v)   { uint8_t *d = enc_reserve(e, 1); if (d) *d = v; }
void enc_u16(struct enc *e, uint16_t v) { void *d = enc_reserve(e, 2); if (d) norn_put_le16(d, v); }
void enc_u32(struct enc *e, uint32_t v) { void *d = enc_reserve(e, 4); if (d) norn_put_le32(d, v); }
void enc_u64(struct enc *e, uint64_t v) { void *d = enc_reserve(e, 8); if (d) norn_put_le64(d, v); }

void enc_blob(struct enc *e, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		if (!e->err)
			e->err = -EOVERFLOW;
		return;
	}
	enc_u32(e, (uint32_t)n);
	enc_bytes(e, p, n);
}

void enc_str(struct enc *e, const char *s)
{
	enc_blob(e, s, strlen(s));
}

size_t enc_struct_begin(struct enc *e, uint8_t version, uint8_t compat)
{
	size_t tok;

	NORN_ASSERT(compat <= version);
	enc_u8(e, version);
	enc_u8(e, compat);
	tok = e->len;
	enc_u32(e, 0);
	return tok;
}

void enc_struct_end(struct enc *e, size_t tok)
{
	size_t body;

	if (e->err)
		return;
	NORN_ASSERT(tok + 4 <= e->len);
	body = e->len - tok - 4;
	if (body > UINT32_MAX) {
		e->err = -EOVERFLOW;
		return;
	}
	norn_put_le32(e->buf + tok, (uint32_t)body);
}

/* ---- decoder ---------------------------------------------------------- */

void dec_init(struct dec *d, const void *buf, size_t len)
{
	d->p = buf;
	d->len = len;
	d->off = 0;
	d->err = 0;
}

void dec_fail(struct dec *d, int err)
{
	if (!d->err)
		d->err = err;
}

const void *dec_bytes(struct dec *d, size_t n)
{
	const void *r;

	if (d->err)
		return NULL;
	if (n > d->len - d->off) {
		d->err = NORN_ECORRUPT;
		return NULL;
	}
	r = d->p + d->off;
	d->off += n;
	return r;
}

void dec_copy(struct dec *d, void *out, size_t n)
{
	const void *s = dec_bytes(d, n);
	if (s)
		memcpy(out, s, n);
	else
		memset(out, 0, n);
}

uint8_t dec_u8(struct dec *d)   { const uint8_t *s = dec_bytes(d, 1); return s ? *s : 0; }
uint16_t dec_u16(struct dec *d) { const void *s = dec_bytes(d, 2); return s ? norn_get_le16(s) : 0; }
uint32_t dec_u32(struct dec *d) { const void *s = dec_bytes(d, 4); return s ? norn_get_le32(s) : 0; }
uint64_t dec_u64(struct dec *d) { const void *s = dec_bytes(d, 8); return s ? norn_get_le64(s) : 0; }

const void *dec_blob(struct dec *d, size_t *len_out)
{
	uint32_t n = dec_u32(d);
	const void *p = dec_bytes(d, n);

	*len_out = p ? n : 0;
	return p;
}

void dec_str(struct dec *d, char *out, size_t cap)
{
	size_t n;
	const char *s = dec_blob(d, &n);

	NORN_ASSERT(cap > 0);
	out[0] = 0;
	if (!s)
		return;
	if (n >= cap || memchr(s, 0, n)) {
		dec_fail(d, NORN_ECORRUPT);
		return;
	}
	memcpy(out, s, n);
	out[n] = 0;
}

uint32_t dec_count(struct dec *d, uint32_t max, size_t min_item_bytes)
{
	uint32_t n = dec_u32(d);

	if (min_item_bytes == 0)
		min_item_bytes = 1;
	if (d->err)
		return 0;
	if (n > max || n > (d->len - d->off) / min_item_bytes) {
		dec_fail(d, NORN_ECORRUPT);
		return 0;
	}
	return n;
}

void dec_struct_begin(struct dec *d, uint8_t max_version, uint8_t *version_out,
                      struct dec_struct *tok)
{
	uint8_t version = dec_u8(d);
	uint8_t compat = dec_u8(d);
	uint32_t n = dec_u32(d);

	tok->outer_len = d->len;
	tok->end = d->off;
	*version_out = version;
	if (d->err)
		return;
	if (compat > max_version || compat > version) {
		dec_fail(d, NORN_EVERSION);
		return;
	}
	if (n > d->len - d->off) {
		dec_fail(d, NORN_ECORRUPT);
		return;
	}
	tok->end = d->off + n;
	d->len = tok->end;
}

void dec_struct_end(struct dec *d, const struct dec_struct *tok)
{
	if (d->err)
		return;
	d->off = tok->end;
	d->len = tok->outer_len;
}
