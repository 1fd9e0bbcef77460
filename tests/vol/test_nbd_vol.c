/* The NBD volume backend in the real NBD server, over the in-memory
 * libnorn: export names, flags and sizes; reads and writes across object
 * boundaries against a shadow copy; trim and write-zeroes; the exclusive
 * lock (taken on open, refused to a second server, released on close,
 * lost when broken: writes then fail with EIO); requests that wait while
 * the cluster is away. A raw-socket client (tests/nbd/nbd_testclient.h)
 * drives it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/nbd/nbd_backend_vol.h"
#include "client/nbd/nbd_proto.h"
#include "client/nbd/nbd_server.h"
#include "client/vol/vol.h"
#include "common/env.h"
#include "tests/harness.h"
#include "tests/nbd/nbd_testclient.h"
#include "tests/vol/fake_norn.h"

#define MiB (1024ull * 1024)
#define VOL_BYTES (16 * MiB)

struct srv {
	uv_loop_t loop;
	uv_async_t stop;
	struct nbd_server *srv;
	void *be;
	pthread_t th;
	int port;
};

static int g_cluster_dummy;

static void srv_closed(void *arg)
{
	struct srv *s = arg;
	nbd_backend_vol_ops.destroy(s->be);
	uv_close((uv_handle_t *)&s->stop, NULL);
}

static void stop_cb(uv_async_t *a)
{
	struct srv *s = a->data;
	nbd_server_close(s->srv, srv_closed, s);
}

static void *loop_main(void *arg)
{
	struct srv *s = arg;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void srv_start(struct srv *s, const char *owner, uint64_t lease_ms)
{
	struct nbd_server_config cfg;
	struct nbd_vol_backend_config vc = { 0 };

	memset(s, 0, sizeof(*s));
	CHECK_EQ(uv_loop_init(&s->loop), 0);
	vc.cluster = (norn_cluster_t *)&g_cluster_dummy;
	vc.lock_owner = owner;
	vc.lease_ms = lease_ms;
	vc.list_pools = "rbd";
	CHECK_EQ(nbd_backend_vol_create(&s->loop, &vc, &s->be), 0);
	CHECK_EQ(uv_async_init(&s->loop, &s->stop, stop_cb), 0);
	s->stop.data = s;
	nbd_server_config_defaults(&cfg);
	CHECK_EQ(nbd_server_create(&s->loop, &cfg, &nbd_backend_vol_ops, s->be, &s->srv), 0);
	CHECK_EQ(nbd_server_listen(s->srv, "127.0.0.1:0"), 0);
	s->port = nbd_server_port(s->srv);
	CHECK(s->port > 0);
	CHECK_EQ(pthread_create(&s->th, NULL, loop_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	uv_async_send(&s->stop);
	CHECK_EQ(pthread_join(s->th, NULL), 0);
	CHECK_EQ(uv_loop_close(&s->loop), 0);
}

static void setup(void)
{
	fake_norn_reset();
	CHECK_EQ(vol_create(fake_norn_ioctx(), "disk", VOL_BYTES, 1u << 20), 0);
}

/* Wait (bounded) until the lock of "disk" is held or free. */
static bool lock_state_within(bool held, int ms)
{
	struct vol_lock_info li;
	for (int i = 0; i < ms / 10; i++) {
		if (vol_lock_get(fake_norn_ioctx(), "disk", &li) == 0 && li.held == held)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

TEST(exports_and_flags)
{
	struct srv s;
	struct tc_export ex;
	int fd;

	setup();
	srv_start(&s, "nbd-test-a", 30000);
	fd = tc_connect(s.port);
	CHECK(fd >= 0);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, NULL), 0);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_INFO, "rbd/disk", &ex), 0);
	CHECK_EQ(ex.size, VOL_BYTES);
	CHECK_EQ(ex.tflags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
	                    NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN);
	CHECK(ex.have_block_size);
	CHECK_EQ(ex.min_block, 1);
	CHECK_EQ(ex.max_payload, NBD_MAX_PAYLOAD_BYTES);
	CHECK(tc_info_go(fd, NBD_OPT_INFO, "rbd/nope", &ex) == (long)NBD_REP_ERR_UNKNOWN);
	CHECK(tc_info_go(fd, NBD_OPT_INFO, "otherpool/disk", &ex) == (long)NBD_REP_ERR_UNKNOWN);
	CHECK(tc_info_go(fd, NBD_OPT_INFO, "rbd/disk@nosnap", &ex) == (long)NBD_REP_ERR_UNKNOWN);
	CHECK(tc_info_go(fd, NBD_OPT_INFO, "no-slash", &ex) > 0);
	CHECK(tc_info_go(fd, NBD_OPT_INFO, "../../etc/passwd", &ex) > 0);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_GO, "rbd/disk", &ex), 0);
	CHECK(lock_state_within(true, 5000));
	CHECK_EQ(tc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0, NULL), 0);
	CHECK_EQ(tc_send_req(fd, NBD_CMD_DISC, 0, 1, 0, 0, NULL), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* The export closes with its last connection: the lock goes. */
	CHECK(lock_state_within(false, 5000));
	srv_stop(&s);
}

