/* In-process tests of the NBD server engine (client/nbd/nbd_server.c).
 *
 * The server runs on its own libuv loop thread over a fake in-memory
 * backend whose completions the test controls: "mem" completes on the next
 * loop tick, "mem@snap" is read-only, "rev" holds four requests and
 * completes them newest first, "stall" holds everything until released.
 * The test thread drives the server through raw sockets
 * (nbd_testclient.h), so it can check the exact bytes of the handshake,
 * out-of-order replies, backpressure bounds, every error reply, and that
 * malformed input closes only the offending connection. Runs under ASan
 * in make check, which also proves that closing with requests in flight
 * leaks nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <uv.h>

#include "client/nbd/nbd_server.h"
#include "common/assert.h"
#include "norn/errors.h"
#include "tests/harness.h"
#include "tests/nbd/nbd_testclient.h"

#define MEM_SIZE   (8u << 20)
#define MAX_HELD   4096

/* ---- the fake backend --------------------------------------------------- */

enum dev_kind { K_MEM, K_SNAP, K_REV, K_STALL };

struct mem_be;

struct nbd_bdev {
	struct mem_be *be;
	enum dev_kind kind;
};

struct held {
	enum dev_kind kind;
	int type;               /* 0 io, 1 open, 2 list */
	nbd_io_cb io;
	nbd_open_cb open;
	nbd_list_cb list;
	void *arg;
	int err;
	struct nbd_bdev *dev;
};

struct mem_be {
	uv_loop_t *loop;
	uv_timer_t tick;
	uint8_t *data;
	struct held held[MAX_HELD];
	unsigned n_held;
	struct nbd_bdev devs[4];
	atomic_uint opens, closes, flushes, n_stalled, max_stalled, release;
	atomic_uint fua_writes, zeroes, trims;
};

static void be_hold(struct mem_be *be, struct held h)
{
	NORN_ASSERT(be->n_held < MAX_HELD);
	be->held[be->n_held++] = h;
	if (h.kind == K_STALL && h.type == 0) {
		unsigned n = atomic_fetch_add(&be->n_stalled, 1) + 1;
		if (n > atomic_load(&be->max_stalled))
			atomic_store(&be->max_stalled, n);
	}
}

static void fire(struct mem_be *be, struct held *h)
{
	static const char *const names[] = { "mem", "mem@snap", "rev", "stall" };
	static const char *const desc = "in-memory test export";
	struct nbd_export_info info;

	switch (h->type) {
	case 0:
		if (h->kind == K_STALL)
			atomic_fetch_sub(&be->n_stalled, 1);
		h->io(h->arg, h->err);
		break;
	case 1:
		if (h->err) {
			h->open(h->arg, h->err, NULL, NULL);
			break;
		}
		memset(&info, 0, sizeof(info));
		info.size_bytes = MEM_SIZE;
		info.min_block = 1;
		info.pref_block = 4096;
		info.max_payload = 1u << 20;
		info.flags = NBD_BACKEND_F_FLUSH | NBD_BACKEND_F_FUA | NBD_BACKEND_F_MULTI_CONN |
		             (h->dev->kind == K_SNAP ? NBD_BACKEND_F_READ_ONLY
		                                     : NBD_BACKEND_F_TRIM | NBD_BACKEND_F_WRITE_ZEROES);
		snprintf(info.description, sizeof(info.description), "%s", desc);
		atomic_fetch_add(&be->opens, 1);
		h->open(h->arg, 0, h->dev, &info);
		break;
	case 2:
		h->list(h->arg, 0, names, 4);
		break;
	}
}

/* Every loop tick: complete what may complete, in the order each kind
 * demands. */
