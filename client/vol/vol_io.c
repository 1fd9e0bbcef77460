/* The asynchronous data path of volumes: byte ranges to object ops.
 *
 * A request covers [off, off + len) of the volume. It is cut at object
 * boundaries into pieces, one libnorn op each, with at most
 * VOL_AIO_WINDOW pieces in flight: the completion of one piece issues the
 * next, so a trim of a whole 100 GiB volume holds 64 ops in flight, not
 * 25600. The request completes when no piece is in flight and none is
 * left (or an error stopped the issuing), with the first error seen.
 *
 * Pieces by request kind:
 *   read:    norn_aio_read; -ENOENT (the object was never written) and a
 *            short read (past the object's end) fill zeros;
 *   write:   norn_aio_write (creates the object);
 *   discard: a piece covering a whole object (or everything from the
 *            object's start to the volume's end) removes it; a piece that
 *            reaches the object's end truncates it; anything else zeroes
 *            in place; each guarded by assert_exists, so discarding a hole
 *            never creates an object, and -ENOENT is success.
 *
 * The request's state is shared between the submitting thread and
 * libnorn's I/O thread, so it has a mutex; it is never held across a
 * libnorn call (libnorn may block on its own backpressure, which needs the
 * I/O thread, which may be waiting for this mutex in a callback).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client/vol/vol_int.h"
#include "common/assert.h"
#include "common/log.h"

enum req_kind { REQ_READ, REQ_WRITE, REQ_DISCARD };

struct vol_req {
	struct vol_image *img;
	enum req_kind kind;
	uint64_t off, end;          /* volume byte range */
	uint8_t *buf;               /* read/write data (caller's) */
	vol_io_cb cb;
	void *arg;
	pthread_mutex_t mu;
	uint64_t next;              /* first byte not yet issued */
	unsigned inflight;          /* pieces in flight + the submitter's guard */
	unsigned submitted;         /* pieces accepted by libnorn */
	int err;                    /* first error */
	bool finished;
};

struct vol_piece {
	struct vol_req *r;
	norn_completion_t *c;
	norn_write_op_t *op;        /* discard pieces */
	uint8_t *buf;
	uint64_t len;
};

static void req_pump(struct vol_req *r);

/* Called with the piece's result; returns true if this was the last
 * reference and the request must complete. */
static bool req_put(struct vol_req *r, int err)
{
	bool last;

	pthread_mutex_lock(&r->mu);
	if (err && !r->err)
		r->err = err;
	NORN_ASSERT(r->inflight > 0);
	r->inflight--;
	last = r->inflight == 0 && (r->err || r->next >= r->end) && !r->finished;
	if (last)
		r->finished = true;
	pthread_mutex_unlock(&r->mu);
	return last;
}

static void req_complete(struct vol_req *r)
{
	vol_io_cb cb = r->cb;
	void *arg = r->arg;
	int err = r->err;

	pthread_mutex_destroy(&r->mu);
	free(r);
	cb(arg, err);
}

static void piece_done(norn_completion_t *c, void *p_)
{
	struct vol_piece *p = p_;
	struct vol_req *r = p->r;
	ssize_t res = norn_completion_result(c);
	int err = 0;

	switch (r->kind) {
	case REQ_READ:
		if (res == -ENOENT)
			res = 0;
		if (res < 0)
			err = (int)res;
		else if ((uint64_t)res < p->len)
			memset(p->buf + res, 0, p->len - (uint64_t)res);
		break;
	case REQ_WRITE:
		err = res < 0 ? (int)res : 0;
		break;
	case REQ_DISCARD:
		err = (res < 0 && res != -ENOENT) ? (int)res : 0;
		break;
	}
	if (err)
		NLOG(VOL, WARN, "%s: piece of %s at %" PRIu64 ": %s", r->img->info.name,
		     r->kind == REQ_READ ? "read" : r->kind == REQ_WRITE ? "write" : "discard",
		     r->off, norn_strerror(err));
	if (p->op)
		norn_write_op_release(p->op);
	norn_completion_release(c);
	free(p);
	if (err) {
		pthread_mutex_lock(&r->mu);
		if (!r->err)
			r->err = err;
		pthread_mutex_unlock(&r->mu);
	}
	/* This piece's reference keeps the request alive while it issues the
	 * next pieces; dropping it may finish the request. */
	req_pump(r);
	if (req_put(r, 0))
		req_complete(r);
}

/* Submit one piece: [obj_off, obj_off + len) of object @objno, at volume
 * byte @voff. Returns 0 or the submit error. */
