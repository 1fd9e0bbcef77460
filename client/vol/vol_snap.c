/* Volume snapshots (see vol.h): ids from libnorn's per-pool counter,
 * recorded in the header; the OSDs clone a data object on its first
 * write after a snapshot, because every data write carries the volume's
 * snap context (img->dio).
 *
 * A snapshot of a volume that a writer (norn-nbd) has open: the writer
 * polls the header generation (vol_snap_poll(), twice a second) and
 * switches to the new snap context, then acknowledges the snapshot id in
 * the header xattr "vol.snap_ack". vol_snap_create() waits for that
 * acknowledgement, so every write the writer issues after it returned
 * lands after the snapshot, and every write it had completed before is in
 * it (a crash-consistent point). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/vol/vol_int.h"
#include "common/assert.h"
#include "common/log.h"
#include "norn/errors.h"

#define XATTR_GEN "vol.gen"
#define XATTR_SNAP_ACK "vol.snap_ack"
#define SNAP_UPDATE_RETRIES 16
#define SNAP_ACK_POLL_MS 100

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The snap context of header @h: ids newest first. */
static int set_snapc(norn_ioctx_t *io, const struct vol_info *h)
{
	uint64_t ids[VOL_MAX_SNAPS];
	for (uint32_t i = 0; i < h->n_snaps; i++)
		ids[i] = h->snaps[i].id;
	qsort(ids, h->n_snaps, sizeof(ids[0]), cmp_desc);
	return norn_ioctx_set_write_snap_context(io, h->snap_seq, ids, h->n_snaps);
}

int vol__apply_snapc(struct vol_image *img)
{
	if (img->snap_id) {
		norn_ioctx_set_read_snap(img->dio, img->snap_id);
		return 0;
	}
	return set_snapc(img->dio, &img->info);
}

static const struct vol_snap_info *find_snap(const struct vol_info *h, const char *name)
{
	for (uint32_t i = 0; i < h->n_snaps; i++)
		if (!strcmp(h->snaps[i].name, name))
			return &h->snaps[i];
	return NULL;
}

static uint64_t n_objects(uint64_t size, uint32_t obj_size)
{
	return (size + obj_size - 1) / obj_size;
}

/* Objects that the head or any snapshot may have. */
static uint64_t max_objects(const struct vol_info *h)
{
	uint64_t sz = h->size_bytes;
	for (uint32_t i = 0; i < h->n_snaps; i++)
		sz = NORN_MAX(sz, h->snaps[i].size_bytes);
	return n_objects(sz, h->obj_size_bytes);
}

/* ROLLBACK(@snapid) on every data object [0, n) through @io, VOL_AIO_WINDOW
 * at a time; absent objects are fine. */
static int rollback_all(norn_ioctx_t *io, const char *id, uint64_t n, uint64_t snapid)
{
	norn_completion_t *c[VOL_AIO_WINDOW];
	norn_write_op_t *w[VOL_AIO_WINDOW];
	char oid[VOL_ID_LEN + 24];
	int err = 0;

	for (uint64_t base = 0; base < n && !err; base += VOL_AIO_WINDOW) {
		unsigned k = (unsigned)NORN_MIN((uint64_t)VOL_AIO_WINDOW, n - base);
		unsigned issued = 0;
		for (unsigned i = 0; i < k; i++) {
			int e;
			c[i] = norn_completion_create(NULL, NULL);
			w[i] = norn_write_op_create();
			if (!c[i] || !w[i]) {
				norn_completion_release(c[i]);
				norn_write_op_release(w[i]);
				err = -ENOMEM;
				break;
			}
			norn_write_op_rollback(w[i], snapid);
			vol_data_oid(id, base + i, oid, sizeof(oid));
			e = norn_aio_write_op_operate(w[i], io, oid, c[i]);
			if (e) {
				norn_completion_release(c[i]);
				norn_write_op_release(w[i]);
				err = e;
				break;
			}
			issued++;
		}
		for (unsigned i = 0; i < issued; i++) {
			int r = norn_completion_wait(c[i]);
			norn_completion_release(c[i]);
			norn_write_op_release(w[i]);
			if (r && r != -ENOENT && !err)
				err = r;
		}
	}
	return err;
}