static void be_tick(uv_timer_t *t)
{
	struct mem_be *be = t->data;
	struct held todo[MAX_HELD];
	unsigned n = 0, keep = 0, n_rev = 0;
	bool release = atomic_load(&be->release);

	for (unsigned i = 0; i < be->n_held; i++)
		n_rev += be->held[i].kind == K_REV && be->held[i].type == 0;
	/* Complete "rev" requests four at a time, newest first. */
	if (n_rev >= 4)
		for (unsigned i = be->n_held; i-- > 0;)
			if (be->held[i].kind == K_REV && be->held[i].type == 0)
				todo[n++] = be->held[i];
	for (unsigned i = 0; i < be->n_held; i++) {
		struct held *h = &be->held[i];
		bool is_rev_io = h->kind == K_REV && h->type == 0;
		if (is_rev_io && n_rev >= 4)
			continue;
		if (is_rev_io || (h->kind == K_STALL && h->type == 0 && !release))
			be->held[keep++] = *h;
		else
			todo[n++] = *h;
	}
	be->n_held = keep;
	for (unsigned i = 0; i < n; i++)
		fire(be, &todo[i]);
}

static int be_list(void *b, size_t max, nbd_list_cb cb, void *arg)
{
	be_hold(b, (struct held){ .kind = K_MEM, .type = 2, .list = cb, .arg = arg });
	return 0;
}

static int be_open(void *b, const char *name, nbd_open_cb cb, void *arg)
{
	struct mem_be *be = b;
	int k;

	if (!strcmp(name, "mem")) k = K_MEM;
	else if (!strcmp(name, "mem@snap")) k = K_SNAP;
	else if (!strcmp(name, "rev")) k = K_REV;
	else if (!strcmp(name, "stall")) k = K_STALL;
	else if (!strcmp(name, "locked")) return -EBUSY;
	else k = -1;
	be_hold(be, (struct held){ .kind = K_MEM, .type = 1, .open = cb, .arg = arg,
	                           .err = k < 0 ? -ENOENT : 0, .dev = k < 0 ? NULL : &be->devs[k] });
	return 0;
}

static int be_io(struct nbd_bdev *d, nbd_io_cb cb, void *arg, int err)
{
	be_hold(d->be, (struct held){ .kind = d->kind, .type = 0, .io = cb, .arg = arg, .err = err });
	return 0;
}

static int be_read(struct nbd_bdev *d, uint64_t off, uint32_t len, void *buf, nbd_io_cb cb, void *arg)
{
	NORN_ASSERT(off + len <= MEM_SIZE);
	memcpy(buf, d->be->data + off, len);
	return be_io(d, cb, arg, 0);
}

static int be_write(struct nbd_bdev *d, uint64_t off, uint32_t len, const void *buf, bool fua,
                    nbd_io_cb cb, void *arg)
{
	NORN_ASSERT(d->kind != K_SNAP && off + len <= MEM_SIZE);
	memcpy(d->be->data + off, buf, len);
	if (fua)
		atomic_fetch_add(&d->be->fua_writes, 1);
	return be_io(d, cb, arg, 0);
}

static int be_flush(struct nbd_bdev *d, nbd_io_cb cb, void *arg)
{
	atomic_fetch_add(&d->be->flushes, 1);
	return be_io(d, cb, arg, 0);
}

static int be_trim(struct nbd_bdev *d, uint64_t off, uint64_t len, bool fua, nbd_io_cb cb, void *arg)
{
	NORN_ASSERT(d->kind != K_SNAP && off + len <= MEM_SIZE);
	memset(d->be->data + off, 0, len);
	atomic_fetch_add(&d->be->trims, 1);
	return be_io(d, cb, arg, 0);
}

static int be_zero(struct nbd_bdev *d, uint64_t off, uint64_t len, bool may_trim, bool fua,
                   nbd_io_cb cb, void *arg)
{
	NORN_ASSERT(d->kind != K_SNAP && off + len <= MEM_SIZE);
	memset(d->be->data + off, 0, len);
	atomic_fetch_add(&d->be->zeroes, 1);
	return be_io(d, cb, arg, 0);
}