static int piece_submit(struct vol_req *r, uint64_t objno, uint64_t obj_off, uint64_t len,
                        uint64_t voff)
{
	struct vol_image *img = r->img;
	uint32_t os = img->info.obj_size_bytes;
	char oid[VOL_ID_LEN + 24];
	struct vol_piece *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->r = r;
	p->len = len;
	p->buf = r->buf ? r->buf + (voff - r->off) : NULL;
	p->c = norn_completion_create(piece_done, p);
	if (!p->c) {
		free(p);
		return -ENOMEM;
	}
	vol_data_oid(img->info.id, objno, oid, sizeof(oid));
	switch (r->kind) {
	case REQ_READ:
		err = norn_aio_read(img->dio, oid, p->c, p->buf, len, obj_off);
		break;
	case REQ_WRITE:
		err = norn_aio_write(img->dio, oid, p->c, p->buf, len, obj_off);
		break;
	case REQ_DISCARD: {
		bool whole = obj_off == 0 && (len == os || voff + len >= img->size_bytes);
		if (whole) {
			err = norn_aio_remove(img->dio, oid, p->c);
			break;
		}
		p->op = norn_write_op_create();
		if (!p->op) {
			err = -ENOMEM;
			break;
		}
		norn_write_op_assert_exists(p->op);
		if (obj_off + len == os || voff + len >= img->size_bytes)
			norn_write_op_truncate(p->op, obj_off);
		else
			norn_write_op_zero(p->op, obj_off, len);
		err = norn_aio_write_op_operate(p->op, img->dio, oid, p->c);
		break;
	}
	default:
		err = -EINVAL;
	}
	if (err) {
		if (p->op)
			norn_write_op_release(p->op);
		norn_completion_release(p->c);
		free(p);
	}
	return err;
}

/* Issue pieces until the window is full, the range is done or an error
 * stopped the request. The caller holds a reference (counted in
 * inflight), so the request cannot complete under it. */
static void req_pump(struct vol_req *r)
{
	uint32_t os = r->img->info.obj_size_bytes;

	pthread_mutex_lock(&r->mu);
	NORN_ASSERT(r->inflight > 0 && !r->finished);
	while (!r->err && r->next < r->end && r->inflight <= VOL_AIO_WINDOW) {
		uint64_t voff = r->next;
		uint64_t objno = voff / os, obj_off = voff % os;
		uint64_t len = NORN_MIN((uint64_t)os - obj_off, r->end - voff);
		r->next += len;
		r->inflight++;
		pthread_mutex_unlock(&r->mu);
		int err = piece_submit(r, objno, obj_off, len, voff);
		pthread_mutex_lock(&r->mu);
		if (err) {
			r->inflight--;
			if (!r->err)
				r->err = err;
		} else {
			r->submitted++;
		}
	}
	pthread_mutex_unlock(&r->mu);
}

static int req_start(struct vol_image *img, enum req_kind kind, uint64_t off, uint64_t len,
                     uint8_t *buf, vol_io_cb cb, void *arg)
{
	struct vol_req *r;

	if (kind != REQ_READ) {
		if (img->read_only)
			return -EROFS;
		if (vol_failed(img))
			return -EIO;
	}
	if (off > img->size_bytes || len > img->size_bytes - off)
		return -EINVAL;
	if (len == 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->img = img;
	r->kind = kind;
	r->off = r->next = off;
	r->end = off + len;
	r->buf = buf;
	r->cb = cb;
	r->arg = arg;
	pthread_mutex_init(&r->mu, NULL);

	/* The first round under a submitter guard: if libnorn refuses the
	 * very first piece, fail the call itself instead of calling back. */
	r->inflight = 1;
	req_pump(r);
	pthread_mutex_lock(&r->mu);
	if (r->submitted == 0) {
		int err = r->err;
		NORN_ASSERT(r->inflight == 1 && err);
		pthread_mutex_unlock(&r->mu);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return err;
	}
	pthread_mutex_unlock(&r->mu);
	if (req_put(r, 0))
		req_complete(r);
	return 0;
}

int vol_aio_read(struct vol_image *img, uint64_t off, size_t len, void *buf, vol_io_cb cb,
                 void *arg)
{
	return req_start(img, REQ_READ, off, len, buf, cb, arg);
}

int vol_aio_write(struct vol_image *img, uint64_t off, size_t len, const void *buf, vol_io_cb cb,
                  void *arg)
{
	return req_start(img, REQ_WRITE, off, len, (uint8_t *)buf, cb, arg);
}

int vol_aio_discard(struct vol_image *img, uint64_t off, uint64_t len, vol_io_cb cb, void *arg)
{
	return req_start(img, REQ_DISCARD, off, len, NULL, cb, arg);
}
