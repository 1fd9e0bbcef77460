/* The volume backend of norn-nbd. See nbd_backend_vol.h.
 *
 * Completion hand-off: vol_aio_* callbacks run on libnorn's I/O thread.
 * Each request carries a node that the callback pushes onto the backend's
 * done list under a mutex before waking the loop with uv_async_send();
 * the async callback swaps the list out and calls the server back. libuv
 * coalesces async sends, so one wake-up may drain many completions; a
 * pass is bounded by what was queued when it started.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/nbd/nbd_backend_vol.h"
#include "client/nbd/nbd_proto.h"
#include "client/vol/vol.h"
#include "common/assert.h"
#include "common/env.h"
#include "common/log.h"

#define NBD_SNAP_POLL_MS 500         /* how often a writer looks for new snapshots */

struct vreq;

struct vol_backend {
	uv_loop_t *loop;
	norn_cluster_t *cl;
	uv_async_t async;
	pthread_mutex_t mu;
	struct vreq *done_head, *done_tail;   /* under mu */
	char owner[VOL_LOCK_OWNER_MAX + 1];
	uint64_t lease_ms;
	char *pools;                          /* comma-separated */
	bool read_only;
	unsigned open_devs;
};

struct nbd_bdev {
	struct vol_backend *be;
	norn_ioctx_t *io;
	struct vol_image *img;
	char spec[3 * (VOL_NAME_MAX + 2)];
	bool read_only;
	uint64_t size_bytes;
	uv_timer_t renew;
	uv_work_t renew_work;
	int renew_err;
	bool renew_busy;
	uint64_t last_renew_ns;    /* monotonic; the timer also polls for snapshots */
	bool timer_closed;         /* close: the renewal timer is gone */
	nbd_close_cb close_cb;
	void *close_arg;
};

/* One data op or flush in flight. */
struct vreq {
	struct vreq *next;
	struct nbd_bdev *dev;
	nbd_io_cb cb;
	void *arg;
	int err;
};

/* A management op on the thread pool. */
struct vwork {
	uv_work_t work;
	struct vol_backend *be;
	int res;
	void *arg;
	/* list */
	size_t max;
	char **names;
	size_t n;
	nbd_list_cb list_cb;
	/* open / close */
	char pool[VOL_NAME_MAX + 1], vol[VOL_NAME_MAX + 1], snap[VOL_NAME_MAX + 1];
	bool want_ro;
	struct nbd_bdev *dev;
	struct nbd_export_info info;
	nbd_open_cb open_cb;
};

/* ---- completion hand-off ----------------------------------------------------- */

static void on_vol_done(void *arg, int err)
{
	struct vreq *r = arg;
	struct vol_backend *be = r->dev->be;

	r->err = err;
	r->next = NULL;
	pthread_mutex_lock(&be->mu);
	if (be->done_tail)
		be->done_tail->next = r;
	else
		be->done_head = r;
	be->done_tail = r;
	pthread_mutex_unlock(&be->mu);
	uv_async_send(&be->async);
}

static void on_async(uv_async_t *h)
{
	struct vol_backend *be = h->data;
	struct vreq *r;

	pthread_mutex_lock(&be->mu);
	r = be->done_head;
	be->done_head = be->done_tail = NULL;
	pthread_mutex_unlock(&be->mu);
	while (r) {
		struct vreq *next = r->next;
		r->cb(r->arg, r->err);
		free(r);
		r = next;
	}
}

static struct vreq *vreq_new(struct nbd_bdev *dev, nbd_io_cb cb, void *arg)
{
	struct vreq *r = calloc(1, sizeof(*r));

	if (r) {
		r->dev = dev;
		r->cb = cb;
		r->arg = arg;
	}
	return r;
}

/* ---- list ------------------------------------------------------------------------ */

