/* The sparse-file development backend of norn-nbd. See nbd_backend_file.h.
 *
 * Each op becomes one heap-allocated request run by libuv's thread pool:
 * the work function does the blocking system calls, the after-work
 * function (back on the loop thread) calls the server's callback. That
 * gives the server exactly the asynchronous, out-of-order completion model
 * the real volume backend will have.
 *
 * Fast path. A thread-pool round trip costs two context switches, which
 * dominates a 4 KiB read served from the page cache. So plain reads and
 * non-FUA writes first try preadv2/pwritev2 with RWF_NOWAIT on the loop
 * thread: the kernel does them only if it can without blocking (data
 * cached, no writeback throttling) and says EAGAIN otherwise, in which
 * case the request goes to the pool as usual. A request done inline is
 * queued and completed from a uv_idle callback in the same loop
 * iteration, so callbacks still never run inside the op call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client/nbd/nbd_backend_file.h"
#include "client/nbd/nbd_proto.h"
#include "common/assert.h"
#include "common/log.h"

#define FILE_MAX_COMPONENTS 4
#define FILE_PREF_BLOCK     4096u
#define FILE_ZERO_CHUNK     (1u << 20)

struct file_req;

struct file_backend {
	uv_loop_t *loop;
	uv_idle_t idle;          /* drains inline completions */
	struct file_req *done_head, *done_tail;
	bool idle_on;
	char dir[PATH_MAX];      /* "" when there is no export directory */
	bool allow_paths;
	bool read_only;
	unsigned open_devs;      /* devices not yet closed (asserted at destroy) */
};

struct nbd_bdev {
	struct file_backend *be;
	int fd;
	bool read_only;
	int failed;              /* sticky durability failure; touched by workers */
	bool nowait_write_unsup; /* the filesystem refuses RWF_NOWAIT writes */
	uint64_t size_bytes;
};

enum file_op { OP_OPEN, OP_LIST, OP_READ, OP_WRITE, OP_FLUSH, OP_TRIM, OP_ZERO, OP_CLOSE };

struct file_req {
	uv_work_t work;
	struct file_req *next;   /* inline completion queue */
	enum file_op op;
	struct file_backend *be;
	struct nbd_bdev *dev;
	uint64_t off, len;
	void *buf;
	bool fua, may_trim;
	int res;
	void *arg;
	union {
		nbd_io_cb io;
		nbd_open_cb open;
		nbd_list_cb list;
		nbd_close_cb close;
	} cb;
	/* OP_OPEN */
	char path[PATH_MAX];
	bool want_ro;
	struct nbd_export_info info;
	/* OP_LIST */
	size_t max_names, n_names;
	char **names;
};

/* ---- names -------------------------------------------------------------- */

static bool component_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '+' || c == ':' || c == '@' || c == '-';
}

int nbd_backend_file_resolve(const char *dir, const char *name, char *path, size_t cap,
                             bool *read_only_out)
{
	size_t n = strlen(name), comp_len = 0;
	unsigned comps = 1;
	int w;

	*read_only_out = false;
	if (n == 0 || n > NBD_MAX_NAME_BYTES)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '/') {
			if (comp_len == 0 || ++comps > FILE_MAX_COMPONENTS)
				return -EINVAL;
			comp_len = 0;
			continue;
		}
		if (!component_char_ok(c) || (comp_len == 0 && c == '.'))
			return -EINVAL;
		comp_len++;
	}
	if (comp_len == 0)
		return -EINVAL;
	/* A snapshot name ("vol@snap") is read-only by convention; '@' is
	 * legal only in the last component. */
	const char *at = strchr(name, '@');
	if (at) {
		if (strchr(at, '/') || at[1] == 0 || at == name || at[-1] == '/')
			return -EINVAL;
		*read_only_out = true;
	}
	w = snprintf(path, cap, "%s/%s", dir, name);
	if (w < 0 || (size_t)w >= cap)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- worker side (thread pool) ------------------------------------------- */

