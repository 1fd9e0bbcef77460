/* Block volumes on libnorn: names, headers, management and the lock. See
 * vol.h for the object layout. The asynchronous data path is in vol_io.c
 * and the whole-volume copies in vol_copy.c.
 *
 * Every header change is a read-modify-write guarded by the generation
 * xattr: the compound op compares "vol.gen" with the generation that was
 * read, writes the new header and the next generation, so two concurrent
 * changes (a resize racing a rename) cannot overwrite each other; the
 * loser gets -ECANCELED and retries from a fresh read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/vol/vol.h"
#include "client/vol/vol_int.h"
#include "common/assert.h"
#include "common/encode.h"
#include "common/env.h"
#include "common/log.h"

#define HDR_MAGIC        0x4c4f564eu   /* "NVOL" */
#define HDR_VERSION      1
#define LOCK_VERSION     1
#define XATTR_GEN        "vol.gen"
#define XATTR_LOCK       "vol.lock"
#define UPDATE_RETRIES   8
#define LIST_PAGE        256

/* ---- names ------------------------------------------------------------------ */

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '+' || c == ':' || c == '-';
}

static int name_check_n(const char *name, size_t n)
{
	if (n == 0 || n > VOL_NAME_MAX || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(name[i]))
			return -EINVAL;
	return 0;
}

int vol_name_check(const char *name)
{
	if (!name)
		return -EINVAL;
	return name_check_n(name, strnlen(name, VOL_NAME_MAX + 1));
}

static int copy_part(char *out, const char *p, size_t n)
{
	if (name_check_n(p, n))
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

int vol_spec_parse(const char *spec, char *pool, char *vol, char *snap)
{
	const char *slash, *at, *end;

	if (!spec)
		return -EINVAL;
	end = spec + strnlen(spec, 3 * (VOL_NAME_MAX + 2));
	if (*end)
		return -EINVAL;
	slash = strchr(spec, '/');
	if (!slash)
		return -EINVAL;
	at = strchr(slash + 1, '@');
	if (copy_part(pool, spec, (size_t)(slash - spec)))
		return -EINVAL;
	if (copy_part(vol, slash + 1, (size_t)((at ? at : end) - (slash + 1))))
		return -EINVAL;
	snap[0] = 0;
	if (at && copy_part(snap, at + 1, (size_t)(end - (at + 1))))
		return -EINVAL;
	return 0;
}

void vol_data_oid(const char *id, uint64_t objno, char *out, size_t cap)
{
	snprintf(out, cap, "%s.%016" PRIx64, id, objno);
}

static void id_oid(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "vol_id.%s", name);
}

void vol__header_oid(const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "vol_header.%s", id);
}

/* ---- header encoding -------------------------------------------------------- */

void vol__header_encode(struct enc *e, const struct vol_info *h)
{
	enc_u32(e, HDR_MAGIC);
	size_t t = enc_struct_begin(e, HDR_VERSION, 1);
	enc_str(e, h->name);
	enc_str(e, h->id);
	enc_u64(e, h->size_bytes);
	enc_u32(e, h->obj_size_bytes);
	enc_u64(e, h->features);
	enc_u64(e, h->ctime_ns);
	enc_u64(e, h->gen);
	enc_u64(e, h->snap_seq);
	enc_u32(e, h->n_snaps);
	for (uint32_t i = 0; i < h->n_snaps; i++) {
		const struct vol_snap_info *s = &h->snaps[i];
		enc_u64(e, s->id);
		enc_str(e, s->name);
		enc_u64(e, s->size_bytes);
		enc_u64(e, s->ctime_ns);
	}
	enc_struct_end(e, t);
}

static bool obj_size_ok(uint64_t v)
{
	return v >= VOL_OBJ_SIZE_MIN && v <= VOL_OBJ_SIZE_MAX && (v & (v - 1)) == 0;
}