static void list_work(uv_work_t *w)
{
	struct vwork *vw = NORN_CONTAINER_OF(w, struct vwork, work);
	struct vol_backend *be = vw->be;
	char *pools = strdup(be->pools), *save = NULL;

	vw->names = calloc(vw->max ? vw->max : 1, sizeof(char *));
	if (!pools || !vw->names) {
		free(pools);
		vw->res = -ENOMEM;
		return;
	}
	for (char *p = strtok_r(pools, ",", &save); p && vw->n < vw->max;
	     p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ')
			p++;
		norn_ioctx_t *io;
		char **names;
		size_t n;
		if (!*p || norn_ioctx_create(be->cl, p, &io))
			continue;
		if (vol_list(io, vw->max - vw->n, &names, &n) == 0) {
			for (size_t i = 0; i < n && vw->n < vw->max; i++) {
				size_t len = strlen(p) + strlen(names[i]) + 2;
				char *s = malloc(len);
				if (!s)
					break;
				snprintf(s, len, "%s/%s", p, names[i]);
				vw->names[vw->n++] = s;
			}
			vol_names_free(names, n);
		}
		norn_ioctx_destroy(io);
	}
	free(pools);
}

static void list_after(uv_work_t *w, int status)
{
	struct vwork *vw = NORN_CONTAINER_OF(w, struct vwork, work);
	int res = status < 0 ? status : vw->res;

	vw->list_cb(vw->arg, res, (const char *const *)vw->names, res ? 0 : vw->n);
	for (size_t i = 0; i < vw->n; i++)
		free(vw->names[i]);
	free(vw->names);
	free(vw);
}

static int vb_list(void *backend, size_t max, nbd_list_cb cb, void *arg)
{
	struct vol_backend *be = backend;
	struct vwork *vw = calloc(1, sizeof(*vw));
	int err;

	if (!vw)
		return -ENOMEM;
	vw->be = be;
	vw->max = max;
	vw->list_cb = cb;
	vw->arg = arg;
	err = uv_queue_work(be->loop, &vw->work, list_work, list_after);
	if (err)
		free(vw);
	return err;
}

/* ---- open ---------------------------------------------------------------------------- */

static void open_work(uv_work_t *w)
{
	struct vwork *vw = NORN_CONTAINER_OF(w, struct vwork, work);
	struct vol_backend *be = vw->be;
	struct nbd_bdev *dev = vw->dev;
	struct vol_lock_info holder;
	int err;

	err = norn_ioctx_create(be->cl, vw->pool, &dev->io);
	if (err)
		goto out;
	err = vol_open(dev->io, vw->vol, vw->snap, vw->want_ro, &dev->img);
	if (err)
		goto fail_io;
	dev->read_only = vol_is_read_only(dev->img);
	if (!dev->read_only) {
		err = vol_lock_acquire(dev->img, be->owner, be->lease_ms, &holder);
		if (err == -EBUSY)
			NLOG(NBD, WARN, "%s: locked by %s; refusing (norn vol lock break to take it)",
			     dev->spec, holder.owner);
		if (err)
			goto fail_img;
	}
	dev->size_bytes = vol_size(dev->img);
	vw->info.size_bytes = dev->size_bytes;
	vw->info.min_block = 1;
	vw->info.pref_block = 4096;
	vw->info.max_payload = NBD_MAX_PAYLOAD_BYTES;
	/* Every completed write is durable on all replicas, so flush covers
	 * all connections: multi-conn is safe (see the header). */
	vw->info.flags = NBD_BACKEND_F_FLUSH | NBD_BACKEND_F_FUA | NBD_BACKEND_F_MULTI_CONN |
	                 (dev->read_only ? NBD_BACKEND_F_READ_ONLY
	                                 : NBD_BACKEND_F_TRIM | NBD_BACKEND_F_WRITE_ZEROES);
	struct vol_info *info = malloc(sizeof(*info));
	if (info) {
		vol_get_info(dev->img, info);
		snprintf(vw->info.description, sizeof(vw->info.description),
		         "norn volume %.100s id %s, objects of %u bytes%s", dev->spec, info->id,
		         info->obj_size_bytes, dev->read_only ? " (read-only)" : "");
		free(info);
	}
	vw->res = 0;
	return;

fail_img:
	vol_close(dev->img);
	dev->img = NULL;
fail_io:
	norn_ioctx_destroy(dev->io);
	dev->io = NULL;
out:
	vw->res = err;
}