int vol__trim_all(norn_ioctx_t *io, const struct vol_info *h)
{
	norn_ioctx_t *t;
	int err = norn_ioctx_dup(io, &t);
	if (err)
		return err;
	err = norn_ioctx_set_write_snap_context(t, h->snap_seq, NULL, 0);
	if (!err)
		err = rollback_all(t, h->id, max_objects(h), 0);
	norn_ioctx_destroy(t);
	return err;
}

/* Re-read the header into @h, apply @fn, write it back; retried when the
 * header changed meanwhile. */
static int header_update(struct vol_image *img, struct vol_info *h,
                         int (*fn)(struct vol_info *h, void *arg), void *arg)
{
	int err;
	for (int attempt = 0;; attempt++) {
		err = vol__header_read(img->io, img->info.id, h);
		if (err)
			return err;
		err = fn(h, arg);
		if (err)
			return err;
		err = vol__header_write(img->io, h);
		if (err != -ECANCELED || attempt >= SNAP_UPDATE_RETRIES)
			return err;
	}
}

struct add_arg {
	const char *name;
	uint64_t id;
	uint64_t now_ns;
};

static int add_fn(struct vol_info *h, void *arg)
{
	struct add_arg *a = arg;
	if (find_snap(h, a->name))
		return -EEXIST;
	if (h->n_snaps >= VOL_MAX_SNAPS)
		return -ENOSPC;
	if (a->id <= h->snap_seq)
		return -ESTALE;     /* ids only grow per pool: cannot happen */
	struct vol_snap_info *s = &h->snaps[h->n_snaps++];
	memset(s, 0, sizeof(*s));
	s->id = a->id;
	snprintf(s->name, sizeof(s->name), "%s", a->name);
	s->size_bytes = h->size_bytes;
	s->ctime_ns = a->now_ns;
	h->snap_seq = a->id;
	return 0;
}

struct rm_arg {
	const char *name;
	uint64_t size;       /* the removed snapshot's size */
};

static int rm_fn(struct vol_info *h, void *arg)
{
	struct rm_arg *a = arg;
	for (uint32_t i = 0; i < h->n_snaps; i++)
		if (!strcmp(h->snaps[i].name, a->name)) {
			a->size = h->snaps[i].size_bytes;
			memmove(&h->snaps[i], &h->snaps[i + 1], (h->n_snaps - i - 1) * sizeof(h->snaps[0]));
			h->n_snaps--;
			return 0;
		}
	return -ENOENT;
}

struct rb_arg {
	const char *name;
	uint64_t size;
};