static void be_close(struct nbd_bdev *d, nbd_close_cb cb, void *arg)
{
	atomic_fetch_add(&d->be->closes, 1);
	cb(arg); /* synchronous on purpose: the server must cope */
}

static const struct nbd_backend_ops mem_ops = {
	.name = "mem", .list = be_list, .open = be_open, .read = be_read, .write = be_write,
	.flush = be_flush, .trim = be_trim, .write_zeroes = be_zero, .close = be_close,
};

/* ---- fixture: a server on its own thread ----------------------------------- */

struct fx {
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t th;
	struct nbd_server *srv;
	struct mem_be be;
	int port;
	atomic_int stopped;
	struct nbd_server_stats final;
};

static struct fx F;

static void fx_closed(void *arg)
{
	struct fx *f = arg;

	uv_close((uv_handle_t *)&f->be.tick, NULL);
	uv_close((uv_handle_t *)&f->stop, NULL);
}

static void fx_stop_cb(uv_async_t *a)
{
	struct fx *f = a->data;

	nbd_server_get_stats(f->srv, &f->final);
	atomic_store(&f->be.release, 1);
	nbd_server_close(f->srv, fx_closed, f);
}

static void *fx_thread(void *arg)
{
	struct fx *f = arg;

	uv_run(&f->loop, UV_RUN_DEFAULT);
	atomic_store(&f->stopped, 1);
	return NULL;
}

static void fx_start(const struct nbd_server_config *cfg_in)
{
	struct nbd_server_config cfg;

	if (cfg_in)
		cfg = *cfg_in;
	else
		nbd_server_config_defaults(&cfg);
	memset(&F, 0, sizeof(F));
	CHECK_EQ(uv_loop_init(&F.loop), 0);
	F.be.loop = &F.loop;
	F.be.data = calloc(1, MEM_SIZE);
	CHECK(F.be.data);
	for (int i = 0; i < 4; i++) {
		F.be.devs[i].be = &F.be;
		F.be.devs[i].kind = (enum dev_kind)i;
	}
	CHECK_EQ(uv_timer_init(&F.loop, &F.be.tick), 0);
	F.be.tick.data = &F.be;
	CHECK_EQ(uv_timer_start(&F.be.tick, be_tick, 1, 1), 0);
	CHECK_EQ(uv_async_init(&F.loop, &F.stop, fx_stop_cb), 0);
	F.stop.data = &F;
	CHECK_EQ(nbd_server_create(&F.loop, &cfg, &mem_ops, &F.be, &F.srv), 0);
	CHECK_EQ(nbd_server_listen(F.srv, "127.0.0.1:0"), 0);
	F.port = nbd_server_port(F.srv);
	CHECK(F.port > 0);
	CHECK_EQ(pthread_create(&F.th, NULL, fx_thread, &F), 0);
}

/* Stop the server, join the loop thread and check everything was freed. */
static void fx_stop(void)
{
	uv_async_send(&F.stop);
	CHECK_EQ(pthread_join(F.th, NULL), 0);
	CHECK_EQ(uv_loop_close(&F.loop), 0);
	CHECK_EQ(atomic_load(&F.be.opens), atomic_load(&F.be.closes));
	free(F.be.data);
}

/* ---- tests ------------------------------------------------------------------------ */

