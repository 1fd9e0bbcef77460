/* On-disk records of the object store: the onode (an object's metadata in
 * LMDB) and the superblock (block 0 of the data file).
 *
 * Both are bytes read back from disk, so decoding validates everything
 * and answers NORN_ECORRUPT (or NORN_EVERSION) instead of trusting them.
 * An onode is a versioned struct followed by a crc32c of its bytes:
 *   struct v1 { nid, size, mtime_ns, version : u64;
 *               nruns : u32; runs { lblk : u32, pblk : u64, n : u32, crc[n] : u32 };
 *               nxattrs : u32; xattrs { name : str, value : blob } }
 *   crc32c : u32
 * Runs are the block map compressed to physically contiguous pieces, in
 * increasing logical order without overlap; holes are absent.
 *
 * Version 2 (compat 2: a version 1 reader would miss the block map) appends
 *   shard_blks : u32
 * When it is not 0 the head holds no runs: the block map lives in shard
 * records of shard_blks logical blocks each (shard i covers blocks
 * [i*shard_blks, (i+1)*shard_blks)), so a small overwrite of a large object
 * rewrites one small shard instead of the whole map. A missing shard is all
 * holes. A shard record is
 *   struct v1 { nid : u64; idx : u32; nruns : u32; runs (as above) }
 *   crc32c : u32
 * with every run inside its shard and the object's size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "norn/errors.h"
#include "osd/store/store_int.h"

void store__onode_free(struct store__onode *o)
{
	for (uint32_t i = 0; i < o->nx; i++) {
		free(o->x[i].name);
		free(o->x[i].val);
	}
	free(o->x);
	free(o->pblk);
	free(o->crc);
	memset(o, 0, sizeof(*o));
}

int store__onode_resize(struct store__onode *o, uint64_t size)
{
	uint64_t nb64 = (size + STORE_BLOCK_BYTES - 1) / STORE_BLOCK_BYTES;
	NORN_ASSERT(nb64 <= UINT32_MAX);
	uint32_t nb = (uint32_t)nb64;
	if (nb != o->nblk) {
		if (nb == 0) {
			free(o->pblk);
			free(o->crc);
			o->pblk = NULL;
			o->crc = NULL;
		} else {
			uint64_t *p = realloc(o->pblk, nb * sizeof(*p));
			if (!p)
				return -ENOMEM;
			o->pblk = p;
			uint32_t *c = realloc(o->crc, nb * sizeof(*c));
			if (!c)
				return -ENOMEM;
			o->crc = c;
			for (uint32_t i = o->nblk; i < nb; i++) {
				o->pblk[i] = 0;
				o->crc[i] = 0;
			}
		}
		o->nblk = nb;
	}
	o->size = size;
	return 0;
}

int store__onode_copy(struct store__onode *dst, const struct store__onode *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->nid = src->nid;
	dst->mtime_ns = src->mtime_ns;
	dst->version = src->version;
	dst->shard_blks = src->shard_blks;
	dst->size = src->size;
	if (src->nblk) {
		/* Copied, not resized: no zero fill first (a 4 MiB object's map
		 * is copied for every transaction on it). */
		dst->pblk = malloc(src->nblk * sizeof(*dst->pblk));
		dst->crc = malloc(src->nblk * sizeof(*dst->crc));
		if (!dst->pblk || !dst->crc)
			goto fail;
		dst->nblk = src->nblk;
		memcpy(dst->pblk, src->pblk, src->nblk * sizeof(*src->pblk));
		memcpy(dst->crc, src->crc, src->nblk * sizeof(*src->crc));
	}
	if (src->nx) {
		dst->x = calloc(src->nx, sizeof(*dst->x));
		if (!dst->x)
			goto fail;
		for (uint32_t i = 0; i < src->nx; i++) {
			dst->x[i].name = strdup(src->x[i].name);
			dst->x[i].val = malloc(src->x[i].len ? src->x[i].len : 1);
			dst->nx = i + 1;
			if (!dst->x[i].name || !dst->x[i].val)
				goto fail;
			memcpy(dst->x[i].val, src->x[i].val, src->x[i].len);
			dst->x[i].len = src->x[i].len;
		}
	}
	return 0;
fail:
	store__onode_free(dst);
	return -ENOMEM;
}

