/* bench_vol: the yardsticks for the NBD volume figures, in the same run.
 *
 *   bench_vol CONF POOL VOLUME SECONDS
 *
 * Measures, against the given (existing, filled) volume:
 *   libnorn 4 KiB: norn_aio_write of 4 KiB at random offsets of the
 *     volume's data objects, 16 in flight (what `norn bench` 4 KiB write
 *     measures: replicated object writes, no volume or NBD layer);
 *   libnorn 4 MiB: norn_aio_write_full of whole 4 MiB objects, 16 in flight;
 *   vol 4 KiB: vol_aio_write 4 KiB random, 16 in flight (the volume layer
 *     without NBD);
 *   vol 1 MiB: vol_aio_write 1 MiB sequential, 16 in flight.
 * Prints one JSON object: {"libnorn_4k_iops":..,"libnorn_4m_mbs":..,
 * "vol_4k_iops":..,"vol_1m_mbs":..}.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/vol/vol.h"
#include "common/env.h"

#define DEPTH 16

struct bench {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned inflight;
	uint64_t done_ops, errors;
};

static void done_cb(void *arg, int err)
{
	struct bench *b = arg;
	pthread_mutex_lock(&b->mu);
	b->inflight--;
	b->done_ops++;
	if (err)
		b->errors++;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static void norn_done(norn_completion_t *c, void *arg)
{
	int r = (int)norn_completion_result(c);
	norn_completion_release(c);
	done_cb(arg, r < 0 ? r : 0);
}

static void wait_slot(struct bench *b)
{
	pthread_mutex_lock(&b->mu);
	while (b->inflight >= DEPTH)
		pthread_cond_wait(&b->cv, &b->mu);
	b->inflight++;
	pthread_mutex_unlock(&b->mu);
}

static void drain(struct bench *b)
{
	pthread_mutex_lock(&b->mu);
	while (b->inflight)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

enum kind { LIB_4K, LIB_4M, VOL_4K, VOL_1M };

/* Run one kind for @secs; returns ops per second. */
static double run(enum kind k, norn_ioctx_t *io, struct vol_image *img, const char *id,
                  uint64_t size, double secs, uint8_t *buf, uint64_t *errors)
{
	struct bench b = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	struct norn_rand r;
	uint64_t t0 = norn_mono_ns(), end = t0 + (uint64_t)(secs * 1e9), seq = 0;
	uint64_t nobj = size / (4u << 20);
	char oid[64];

	norn_rand_seed(&r, 99);
	while (norn_mono_ns() < end) {
		wait_slot(&b);
		int err = 0;
		switch (k) {
		case LIB_4K:
		case LIB_4M: {
			uint64_t objno = norn_rand_below(&r, nobj);
			vol_data_oid(id, objno, oid, sizeof(oid));
			norn_completion_t *c = norn_completion_create(norn_done, &b);
			if (k == LIB_4K)
				err = norn_aio_write(io, oid, c, buf,
				                     4096, norn_rand_below(&r, 1024) * 4096);
			else
				err = norn_aio_write_full(io, oid, c, buf, 4u << 20);
			if (err)
				norn_completion_release(c);
			break;
		}
		case VOL_4K:
			err = vol_aio_write(img, norn_rand_below(&r, size / 4096) * 4096, 4096, buf,
			                    done_cb, &b);
			break;
		case VOL_1M:
			err = vol_aio_write(img, seq, 1u << 20, buf, done_cb, &b);
			seq = (seq + (1u << 20)) % size;
			break;
		}
		if (err)
			done_cb(&b, err);
	}
	drain(&b);
	*errors += b.errors;
	return (double)b.done_ops / ((double)(norn_mono_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	struct vol_image *img;
	struct vol_info *info = malloc(sizeof(*info));
	uint8_t *buf = malloc(4u << 20);
	uint64_t errors = 0;
	int err;

	if (argc != 5 || !info || !buf) {
		fprintf(stderr, "usage: bench_vol CONF POOL VOLUME SECONDS\n");
		return 2;
	}
	double secs = atof(argv[4]);
	for (size_t i = 0; i < (4u << 20); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	err = norn_connect(argv[1], NULL, NULL, &cl);
	if (!err)
		err = norn_ioctx_create(cl, argv[2], &io);
	if (!err)
		err = vol_open(io, argv[3], NULL, false, &img);
	if (err) {
		fprintf(stderr, "bench_vol: %s\n", norn_strerror(err));
		return 1;
	}
	vol_get_info(img, info);
	uint64_t size = vol_size(img);
	double l4k = run(LIB_4K, io, img, info->id, size, secs, buf, &errors);
	double l4m = run(LIB_4M, io, img, info->id, size, secs, buf, &errors);
	double v4k = run(VOL_4K, io, img, info->id, size, secs, buf, &errors);
	double v1m = run(VOL_1M, io, img, info->id, size, secs, buf, &errors);
	printf("{\"libnorn_4k_iops\": %.0f, \"libnorn_4m_mbs\": %.1f, \"vol_4k_iops\": %.0f, "
	       "\"vol_1m_mbs\": %.1f, \"errors\": %" PRIu64 "}\n",
	       l4k, l4m * 4.194304, v4k, v1m * 1.048576, errors);
	vol_close(img);
	norn_ioctx_destroy(io);
	norn_shutdown(cl);
	free(info);
	free(buf);
	return errors ? 1 : 0;
}