static void renew_tick(uv_timer_t *t);

static void open_after(uv_work_t *w, int status)
{
	struct vwork *vw = NORN_CONTAINER_OF(w, struct vwork, work);
	struct nbd_bdev *dev = vw->dev;
	int res = status < 0 ? status : vw->res;

	if (res) {
		if (dev->img)
			vol_close(dev->img);
		if (dev->io)
			norn_ioctx_destroy(dev->io);
		NLOG(NBD, INFO, "open %s: %s", dev->spec, norn_strerror(res));
		free(dev);
		vw->open_cb(vw->arg, res, NULL, NULL);
		free(vw);
		return;
	}
	vw->be->open_devs++;
	uv_timer_init(vw->be->loop, &dev->renew);
	dev->renew.data = dev;
	if (!dev->read_only) {
		/* renew every third of the lease; look for new snapshots
		 * (vol_snap_poll) on every tick */
		uint64_t every = NORN_MIN(vw->be->lease_ms / 3, (uint64_t)NBD_SNAP_POLL_MS);
		dev->last_renew_ns = norn_mono_ns();
		uv_timer_start(&dev->renew, renew_tick, every, every);
	}
	NLOG(NBD, INFO, "opened %s (%" PRIu64 " bytes%s)", dev->spec, dev->size_bytes,
	     dev->read_only ? ", read-only" : ", lock taken");
	vw->open_cb(vw->arg, 0, dev, &vw->info);
	free(vw);
}

static int vb_open(void *backend, const char *name, nbd_open_cb cb, void *arg)
{
	struct vol_backend *be = backend;
	struct vwork *vw;
	struct nbd_bdev *dev;
	int err;

	vw = calloc(1, sizeof(*vw));
	dev = calloc(1, sizeof(*dev));
	if (!vw || !dev) {
		err = -ENOMEM;
		goto fail;
	}
	err = vol_spec_parse(name, vw->pool, vw->vol, vw->snap);
	if (err)
		goto fail;
	snprintf(dev->spec, sizeof(dev->spec), "%s", name);
	dev->be = be;
	vw->be = be;
	vw->dev = dev;
	vw->want_ro = be->read_only || vw->snap[0];
	vw->open_cb = cb;
	vw->arg = arg;
	err = uv_queue_work(be->loop, &vw->work, open_work, open_after);
	if (err)
		goto fail;
	return 0;
fail:
	free(vw);
	free(dev);
	return err;
}

/* ---- lock renewal --------------------------------------------------------------------- */

static void close_start(struct nbd_bdev *dev);

static void renew_work(uv_work_t *w)
{
	struct nbd_bdev *dev = NORN_CONTAINER_OF(w, struct nbd_bdev, renew_work);
	uint64_t now = norn_mono_ns();
	int err = vol_snap_poll(dev->img);

	if (err)
		NLOG(NBD, WARN, "%s: snapshot poll: %s (will retry)", dev->spec, norn_strerror(err));
	dev->renew_err = 0;
	if (now - dev->last_renew_ns >= dev->be->lease_ms / 3 * 1000000ull) {
		dev->renew_err = vol_lock_renew(dev->img, dev->be->lease_ms);
		if (dev->renew_err == 0)
			dev->last_renew_ns = now;
	}
}

static void renew_after(uv_work_t *w, int status)
{
	struct nbd_bdev *dev = NORN_CONTAINER_OF(w, struct nbd_bdev, renew_work);

	dev->renew_busy = false;
	if (status == 0 && dev->renew_err == -ENOLCK && !vol_failed(dev->img)) {
		NLOG(NBD, ERR, "%s: exclusive lock lost; failing writes from now on", dev->spec);
		vol_set_failed(dev->img);
		uv_timer_stop(&dev->renew);
	} else if (status == 0 && dev->renew_err && dev->renew_err != -ENOLCK) {
		NLOG(NBD, WARN, "%s: lock renewal failed: %s (will retry)", dev->spec,
		     norn_strerror(dev->renew_err));
	}
	if (dev->timer_closed)
		close_start(dev);
}