/* Runs of blocks [lo, hi) of @o. */
static void enc_runs(struct enc *e, const struct store__onode *o, uint32_t lo, uint32_t hi)
{
	uint32_t nruns = 0;
	for (uint32_t i = lo; i < hi;) {
		if (!o->pblk[i]) { i++; continue; }
		uint32_t j = i + 1;
		while (j < hi && o->pblk[j] && o->pblk[j] == o->pblk[j - 1] + 1)
			j++;
		nruns++;
		i = j;
	}
	enc_u32(e, nruns);
	for (uint32_t i = lo; i < hi;) {
		if (!o->pblk[i]) { i++; continue; }
		uint32_t j = i + 1;
		while (j < hi && o->pblk[j] && o->pblk[j] == o->pblk[j - 1] + 1)
			j++;
		enc_u32(e, i);
		enc_u64(e, o->pblk[i]);
		enc_u32(e, j - i);
		for (uint32_t k = i; k < j; k++)
			enc_u32(e, o->crc[k]);
		i = j;
	}
}

/* Decode runs that must lie in logical blocks [lo, hi); store those inside
 * [b0, b0+nb) at pblk/crc[l - b0]. 0 or NORN_ECORRUPT (or the dec error). */
static int dec_runs(struct dec *d, uint64_t lo, uint64_t hi, uint64_t b0, uint64_t nb,
                    uint64_t *pblk, uint32_t *crc)
{
	uint32_t nruns = dec_count(d, (uint32_t)NORN_MIN(hi - lo, UINT32_MAX), 16);
	uint64_t next = lo;
	for (uint32_t r = 0; r < nruns && !dec_error(d); r++) {
		uint32_t lblk = dec_u32(d);
		uint64_t p = dec_u64(d);
		uint32_t n = dec_u32(d);
		if (dec_error(d))
			break;
		if (n == 0 || lblk < next || (uint64_t)lblk + n > hi || p == 0 ||
		    p > UINT64_MAX / 2 || dec_left(d) < (size_t)n * 4)
			return NORN_ECORRUPT;
		const uint8_t *c = dec_bytes(d, (size_t)n * 4);
		for (uint64_t l = NORN_MAX((uint64_t)lblk, b0); l < (uint64_t)lblk + n && l < b0 + nb; l++) {
			pblk[l - b0] = p + (l - lblk);
			crc[l - b0] = norn_get_le32(c + (l - lblk) * 4);
		}
		next = (uint64_t)lblk + n;
	}
	return dec_error(d);
}

int store__onode_encode(const struct store__onode *o, uint8_t **out, size_t *len)
{
	struct enc e;
	enc_init(&e, 128 + (o->shard_blks ? 0 : (size_t)o->nblk * 5));
	size_t tok = o->shard_blks ? enc_struct_begin(&e, 2, 2)
	                           : enc_struct_begin(&e, STORE__ONODE_VERSION, 1);
	enc_u64(&e, o->nid);
	enc_u64(&e, o->size);
	enc_u64(&e, o->mtime_ns);
	enc_u64(&e, o->version);
	enc_runs(&e, o, 0, o->shard_blks ? 0 : o->nblk);
	enc_u32(&e, o->nx);
	for (uint32_t i = 0; i < o->nx; i++) {
		enc_str(&e, o->x[i].name);
		enc_blob(&e, o->x[i].val, o->x[i].len);
	}
	if (o->shard_blks)
		enc_u32(&e, o->shard_blks);
	enc_struct_end(&e, tok);
	if (enc_error(&e) == 0)
		enc_u32(&e, norn_crc32c(0, e.buf, e.len));
	if (enc_error(&e)) {
		enc_free(&e);
		return -ENOMEM;
	}
	*out = enc_take(&e, len);
	return *out ? 0 : -ENOMEM;
}