TEST(greeting_and_info)
{
	struct tc_export ex;
	uint16_t hs = 0;
	int fd;

	fx_start(NULL);
	fd = tc_connect(F.port);
	CHECK(fd >= 0);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, &hs), 0);
	CHECK_EQ(hs, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_INFO, "mem", &ex), 0);
	CHECK(ex.size == MEM_SIZE);
	CHECK_EQ(ex.tflags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
	                    NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN);
	CHECK(ex.have_block_size);
	CHECK_EQ(ex.min_block, 1);
	CHECK_EQ(ex.pref_block, 4096);
	CHECK_EQ(ex.max_payload, 1u << 20);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_INFO, "mem@snap", &ex), 0);
	CHECK_EQ(ex.tflags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH |
	                    NBD_FLAG_CAN_MULTI_CONN);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_INFO, "nope", &ex), (long)NBD_REP_ERR_UNKNOWN);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_GO, "nope", &ex), (long)NBD_REP_ERR_UNKNOWN);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_GO, "locked", &ex), (long)NBD_REP_ERR_POLICY);
	CHECK_EQ(tc_info_go(fd, NBD_OPT_GO, "", &ex), (long)NBD_REP_ERR_UNKNOWN);
	/* The connection survived all that and can still go. */
	CHECK_EQ(tc_info_go(fd, NBD_OPT_GO, "mem", &ex), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0, NULL), 0);
	CHECK_EQ(tc_send_req(fd, NBD_CMD_DISC, 0, 1, 0, 0, NULL), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	fx_stop();
}

TEST(info_name_and_description)
{
	uint8_t pl[64], buf[512];
	uint16_t req[] = { NBD_INFO_NAME, NBD_INFO_DESCRIPTION };
	struct nbd_opt_reply_hdr h;
	int fd, saw_name = 0, saw_desc = 0;

	fx_start(NULL);
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_INFO, pl, tc_go_payload(pl, "mem", req, 2)), 0);
	for (;;) {
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(tc_read_opt_reply(fd, &h, buf, sizeof(buf) - 1), 0);
		if (h.type == NBD_REP_ACK)
			break;
		CHECK_EQ(h.type, NBD_REP_INFO);
		if (nbd_get_be16(buf) == NBD_INFO_NAME) {
			CHECK_STREQ((char *)buf + 2, "mem");
			saw_name = 1;
		}
		if (nbd_get_be16(buf) == NBD_INFO_DESCRIPTION) {
			CHECK_STREQ((char *)buf + 2, "in-memory test export");
			saw_desc = 1;
		}
	}
	CHECK(saw_name && saw_desc);
	close(fd);
	fx_stop();
}

TEST(list_and_unsupported_options)
{
	uint8_t buf[512], junk[8] = { 0 };
	struct nbd_opt_reply_hdr h;
	int fd, n = 0;

	fx_start(NULL);
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_LIST, NULL, 0), 0);
	for (;;) {
		CHECK_EQ(tc_read_opt_reply(fd, &h, buf, sizeof(buf)), 0);
		CHECK_EQ(h.opt, NBD_OPT_LIST);
		if (h.type == NBD_REP_ACK)
			break;
		CHECK_EQ(h.type, NBD_REP_SERVER);
		CHECK(h.len_bytes >= 4 && nbd_get_be32(buf) == h.len_bytes - 4);
		n++;
	}
	CHECK_EQ(n, 4);
	/* LIST with data is invalid; the connection stays. */
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_LIST, junk, 4), 0);
	CHECK_EQ(tc_read_opt_reply(fd, &h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.type, NBD_REP_ERR_INVALID);
	static const uint32_t unsup[] = { NBD_OPT_STRUCTURED_REPLY, NBD_OPT_STARTTLS,
	                                  NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
	                                  NBD_OPT_EXTENDED_HEADERS, 4, 12345, 0 };
	for (size_t i = 0; i < sizeof(unsup) / sizeof(unsup[0]); i++) {
		CHECK_EQ(tc_send_opt(fd, unsup[i], NULL, 0), 0);
		CHECK_EQ(tc_read_opt_reply(fd, &h, buf, sizeof(buf)), 0);
		CHECK_EQ(h.opt, unsup[i]);
		CHECK_EQ(h.type, NBD_REP_ERR_UNSUP);
	}
	/* A malformed GO payload: name length beyond the payload. */
	nbd_put_be32(junk, 100);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_GO, junk, 8), 0);
	CHECK_EQ(tc_read_opt_reply(fd, &h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.type, NBD_REP_ERR_INVALID);
	/* ABORT: an ACK, then the server closes. */
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_ABORT, NULL, 0), 0);
	CHECK_EQ(tc_read_opt_reply(fd, &h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.type, NBD_REP_ACK);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	fx_stop();
}