static int full_pread(int fd, uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pread(fd, buf, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			/* The file shrank under us: the export's size is fixed
			 * at open, so the missing tail reads as zeros. */
			memset(buf, 0, len);
			return 0;
		}
		buf += r;
		len -= (uint64_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int full_pwrite(int fd, const uint8_t *buf, uint64_t len, uint64_t off, int rwf)
{
	while (len) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
		ssize_t r = pwritev2(fd, &iov, 1, (off_t)off, rwf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		buf += r;
		len -= (uint64_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int dev_failed(struct nbd_bdev *dev)
{
	return __atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE);
}

/* A durability failure poisons the device for good (never retry fsync:
 * the kernel may already have dropped the dirty pages). */
static int durable_fail(struct nbd_bdev *dev, int err)
{
	__atomic_store_n(&dev->failed, 1, __ATOMIC_RELEASE);
	return err < 0 ? err : -EIO;
}

static int do_sync(struct nbd_bdev *dev)
{
	if (fdatasync(dev->fd) < 0)
		return durable_fail(dev, -errno);
	return 0;
}

static int do_write(struct file_req *r)
{
	struct nbd_bdev *dev = r->dev;
	int err;

	if (dev_failed(dev))
		return -EIO;
	if (r->fua) {
		err = full_pwrite(dev->fd, r->buf, r->len, r->off, RWF_DSYNC);
		if (err == -EOPNOTSUPP || err == -EINVAL) {
			err = full_pwrite(dev->fd, r->buf, r->len, r->off, 0);
			if (!err)
				err = do_sync(dev);
		} else if (err == -EIO) {
			err = durable_fail(dev, err);
		}
		return err;
	}
	return full_pwrite(dev->fd, r->buf, r->len, r->off, 0);
}

static int write_zero_bytes(struct nbd_bdev *dev, uint64_t off, uint64_t len)
{
	uint8_t *z = calloc(1, FILE_ZERO_CHUNK);
	int err = 0;

	if (!z)
		return -ENOMEM;
	while (len && !err) {
		uint64_t n = NORN_MIN(len, (uint64_t)FILE_ZERO_CHUNK);
		err = full_pwrite(dev->fd, z, n, off, 0);
		off += n;
		len -= n;
	}
	free(z);
	return err;
}

static int do_zero(struct file_req *r, bool trim_only)
{
	struct nbd_bdev *dev = r->dev;
	int mode, err = 0;

	if (dev_failed(dev))
		return -EIO;
	mode = (trim_only || r->may_trim) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	                                  : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(dev->fd, mode, (off_t)r->off, (off_t)r->len) < 0) {
		err = -errno;
		if (err == -EOPNOTSUPP || err == -ENODEV || err == -EINVAL) {
			/* Trim is advisory: succeeding without freeing is fine.
			 * Zeroing must still zero. */
			err = trim_only ? 0 : write_zero_bytes(dev, r->off, r->len);
		}
	}
	if (!err && r->fua)
		err = do_sync(dev);
	return err;
}

static int do_open(struct file_req *r)
{
	struct file_backend *be = r->be;
	struct nbd_bdev *dev;
	struct stat st;
	bool ro = r->want_ro || be->read_only;
	int fd, err;

	fd = open(r->path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && !ro && (errno == EACCES || errno == EROFS)) {
		ro = true;
		fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return errno == ELOOP ? -EACCES : -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail_fd;
	}
	if (S_ISREG(st.st_mode)) {
		r->info.size_bytes = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;
		if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
			err = -errno;
			goto fail_fd;
		}
		r->info.size_bytes = sz;
	} else {
		err = -ENOENT; /* a directory or socket is not an export */
		goto fail_fd;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		err = -ENOMEM;
		goto fail_fd;
	}
	dev->be = be;
	dev->fd = fd;
	dev->read_only = ro;
	dev->size_bytes = r->info.size_bytes;
	r->dev = dev;
	r->info.min_block = 1;
	r->info.pref_block = FILE_PREF_BLOCK;
	r->info.max_payload = NBD_MAX_PAYLOAD_BYTES;
	/* One fd per export name, shared by every connection: a flush on
	 * any connection fdatasyncs the same inode, so multi-conn is safe. */
	r->info.flags = NBD_BACKEND_F_FLUSH | NBD_BACKEND_F_FUA | NBD_BACKEND_F_MULTI_CONN |
	                (ro ? NBD_BACKEND_F_READ_ONLY
	                    : NBD_BACKEND_F_TRIM | NBD_BACKEND_F_WRITE_ZEROES);
	snprintf(r->info.description, sizeof(r->info.description), "file %.200s%s", r->path,
	         ro ? " (read-only)" : "");
	return 0;

fail_fd:
	close(fd);
	return err;
}

static bool list_add(struct file_req *r, const char *name)
{
	if (r->n_names >= r->max_names)
		return false;
	r->names[r->n_names] = strdup(name);
	if (!r->names[r->n_names])
		return false;
	r->n_names++;
	return true;
}

/* Walk the export directory (two levels: "vol" and "pool/vol"). Names
 * the resolver would refuse are skipped, so every listed name opens. */
static int do_list(struct file_req *r)
{
	struct file_backend *be = r->be;
	DIR *d, *sub;
	struct dirent *de, *se;
	char path[PATH_MAX], name[NBD_MAX_NAME_BYTES + 1], tmp[PATH_MAX];
	bool ro;
	struct stat st;

	r->names = calloc(r->max_names ? r->max_names : 1, sizeof(char *));
	if (!r->names)
		return -ENOMEM;
	if (!be->dir[0])
		return 0;
	d = opendir(be->dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && r->n_names < r->max_names) {
		if (de->d_name[0] == '.')
			continue;
		if (nbd_backend_file_resolve(be->dir, de->d_name, path, sizeof(path), &ro))
			continue;
		if (stat(path, &st) < 0)
			continue;
		if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
			list_add(r, de->d_name);
			continue;
		}
		if (!S_ISDIR(st.st_mode) || !(sub = opendir(path)))
			continue;
		while ((se = readdir(sub)) && r->n_names < r->max_names) {
			int w = snprintf(name, sizeof(name), "%s/%s", de->d_name, se->d_name);
			if (se->d_name[0] == '.' || w < 0 || (size_t)w >= sizeof(name))
				continue;
			if (nbd_backend_file_resolve(be->dir, name, tmp, sizeof(tmp), &ro))
				continue;
			if (stat(tmp, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
				list_add(r, name);
		}
		closedir(sub);
	}
	closedir(d);
	return 0;
}

static void work_cb(uv_work_t *w)
{
	struct file_req *r = NORN_CONTAINER_OF(w, struct file_req, work);

	switch (r->op) {
	case OP_OPEN: r->res = do_open(r); break;
	case OP_LIST: r->res = do_list(r); break;
	case OP_READ: r->res = full_pread(r->dev->fd, r->buf, r->len, r->off); break;
	case OP_WRITE: r->res = do_write(r); break;
	case OP_FLUSH: r->res = dev_failed(r->dev) ? -EIO : do_sync(r->dev); break;
	case OP_TRIM: r->res = do_zero(r, true); break;
	case OP_ZERO: r->res = do_zero(r, false); break;
	case OP_CLOSE: close(r->dev->fd); r->res = 0; break;
	}
}

/* ---- loop side -------------------------------------------------------------- */

static void after_cb(uv_work_t *w, int status)
{
	struct file_req *r = NORN_CONTAINER_OF(w, struct file_req, work);
	int res = status < 0 ? status : r->res;

	switch (r->op) {
	case OP_OPEN:
		if (res == 0)
			r->be->open_devs++;
		r->cb.open(r->arg, res, res == 0 ? r->dev : NULL, res == 0 ? &r->info : NULL);
		if (res && r->dev) { /* cancelled after a successful open */
			close(r->dev->fd);
			free(r->dev);
		}
		break;
	case OP_LIST:
		r->cb.list(r->arg, res, (const char *const *)r->names, res ? 0 : r->n_names);
		for (size_t i = 0; i < r->n_names; i++)
			free(r->names[i]);
		free(r->names);
		break;
	case OP_CLOSE:
		NORN_ASSERT(r->be->open_devs > 0);
		r->be->open_devs--;
		free(r->dev);
		r->cb.close(r->arg);
		break;
	default:
		r->cb.io(r->arg, res);
		break;
	}
	free(r);
}

static struct file_req *req_new(struct file_backend *be, struct nbd_bdev *dev, enum file_op op,
                                void *arg)
{
	struct file_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->be = be;
	r->dev = dev;
	r->op = op;
	r->arg = arg;
	return r;
}

static int req_submit(struct file_req *r)
{
	int err = uv_queue_work(r->be->loop, &r->work, work_cb, after_cb);

	if (err) {
		free(r);
		return err;
	}
	return 0;
}

static void idle_cb(uv_idle_t *h)
{
	struct file_backend *be = h->data;
	struct file_req *r = be->done_head;

	/* Completions may submit new inline requests: those wait for the
	 * next iteration, so one pass is bounded. */
	be->done_head = be->done_tail = NULL;
	uv_idle_stop(&be->idle);
	be->idle_on = false;
	while (r) {
		struct file_req *next = r->next;
		r->cb.io(r->arg, r->res);
		free(r);
		r = next;
	}
}

/* Try @r (OP_READ or non-FUA OP_WRITE) without blocking. Returns true if
 * it was done and queued for completion. */
static bool try_inline(struct file_req *r)
{
	struct file_backend *be = r->be;
	struct iovec iov = { .iov_base = r->buf, .iov_len = r->len };
	ssize_t n;

	if (r->op == OP_WRITE && (r->dev->nowait_write_unsup || dev_failed(r->dev)))
		return false;
	if (r->op == OP_READ) {
		n = preadv2(r->dev->fd, &iov, 1, (off_t)r->off, RWF_NOWAIT);
	} else {
		n = pwritev2(r->dev->fd, &iov, 1, (off_t)r->off, RWF_NOWAIT);
		/* Many filesystems support RWF_NOWAIT only for reads or only
		 * with O_DIRECT: stop paying a failed syscall per write. */
		if (n < 0 && errno == EOPNOTSUPP)
			r->dev->nowait_write_unsup = true;
	}
	/* EAGAIN, EOPNOTSUPP, short transfers: let a pool thread do it all
	 * (redoing a partial read or rewriting the same bytes is harmless). */
	if (n < 0 || (uint64_t)n != r->len)
		return false;
	r->res = 0;
	r->next = NULL;
	if (be->done_tail)
		be->done_tail->next = r;
	else
		be->done_head = r;
	be->done_tail = r;
	if (!be->idle_on) {
		uv_idle_start(&be->idle, idle_cb);
		be->idle_on = true;
	}
	return true;
}

static int file_list(void *backend, size_t max, nbd_list_cb cb, void *arg)
{
	struct file_backend *be = backend;
	struct file_req *r = req_new(be, NULL, OP_LIST, arg);

	if (!r)
		return -ENOMEM;
	r->cb.list = cb;
	r->max_names = max;
	return req_submit(r);
}

static int file_open(void *backend, const char *name, nbd_open_cb cb, void *arg)
{
	struct file_backend *be = backend;
	struct file_req *r;
	bool ro = false;
	int err;

	r = req_new(be, NULL, OP_OPEN, arg);
	if (!r)
		return -ENOMEM;
	r->cb.open = cb;
	if (be->allow_paths && !strncmp(name, "file:", 5)) {
		const char *p = name + 5;
		if (p[0] != '/' || strlen(p) >= sizeof(r->path)) {
			err = -EINVAL;
			goto fail;
		}
		memcpy(r->path, p, strlen(p) + 1);
	} else if (be->dir[0]) {
		err = nbd_backend_file_resolve(be->dir, name, r->path, sizeof(r->path), &ro);
		if (err)
			goto fail;
	} else {
		err = -ENOENT;
		goto fail;
	}
	r->want_ro = ro;
	return req_submit(r);

fail:
	free(r);
	return err;
}

static int io_submit(struct nbd_bdev *dev, enum file_op op, uint64_t off, uint64_t len,
                     void *buf, bool fua, bool may_trim, nbd_io_cb cb, void *arg)
{
	struct file_req *r = req_new(dev->be, dev, op, arg);

	if (!r)
		return -ENOMEM;
	r->off = off;
	r->len = len;
	r->buf = buf;
	r->fua = fua;
	r->may_trim = may_trim;
	r->cb.io = cb;
	if ((op == OP_READ || (op == OP_WRITE && !fua)) && try_inline(r))
		return 0;
	return req_submit(r);
}

static bool range_ok(struct nbd_bdev *dev, uint64_t off, uint64_t len)
{
	return off <= dev->size_bytes && len <= dev->size_bytes - off;
}

static int file_read(struct nbd_bdev *dev, uint64_t off, uint32_t len, void *buf,
                     nbd_io_cb cb, void *arg)
{
	if (!range_ok(dev, off, len))
		return -EINVAL;
	return io_submit(dev, OP_READ, off, len, buf, false, false, cb, arg);
}

static int file_write(struct nbd_bdev *dev, uint64_t off, uint32_t len, const void *buf,
                      bool fua, nbd_io_cb cb, void *arg)
{
	if (dev->read_only)
		return -EPERM;
	if (!range_ok(dev, off, len))
		return -ENOSPC;
	return io_submit(dev, OP_WRITE, off, len, (void *)buf, fua, false, cb, arg);
}

static int file_flush(struct nbd_bdev *dev, nbd_io_cb cb, void *arg)
{
	return io_submit(dev, OP_FLUSH, 0, 0, NULL, false, false, cb, arg);
}

static int file_trim(struct nbd_bdev *dev, uint64_t off, uint64_t len, bool fua,
                     nbd_io_cb cb, void *arg)
{
	if (dev->read_only)
		return -EPERM;
	if (!range_ok(dev, off, len))
		return -EINVAL;
	return io_submit(dev, OP_TRIM, off, len, NULL, fua, true, cb, arg);
}

static int file_write_zeroes(struct nbd_bdev *dev, uint64_t off, uint64_t len, bool may_trim,
                             bool fua, nbd_io_cb cb, void *arg)
{
	if (dev->read_only)
		return -EPERM;
	if (!range_ok(dev, off, len))
		return -ENOSPC;
	return io_submit(dev, OP_ZERO, off, len, NULL, fua, may_trim, cb, arg);
}

static void file_close(struct nbd_bdev *dev, nbd_close_cb cb, void *arg)
{
	struct file_req *r = req_new(dev->be, dev, OP_CLOSE, arg);

	/* Closing cannot fail. Without memory for a request, close inline
	 * and call back at once: close(2) of a file does not block for long,
	 * and the server accepts a synchronous callback from close() (it
	 * is the one op with nothing left to race against). */
	if (r) {
		r->cb.close = cb;
		if (uv_queue_work(dev->be->loop, &r->work, work_cb, after_cb) == 0)
			return;
		free(r);
	}
	close(dev->fd);
	NORN_ASSERT(dev->be->open_devs > 0);
	dev->be->open_devs--;
	free(dev);
	cb(arg);
}

static void backend_freed(uv_handle_t *h)
{
	free(h->data);
}

static void file_destroy(void *backend)
{
	struct file_backend *be = backend;

	if (!be)
		return;
	NORN_ASSERT(be->open_devs == 0 && !be->done_head);
	/* The idle handle is freed with the backend once libuv lets go. */
	uv_close((uv_handle_t *)&be->idle, backend_freed);
}

const struct nbd_backend_ops nbd_backend_file_ops = {
	.name = "file",
	.list = file_list,
	.open = file_open,
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.trim = file_trim,
	.write_zeroes = file_write_zeroes,
	.close = file_close,
	.destroy = file_destroy,
};

int nbd_backend_file_create(uv_loop_t *loop, const struct nbd_file_backend_config *cfg,
                            void **backend_out)
{
	struct file_backend *be;

	if (!cfg->export_dir && !cfg->allow_paths)
		return -EINVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->loop = loop;
	uv_idle_init(loop, &be->idle);
	be->idle.data = be;
	if (cfg->export_dir) {
		size_t n = strlen(cfg->export_dir);
		while (n > 1 && cfg->export_dir[n - 1] == '/')
			n--;
		if (n == 0 || n >= sizeof(be->dir)) {
			uv_close((uv_handle_t *)&be->idle, backend_freed);
			return n ? -ENAMETOOLONG : -EINVAL;
		}
		memcpy(be->dir, cfg->export_dir, n);
		be->dir[n] = 0;
	}
	be->allow_paths = cfg->allow_paths;
	be->read_only = cfg->read_only;
	*backend_out = be;
	return 0;
}