static void renew_tick(uv_timer_t *t)
{
	struct nbd_bdev *dev = t->data;

	if (dev->renew_busy || vol_failed(dev->img))
		return;
	if (uv_queue_work(dev->be->loop, &dev->renew_work, renew_work, renew_after) == 0)
		dev->renew_busy = true;
}

/* ---- data ops ------------------------------------------------------------------------------ */

static bool range_ok(struct nbd_bdev *dev, uint64_t off, uint64_t len)
{
	return off <= dev->size_bytes && len <= dev->size_bytes - off;
}

static int vb_read(struct nbd_bdev *dev, uint64_t off, uint32_t len, void *buf, nbd_io_cb cb,
                   void *arg)
{
	struct vreq *r;
	int err;

	if (!range_ok(dev, off, len) || len == 0)
		return -EINVAL;
	r = vreq_new(dev, cb, arg);
	if (!r)
		return -ENOMEM;
	err = vol_aio_read(dev->img, off, len, buf, on_vol_done, r);
	if (err)
		free(r);
	return err;
}

static int vb_write(struct nbd_bdev *dev, uint64_t off, uint32_t len, const void *buf, bool fua,
                    nbd_io_cb cb, void *arg)
{
	struct vreq *r;
	int err;

	(void)fua;  /* every acknowledged write is durable already */
	if (dev->read_only)
		return -EPERM;
	if (!range_ok(dev, off, len) || len == 0)
		return -ENOSPC;
	r = vreq_new(dev, cb, arg);
	if (!r)
		return -ENOMEM;
	err = vol_aio_write(dev->img, off, len, buf, on_vol_done, r);
	if (err)
		free(r);
	return err;
}

static int vb_flush(struct nbd_bdev *dev, nbd_io_cb cb, void *arg)
{
	struct vreq *r = vreq_new(dev, cb, arg);

	if (!r)
		return -ENOMEM;
	/* Nothing to wait for: completed writes are durable. Answer on the
	 * next loop turn (never inside this call). */
	on_vol_done(r, vol_failed(dev->img) && !dev->read_only ? -EIO : 0);
	return 0;
}

static int vb_discard(struct nbd_bdev *dev, uint64_t off, uint64_t len, nbd_io_cb cb, void *arg)
{
	struct vreq *r;
	int err;

	if (dev->read_only)
		return -EPERM;
	if (!range_ok(dev, off, len))
		return -ENOSPC;
	r = vreq_new(dev, cb, arg);
	if (!r)
		return -ENOMEM;
	if (len == 0) {
		on_vol_done(r, 0);
		return 0;
	}
	err = vol_aio_discard(dev->img, off, len, on_vol_done, r);
	if (err)
		free(r);
	return err;
}

static int vb_trim(struct nbd_bdev *dev, uint64_t off, uint64_t len, bool fua, nbd_io_cb cb,
                   void *arg)
{
	(void)fua;
	return vb_discard(dev, off, len, cb, arg);
}

static int vb_write_zeroes(struct nbd_bdev *dev, uint64_t off, uint64_t len, bool may_trim,
                           bool fua, nbd_io_cb cb, void *arg)
{
	(void)may_trim;
	(void)fua;
	return vb_discard(dev, off, len, cb, arg);
}

/* ---- close ------------------------------------------------------------------------------------ */

static void close_work(uv_work_t *w)
{
	struct vwork *vw = NORN_CONTAINER_OF(w, struct vwork, work);
	struct nbd_bdev *dev = vw->dev;

	vol_close(dev->img);     /* releases the lock */
	norn_ioctx_destroy(dev->io);
}