TEST(io_across_objects)
{
	struct srv s;
	struct tc_export ex;
	uint8_t *shadow = calloc(1, VOL_BYTES), *buf = malloc(3 * MiB);
	struct norn_rand rnd;
	int fd;

	setup();
	srv_start(&s, "nbd-test-a", 30000);
	fd = tc_open(s.port, "rbd/disk", &ex);
	CHECK(fd >= 0);
	norn_rand_seed(&rnd, 7);
	for (int i = 0; i < 200; i++) {
		uint32_t len = 1 + (uint32_t)norn_rand_below(&rnd, 3 * MiB);
		uint64_t off = norn_rand_below(&rnd, VOL_BYTES - len + 1);
		int what = (int)norn_rand_below(&rnd, 10);
		if (what < 4) {
			for (uint32_t k = 0; k < len; k++)
				buf[k] = (uint8_t)norn_rand_u64(&rnd);
			CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, what == 0 ? NBD_CMD_FLAG_FUA : 0, off, len, buf), 0);
			memcpy(shadow + off, buf, len);
		} else if (what == 4) {
			CHECK_EQ(tc_cmd(fd, NBD_CMD_TRIM, 0, off, len, NULL), 0);
			memset(shadow + off, 0, len);
		} else if (what == 5) {
			CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, off, len, NULL), 0);
			memset(shadow + off, 0, len);
		} else if (what == 6) {
			CHECK_EQ(tc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0, NULL), 0);
		} else {
			CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, off, len, buf), 0);
			CHECK(!memcmp(buf, shadow + off, len));
		}
	}
	for (uint64_t off = 0; off < VOL_BYTES; off += 2 * MiB) {
		CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, off, 2 * MiB, buf), 0);
		CHECK(!memcmp(buf, shadow + off, 2 * MiB));
	}
	/* Out of range: protocol errors, the connection lives on. */
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, VOL_BYTES - 1, 2, buf), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, 0, VOL_BYTES, 1, buf), NBD_ENOSPC);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 0, 1, buf), 0);
	/* A second connection shares the export (and the lock). */
	int fd2 = tc_open(s.port, "rbd/disk", &ex);
	CHECK(fd2 >= 0);
	CHECK_EQ(tc_cmd(fd2, NBD_CMD_READ, 0, 5 * MiB, MiB, buf), 0);
	CHECK(!memcmp(buf, shadow + 5 * MiB, MiB));
	close(fd2);
	close(fd);
	srv_stop(&s);
	free(shadow);
	free(buf);
}