TEST(export_name_old_style)
{
	uint8_t r[134], data[4096];
	int fd;

	fx_start(NULL);
	/* Without NO_ZEROES: 8 + 2 + 124 zero bytes. */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_EXPORT_NAME, "mem", 3), 0);
	CHECK_EQ(tc_read(fd, r, sizeof(r)), 0);
	CHECK(nbd_get_be64(r) == MEM_SIZE);
	CHECK(nbd_get_be16(r + 8) & NBD_FLAG_HAS_FLAGS);
	for (int i = 10; i < 134; i++)
		CHECK_EQ(r[i], 0);
	memset(data, 0x5a, sizeof(data));
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, 0, 8192, sizeof(data), data), 0);
	memset(data, 0, sizeof(data));
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 8192, sizeof(data), data), 0);
	CHECK_EQ(data[0], 0x5a);
	CHECK_EQ(data[4095], 0x5a);
	close(fd);
	/* Plain (non-fixed) newstyle client, NO_ZEROES: 10 bytes. */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_NO_ZEROES, NULL), 0);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_EXPORT_NAME, "mem", 3), 0);
	CHECK_EQ(tc_read(fd, r, 10), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 8192, 16, data), 0);
	CHECK_EQ(data[0], 0x5a);
	close(fd);
	/* Unknown export: EXPORT_NAME has no error reply, the server closes. */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_EXPORT_NAME, "nope", 4), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	fx_stop();
}

TEST(io_and_errors)
{
	struct tc_export ex;
	static uint8_t a[1u << 20], b[1u << 20];
	int fd, ro;

	fx_start(NULL);
	fd = tc_open(F.port, "mem", &ex);
	CHECK(fd >= 0);
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7 + 3);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, 0, MEM_SIZE - sizeof(a), sizeof(a), a), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, MEM_SIZE - sizeof(a), sizeof(a), b), 0);
	CHECK(!memcmp(a, b, sizeof(a)));
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512, a), 0);
	CHECK_EQ(atomic_load(&F.be.fua_writes), 1);
	/* Zeroes and trims read back as zeros here. */
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, MEM_SIZE - 4096, 4096, NULL), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, MEM_SIZE - 4096, 4096, b), 0);
	for (int i = 0; i < 4096; i++)
		CHECK_EQ(b[i], 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_TRIM, 0, 0, 4096, NULL), 0);
	CHECK_EQ(atomic_load(&F.be.trims), 1);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0, NULL), 0);
	CHECK_EQ(atomic_load(&F.be.flushes), 1);

	/* Out of range, bad flags, unknown commands: errors, connection kept. */
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, MEM_SIZE, 1, b), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, MEM_SIZE - 1, 2, b), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, UINT64_MAX - 1, 4, b), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 0, 0, b), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 0, (1u << 20) + 1, b), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, 0, MEM_SIZE - 100, 4096, a), NBD_ENOSPC);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 4096, a), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, MEM_SIZE, 1, NULL), NBD_ENOSPC);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_TRIM, 0, MEM_SIZE - 1, 2, NULL), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_CACHE, 0, 0, 1, NULL), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_BLOCK_STATUS, 0, 0, 1, NULL), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, 77, 0, 0, 1, NULL), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, MEM_SIZE - sizeof(a), 16, b), 0);
	CHECK_EQ(b[0], a[0]);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 0, 16, b), 0);
	CHECK_EQ(b[0], 0); /* trimmed */

	/* Read-only export: reads work, every modification is EPERM (the
	 * refused write's payload is swallowed, the stream stays in sync). */
	ro = tc_open(F.port, "mem@snap", &ex);
	CHECK(ro >= 0);
	CHECK(ex.tflags & NBD_FLAG_READ_ONLY);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_READ, 0, 0, 512, b), 0);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_WRITE, 0, 0, 65536, a), NBD_EPERM);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_WRITE, 0, 0, 1u << 20, a), NBD_EPERM);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_TRIM, 0, 0, 512, NULL), NBD_EPERM);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_WRITE_ZEROES, 0, 0, 512, NULL), NBD_EPERM);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_FLUSH, 0, 0, 0, NULL), 0);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_READ, 0, 0, 512, b), 0);
	close(ro);
	close(fd);
	fx_stop();
	CHECK_EQ(F.final.error_replies, 16);
}