static void close_after(uv_work_t *w, int status)
{
	struct vwork *vw = NORN_CONTAINER_OF(w, struct vwork, work);
	struct nbd_bdev *dev = vw->dev;
	struct vol_backend *be = dev->be;

	(void)status;
	NORN_ASSERT(be->open_devs > 0);
	be->open_devs--;
	NLOG(NBD, INFO, "closed %s", dev->spec);
	nbd_close_cb cb = dev->close_cb;
	void *arg = dev->close_arg;
	free(dev);
	free(vw);
	cb(arg);
}

/* Runs once the timer handle is closed and no renewal is in flight. */
static void close_start(struct nbd_bdev *dev)
{
	struct vwork *vw;

	if (dev->renew_busy || !dev->timer_closed)
		return;
	vw = calloc(1, sizeof(*vw));
	if (vw) {
		vw->be = dev->be;
		vw->dev = dev;
		if (uv_queue_work(dev->be->loop, &vw->work, close_work, close_after) == 0)
			return;
		free(vw);
	}
	/* No memory for the work item: close inline (it may block the loop
	 * for one lock release round trip; closing cannot fail). */
	vol_close(dev->img);
	norn_ioctx_destroy(dev->io);
	NORN_ASSERT(dev->be->open_devs > 0);
	dev->be->open_devs--;
	nbd_close_cb cb = dev->close_cb;
	void *arg = dev->close_arg;
	free(dev);
	cb(arg);
}

static void renew_timer_closed(uv_handle_t *h)
{
	struct nbd_bdev *dev = h->data;

	dev->timer_closed = true;
	close_start(dev);
}

static void vb_close(struct nbd_bdev *dev, nbd_close_cb cb, void *arg)
{
	dev->close_cb = cb;
	dev->close_arg = arg;
	uv_timer_stop(&dev->renew);
	uv_close((uv_handle_t *)&dev->renew, renew_timer_closed);
}

/* ---- backend lifetime -------------------------------------------------------------------------- */

static void backend_freed(uv_handle_t *h)
{
	struct vol_backend *be = h->data;

	pthread_mutex_destroy(&be->mu);
	free(be->pools);
	free(be);
}

static void vb_destroy(void *backend)
{
	struct vol_backend *be = backend;

	if (!be)
		return;
	NORN_ASSERT(be->open_devs == 0 && !be->done_head);
	uv_close((uv_handle_t *)&be->async, backend_freed);
}

const struct nbd_backend_ops nbd_backend_vol_ops = {
	.name = "vol",
	.list = vb_list,
	.open = vb_open,
	.read = vb_read,
	.write = vb_write,
	.flush = vb_flush,
	.trim = vb_trim,
	.write_zeroes = vb_write_zeroes,
	.close = vb_close,
	.destroy = vb_destroy,
};

int nbd_backend_vol_create(uv_loop_t *loop, const struct nbd_vol_backend_config *cfg,
                           void **backend_out)
{
	struct vol_backend *be;
	int err;

	if (!cfg->cluster || cfg->lease_ms < 300 || !cfg->lock_owner || !cfg->lock_owner[0] ||
	    strlen(cfg->lock_owner) > VOL_LOCK_OWNER_MAX)
		return -EINVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->pools = strdup(cfg->list_pools ? cfg->list_pools : "");
	if (!be->pools) {
		free(be);
		return -ENOMEM;
	}
	be->loop = loop;
	be->cl = cfg->cluster;
	be->lease_ms = cfg->lease_ms;
	be->read_only = cfg->read_only;
	snprintf(be->owner, sizeof(be->owner), "%s", cfg->lock_owner);
	pthread_mutex_init(&be->mu, NULL);
	err = uv_async_init(loop, &be->async, on_async);
	if (err) {
		pthread_mutex_destroy(&be->mu);
		free(be->pools);
		free(be);
		return err;
	}
	be->async.data = be;
	*backend_out = be;
	return 0;
}