int vol__header_decode(struct vol_info *h, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;

	memset(h, 0, sizeof(*h));
	dec_init(&d, buf, len);
	if (dec_u32(&d) != HDR_MAGIC)
		return NORN_ECORRUPT;
	dec_struct_begin(&d, HDR_VERSION, &ver, &tok);
	dec_str(&d, h->name, sizeof(h->name));
	dec_str(&d, h->id, sizeof(h->id));
	h->size_bytes = dec_u64(&d);
	h->obj_size_bytes = dec_u32(&d);
	h->features = dec_u64(&d);
	h->ctime_ns = dec_u64(&d);
	h->gen = dec_u64(&d);
	h->snap_seq = dec_u64(&d);
	h->n_snaps = dec_count(&d, VOL_MAX_SNAPS, 8 + 4 + 8 + 8);
	for (uint32_t i = 0; i < h->n_snaps && !dec_error(&d); i++) {
		struct vol_snap_info *s = &h->snaps[i];
		s->id = dec_u64(&d);
		dec_str(&d, s->name, sizeof(s->name));
		s->size_bytes = dec_u64(&d);
		s->ctime_ns = dec_u64(&d);
	}
	dec_struct_end(&d, &tok);
	if (dec_error(&d))
		return dec_error(&d);
	if (strlen(h->id) != VOL_ID_LEN || vol_name_check(h->name) || !obj_size_ok(h->obj_size_bytes) ||
	    h->size_bytes > VOL_SIZE_MAX)
		return NORN_ECORRUPT;
	if (h->features & ~VOL_FEATURES_KNOWN)
		return NORN_EVERSION;
	return 0;
}

/* Read and decode the header of volume @id. */
static int header_read(norn_ioctx_t *io, const char *id, struct vol_info *h)
{
	char oid[64];
	uint8_t *buf;
	ssize_t n;
	int err;

	vol__header_oid(id, oid, sizeof(oid));
	buf = malloc(VOL_HEADER_MAX_BYTES);
	if (!buf)
		return -ENOMEM;
	n = norn_read(io, oid, buf, VOL_HEADER_MAX_BYTES, 0);
	if (n < 0) {
		err = (int)n;
	} else if (n == 0) {
		err = -ENOENT;  /* created but never written: a half-made volume */
	} else {
		err = vol__header_decode(h, buf, (size_t)n);
		if (err)
			NLOG(VOL, ERR, "header %s: %s", oid, norn_strerror(err));
		else if (strcmp(h->id, id))
			err = NORN_ECORRUPT;
	}
	free(buf);
	return err;
}

/* Write header @h (whose gen is the one read) as gen + 1, or create it when
 * @create. On success h->gen is the new generation. */
static int header_write(norn_ioctx_t *io, struct vol_info *h, bool create)
{
	char oid[64];
	uint8_t old_gen[8], new_gen[8];
	struct enc e;
	norn_write_op_t *op;
	int err;

	vol__header_oid(h->id, oid, sizeof(oid));
	norn_put_le64(old_gen, h->gen);
	norn_put_le64(new_gen, h->gen + 1);
	h->gen++;
	enc_init(&e, 512);
	vol__header_encode(&e, h);
	if (enc_error(&e) || e.len > VOL_HEADER_MAX_BYTES) {
		err = enc_error(&e) ? enc_error(&e) : -EFBIG;
		goto out;
	}
	op = norn_write_op_create();
	if (!op) {
		err = -ENOMEM;
		goto out;
	}
	if (create)
		norn_write_op_create_obj(op, 1);
	else
		norn_write_op_cmpxattr(op, XATTR_GEN, old_gen, sizeof(old_gen));
	norn_write_op_write_full(op, e.buf, e.len);
	norn_write_op_setxattr(op, XATTR_GEN, new_gen, sizeof(new_gen));
	/* The lock xattr exists from the start, empty while free, so every
	 * lock change compares against a present value (some OSD builds
	 * answer -ENODATA instead of "equal to empty" for a missing one). */
	if (create)
		norn_write_op_setxattr(op, XATTR_LOCK, "", 0);
	err = norn_write_op_operate(op, io, oid);
	norn_write_op_release(op);
out:
	if (err)
		h->gen--;
	enc_free(&e);
	return err;
}

