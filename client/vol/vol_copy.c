/* Whole-volume copies between a volume and a file descriptor (norn vol
 * import / export). Both keep VOL_COPY_DEPTH object-sized chunks in flight
 * through the async data path and skip holes: all-zero 4 KiB blocks are
 * neither written to the volume (import: they stay unallocated) nor to a
 * seekable output (export: the file stays sparse).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/vol/vol_int.h"
#include "common/assert.h"
#include "common/log.h"

#define VOL_COPY_DEPTH 4
#define ZERO_BLOCK     4096u

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
};

static void waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = false;
	w->err = 0;
}

static void waiter_reset(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	w->done = false;
	w->err = 0;
	pthread_mutex_unlock(&w->mu);
}

static void waiter_destroy(struct waiter *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

static void waiter_cb(void *arg, int err)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->err = err;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int waiter_wait(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return w->err;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

static int write_all(int fd, const uint8_t *p, size_t n, off_t off, bool seekable)
{
	while (n) {
		ssize_t w = seekable ? pwrite(fd, p, n, off) : write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

struct slot {
	struct waiter w;
	uint8_t *buf;
	uint64_t off, len;
	bool busy;
};

static void slots_free(struct slot *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (s[i].busy)
			waiter_wait(&s[i].w);
		if (s[i].buf)
			waiter_destroy(&s[i].w);
		free(s[i].buf);
	}
}

int vol_export_fd(struct vol_image *img, int fd, vol_progress_cb progress, void *arg)
{
	struct slot s[VOL_COPY_DEPTH] = { 0 };
	uint64_t size = img->size_bytes, chunk = img->info.obj_size_bytes;
	uint64_t issue = 0, done = 0;
	struct stat st;
	bool seekable;
	int err = 0;

	seekable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	for (unsigned i = 0; i < VOL_COPY_DEPTH; i++) {
		s[i].buf = malloc(chunk);
		if (!s[i].buf) {
			err = -ENOMEM;
			goto out;
		}
		waiter_init(&s[i].w);
	}
	/* Slot k % DEPTH holds chunk k; chunks are written out in order. */
	for (uint64_t k = 0; done < size && !err; k++) {
		while (issue < size && issue < done + VOL_COPY_DEPTH * chunk) {
			struct slot *q = &s[(issue / chunk) % VOL_COPY_DEPTH];
			q->off = issue;
			q->len = NORN_MIN(chunk, size - issue);
			waiter_reset(&q->w);
			err = vol_aio_read(img, q->off, q->len, q->buf, waiter_cb, &q->w);
			if (err)
				goto out;
			q->busy = true;
			issue += q->len;
		}
		struct slot *q = &s[k % VOL_COPY_DEPTH];
		NORN_ASSERT(q->busy && q->off == done);
		err = waiter_wait(&q->w);
		q->busy = false;
		if (err)
			break;
		for (uint64_t b = 0; b < q->len && !err; b += ZERO_BLOCK) {
			size_t n = (size_t)NORN_MIN((uint64_t)ZERO_BLOCK, q->len - b);
			if (seekable && all_zero(q->buf + b, n))
				continue;
			err = write_all(fd, q->buf + b, n, (off_t)(q->off + b), seekable);
		}
		done += q->len;
		if (progress)
			progress(arg, done, size);
	}
	if (!err && seekable && ftruncate(fd, (off_t)size) < 0)
		err = -errno;
out:
	slots_free(s, VOL_COPY_DEPTH);
	return err;
}

/* Fill @buf with up to @len bytes from @fd (at @off when seekable); short
 * only at EOF. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len, off_t off, bool seekable)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = seekable ? pread(fd, buf + got, len - got, off + (off_t)got)
		                     : read(fd, buf + got, len - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int vol_import_fd(struct vol_image *img, int fd, vol_progress_cb progress, void *arg,
                  uint64_t *bytes_in)
{
	struct slot s[VOL_COPY_DEPTH] = { 0 };
	uint64_t size = img->size_bytes, chunk = img->info.obj_size_bytes, pos = 0;
	uint64_t total = size;
	unsigned k = 0;
	struct stat st;
	bool seekable, eof = false;
	int err = 0;

	*bytes_in = 0;
	seekable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (seekable) {
		if ((uint64_t)st.st_size > size)
			return -EFBIG;
		total = (uint64_t)st.st_size;
	}
	for (unsigned i = 0; i < VOL_COPY_DEPTH; i++) {
		s[i].buf = malloc(chunk);
		if (!s[i].buf) {
			err = -ENOMEM;
			goto out;
		}
		waiter_init(&s[i].w);
	}
	while (!eof && !err) {
		struct slot *q = &s[k++ % VOL_COPY_DEPTH];
		if (q->busy) {
			err = waiter_wait(&q->w);
			q->busy = false;
			if (err)
				break;
		}
		if (seekable) {
			/* Jump over holes the file system knows about. */
			off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
			if (d < 0 && errno == ENXIO) {
				pos = total;
				break;
			}
			if (d > (off_t)pos)
				pos = (uint64_t)d / chunk * chunk;
		}
		ssize_t n = read_full(fd, q->buf, (size_t)chunk, (off_t)pos, seekable);
		if (n < 0) {
			err = (int)n;
			break;
		}
		if ((uint64_t)n < chunk)
			eof = true;
		if (n == 0)
			break;
		if (pos + (uint64_t)n > size) {
			err = -EFBIG;
			break;
		}
		/* Write the chunk's non-zero part as one op: from its first to
		 * its last non-zero block (zero blocks in between are written,
		 * which keeps it one op per object). */
		uint64_t first = (uint64_t)n, last = 0;
		for (uint64_t b = 0; b < (uint64_t)n; b += ZERO_BLOCK) {
			size_t bl = (size_t)NORN_MIN((uint64_t)ZERO_BLOCK, (uint64_t)n - b);
			if (!all_zero(q->buf + b, bl)) {
				if (first == (uint64_t)n)
					first = b;
				last = b + bl;
			}
		}
		if (first < last) {
			waiter_reset(&q->w);
			err = vol_aio_write(img, pos + first, last - first, q->buf + first, waiter_cb,
			                    &q->w);
			if (err)
				break;
			q->busy = true;
		}
		pos += (uint64_t)n;
		*bytes_in = pos;
		if (progress)
			progress(arg, pos, total);
	}
	for (unsigned i = 0; i < VOL_COPY_DEPTH; i++) {
		if (s[i].busy) {
			int e = waiter_wait(&s[i].w);
			s[i].busy = false;
			if (e && !err)
				err = e;
		}
	}
	if (!err && !seekable && !eof && pos >= size) {
		/* A pipe longer than the volume: there must be nothing left. */
		uint8_t extra;
		ssize_t r = read_full(fd, &extra, 1, 0, false);
		if (r > 0)
			err = -EFBIG;
	}
	*bytes_in = pos;
out:
	slots_free(s, VOL_COPY_DEPTH);
	return err;
}