int store__onode_decode(const void *buf, size_t len, uint64_t max_object_bytes,
                        struct store__onode *o)
{
	memset(o, 0, sizeof(*o));
	if (len < 4 || norn_crc32c(0, buf, len - 4) != norn_get_le32((const uint8_t *)buf + len - 4))
		return NORN_ECORRUPT;
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	int rc = NORN_ECORRUPT;
	dec_init(&d, buf, len - 4);
	dec_struct_begin(&d, 2, &ver, &tok);
	o->nid = dec_u64(&d);
	uint64_t size = dec_u64(&d);
	o->mtime_ns = dec_u64(&d);
	o->version = dec_u64(&d);
	if (dec_error(&d)) {
		rc = dec_error(&d);
		goto fail;
	}
	if (size > max_object_bytes || o->nid == 0)
		goto fail;
	if (store__onode_resize(o, size)) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = dec_runs(&d, 0, o->nblk, 0, o->nblk, o->pblk, o->crc);
	if (rc)
		goto fail;
	rc = NORN_ECORRUPT;
	o->nx = 0;
	uint32_t nx = dec_count(&d, STORE_XATTRS_MAX, 8);
	if (dec_error(&d)) {
		rc = dec_error(&d);
		goto fail;
	}
	if (nx) {
		o->x = calloc(nx, sizeof(*o->x));
		if (!o->x) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (uint32_t i = 0; i < nx; i++) {
		char name[STORE_XATTR_NAME_MAX + 1];
		dec_str(&d, name, sizeof(name));
		size_t vlen = 0;
		const void *v = dec_blob(&d, &vlen);
		if (dec_error(&d))
			break;
		if (!name[0] || vlen > STORE_XATTR_VALUE_MAX)
			goto fail;
		for (uint32_t k = 0; k < i; k++)
			if (!strcmp(o->x[k].name, name))
				goto fail;
		o->x[i].name = strdup(name);
		o->x[i].val = malloc(vlen ? vlen : 1);
		o->nx = i + 1;
		if (!o->x[i].name || !o->x[i].val) {
			rc = -ENOMEM;
			goto fail;
		}
		memcpy(o->x[i].val, v, vlen);
		o->x[i].len = vlen;
	}
	if (ver >= 2) {
		o->shard_blks = dec_u32(&d);
		/* A sharded head has no runs of its own. */
		if (!dec_error(&d) && (o->shard_blks == 0 || o->shard_blks > STORE__SHARD_BLKS_MAX))
			goto fail;
		for (uint32_t b = 0; b < o->nblk; b++)
			if (o->pblk[b])
				goto fail;
	}
	dec_struct_end(&d, &tok);
	if (dec_error(&d)) {
		rc = dec_error(&d);
		goto fail;
	}
	if (dec_left(&d) != 0)
		goto fail;
	return 0;
fail:
	store__onode_free(o);
	return rc;
}

int store__onode_decode_range(const void *buf, size_t len, uint64_t max_object_bytes,
                              uint64_t b0, uint32_t nb, uint64_t *size_out,
                              uint64_t *pblk, uint32_t *crc, uint32_t *shard_blks)
{
	if (len < 4 || norn_crc32c(0, buf, len - 4) != norn_get_le32((const uint8_t *)buf + len - 4))
		return NORN_ECORRUPT;
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	dec_init(&d, buf, len - 4);
	dec_struct_begin(&d, 2, &ver, &tok);
	uint64_t nid = dec_u64(&d);
	uint64_t size = dec_u64(&d);
	dec_u64(&d);
	dec_u64(&d);
	if (dec_error(&d))
		return dec_error(&d);
	if (size > max_object_bytes || nid == 0)
		return NORN_ECORRUPT;
	uint64_t nblk = (size + STORE_BLOCK_BYTES - 1) / STORE_BLOCK_BYTES;
	*size_out = size;
	for (uint32_t i = 0; i < nb; i++) {
		pblk[i] = 0;
		crc[i] = 0;
	}
	int rc = dec_runs(&d, 0, nblk, b0, nb, pblk, crc);
	if (rc)
		return rc;
	uint32_t sb = 0;
	if (ver >= 2) {
		/* Skip the xattrs to reach shard_blks. */
		uint32_t nx = dec_count(&d, STORE_XATTRS_MAX, 8);
		for (uint32_t i = 0; i < nx && !dec_error(&d); i++) {
			size_t l;
			dec_blob(&d, &l);
			dec_blob(&d, &l);
		}
		sb = dec_u32(&d);
		if (dec_error(&d))
			return dec_error(&d);
		if (sb == 0 || sb > STORE__SHARD_BLKS_MAX)
			return NORN_ECORRUPT;
		for (uint32_t i = 0; i < nb; i++)
			if (pblk[i])
				return NORN_ECORRUPT;
	}
	if (shard_blks)
		*shard_blks = sb;
	return dec_error(&d);
}

int store__shard_encode(const struct store__onode *o, uint32_t idx, uint8_t **out, size_t *len)
{
	NORN_ASSERT(o->shard_blks);
	uint64_t lo = (uint64_t)idx * o->shard_blks;
	uint64_t hi = NORN_MIN(lo + o->shard_blks, (uint64_t)o->nblk);
	NORN_ASSERT(lo < hi);
	struct enc e;
	enc_init(&e, 64 + (size_t)(hi - lo) * 8);
	size_t tok = enc_struct_begin(&e, 1, 1);
	enc_u64(&e, o->nid);
	enc_u32(&e, idx);
	enc_runs(&e, o, (uint32_t)lo, (uint32_t)hi);
	enc_struct_end(&e, tok);
	if (enc_error(&e) == 0)
		enc_u32(&e, norn_crc32c(0, e.buf, e.len));
	if (enc_error(&e)) {
		enc_free(&e);
		return -ENOMEM;
	}
	*out = enc_take(&e, len);
	return *out ? 0 : -ENOMEM;
}

int store__shard_decode(const void *buf, size_t len, uint64_t nid, uint64_t nblk,
                        uint32_t shard_blks, uint32_t idx, uint64_t b0, uint64_t nb,
                        uint64_t *pblk, uint32_t *crc)
{
	if (len < 4 || norn_crc32c(0, buf, len - 4) != norn_get_le32((const uint8_t *)buf + len - 4))
		return NORN_ECORRUPT;
	if (shard_blks == 0 || (uint64_t)idx * shard_blks >= nblk)
		return NORN_ECORRUPT;
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	dec_init(&d, buf, len - 4);
	dec_struct_begin(&d, 1, &ver, &tok);
	uint64_t n = dec_u64(&d);
	uint32_t i = dec_u32(&d);
	if (dec_error(&d))
		return dec_error(&d);
	if (n != nid || i != idx)
		return NORN_ECORRUPT;
	uint64_t lo = (uint64_t)idx * shard_blks;
	int rc = dec_runs(&d, lo, NORN_MIN(lo + shard_blks, nblk), b0, nb, pblk, crc);
	if (rc)
		return rc;
	dec_struct_end(&d, &tok);
	if (dec_error(&d))
		return dec_error(&d);
	return dec_left(&d) ? NORN_ECORRUPT : 0;
}

int store_onode_check(const void *buf, size_t len, uint64_t max_object_bytes,
                      struct store_stat *st)
{
	struct store__onode o;
	int rc = store__onode_decode(buf, len, max_object_bytes, &o);
	if (rc)
		return rc;
	if (st) {
		memset(st, 0, sizeof(*st));
		st->size = o.size;
		st->mtime_ns = o.mtime_ns;
		st->version = o.version;
		st->nid = o.nid;
		for (uint32_t i = 0; i < o.nblk; i++)
			st->blocks += o.pblk[i] != 0;
		st->nxattrs = o.nx;
	}
	store__onode_free(&o);
	return 0;
}

/* Superblock: magic[8], version u32, uuid[16], osd_id u32, size u64,
 * crc32c u32 over the preceding 40 bytes; the rest of the block zero. The
 * version sits right after the magic so a future format is recognised as
 * such before anything else is trusted. */
void store__super_encode(const struct store__super *sb, uint8_t buf[STORE_BLOCK_BYTES])
{
	memset(buf, 0, STORE_BLOCK_BYTES);
	memcpy(buf, STORE__SUPER_MAGIC, 8);
	norn_put_le32(buf + 8, sb->version);
	memcpy(buf + 12, sb->uuid, 16);
	norn_put_le32(buf + 28, sb->osd_id);
	norn_put_le64(buf + 32, sb->size_bytes);
	norn_put_le32(buf + 40, norn_crc32c(0, buf, 40));
}

int store__super_decode(const void *buf, size_t len, struct store__super *sb)
{
	const uint8_t *b = buf;
	if (len < 44 || memcmp(b, STORE__SUPER_MAGIC, 8))
		return NORN_ECORRUPT;
	sb->version = norn_get_le32(b + 8);
	if (sb->version < STORE_FORMAT_VERSION_MIN || sb->version > STORE_FORMAT_VERSION)
		return NORN_EVERSION;
	if (norn_crc32c(0, b, 40) != norn_get_le32(b + 40))
		return NORN_ECORRUPT;
	memcpy(sb->uuid, b + 12, 16);
	sb->osd_id = norn_get_le32(b + 28);
	sb->size_bytes = norn_get_le64(b + 32);
	if (sb->size_bytes < (uint64_t)(STORE__RESERVED_BLOCKS + 1) * STORE_BLOCK_BYTES ||
	    sb->size_bytes % STORE_BLOCK_BYTES)
		return NORN_ECORRUPT;
	return 0;
}

int store_super_check(const void *buf, size_t len)
{
	struct store__super sb;
	return store__super_decode(buf, len, &sb);
}