/* ---- name records and directory --------------------------------------------- */

int vol_lookup_id(norn_ioctx_t *io, const char *name, char *id)
{
	char oid[VOL_NAME_MAX + 16], buf[VOL_ID_LEN + 1];
	ssize_t n;

	if (vol_name_check(name))
		return -EINVAL;
	id_oid(name, oid, sizeof(oid));
	n = norn_read(io, oid, buf, sizeof(buf), 0);
	if (n < 0)
		return (int)n;
	if (n != VOL_ID_LEN) {
		NLOG(VOL, ERR, "%s: bad id record (%zd bytes)", oid, n);
		return n == 0 ? -ENOENT : NORN_ECORRUPT;
	}
	for (int i = 0; i < VOL_ID_LEN; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
			return NORN_ECORRUPT;
	memcpy(id, buf, VOL_ID_LEN);
	id[VOL_ID_LEN] = 0;
	return 0;
}

/* Create the name record exclusively. */
static int id_record_create(norn_ioctx_t *io, const char *name, const char *id)
{
	char oid[VOL_NAME_MAX + 16];
	norn_write_op_t *op = norn_write_op_create();
	int err;

	if (!op)
		return -ENOMEM;
	id_oid(name, oid, sizeof(oid));
	norn_write_op_create_obj(op, 1);
	norn_write_op_write_full(op, id, VOL_ID_LEN);
	err = norn_write_op_operate(op, io, oid);
	norn_write_op_release(op);
	return err;
}

static int id_record_remove(norn_ioctx_t *io, const char *name)
{
	char oid[VOL_NAME_MAX + 16];
	int err;

	id_oid(name, oid, sizeof(oid));
	err = norn_remove(io, oid);
	return err == -ENOENT ? 0 : err;
}

static int dir_set(norn_ioctx_t *io, const char *name, const char *id)
{
	const char *keys[1] = { name };
	const void *vals[1] = { id };
	size_t lens[1] = { VOL_ID_LEN };

	return norn_omap_set(io, VOL_DIRECTORY_OID, keys, vals, lens, 1);
}

static int dir_rm(norn_ioctx_t *io, const char *name)
{
	const char *keys[1] = { name };
	int err = norn_omap_rm_keys(io, VOL_DIRECTORY_OID, keys, 1);

	return err == -ENOENT ? 0 : err;
}

int vol_create(norn_ioctx_t *io, const char *name, uint64_t size_bytes, uint32_t obj_size_bytes)
{
	struct vol_info *h;
	uint8_t rnd[VOL_ID_LEN / 2];
	int err;

	if (vol_name_check(name))
		return -EINVAL;
	if (obj_size_bytes == 0)
		obj_size_bytes = VOL_OBJ_SIZE_DEFAULT;
	if (!obj_size_ok(obj_size_bytes) || size_bytes > VOL_SIZE_MAX)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	err = norn_random_bytes(rnd, sizeof(rnd));
	if (err)
		goto out;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(h->id + 2 * i, 3, "%02x", rnd[i]);
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->size_bytes = (size_bytes + 511) & ~511ull;
	h->obj_size_bytes = obj_size_bytes;
	h->features = VOL_FEATURE_LOCK;
	h->ctime_ns = norn_real_ns();
	h->gen = 0;

	err = id_record_create(io, name, h->id);
	if (err)
		goto out;
	err = header_write(io, h, true);
	if (err)
		goto fail_id;
	err = dir_set(io, name, h->id);
	if (err)
		goto fail_hdr;
	NLOG(VOL, INFO, "created volume %s (id %s, %" PRIu64 " bytes, objects of %u)", name, h->id,
	     h->size_bytes, obj_size_bytes);
	goto out;

fail_hdr: {
		char oid[64];
		vol__header_oid(h->id, oid, sizeof(oid));
		norn_remove(io, oid);
	}
fail_id:
	id_record_remove(io, name);
out:
	free(h);
	return err;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void vol_names_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int vol_list(norn_ioctx_t *io, size_t max, char ***names_out, size_t *n_out)
{
	char **names = NULL, after[NORN_OMAP_KEY_MAX + 1] = "";
	size_t n = 0, cap = 0;
	int err = 0;

	*names_out = NULL;
	*n_out = 0;
	for (;;) {
		struct norn_list l;
		err = norn_omap_get_vals(io, VOL_DIRECTORY_OID, after, "", LIST_PAGE, &l);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err)
			goto fail;
		for (size_t i = 0; i < l.n && n < max; i++) {
			if (vol_name_check(l.items[i].key))
				continue;  /* not ours: skip, never trust */
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				char **nn = realloc(names, nc * sizeof(*nn));
				if (!nn) {
					norn_list_free(&l);
					err = -ENOMEM;
					goto fail;
				}
				names = nn;
				cap = nc;
			}
			names[n] = strdup(l.items[i].key);
			if (!names[n]) {
				norn_list_free(&l);
				err = -ENOMEM;
				goto fail;
			}
			n++;
		}
		bool more = l.more && l.n > 0 && n < max;
		if (l.n)
			snprintf(after, sizeof(after), "%s", l.items[l.n - 1].key);
		norn_list_free(&l);
		if (!more)
			break;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*names_out = names;
	*n_out = n;
	return 0;
fail:
	vol_names_free(names, n);
	return err;
}

/* ---- lock encoding ------------------------------------------------------------ */

static void lock_encode(struct enc *e, const char *owner, uint64_t expiry_ns)
{
	size_t t = enc_struct_begin(e, LOCK_VERSION, 1);
	enc_str(e, owner);
	enc_u64(e, expiry_ns);
	enc_struct_end(e, t);
}

static int lock_decode(struct vol_lock_info *li, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;

	memset(li, 0, sizeof(*li));
	if (len == 0)
		return 0;
	dec_init(&d, buf, len);
	dec_struct_begin(&d, LOCK_VERSION, &ver, &tok);
	dec_str(&d, li->owner, sizeof(li->owner));
	li->expiry_ns = dec_u64(&d);
	dec_struct_end(&d, &tok);
	if (dec_error(&d))
		return dec_error(&d);
	li->held = true;
	return 0;
}

/* Read the raw lock xattr of header @oid: *val (malloc()ed, NULL when
 * absent) and *len. */
static int lock_read_raw(norn_ioctx_t *io, const char *oid, void **val, size_t *len)
{
	ssize_t n = norn_getxattr(io, oid, XATTR_LOCK, val);

	if (n == -ENODATA) {
		*val = NULL;
		*len = 0;
		return 0;
	}
	if (n < 0)
		return (int)n;
	*len = (size_t)n;
	return 0;
}

/* ---- open images ---------------------------------------------------------------- */

int vol_open(norn_ioctx_t *io, const char *name, const char *snap, bool read_only,
             struct vol_image **out)
{
	struct vol_image *img;
	char id[VOL_ID_LEN + 1];
	int err;

	err = vol_lookup_id(io, name, id);
	if (err)
		return err;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->io = io;
	img->clock = norn_clock_system();
	vol__header_oid(id, img->hdr_oid, sizeof(img->hdr_oid));
	err = header_read(io, id, &img->info);
	if (err)
		goto fail;
	err = norn_ioctx_dup(io, &img->dio);
	if (err)
		goto fail;
	img->size_bytes = img->info.size_bytes;
	img->read_only = read_only;
	if (snap && snap[0]) {
		uint32_t i;
		for (i = 0; i < img->info.n_snaps; i++)
			if (!strcmp(img->info.snaps[i].name, snap))
				break;
		if (i == img->info.n_snaps) {
			err = -ENOENT;
			goto fail;
		}
		img->snap_id = img->info.snaps[i].id;
		img->size_bytes = img->info.snaps[i].size_bytes;
		img->read_only = true;
	}
	err = vol__apply_snapc(img);
	if (err)
		goto fail;
	*out = img;
	return 0;
fail:
	if (img->dio)
		norn_ioctx_destroy(img->dio);
	free(img);
	return err;
}

void vol_close(struct vol_image *img)
{
	if (!img)
		return;
	if (img->lock_held)
		vol_lock_release(img);
	norn_ioctx_destroy(img->dio);
	free(img->lock_val);
	free(img);
}

int vol_refresh(struct vol_image *img, struct vol_info *out)
{
	struct vol_info *h = malloc(sizeof(*h));
	int err;

	if (!h)
		return -ENOMEM;
	err = header_read(img->io, img->info.id, h);
	if (!err) {
		img->info = *h;
		if (!img->snap_id)
			img->size_bytes = h->size_bytes;
		err = vol__apply_snapc(img);
		if (out)
			*out = *h;
	}
	free(h);
	return err;
}

void vol_get_info(const struct vol_image *img, struct vol_info *out)
{
	*out = img->info;
}

uint64_t vol_size(const struct vol_image *img)
{
	return img->size_bytes;
}

bool vol_is_read_only(const struct vol_image *img)
{
	return img->read_only;
}

void vol_set_clock(struct vol_image *img, const struct norn_clock *clock)
{
	img->clock = clock;
}

void vol_set_failed(struct vol_image *img)
{
	__atomic_store_n(&img->failed, 1, __ATOMIC_RELEASE);
}

bool vol_failed(const struct vol_image *img)
{
	return __atomic_load_n(&img->failed, __ATOMIC_ACQUIRE) != 0;
}

/* ---- batched object ops ------------------------------------------------------------ */

/* Run @fn(objno) style async ops over objects [first, last) with up to
 * VOL_AIO_WINDOW in flight: remove (kind 0) or stat (kind 1, sizes summed
 * into *sum and present objects counted in *count). -ENOENT is fine. */
static int objects_batch(norn_ioctx_t *io, const char *id, uint64_t first, uint64_t last, int kind,
                         uint64_t *sum, uint64_t *count,
                         void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
	norn_completion_t *c[VOL_AIO_WINDOW];
	uint64_t sizes[VOL_AIO_WINDOW], mtimes[VOL_AIO_WINDOW];
	char oid[VOL_ID_LEN + 24];
	int err = 0;

	for (uint64_t base = first; base < last && !err; base += VOL_AIO_WINDOW) {
		unsigned n = (unsigned)NORN_MIN((uint64_t)VOL_AIO_WINDOW, last - base);
		unsigned issued = 0;
		for (unsigned i = 0; i < n; i++) {
			int e;
			c[i] = norn_completion_create(NULL, NULL);
			if (!c[i]) {
				err = -ENOMEM;
				break;
			}
			vol_data_oid(id, base + i, oid, sizeof(oid));
			if (kind == 0)
				e = norn_aio_remove(io, oid, c[i]);
			else
				e = norn_aio_stat(io, oid, c[i], &sizes[i], &mtimes[i]);
			if (e) {
				norn_completion_release(c[i]);
				err = e;
				break;
			}
			issued++;
		}
		for (unsigned i = 0; i < issued; i++) {
			int r = norn_completion_wait(c[i]);
			norn_completion_release(c[i]);
			if (r == 0 && kind == 1) {
				*sum += sizes[i];
				(*count)++;
			} else if (r && r != -ENOENT && !err) {
				err = r;
			}
		}
		if (progress && !err)
			progress(arg, base + n - first, last - first);
	}
	return err;
}

static uint64_t n_objects(uint64_t size, uint32_t obj_size)
{
	return (size + obj_size - 1) / obj_size;
}

int vol_du(struct vol_image *img, uint64_t *bytes, uint64_t *objects)
{
	*bytes = 0;
	*objects = 0;
	return objects_batch(img->io, img->info.id, 0,
	                     n_objects(img->info.size_bytes, img->info.obj_size_bytes), 1, bytes,
	                     objects, NULL, NULL);
}

/* ---- resize, remove, rename ---------------------------------------------------------- */

static bool lock_live_other(const struct vol_lock_info *li, const struct vol_image *img,
                            uint64_t now_ns)
{
	return li->held && li->expiry_ns > now_ns && !(img && img->lock_held);
}

int vol_resize(struct vol_image *img, uint64_t size_bytes, bool allow_shrink)
{
	struct vol_info *h;
	uint64_t old_size;
	int err = 0;

	if (img->read_only || img->snap_id)
		return -EROFS;
	if (size_bytes > VOL_SIZE_MAX)
		return -EINVAL;
	size_bytes = (size_bytes + 511) & ~511ull;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (int attempt = 0;; attempt++) {
		err = header_read(img->io, img->info.id, h);
		if (err)
			goto out;
		old_size = h->size_bytes;
		if (size_bytes < old_size) {
			struct vol_lock_info li;
			void *raw = NULL;
			size_t len = 0;
			if (!allow_shrink) {
				err = -EPERM;
				goto out;
			}
			err = lock_read_raw(img->io, img->hdr_oid, &raw, &len);
			if (err)
				goto out;
			err = lock_decode(&li, raw, len);
			free(raw);
			if (!err && lock_live_other(&li, img, norn_now_real_ns(img->clock)))
				err = -EBUSY;
			if (err)
				goto out;
		}
		h->size_bytes = size_bytes;
		err = header_write(img->io, h, false);
		if (err != -ECANCELED || attempt >= UPDATE_RETRIES)
			break;
	}
	if (err)
		goto out;
	img->info = *h;
	img->size_bytes = size_bytes;
	err = vol__apply_snapc(img);
	if (!err && size_bytes < old_size) {
		uint32_t os = h->obj_size_bytes;
		uint64_t keep = n_objects(size_bytes, os);
		uint64_t dummy = 0, dummy2 = 0;
		/* Objects wholly past the end go; the one straddling it is cut
		 * so a later grow reads zeros there, not the old bytes. */
		/* through dio: the OSD keeps what snapshots need */
		err = objects_batch(img->dio, h->id, keep, n_objects(old_size, os), 0, &dummy, &dummy2,
		                    NULL, NULL);
		if (!err && size_bytes % os) {
			char oid[VOL_ID_LEN + 24];
			vol_data_oid(h->id, keep - 1, oid, sizeof(oid));
			norn_write_op_t *op = norn_write_op_create();
			if (!op) {
				err = -ENOMEM;
				goto out;
			}
			norn_write_op_assert_exists(op);
			norn_write_op_truncate(op, size_bytes % os);
			err = norn_write_op_operate(op, img->dio, oid);
			norn_write_op_release(op);
			if (err == -ENOENT)
				err = 0;
		}
	}
	if (!err)
		NLOG(VOL, INFO, "resized %s from %" PRIu64 " to %" PRIu64 " bytes", h->name, old_size,
		     size_bytes);
out:
	free(h);
	return err;
}

int vol_remove(norn_ioctx_t *io, const char *name, bool force,
               void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
	char id[VOL_ID_LEN + 1], oid[64];
	struct vol_info *h;
	int err;
	uint64_t dummy = 0, dummy2 = 0;

	err = vol_lookup_id(io, name, id);
	if (err)
		return err;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	vol__header_oid(id, oid, sizeof(oid));
	err = header_read(io, id, h);
	if (err == -ENOENT) {
		/* A removal that stopped after the header went: finish it. */
		err = 0;
		goto records;
	}
	if (err)
		goto out;
	if (!force) {
		struct vol_lock_info li;
		void *raw = NULL;
		size_t len = 0;
		err = lock_read_raw(io, oid, &raw, &len);
		if (err)
			goto out;
		err = lock_decode(&li, raw, len);
		free(raw);
		if (!err && lock_live_other(&li, NULL, norn_real_ns()))
			err = -EBUSY;
		if (err)
			goto out;
	}
	/* Snapshot clones first (through a snap context without snapshots),
	 * then data, header after: a crash in between leaves a volume that
	 * still opens and can be removed again. */
	if (h->snap_seq && (err = vol__trim_all(io, h)))
		goto out;
	err = objects_batch(io, id, 0, n_objects(h->size_bytes, h->obj_size_bytes), 0, &dummy,
	                    &dummy2, progress, arg);
	if (err)
		goto out;
	err = norn_remove(io, oid);
	if (err == -ENOENT)
		err = 0;
	if (err)
		goto out;
records:
	err = dir_rm(io, name);
	if (!err)
		err = id_record_remove(io, name);
	if (!err)
		NLOG(VOL, INFO, "removed volume %s (id %s)", name, id);
out:
	free(h);
	return err;
}

int vol_rename(norn_ioctx_t *io, const char *from, const char *to)
{
	char id[VOL_ID_LEN + 1];
	struct vol_info *h;
	int err;

	if (vol_name_check(to))
		return -EINVAL;
	err = vol_lookup_id(io, from, id);
	if (err)
		return err;
	if (!strcmp(from, to))
		return -EEXIST;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	/* The new record first (exclusive: the name may be taken), then the
	 * header's copy of the name, the directory, the old record last. A
	 * crash in between leaves both names pointing at one id; removing
	 * either record fixes it. */
	err = id_record_create(io, to, id);
	if (err)
		goto out;
	for (int attempt = 0;; attempt++) {
		err = header_read(io, id, h);
		if (err)
			goto fail_new;
		snprintf(h->name, sizeof(h->name), "%s", to);
		err = header_write(io, h, false);
		if (err != -ECANCELED || attempt >= UPDATE_RETRIES)
			break;
	}
	if (err)
		goto fail_new;
	err = dir_set(io, to, id);
	if (!err)
		err = dir_rm(io, from);
	if (!err)
		err = id_record_remove(io, from);
	if (!err)
		NLOG(VOL, INFO, "renamed volume %s to %s", from, to);
	goto out;
fail_new:
	id_record_remove(io, to);
out:
	free(h);
	return err;
}

/* ---- the lock -------------------------------------------------------------------- */

/* Replace the lock xattr, expecting it to hold exactly @cur (@cur_len 0:
 * empty, i.e. free). @new_val NULL frees the lock (an empty value, not a
 * removal: see header_write()). */
static int lock_swap(norn_ioctx_t *io, const char *oid, const void *cur, size_t cur_len,
                     const void *new_val, size_t new_len)
{
	norn_write_op_t *op = norn_write_op_create();
	int err;

	if (!op)
		return -ENOMEM;
	norn_write_op_assert_exists(op);
	norn_write_op_cmpxattr(op, XATTR_LOCK, cur, cur_len);
	if (new_val)
		norn_write_op_setxattr(op, XATTR_LOCK, new_val, new_len);
	else
		norn_write_op_setxattr(op, XATTR_LOCK, "", 0);
	err = norn_write_op_operate(op, io, oid);
	norn_write_op_release(op);
	return err;
}

static int lock_set_mine(struct vol_image *img, const void *cur, size_t cur_len, uint64_t lease_ms)
{
	struct enc e;
	int err;

	enc_init(&e, 64);
	lock_encode(&e, img->lock_owner, norn_now_real_ns(img->clock) + lease_ms * 1000000ull);
	err = enc_error(&e);
	if (err) {
		enc_free(&e);
		return err;
	}
	err = lock_swap(img->io, img->hdr_oid, cur, cur_len, e.buf, e.len);
	if (err) {
		enc_free(&e);
		return err;
	}
	free(img->lock_val);
	img->lock_val_len = e.len;
	img->lock_val = enc_take(&e, &img->lock_val_len);
	img->lock_held = true;
	return 0;
}

int vol_lock_acquire(struct vol_image *img, const char *owner, uint64_t lease_ms,
                     struct vol_lock_info *holder)
{
	int err = 0;

	if (img->read_only)
		return -EROFS;
	if (!owner || strlen(owner) > VOL_LOCK_OWNER_MAX || !owner[0])
		return -EINVAL;
	snprintf(img->lock_owner, sizeof(img->lock_owner), "%s", owner);
	for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
		struct vol_lock_info li;
		void *raw = NULL;
		size_t len = 0;
		err = lock_read_raw(img->io, img->hdr_oid, &raw, &len);
		if (err)
			return err;
		err = lock_decode(&li, raw, len);
		if (err) {
			/* An undecodable lock is treated as broken: say so. */
			NLOG(VOL, WARN, "%s: unreadable lock xattr, replacing it", img->hdr_oid);
			memset(&li, 0, sizeof(li));
		}
		if (li.held && strcmp(li.owner, owner) &&
		    li.expiry_ns > norn_now_real_ns(img->clock)) {
			if (holder)
				*holder = li;
			free(raw);
			return -EBUSY;
		}
		err = lock_set_mine(img, raw, len, lease_ms);
		free(raw);
		if (err != -ECANCELED)
			break;
	}
	if (!err)
		NLOG(VOL, INFO, "%s: lock taken by %s", img->info.name, owner);
	return err;
}