TEST(out_of_order_replies)
{
	struct tc_export ex;
	uint8_t buf[4][256];
	uint64_t order[4];
	int fd;

	fx_start(NULL);
	for (int i = 0; i < 4; i++)
		memset(F.be.data + i * 4096, 'a' + i, 4096);
	fd = tc_open(F.port, "rev", &ex);
	CHECK(fd >= 0);
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(tc_send_req(fd, NBD_CMD_READ, 0, 100 + i, i * 4096, 256, NULL), 0);
	for (int i = 0; i < 4; i++) {
		uint32_t err;
		CHECK_EQ(tc_read_reply(fd, &err, &order[i]), 0);
		CHECK_EQ(err, 0);
		CHECK(order[i] >= 100 && order[i] < 104);
		CHECK_EQ(tc_read(fd, buf[order[i] - 100], 256), 0);
	}
	/* Newest first, and each reply carries its own data. */
	CHECK(order[0] == 103 && order[1] == 102 && order[2] == 101 && order[3] == 100);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(buf[i][0], 'a' + i);
	close(fd);
	fx_stop();
}

TEST(backpressure_inflight_bound)
{
	struct nbd_server_config cfg;
	struct tc_export ex;
	static uint8_t data[512];
	int fd;

	nbd_server_config_defaults(&cfg);
	cfg.max_inflight = 8;
	fx_start(&cfg);
	fd = tc_open(F.port, "stall", &ex);
	CHECK(fd >= 0);
	/* 200 small writes with payload (about 110 KB, which the socket
	 * buffers hold): the server must stop at 8 in flight and leave the
	 * rest unread. */
	for (uint64_t i = 0; i < 200; i++)
		CHECK_EQ(tc_send_req(fd, NBD_CMD_WRITE, 0, i, i * 512, sizeof(data), data), 0);
	usleep(200 * 1000);
	CHECK_EQ(atomic_load(&F.be.max_stalled), 8);
	CHECK_EQ(atomic_load(&F.be.n_stalled), 8);
	atomic_store(&F.be.release, 1);
	for (int i = 0; i < 200; i++) {
		uint32_t err;
		uint64_t c;
		CHECK_EQ(tc_read_reply(fd, &err, &c), 0);
		CHECK_EQ(err, 0);
	}
	CHECK_EQ(atomic_load(&F.be.max_stalled), 8);
	close(fd);
	fx_stop();
	CHECK(F.final.read_pauses >= 1);
	CHECK_EQ(F.final.requests, 200);
}

TEST(backpressure_byte_bound)
{
	struct nbd_server_config cfg;
	struct tc_export ex;
	static uint8_t buf[512 * 1024];
	int fd;

	nbd_server_config_defaults(&cfg);
	cfg.max_buffer_bytes = 1u << 20;
	fx_start(&cfg);
	fd = tc_open(F.port, "stall", &ex);
	CHECK(fd >= 0);
	/* 512 KiB reads against a 1 MiB budget: two at a time. */
	for (uint64_t i = 0; i < 10; i++)
		CHECK_EQ(tc_send_req(fd, NBD_CMD_READ, 0, i, 0, sizeof(buf), NULL), 0);
	usleep(200 * 1000);
	CHECK_EQ(atomic_load(&F.be.n_stalled), 2);
	atomic_store(&F.be.release, 1);
	for (int i = 0; i < 10; i++) {
		uint32_t err;
		uint64_t c;
		CHECK_EQ(tc_read_reply(fd, &err, &c), 0);
		CHECK_EQ(err, 0);
		CHECK_EQ(tc_read(fd, buf, sizeof(buf)), 0);
	}
	CHECK_EQ(atomic_load(&F.be.max_stalled), 2);
	close(fd);
	fx_stop();
}