TEST(lock_conflict_and_loss)
{
	struct srv a, b;
	struct tc_export ex;
	uint8_t buf[4096] = { 1 };
	int fa, fb;

	setup();
	srv_start(&a, "nbd-test-a", 3000);
	srv_start(&b, "nbd-test-b", 3000);
	fa = tc_open(a.port, "rbd/disk", &ex);
	CHECK(fa >= 0);
	/* The second server may not open it read-write... */
	fb = tc_connect(b.port);
	CHECK(fb >= 0);
	CHECK_EQ(tc_handshake(fb, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, NULL), 0);
	CHECK_EQ(tc_info_go(fb, NBD_OPT_GO, "rbd/disk", &ex), (long)NBD_REP_ERR_POLICY);
	/* ...even after several leases, because a renews. */
	usleep(3500 * 1000);
	CHECK_EQ(tc_info_go(fb, NBD_OPT_GO, "rbd/disk", &ex), (long)NBD_REP_ERR_POLICY);
	CHECK_EQ(tc_cmd(fa, NBD_CMD_WRITE, 0, 0, sizeof(buf), buf), 0);
	/* An operator breaks a's lock; b takes it; a notices at its next
	 * renewal and fails writes and flushes from then on. */
	CHECK_EQ(vol_lock_break(fake_norn_ioctx(), "disk", NULL), 0);
	CHECK_EQ(tc_info_go(fb, NBD_OPT_GO, "rbd/disk", &ex), 0);
	/* a renews every second; allow a loaded machine up to 10 s. */
	long werr = 0;
	for (int i = 0; i < 100 && werr != NBD_EIO; i++) {
		usleep(100 * 1000);
		werr = tc_cmd(fa, NBD_CMD_WRITE, 0, 0, sizeof(buf), buf);
	}
	CHECK_EQ(werr, NBD_EIO);
	CHECK_EQ(tc_cmd(fa, NBD_CMD_FLUSH, 0, 0, 0, NULL), NBD_EIO);
	CHECK_EQ(tc_cmd(fa, NBD_CMD_READ, 0, 0, sizeof(buf), buf), 0);
	CHECK_EQ(tc_cmd(fb, NBD_CMD_WRITE, 0, 0, sizeof(buf), buf), 0);
	close(fa);
	close(fb);
	srv_stop(&a);
	srv_stop(&b);
}

TEST(requests_wait_for_the_cluster)
{
	struct srv s;
	struct tc_export ex;
	uint8_t *buf = malloc(4 * MiB), *back = malloc(4 * MiB);
	uint64_t cookie;
	uint32_t err;
	int fd;

	setup();
	srv_start(&s, "nbd-test-a", 30000);
	fd = tc_open(s.port, "rbd/disk", &ex);
	CHECK(fd >= 0);
	memset(buf, 0x3c, 4 * MiB);
	fake_norn_pause(true);
	CHECK_EQ(tc_send_req(fd, NBD_CMD_WRITE, 0, 77, MiB / 2, 4 * MiB, buf), 0);
	/* No reply while the cluster is away... */
	CHECK(!tc_closed_within(fd, 300));
	fake_norn_pause(false);
	/* ...and a good one once it is back. */
	CHECK_EQ(tc_read_reply(fd, &err, &cookie), 0);
	CHECK_EQ(err, 0);
	CHECK_EQ(cookie, 77);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, MiB / 2, 4 * MiB, back), 0);
	CHECK(!memcmp(buf, back, 4 * MiB));
	close(fd);
	srv_stop(&s);
	free(buf);
	free(back);
}

TEST(read_only_server)
{
	struct srv s;
	struct nbd_server_config cfg;
	struct nbd_vol_backend_config vc = { 0 };
	struct tc_export ex;
	uint8_t buf[512] = { 0 };
	int fd;

	setup();
	memset(&s, 0, sizeof(s));
	CHECK_EQ(uv_loop_init(&s.loop), 0);
	vc.cluster = (norn_cluster_t *)&g_cluster_dummy;
	vc.lock_owner = "ro";
	vc.lease_ms = 30000;
	vc.read_only = true;
	CHECK_EQ(nbd_backend_vol_create(&s.loop, &vc, &s.be), 0);
	CHECK_EQ(uv_async_init(&s.loop, &s.stop, stop_cb), 0);
	s.stop.data = &s;
	nbd_server_config_defaults(&cfg);
	CHECK_EQ(nbd_server_create(&s.loop, &cfg, &nbd_backend_vol_ops, s.be, &s.srv), 0);
	CHECK_EQ(nbd_server_listen(s.srv, "127.0.0.1:0"), 0);
	s.port = nbd_server_port(s.srv);
	CHECK_EQ(pthread_create(&s.th, NULL, loop_main, &s), 0);
	fd = tc_open(s.port, "rbd/disk", &ex);
	CHECK(fd >= 0);
	CHECK(ex.tflags & NBD_FLAG_READ_ONLY);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, 0, 0, sizeof(buf), buf), NBD_EPERM);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 0, sizeof(buf), buf), 0);
	/* No lock for readers. */
	struct vol_lock_info li;
	CHECK_EQ(vol_lock_get(fake_norn_ioctx(), "disk", &li), 0);
	CHECK(!li.held);
	close(fd);
	srv_stop(&s);
}

TEST_MAIN(TEST_ENTRY(exports_and_flags), TEST_ENTRY(io_across_objects),
          TEST_ENTRY(lock_conflict_and_loss), TEST_ENTRY(requests_wait_for_the_cluster),
          TEST_ENTRY(read_only_server))