int vol_lock_renew(struct vol_image *img, uint64_t lease_ms)
{
	int err;

	if (!img->lock_held)
		return -ENOLCK;
	void *cur = img->lock_val;
	size_t cur_len = img->lock_val_len;
	img->lock_val = NULL;   /* lock_set_mine frees the old value */
	err = lock_set_mine(img, cur, cur_len, lease_ms);
	if (err) {
		img->lock_val = cur;
		if (err == -ECANCELED || err == -ENOENT) {
			NLOG(VOL, WARN, "%s: lock lost (broken or taken over)", img->info.name);
			img->lock_held = false;
			return -ENOLCK;
		}
		return err;
	}
	free(cur);
	return 0;
}

int vol_lock_release(struct vol_image *img)
{
	int err;

	if (!img->lock_held)
		return 0;
	err = lock_swap(img->io, img->hdr_oid, img->lock_val, img->lock_val_len, NULL, 0);
	if (err == -ECANCELED || err == -ENOENT)
		err = 0;   /* not ours any more: nothing to release */
	if (!err) {
		img->lock_held = false;
		free(img->lock_val);
		img->lock_val = NULL;
		img->lock_val_len = 0;
	}
	return err;
}

bool vol_lock_held(const struct vol_image *img)
{
	return img->lock_held;
}