/* Each malformed input closes its connection; a bystander connection opened
 * before keeps working, and new connections are still accepted. */
TEST(malformed_input_closes_only_that_connection)
{
	struct nbd_server_config cfg;
	struct tc_export ex;
	uint8_t junk[64], hdr[16], data[512];
	int good, fd;

	nbd_server_config_defaults(&cfg);
	cfg.handshake_timeout_ms = 300;
	fx_start(&cfg);
	good = tc_open(F.port, "mem", &ex);
	CHECK(good >= 0);

	/* 1. garbage instead of client flags (unknown bits) */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, 0xfffffff0u, NULL), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* 2. bad option magic */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	memset(junk, 0x41, sizeof(junk));
	CHECK_EQ(tc_write(fd, junk, 16), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* 3. option length beyond the limit */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	nbd_enc_opt_hdr(hdr, NBD_OPT_GO, 0x7fffffffu);
	CHECK_EQ(tc_write(fd, hdr, 16), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* 4. bad request magic in transmission */
	fd = tc_open(F.port, "mem", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_write(fd, junk, 28), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* 5. a write longer than the maximum payload */
	fd = tc_open(F.port, "mem", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_send_req(fd, NBD_CMD_WRITE, 0, 1, 0, 0xffffffffu, NULL), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* 6. half a write payload, then hang up */
	fd = tc_open(F.port, "mem", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_send_req(fd, NBD_CMD_WRITE, 0, 1, 0, 65536, NULL), 0);
	CHECK_EQ(tc_write(fd, data, sizeof(data)), 0);
	close(fd);
	/* 7. half a request header, then hang up */
	fd = tc_open(F.port, "mem", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_write(fd, junk, 13), 0);
	close(fd);
	/* 8. silence during negotiation: the deadline closes it */
	fd = tc_connect(F.port);
	CHECK(fd >= 0);
	CHECK(tc_closed_within(fd, 3000));
	close(fd);
	/* 9. an option other than EXPORT_NAME from a non-fixed client */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, 0, NULL), 0);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_LIST, NULL, 0), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* 10. EXPORT_NAME with an embedded NUL */
	fd = tc_connect(F.port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	CHECK_EQ(tc_send_opt(fd, NBD_OPT_EXPORT_NAME, "me\0m", 4), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);

	/* The bystander is unharmed and new clients are served. */
	memset(data, 0x33, sizeof(data));
	CHECK_EQ(tc_cmd(good, NBD_CMD_WRITE, 0, 0, sizeof(data), data), 0);
	memset(data, 0, sizeof(data));
	CHECK_EQ(tc_cmd(good, NBD_CMD_READ, 0, 0, sizeof(data), data), 0);
	CHECK_EQ(data[511], 0x33);
	fd = tc_open(F.port, "mem", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 0, 16, data), 0);
	close(fd);
	close(good);
	fx_stop();
	CHECK(F.final.protocol_errors >= 7);
}

TEST(connection_limit)
{
	struct nbd_server_config cfg;
	struct tc_export ex;
	int fds[3], extra;
	uint8_t b[16];

	nbd_server_config_defaults(&cfg);
	cfg.max_connections = 3;
	fx_start(&cfg);
	for (int i = 0; i < 3; i++) {
		fds[i] = tc_open(F.port, "mem", &ex);
		CHECK(fds[i] >= 0);
	}
	extra = tc_connect(F.port);
	CHECK(extra >= 0);
	CHECK(tc_read(extra, b, 16) < 0); /* closed without a greeting */
	close(extra);
	close(fds[0]);
	usleep(100 * 1000);
	extra = tc_open(F.port, "mem", &ex);
	CHECK(extra >= 0);
	close(extra);
	close(fds[1]);
	close(fds[2]);
	fx_stop();
	CHECK_EQ(F.final.refused, 1);
}

