/* Unit tests of client/vol over the in-memory libnorn (fake_norn.c):
 * names, header round trips and corruption, create/list/rename/remove,
 * the async data path against a shadow buffer (object boundaries, holes,
 * discard), resize, du, the lock and its lease, import/export with holes,
 * error propagation and requests that wait while the cluster is away. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/vol/vol.h"
#include "client/vol/vol_int.h"
#include "common/env.h"
#include "tests/harness.h"
#include "tests/vol/fake_norn.h"

#define MiB (1024ull * 1024)

/* ---- a synchronous wrapper over the async calls ------------------------------ */

struct wait1 {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, err;
};

static void wait1_cb(void *arg, int err)
{
	struct wait1 *w = arg;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->err = err;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int wait1_wait(struct wait1 *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return w->err;
}

#define WAIT1 { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 }

static int sread(struct vol_image *img, uint64_t off, size_t len, void *buf)
{
	struct wait1 w = WAIT1;
	int err = vol_aio_read(img, off, len, buf, wait1_cb, &w);
	return err ? err : wait1_wait(&w);
}

static int swrite(struct vol_image *img, uint64_t off, size_t len, const void *buf)
{
	struct wait1 w = WAIT1;
	int err = vol_aio_write(img, off, len, buf, wait1_cb, &w);
	return err ? err : wait1_wait(&w);
}

static int sdiscard(struct vol_image *img, uint64_t off, uint64_t len)
{
	struct wait1 w = WAIT1;
	int err = vol_aio_discard(img, off, len, wait1_cb, &w);
	return err ? err : wait1_wait(&w);
}

static struct vol_image *mkvol(const char *name, uint64_t size, uint32_t os)
{
	struct vol_image *img = NULL;
	norn_ioctx_t *io = fake_norn_ioctx();
	if (vol_create(io, name, size, os))
		return NULL;
	if (vol_open(io, name, NULL, false, &img))
		return NULL;
	return img;
}

static size_t data_objects(struct vol_image *img, uint64_t *bytes)
{
	struct vol_info info;
	char prefix[VOL_ID_LEN + 2];
	vol_get_info(img, &info);
	snprintf(prefix, sizeof(prefix), "%s.", info.id);
	return fake_norn_count_prefix(prefix, bytes);
}

/* ---- tests -------------------------------------------------------------------- */

TEST(names)
{
	char p[VOL_NAME_MAX + 1], v[VOL_NAME_MAX + 1], s[VOL_NAME_MAX + 1];
	char oid[64];

	CHECK_EQ(vol_name_check("db1"), 0);
	CHECK_EQ(vol_name_check("a.b-c_d+e:f"), 0);
	CHECK_EQ(vol_name_check(""), -EINVAL);
	CHECK_EQ(vol_name_check(".hidden"), -EINVAL);
	CHECK_EQ(vol_name_check("a/b"), -EINVAL);
	CHECK_EQ(vol_name_check("a@b"), -EINVAL);
	CHECK_EQ(vol_name_check("sp ace"), -EINVAL);
	char longn[VOL_NAME_MAX + 2];
	memset(longn, 'x', sizeof(longn) - 1);
	longn[VOL_NAME_MAX + 1] = 0;
	CHECK_EQ(vol_name_check(longn), -EINVAL);
	longn[VOL_NAME_MAX] = 0;
	CHECK_EQ(vol_name_check(longn), 0);

	CHECK_EQ(vol_spec_parse("rbd/db1", p, v, s), 0);
	CHECK_STREQ(p, "rbd");
	CHECK_STREQ(v, "db1");
	CHECK_STREQ(s, "");
	CHECK_EQ(vol_spec_parse("rbd/db1@snap-1", p, v, s), 0);
	CHECK_STREQ(v, "db1");
	CHECK_STREQ(s, "snap-1");
	CHECK_EQ(vol_spec_parse("db1", p, v, s), -EINVAL);
	CHECK_EQ(vol_spec_parse("/db1", p, v, s), -EINVAL);
	CHECK_EQ(vol_spec_parse("rbd/", p, v, s), -EINVAL);
	CHECK_EQ(vol_spec_parse("rbd/db1@", p, v, s), -EINVAL);
	CHECK_EQ(vol_spec_parse("rbd/a/b", p, v, s), -EINVAL);
	CHECK_EQ(vol_spec_parse("rbd/a@b@c", p, v, s), -EINVAL);
	CHECK_EQ(vol_spec_parse("../x/y", p, v, s), -EINVAL);

	vol_data_oid("0123456789abcdef", 0x2a, oid, sizeof(oid));
	CHECK_STREQ(oid, "0123456789abcdef.000000000000002a");
}

TEST(header_roundtrip_and_corruption)
{
	struct vol_info *h = calloc(1, sizeof(*h)), *g = calloc(1, sizeof(*g));
	struct enc e;

	snprintf(h->name, sizeof(h->name), "db1");
	memcpy(h->id, "00112233aabbccdd", 17);
	h->size_bytes = 1ull << 30;
	h->obj_size_bytes = 4u << 20;
	h->features = VOL_FEATURE_LOCK;
	h->gen = 7;
	h->n_snaps = 2;
	h->snaps[0].id = 1;
	snprintf(h->snaps[0].name, sizeof(h->snaps[0].name), "s1");
	h->snaps[1].id = 2;
	snprintf(h->snaps[1].name, sizeof(h->snaps[1].name), "s2");
	enc_init(&e, 0);
	vol__header_encode(&e, h);
	CHECK_EQ(enc_error(&e), 0);
	CHECK_EQ(vol__header_decode(g, e.buf, e.len), 0);
	CHECK_STREQ(g->name, "db1");
	CHECK_EQ(g->size_bytes, 1ull << 30);
	CHECK_EQ(g->gen, 7);
	CHECK_EQ(g->n_snaps, 2);
	CHECK_STREQ(g->snaps[1].name, "s2");
	/* Every truncation is refused, never read past the end. */
	for (size_t n = 0; n < e.len; n++)
		CHECK(vol__header_decode(g, e.buf, n) != 0);
	/* Flipped bytes either decode to something valid or are refused. */
	for (size_t i = 0; i < e.len; i++) {
		e.buf[i] ^= 0xff;
		int r = vol__header_decode(g, e.buf, e.len);
		CHECK(r == 0 || r == NORN_ECORRUPT || r == NORN_EVERSION);
		e.buf[i] ^= 0xff;
	}
	/* Unknown feature bits: a newer format, refused. */
	h->features |= 1ull << 40;
	enc_reset(&e);
	vol__header_encode(&e, h);
	CHECK_EQ(vol__header_decode(g, e.buf, e.len), NORN_EVERSION);
	enc_free(&e);
	free(h);
	free(g);
}

TEST(create_list_rename_remove)
{
	norn_ioctx_t *io = fake_norn_ioctx();
	char **names;
	size_t n;
	struct vol_image *img;
	struct vol_info info;
	char id[VOL_ID_LEN + 1];

	CHECK_EQ(vol_list(io, 100, &names, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(vol_create(io, "b", 10 * MiB, 0), 0);
	CHECK_EQ(vol_create(io, "a", 1000, 1u << 20), 0);
	CHECK_EQ(vol_create(io, "a", 10, 0), -EEXIST);
	CHECK_EQ(vol_create(io, "bad/name", 10, 0), -EINVAL);
	CHECK_EQ(vol_create(io, "c", 10, 12345), -EINVAL);       /* not a power of two */
	CHECK_EQ(vol_create(io, "c", 10, 1u << 12), -EINVAL);    /* too small */
	CHECK_EQ(vol_create(io, "c", VOL_SIZE_MAX + 1, 0), -EINVAL);
	CHECK_EQ(vol_list(io, 100, &names, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_STREQ(names[0], "a");
	CHECK_STREQ(names[1], "b");
	vol_names_free(names, n);

	CHECK_EQ(vol_open(io, "a", NULL, false, &img), 0);
	vol_get_info(img, &info);
	CHECK_EQ(info.size_bytes, 1024);     /* rounded up to 512 */
	CHECK_EQ(info.obj_size_bytes, 1u << 20);
	CHECK_EQ(strlen(info.id), VOL_ID_LEN);
	vol_close(img);
	CHECK_EQ(vol_open(io, "nope", NULL, false, &img), -ENOENT);
	CHECK_EQ(vol_open(io, "a", "snap", false, &img), -ENOENT);

	CHECK_EQ(vol_lookup_id(io, "a", id), 0);
	CHECK_EQ(vol_rename(io, "a", "b"), -EEXIST);
	CHECK_EQ(vol_rename(io, "a", "z"), 0);
	CHECK_EQ(vol_rename(io, "a", "y"), -ENOENT);
	char id2[VOL_ID_LEN + 1];
	CHECK_EQ(vol_lookup_id(io, "z", id2), 0);
	CHECK_STREQ(id, id2);
	CHECK_EQ(vol_open(io, "z", NULL, false, &img), 0);
	vol_get_info(img, &info);
	CHECK_STREQ(info.name, "z");
	CHECK_EQ(swrite(img, 0, 4, "data"), 0);
	vol_close(img);
	CHECK_EQ(vol_list(io, 100, &names, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_STREQ(names[0], "b");
	CHECK_STREQ(names[1], "z");
	vol_names_free(names, n);

	CHECK_EQ(vol_remove(io, "z", false, NULL, NULL), 0);
	CHECK_EQ(vol_remove(io, "z", false, NULL, NULL), -ENOENT);
	char prefix[VOL_ID_LEN + 2];
	snprintf(prefix, sizeof(prefix), "%s", id);
	CHECK_EQ(fake_norn_count_prefix(prefix, NULL), 0);
	CHECK_EQ(vol_list(io, 100, &names, &n), 0);
	CHECK_EQ(n, 1);
	vol_names_free(names, n);
}

TEST(io_matches_shadow)
{
	const uint64_t size = 9 * MiB + 4096;
	const uint32_t os = 1u << 20;
	struct vol_image *img = mkvol("v", size, os);
	uint8_t *shadow = calloc(1, size), *buf = malloc(3 * MiB);
	struct norn_rand rnd;

	CHECK(img != NULL);
	/* Thin: nothing allocated, everything reads as zeros. */
	CHECK_EQ(data_objects(img, NULL), 0);
	memset(buf, 0xaa, 3 * MiB);
	CHECK_EQ(sread(img, 0, 3 * MiB, buf), 0);
	CHECK(buf[0] == 0 && !memcmp(buf, buf + 1, 3 * MiB - 1));

	norn_rand_seed(&rnd, 42);
	for (int i = 0; i < 300; i++) {
		uint64_t len = 1 + norn_rand_below(&rnd, 3 * MiB);
		uint64_t off = norn_rand_below(&rnd, size - len + 1);
		int what = (int)norn_rand_below(&rnd, 10);
		if (what < 5) {
			for (uint64_t k = 0; k < len; k++)
				buf[k] = (uint8_t)norn_rand_u64(&rnd) | 1;
			CHECK_EQ(swrite(img, off, len, buf), 0);
			memcpy(shadow + off, buf, len);
		} else if (what < 7) {
			CHECK_EQ(sdiscard(img, off, len), 0);
			memset(shadow + off, 0, len);
		} else {
			CHECK_EQ(sread(img, off, len, buf), 0);
			CHECK(!memcmp(buf, shadow + off, len));
		}
	}
	for (uint64_t off = 0; off < size; off += 3 * MiB) {
		uint64_t len = size - off < 3 * MiB ? size - off : 3 * MiB;
		CHECK_EQ(sread(img, off, len, buf), 0);
		CHECK(!memcmp(buf, shadow + off, len));
	}
	/* Out of range and zero-length requests are refused up front. */
	CHECK_EQ(vol_aio_read(img, size - 1, 2, buf, wait1_cb, NULL), -EINVAL);
	CHECK_EQ(vol_aio_write(img, size, 1, buf, wait1_cb, NULL), -EINVAL);
	CHECK_EQ(vol_aio_discard(img, 0, size + 1, wait1_cb, NULL), -EINVAL);
	CHECK_EQ(vol_aio_read(img, 0, 0, buf, wait1_cb, NULL), -EINVAL);
	vol_close(img);
	free(shadow);
	free(buf);
}

TEST(discard_frees_objects)
{
	const uint32_t os = 1u << 20;
	struct vol_image *img = mkvol("v", 8 * MiB, os);
	uint8_t *buf = malloc(8 * MiB);
	uint64_t bytes, objs;

	memset(buf, 7, 8 * MiB);
	CHECK_EQ(swrite(img, 0, 8 * MiB, buf), 0);
	CHECK_EQ(data_objects(img, &bytes), 8);
	CHECK_EQ(bytes, 8 * MiB);
	CHECK_EQ(vol_du(img, &bytes, &objs), 0);
	CHECK_EQ(bytes, 8 * MiB);
	CHECK_EQ(objs, 8);
	/* Objects 2..5 whole, the tail of object 1, the head of object 6. */
	CHECK_EQ(sdiscard(img, MiB + MiB / 2, 5 * MiB), 0);
	CHECK_EQ(data_objects(img, &bytes), 4);
	CHECK_EQ(bytes, 3 * MiB + MiB / 2);        /* 0, 1 (cut to half), 6, 7 */
	CHECK_EQ(sread(img, 0, 8 * MiB, buf), 0);
	for (uint64_t i = 0; i < 8 * MiB; i++) {
		uint8_t want = (i >= MiB + MiB / 2 && i < 6 * MiB + MiB / 2) ? 0 : 7;
		if (buf[i] != want) {
			CHECK_EQ(i, -1);
			break;
		}
	}
	/* Discarding holes creates nothing. */
	CHECK_EQ(sdiscard(img, 2 * MiB + 100, 1000), 0);
	CHECK_EQ(data_objects(img, NULL), 4);
	CHECK_EQ(sdiscard(img, 0, 8 * MiB), 0);
	CHECK_EQ(data_objects(img, NULL), 0);
	vol_close(img);
	free(buf);
}

TEST(big_discard_is_windowed)
{
	/* 4096 objects of 64 KiB: more pieces than the window. */
	struct vol_image *img = mkvol("v", 4096ull * 65536, 65536);
	uint8_t b[16] = "x";
	for (uint64_t i = 0; i < 4096; i += 97)
		CHECK_EQ(swrite(img, i * 65536 + 5, sizeof(b), b), 0);
	CHECK(data_objects(img, NULL) > 40);
	CHECK_EQ(sdiscard(img, 0, 4096ull * 65536), 0);
	CHECK_EQ(data_objects(img, NULL), 0);
	vol_close(img);
}

TEST(resize)
{
	norn_ioctx_t *io = fake_norn_ioctx();
	const uint32_t os = 1u << 20;
	struct vol_image *img = mkvol("v", 4 * MiB, os);
	uint8_t *buf = malloc(4 * MiB);
	struct vol_info info;

	memset(buf, 9, 4 * MiB);
	CHECK_EQ(swrite(img, 0, 4 * MiB, buf), 0);
	CHECK_EQ(vol_resize(img, 8 * MiB, false), 0);
	CHECK_EQ(vol_size(img), 8 * MiB);
	CHECK_EQ(sread(img, 4 * MiB, 4096, buf), 0);
	CHECK(buf[0] == 0 && buf[4095] == 0);
	CHECK_EQ(vol_resize(img, MiB + 4096, false), -EPERM);
	CHECK_EQ(vol_resize(img, MiB + 4096, true), 0);
	CHECK_EQ(data_objects(img, NULL), 2);
	CHECK_EQ(vol_aio_read(img, 2 * MiB, 1, buf, wait1_cb, NULL), -EINVAL);
	/* Grow again: the cut-off bytes must read as zeros. */
	CHECK_EQ(vol_resize(img, 4 * MiB, false), 0);
	CHECK_EQ(sread(img, MiB, 2 * MiB, buf), 0);
	CHECK(buf[0] == 9 && buf[4095] == 9 && buf[4096] == 0);
	CHECK(!memcmp(buf + 4096, buf + 4097, 2 * MiB - 4097));
	/* Another opener sees the new size after a refresh. */
	struct vol_image *img2;
	CHECK_EQ(vol_open(io, "v", NULL, true, &img2), 0);
	CHECK_EQ(vol_size(img2), 4 * MiB);
	CHECK_EQ(vol_resize(img2, 5 * MiB, false), -EROFS);
	CHECK_EQ(vol_aio_write(img2, 0, 1, buf, wait1_cb, NULL), -EROFS);
	CHECK_EQ(vol_resize(img, 6 * MiB, false), 0);
	CHECK_EQ(vol_refresh(img2, &info), 0);
	CHECK_EQ(info.size_bytes, 6 * MiB);
	CHECK_EQ(vol_size(img2), 6 * MiB);
	vol_close(img2);
	vol_close(img);
	free(buf);
}

static uint64_t g_fake_now;
static uint64_t fake_ns(void *ctx)
{
	(void)ctx;
	return g_fake_now;
}

TEST(lock_lease)
{
	norn_ioctx_t *io = fake_norn_ioctx();
	struct norn_clock clk = { fake_ns, fake_ns, NULL };
	struct vol_image *a = mkvol("v", MiB, 0), *b, *ro;
	struct vol_lock_info li;

	g_fake_now = norn_real_ns();  /* vol_remove() checks against the real clock */
	CHECK_EQ(vol_open(io, "v", NULL, false, &b), 0);
	vol_set_clock(a, &clk);
	vol_set_clock(b, &clk);
	CHECK_EQ(vol_lock_get(io, "v", &li), 0);
	CHECK(!li.held);
	CHECK_EQ(vol_lock_acquire(a, "host-a:1", 30000, NULL), 0);
	CHECK(vol_lock_held(a));
	CHECK_EQ(vol_lock_acquire(b, "host-b:2", 30000, &li), -EBUSY);
	CHECK_STREQ(li.owner, "host-a:1");
	CHECK_EQ(li.expiry_ns, g_fake_now + 30000000000ull);
	/* Re-acquiring our own lock is fine (a restart with the same owner). */
	CHECK_EQ(vol_lock_acquire(a, "host-a:1", 30000, NULL), 0);
	/* Renewal moves the expiry. */
	g_fake_now += 20000000000ull;
	CHECK_EQ(vol_lock_renew(a, 30000), 0);
	g_fake_now += 20000000000ull;
	CHECK_EQ(vol_lock_acquire(b, "host-b:2", 30000, &li), -EBUSY);
	/* Shrinking and removal refuse while someone holds it. */
	CHECK_EQ(vol_resize(b, 4096, true), -EBUSY);
	CHECK_EQ(vol_remove(io, "v", false, NULL, NULL), -EBUSY);
	/* An expired lease may be taken over; the old holder notices. */
	g_fake_now += 31000000000ull;
	CHECK_EQ(vol_lock_acquire(b, "host-b:2", 30000, NULL), 0);
	CHECK_EQ(vol_lock_renew(a, 30000), -ENOLCK);
	CHECK(!vol_lock_held(a));
	/* Break: the holder's renewal fails. */
	CHECK_EQ(vol_lock_break(io, "v", &li), 0);
	CHECK_STREQ(li.owner, "host-b:2");
	CHECK_EQ(vol_lock_renew(b, 30000), -ENOLCK);
	CHECK_EQ(vol_lock_get(io, "v", &li), 0);
	CHECK(!li.held);
	/* Release really frees it. */
	CHECK_EQ(vol_lock_acquire(a, "host-a:1", 30000, NULL), 0);
	CHECK_EQ(vol_lock_release(a), 0);
	CHECK_EQ(vol_lock_acquire(b, "host-b:2", 30000, NULL), 0);
	/* Read-only images never lock. */
	CHECK_EQ(vol_open(io, "v", NULL, true, &ro), 0);
	CHECK_EQ(vol_lock_acquire(ro, "x", 1000, NULL), -EROFS);
	vol_close(ro);
	vol_close(a);
	vol_close(b);   /* releases */
	CHECK_EQ(vol_lock_get(io, "v", &li), 0);
	CHECK(!li.held);
	CHECK_EQ(vol_remove(io, "v", false, NULL, NULL), 0);
}

TEST(failed_image_refuses_writes)
{
	struct vol_image *img = mkvol("v", MiB, 0);
	uint8_t b[4] = { 1, 2, 3, 4 };
	CHECK_EQ(swrite(img, 0, 4, b), 0);
	vol_set_failed(img);
	CHECK(vol_failed(img));
	CHECK_EQ(vol_aio_write(img, 0, 4, b, wait1_cb, NULL), -EIO);
	CHECK_EQ(vol_aio_discard(img, 0, 4, wait1_cb, NULL), -EIO);
	CHECK_EQ(sread(img, 0, 4, b), 0);
	CHECK_EQ(b[3], 4);
	vol_close(img);
}

TEST(errors_propagate)
{
	struct vol_image *img = mkvol("v", 8 * MiB, 1u << 20);
	uint8_t *buf = calloc(1, 8 * MiB);
	/* One failing piece fails the request, the others still finish. */
	fake_norn_fail_next(1, -EIO);
	CHECK_EQ(swrite(img, 0, 8 * MiB, buf), -EIO);
	/* An error stops issuing, so injected faults may be left over. */
	fake_norn_fail_next(0, 0);
	CHECK_EQ(swrite(img, 0, 8 * MiB, buf), 0);
	fake_norn_fail_next(3, -ETIMEDOUT);
	CHECK_EQ(sread(img, 0, 8 * MiB, buf), -ETIMEDOUT);
	fake_norn_fail_next(0, 0);
	CHECK_EQ(sread(img, 0, 8 * MiB, buf), 0);
	vol_close(img);
	free(buf);
}

TEST(requests_wait_while_cluster_away)
{
	struct vol_image *img = mkvol("v", 4 * MiB, 1u << 20);
	uint8_t *buf = malloc(4 * MiB), *back = malloc(4 * MiB);
	struct wait1 w = WAIT1;

	memset(buf, 0x5a, 4 * MiB);
	fake_norn_pause(true);
	CHECK_EQ(vol_aio_write(img, 0, 4 * MiB, buf, wait1_cb, &w), 0);
	usleep(200 * 1000);
	pthread_mutex_lock(&w.mu);
	CHECK_EQ(w.done, 0);
	pthread_mutex_unlock(&w.mu);
	fake_norn_pause(false);
	CHECK_EQ(wait1_wait(&w), 0);
	CHECK_EQ(sread(img, 0, 4 * MiB, back), 0);
	CHECK(!memcmp(buf, back, 4 * MiB));
	vol_close(img);
	free(buf);
	free(back);
}

static uint64_t g_progress_calls;
static void progress(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	(void)done;
	(void)total;
	g_progress_calls++;
}

struct drain {
	int fd;
	uint8_t *buf;
	uint64_t cap, got;
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	for (;;) {
		ssize_t r = read(d->fd, d->buf + d->got, d->cap - d->got ? d->cap - d->got : 1);
		if (r <= 0 || d->got + (uint64_t)r > d->cap)
			break;
		d->got += (uint64_t)r;
	}
	return NULL;
}

TEST(import_export_sparse)
{
	norn_ioctx_t *io = fake_norn_ioctx();
	char in[] = "/tmp/test_vol_inXXXXXX", out[] = "/tmp/test_vol_outXXXXXX";
	int fi = mkstemp(in), fo = mkstemp(out);
	const uint64_t size = 10 * MiB + 8192;
	uint8_t *a = calloc(1, size), *b = malloc(size);
	struct vol_image *img;
	uint64_t n_in = 0;
	struct stat st;

	CHECK(fi >= 0 && fo >= 0);
	/* Data at 0, at 5 MiB + 3, and the last byte; the rest holes. */
	for (int i = 0; i < 100000; i++)
		a[i] = (uint8_t)(i * 7 + 1);
	memset(a + 5 * MiB + 3, 0xee, 70000);
	a[size - 1] = 1;
	CHECK_EQ(pwrite(fi, a, 100000, 0), 100000);
	CHECK_EQ(pwrite(fi, a + 5 * MiB + 3, 70000, 5 * MiB + 3), 70000);
	CHECK_EQ(pwrite(fi, a + size - 1, 1, (off_t)size - 1), 1);

	CHECK_EQ(vol_create(io, "imp", size, 1u << 20), 0);
	CHECK_EQ(vol_open(io, "imp", NULL, false, &img), 0);
	CHECK_EQ(vol_import_fd(img, fi, progress, NULL, &n_in), 0);
	CHECK_EQ(n_in, size);
	CHECK(g_progress_calls > 0);
	CHECK_EQ(data_objects(img, NULL), 3);     /* objects 0, 5 and 10 */
	CHECK_EQ(vol_export_fd(img, fo, progress, NULL), 0);
	CHECK_EQ(fstat(fo, &st), 0);
	CHECK_EQ(st.st_size, (off_t)size);
	CHECK((uint64_t)st.st_blocks * 512 < 2 * MiB);   /* sparse */
	CHECK_EQ(pread(fo, b, size, 0), (ssize_t)size);
	CHECK(!memcmp(a, b, size));

	/* Pipes: export into one (a thread drains it), import from one (a
	 * child process fills it; it runs no libnorn). */
	int p[2];
	struct drain d = { 0 };
	pthread_t th;
	CHECK_EQ(pipe(p), 0);
	d.fd = p[0];
	d.buf = b;
	d.cap = size;
	memset(b, 0x77, size);
	CHECK_EQ(pthread_create(&th, NULL, drain_main, &d), 0);
	CHECK_EQ(vol_export_fd(img, p[1], NULL, NULL), 0);
	close(p[1]);
	pthread_join(th, NULL);
	close(p[0]);
	CHECK_EQ(d.got, size);
	CHECK(!memcmp(a, b, size));

	CHECK_EQ(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		for (uint64_t o = 0; o < size;) {
			ssize_t w = write(p[1], a + o, size - o);
			if (w <= 0)
				_exit(1);
			o += (uint64_t)w;
		}
		_exit(0);
	}
	close(p[1]);
	struct vol_image *img2;
	CHECK_EQ(vol_create(io, "imp2", size, 1u << 20), 0);
	CHECK_EQ(vol_open(io, "imp2", NULL, false, &img2), 0);
	CHECK_EQ(vol_import_fd(img2, p[0], NULL, NULL, &n_in), 0);
	CHECK_EQ(n_in, size);
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	memset(b, 0x77, size);
	CHECK_EQ(sread(img2, 0, size, b), 0);
	CHECK(!memcmp(a, b, size));
	CHECK_EQ(data_objects(img2, NULL), 3);

	/* A file larger than the volume is refused. */
	struct vol_image *small;
	CHECK_EQ(vol_create(io, "small", MiB, 1u << 20), 0);
	CHECK_EQ(vol_open(io, "small", NULL, false, &small), 0);
	CHECK_EQ(vol_import_fd(small, fi, NULL, NULL, &n_in), -EFBIG);
	vol_close(small);
	vol_close(img2);
	vol_close(img);
	close(fi);
	close(fo);
	unlink(in);
	unlink(out);
	free(a);
	free(b);
}

TEST_MAIN(TEST_ENTRY(names), TEST_ENTRY(header_roundtrip_and_corruption),
          TEST_ENTRY(create_list_rename_remove), TEST_ENTRY(io_matches_shadow),
          TEST_ENTRY(discard_frees_objects), TEST_ENTRY(big_discard_is_windowed),
          TEST_ENTRY(resize), TEST_ENTRY(lock_lease), TEST_ENTRY(failed_image_refuses_writes),
          TEST_ENTRY(errors_propagate), TEST_ENTRY(requests_wait_while_cluster_away),
          TEST_ENTRY(import_export_sparse))