static int rb_fn(struct vol_info *h, void *arg)
{
	struct rb_arg *a = arg;
	const struct vol_snap_info *s = find_snap(h, a->name);
	if (!s)
		return -ENOENT;
	h->size_bytes = s->size_bytes;
	a->size = s->size_bytes;
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int read_u64_xattr(norn_ioctx_t *io, const char *oid, const char *name, uint64_t *v)
{
	void *val = NULL;
	ssize_t n = norn_getxattr(io, oid, name, &val);
	*v = 0;
	if (n == -ENODATA || n == -ENOENT || n == 0) {
		free(val);
		return 0;
	}
	if (n < 0)
		return (int)n;
	if (n == 8)
		*v = norn_get_le64(val);
	free(val);
	return n == 8 ? 0 : NORN_ECORRUPT;
}

int vol_snap_create(struct vol_image *img, const char *name, uint32_t wait_ms)
{
	struct vol_info *h;
	struct vol_lock_info li;
	struct add_arg a = { .name = name };
	int err;

	if (img->read_only || img->snap_id)
		return -EROFS;
	if (vol_name_check(name))
		return -EINVAL;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	err = vol__header_read(img->io, img->info.id, h);
	if (!err && find_snap(h, name))
		err = -EEXIST;
	if (!err)
		err = norn_ioctx_selfmanaged_snap_create(img->io, &a.id);
	if (err)
		goto out;
	a.now_ns = norn_now_real_ns(img->clock);
	err = header_update(img, h, add_fn, &a);
	if (err)
		goto out;
	img->info = *h;
	err = vol__apply_snapc(img);
	if (err)
		goto out;
	NLOG(VOL, INFO, "%s: snapshot %s (id %" PRIu64 ")", h->name, name, a.id);
	/* a live writer elsewhere must switch to the new context first */
	err = vol_lock_get(img->io, h->name, &li);
	if (err)
		goto out;
	if (li.held && li.expiry_ns > norn_now_real_ns(img->clock) && !img->lock_held) {
		uint64_t waited = 0, ack = 0;
		for (;;) {
			struct vol_lock_info now;
			err = read_u64_xattr(img->io, img->hdr_oid, XATTR_SNAP_ACK, &ack);
			if (err || ack >= a.id)
				break;
			/* the writer went away (released, or lost the lock): a
			 * later one opens with the new header */
			err = vol_lock_get(img->io, h->name, &now);
			if (err || !now.held || strcmp(now.owner, li.owner) ||
			    now.expiry_ns <= norn_now_real_ns(img->clock))
				break;
			if (waited >= wait_ms) {
				NLOG(VOL, WARN, "%s: writer %s did not take snapshot %s within %u ms", h->name,
				     li.owner, name, wait_ms);
				err = -ETIMEDOUT;
				break;
			}
			sleep_ms(SNAP_ACK_POLL_MS);
			waited += SNAP_ACK_POLL_MS;
		}
	}
out:
	free(h);
	return err;
}

int vol_snap_remove(struct vol_image *img, const char *name)
{
	struct vol_info *h;
	struct rm_arg a = { .name = name };
	int err;

	if (img->read_only || img->snap_id)
		return -EROFS;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	err = header_update(img, h, rm_fn, &a);
	if (err)
		goto out;
	img->info = *h;
	err = vol__apply_snapc(img);
	/* the OSDs drop the clones only this snapshot needed */
	if (!err)
		err = rollback_all(img->dio, h->id,
		                   NORN_MAX(max_objects(h), n_objects(a.size, h->obj_size_bytes)), 0);
	if (!err)
		NLOG(VOL, INFO, "%s: snapshot %s removed", h->name, name);
out:
	free(h);
	return err;
}

int vol_snap_rollback(struct vol_image *img, const char *name)
{
	struct vol_info *h;
	struct vol_lock_info li;
	const struct vol_snap_info *s;
	struct rb_arg a = { .name = name };
	uint64_t n;
	int err;

	if (img->read_only || img->snap_id)
		return -EROFS;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	err = vol_lock_get(img->io, img->info.name, &li);
	if (!err && li.held && li.expiry_ns > norn_now_real_ns(img->clock) && !img->lock_held)
		err = -EBUSY;       /* a writer has it open */
	if (!err)
		err = vol__header_read(img->io, img->info.id, h);
	if (err)
		goto out;
	s = find_snap(h, name);
	if (!s) {
		err = -ENOENT;
		goto out;
	}
	img->info = *h;
	err = vol__apply_snapc(img);
	n = max_objects(h);
	/* data first (a crash in between: roll back again), then the size */
	if (!err)
		err = rollback_all(img->dio, h->id, n, s->id);
	if (!err)
		err = header_update(img, h, rb_fn, &a);
	if (!err) {
		img->info = *h;
		img->size_bytes = h->size_bytes;
		NLOG(VOL, INFO, "%s: rolled back to snapshot %s", h->name, name);
	}
out:
	free(h);
	return err;
}

int vol_snap_poll(struct vol_image *img)
{
	struct vol_info *h;
	uint64_t gen, seq;
	uint8_t b[8];
	int err;

	if (img->snap_id)
		return 0;
	err = read_u64_xattr(img->io, img->hdr_oid, XATTR_GEN, &gen);
	if (err || gen == img->info.gen)
		return err;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	err = vol__header_read(img->io, img->info.id, h);
	if (!err)
		err = set_snapc(img->dio, h);
	if (!err) {
		/* only the snapshot fields: I/O threads read the rest */
		img->info.gen = h->gen;
		img->info.snap_seq = h->snap_seq;
		img->info.n_snaps = h->n_snaps;
		memcpy(img->info.snaps, h->snaps, h->n_snaps * sizeof(h->snaps[0]));
		seq = h->snap_seq;
		NLOG(VOL, INFO, "%s: snap context now %" PRIu64 " (%u snapshots)", h->name, seq,
		     h->n_snaps);
		if (img->lock_held) {
			norn_put_le64(b, seq);
			err = norn_setxattr(img->io, img->hdr_oid, XATTR_SNAP_ACK, b, sizeof(b));
		}
	}
	free(h);
	return err;
}