TEST(shared_export_and_close_with_inflight)
{
	struct tc_export ex;
	int a, b, c;
	uint8_t data[4096] = { 1 };

	fx_start(NULL);
	a = tc_open(F.port, "mem", &ex);
	b = tc_open(F.port, "mem", &ex);
	c = tc_open(F.port, "stall", &ex);
	CHECK(a >= 0 && b >= 0 && c >= 0);
	/* Two connections to "mem" share one device. */
	CHECK_EQ(atomic_load(&F.be.opens), 2);
	CHECK_EQ(tc_cmd(a, NBD_CMD_WRITE, 0, 0, sizeof(data), data), 0);
	CHECK_EQ(tc_cmd(b, NBD_CMD_READ, 0, 0, 16, data), 0);
	CHECK_EQ(data[0], 1);
	/* Requests stuck in the backend while the server shuts down. */
	for (uint64_t i = 0; i < 5; i++)
		CHECK_EQ(tc_send_req(c, NBD_CMD_READ, 0, i, 0, 4096, NULL), 0);
	usleep(50 * 1000);
	CHECK_EQ(atomic_load(&F.be.n_stalled), 5);
	fx_stop(); /* releases the stalled ops; everything must be freed */
	CHECK_EQ(atomic_load(&F.be.closes), 2);
	close(a);
	close(b);
	close(c);
}

TEST(many_connections_pipelined)
{
	enum { NCONN = 8, NREQ = 64, LEN = 8192 };
	struct tc_export ex;
	int fds[NCONN];
	static uint8_t data[LEN];

	fx_start(NULL);
	for (int i = 0; i < NCONN; i++) {
		fds[i] = tc_open(F.port, "mem", &ex);
		CHECK(fds[i] >= 0);
	}
	/* Each connection writes its own region, pipelined, then reads it. */
	for (int i = 0; i < NCONN; i++) {
		memset(data, 'A' + i, LEN);
		for (uint64_t r = 0; r < NREQ; r++)
			CHECK_EQ(tc_send_req(fds[i], NBD_CMD_WRITE, 0, r,
			                     (uint64_t)(i * NREQ + r) * LEN % (MEM_SIZE - LEN), LEN,
			                     data), 0);
	}
	for (int i = 0; i < NCONN; i++)
		for (int r = 0; r < NREQ; r++) {
			uint32_t err;
			uint64_t c;
			CHECK_EQ(tc_read_reply(fds[i], &err, &c), 0);
			CHECK_EQ(err, 0);
		}
	for (int i = 0; i < NCONN; i++) {
		CHECK_EQ(tc_cmd(fds[i], NBD_CMD_READ, 0, (uint64_t)(i * NREQ) * LEN, LEN, data), 0);
		CHECK_EQ(data[0], 'A' + i);
		CHECK_EQ(data[LEN - 1], 'A' + i);
		close(fds[i]);
	}
	fx_stop();
	CHECK_EQ(F.final.requests, NCONN * (NREQ + 1));
}

TEST_MAIN_TIMEOUT(60, TEST_ENTRY(greeting_and_info), TEST_ENTRY(info_name_and_description),
          TEST_ENTRY(list_and_unsupported_options), TEST_ENTRY(export_name_old_style),
          TEST_ENTRY(io_and_errors), TEST_ENTRY(out_of_order_replies),
          TEST_ENTRY(backpressure_inflight_bound), TEST_ENTRY(backpressure_byte_bound),
          TEST_ENTRY(malformed_input_closes_only_that_connection),
          TEST_ENTRY(connection_limit), TEST_ENTRY(shared_export_and_close_with_inflight),
          TEST_ENTRY(many_connections_pipelined))