int vol_lock_get(norn_ioctx_t *io, const char *name, struct vol_lock_info *info)
{
	char id[VOL_ID_LEN + 1], oid[64];
	void *raw = NULL;
	size_t len = 0;
	int err;

	err = vol_lookup_id(io, name, id);
	if (err)
		return err;
	vol__header_oid(id, oid, sizeof(oid));
	err = lock_read_raw(io, oid, &raw, &len);
	if (err)
		return err;
	err = lock_decode(info, raw, len);
	free(raw);
	return err;
}

int vol_lock_break(norn_ioctx_t *io, const char *name, struct vol_lock_info *was)
{
	char id[VOL_ID_LEN + 1], oid[64];
	int err;

	err = vol_lookup_id(io, name, id);
	if (err)
		return err;
	vol__header_oid(id, oid, sizeof(oid));
	for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
		void *raw = NULL;
		size_t len = 0;
		err = lock_read_raw(io, oid, &raw, &len);
		if (err)
			return err;
		if (was && lock_decode(was, raw, len))
			memset(was, 0, sizeof(*was));
		if (len == 0) {
			free(raw);
			return 0;
		}
		err = lock_swap(io, oid, raw, len, NULL, 0);
		free(raw);
		if (err != -ECANCELED)
			break;
	}
	if (!err)
		NLOG(VOL, WARN, "%s: lock broken", name);
	return err;
}

int vol__header_read(norn_ioctx_t *io, const char *id, struct vol_info *h)
{
	return header_read(io, id, h);
}

int vol__header_write(norn_ioctx_t *io, struct vol_info *h)
{
	return header_write(io, h, false);
}
