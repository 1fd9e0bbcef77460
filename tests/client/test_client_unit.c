/* libnorn unit tests that need no cluster: building and encoding ops (the
 * bytes an OSD would decode), applying replies to the caller's outputs
 * (including hostile replies), list and cursor formats, completion
 * semantics across threads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/lib/client_int.h"
#include "tests/harness.h"

/* Encode @n steps as an OSD_OP, glue the zero-copy tail back on and
 * decode it like an OSD would. Returns the buffer (the decoded pointers
 * point into it). */
static uint8_t *roundtrip(struct cl_step *steps, uint32_t n, struct osd_op_msg *m, int *split)
{
	struct cl_msg_args a;
	uint8_t *buf, *all;
	size_t len, tail_len;
	const uint8_t *tail;

	memset(&a, 0, sizeof(a));
	a.epoch = 7;
	a.pool = 3;
	a.pg_seed = 5;
	a.oid = "obj";
	a.oid_len = 3;
	a.entity = "client.admin";
	a.inc = 0x1234;
	a.tid = 42;
	a.flags = cl_steps_flags(steps, n);
	a.n_steps = n;
	a.steps = steps;
	if (cl_msg_encode(&a, &buf, &len, &tail, &tail_len))
		return NULL;
	*split = tail != NULL;
	all = malloc(len + tail_len + 1);
	memcpy(all, buf, len);
	if (tail_len)
		memcpy(all + len, tail, tail_len);
	free(buf);
	if (osd_op_decode(m, all, len + tail_len)) {
		free(all);
		return NULL;
	}
	return all;
}

TEST(write_op_steps_copy_and_encode)
{
	norn_write_op_t *op = norn_write_op_create();
	char data[64];
	struct osd_op_msg *m = malloc(sizeof(*m));
	const char *keys[2] = { "k1", "k2" };
	const void *vals[2] = { "v1", "value2" };
	size_t vl[2] = { 2, 6 };
	int split;

	memset(data, 'a', sizeof(data));
	norn_write_op_create_obj(op, 1);
	norn_write_op_write(op, data, sizeof(data), 100);
	memset(data, 'b', sizeof(data));   /* the op copied the first contents */
	norn_write_op_setxattr(op, "user", "x", 1);
	norn_write_op_omap_set(op, keys, vals, vl, 2);
	norn_write_op_cmpxattr(op, "ver", "1", 1);
	CHECK_EQ(op->err, 0);
	CHECK_EQ(op->n, 5);
	uint8_t *buf = roundtrip(op->steps, op->n, m, &split);
	CHECK(buf != NULL);
	CHECK_EQ(split, 0);
	CHECK_EQ(m->n_steps, 5);
	CHECK_EQ(m->epoch, 7);
	CHECK_EQ(m->reqid.tid, 42);
	CHECK_EQ(m->reqid.inc, 0x1234);
	CHECK_STREQ(m->reqid.entity, "client.admin");
	CHECK(m->flags & OSD_OPF_WRITE);
	CHECK(m->flags & OSD_OPF_READ);      /* cmpxattr is a read step */
	CHECK_EQ(m->steps[0].code, OSD_OP_CREATE);
	CHECK_EQ(m->steps[0].flags, OSD_OP_F_EXCL);
	CHECK_EQ(m->steps[1].code, OSD_OP_WRITE);
	CHECK_EQ(m->steps[1].off, 100);
	CHECK_EQ(m->steps[1].data_len, 64);
	CHECK(m->steps[1].data[0] == 'a' && m->steps[1].data[63] == 'a');
	CHECK_EQ(m->steps[2].name_len, 4);
	CHECK(!memcmp(m->steps[2].name, "user", 4));
	/* the omap step carries a kv list */
	{
		struct dec d;
		uint32_t left;
		const void *k, *v;
		size_t kl, vlen;
		dec_init(&d, m->steps[3].data, m->steps[3].data_len);
		left = dec_u32(&d);
		CHECK_EQ(left, 2);
		CHECK_EQ(osd_kv_list_next(&d, &left, &k, &kl, &v, &vlen), 1);
		CHECK(kl == 2 && !memcmp(k, "k1", 2) && vlen == 2);
		CHECK_EQ(osd_kv_list_next(&d, &left, &k, &kl, &v, &vlen), 1);
		CHECK(vlen == 6 && !memcmp(v, "value2", 6));
		CHECK_EQ(osd_kv_list_next(&d, &left, &k, &kl, &v, &vlen), 0);
	}
	free(buf);
	free(m);
	norn_write_op_release(op);
}

TEST(write_op_errors_stick)
{
	norn_write_op_t *op = norn_write_op_create();
	char longname[NORN_XATTR_NAME_MAX + 10];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	norn_write_op_setxattr(op, longname, "v", 1);
	CHECK_EQ(op->err, -EINVAL);
	norn_write_op_remove(op);          /* ignored after an error */
	CHECK_EQ(op->n, 0);
	norn_write_op_release(op);

	op = norn_write_op_create();
	for (int i = 0; i < OSD_OP_MAX_STEPS + 3; i++)
		norn_write_op_truncate(op, (uint64_t)i);
	CHECK_EQ(op->n, OSD_OP_MAX_STEPS);
	CHECK_EQ(op->err, -E2BIG);
	norn_write_op_release(op);
	norn_write_op_release(NULL);
}

TEST(large_write_is_zero_copy)
{
	size_t n = 1u << 20;
	uint8_t *data = malloc(n);
	struct cl_step s;
	struct osd_op_msg *m = malloc(sizeof(*m));
	struct cl_msg_args a;
	uint8_t *buf;
	size_t len, tail_len;
	const uint8_t *tail;
	int split;

	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7);
	CHECK_EQ(cl_step_set(&s, OSD_OP_WRITE_FULL, 0, 0, n, NULL, 0, NULL, 0, data, n, 0), 0);
	CHECK(s.data == data);              /* referenced, not copied */
	memset(&a, 0, sizeof(a));
	a.oid = "o";
	a.oid_len = 1;
	a.entity = "client.x";
	a.n_steps = 1;
	a.steps = &s;
	CHECK_EQ(cl_msg_encode(&a, &buf, &len, &tail, &tail_len), 0);
	CHECK(tail == data);
	CHECK_EQ(tail_len, n);
	CHECK(len < 512);
	free(buf);
	/* and the glued message decodes to the same bytes */
	buf = roundtrip(&s, 1, m, &split);
	CHECK(buf != NULL);
	CHECK_EQ(split, 1);
	CHECK_EQ(m->steps[0].data_len, n);
	CHECK(!memcmp(m->steps[0].data, data, n));
	free(buf);
	cl_step_free(&s);
	free(data);
	free(m);
}

TEST(snap_context_and_read_op_encode)
{
	norn_read_op_t *op = norn_read_op_create();
	uint64_t size;
	int rv1, rv2;
	char buf[32];
	size_t got = 0;
	struct cl_msg_args a;
	uint8_t *mbuf, snaps[16];
	size_t len, tl;
	const uint8_t *tail;
	struct osd_op_msg *m = malloc(sizeof(*m));

	norn_read_op_stat(op, &size, NULL, &rv1);
	norn_read_op_read(op, 10, sizeof(buf), buf, &got, &rv2);
	CHECK_EQ(op->err, 0);
	CHECK_EQ(op->n, 2);
	norn_put_le64(snaps, 7);
	norn_put_le64(snaps + 8, 3);
	memset(&a, 0, sizeof(a));
	a.oid = "o";
	a.oid_len = 1;
	a.entity = "client.v";
	a.snap_seq = 7;
	a.n_snaps = 2;
	a.snaps = snaps;
	a.read_snap = 3;
	a.n_steps = op->n;
	a.steps = op->steps;
	a.flags = cl_steps_flags(op->steps, op->n);
	CHECK_EQ(a.flags, OSD_OPF_READ);
	CHECK_EQ(cl_msg_encode(&a, &mbuf, &len, &tail, &tl), 0);
	CHECK(tail == NULL);
	CHECK_EQ(osd_op_decode(m, mbuf, len), 0);
	CHECK_EQ(m->snap_seq, 7);
	CHECK_EQ(m->n_snaps, 2);
	CHECK_EQ(norn_get_le64(m->snaps + 8), 3);
	CHECK_EQ(m->read_snap, 3);
	CHECK_EQ(m->steps[1].code, OSD_OP_READ);
	CHECK_EQ(m->steps[1].off, 10);
	CHECK_EQ(m->steps[1].len, sizeof(buf));
	free(mbuf);
	/* the reply fills every output, including the byte count */
	struct osd_op_reply *r = calloc(1, sizeof(*r));
	uint8_t st[16];
	norn_put_le64(st, 99);
	norn_put_le64(st + 8, 1);
	r->n_steps = 2;
	r->steps[0].out = st;
	r->steps[0].out_len = 16;
	r->steps[1].out = (const uint8_t *)"abc";
	r->steps[1].out_len = 3;
	CHECK_EQ(cl_reply_apply(r, op->steps, 2, CL_RES_PLAIN, 0), 0);
	CHECK_EQ(size, 99);
	CHECK_EQ(got, 3);
	CHECK_EQ(rv1, 0);
	CHECK(!memcmp(buf, "abc", 3));
	/* a zero-length read is refused (0 means "to the end" on the wire) */
	norn_read_op_read(op, 0, 0, buf, &got, NULL);
	CHECK_EQ(op->err, -EINVAL);
	free(r);
	free(m);
	norn_read_op_release(op);
}

TEST(encode_refuses_bad_args)
{
	struct cl_step s;
	char big[OSD_OP_NAME_MAX + 2];
	memset(big, 'n', sizeof(big));
	CHECK_EQ(cl_step_set(&s, OSD_OP_SETXATTR, 0, 0, 0, big, sizeof(big), NULL, 0, NULL, 0, 0), -EINVAL);
	const char *keys[1] = { NULL };
	uint8_t *b;
	size_t l;
	CHECK_EQ(cl_encode_keys(keys, 1, &b, &l), -EINVAL);
	CHECK(b == NULL);
}

/* Build a reply for @n steps with the given outputs. */
static void mk_reply(struct osd_op_reply *r, int32_t result, uint32_t n)
{
	memset(r, 0, sizeof(*r));
	r->result = result;
	r->n_steps = n;
}

TEST(reply_read_and_stat)
{
	struct cl_step s[2];
	struct osd_op_reply *r = malloc(sizeof(*r));
	char buf[16];
	uint64_t size = 0, mtime = 0;
	uint8_t st[16];

	cl_step_set(&s[0], OSD_OP_READ, 0, 0, sizeof(buf), NULL, 0, NULL, 0, NULL, 0, 0);
	cl_step_set(&s[1], OSD_OP_STAT, 0, 0, 0, NULL, 0, NULL, 0, NULL, 0, 0);
	s[0].out.buf = buf;
	s[0].out.cap = sizeof(buf);
	s[1].out.u1 = &size;
	s[1].out.u2 = &mtime;
	norn_put_le64(st, 12345);
	norn_put_le64(st + 8, 999);
	mk_reply(r, 0, 2);
	r->steps[0].out = (const uint8_t *)"hello";
	r->steps[0].out_len = 5;
	r->steps[1].out = st;
	r->steps[1].out_len = 16;
	CHECK_EQ(cl_reply_apply(r, s, 2, CL_RES_BYTES, 0), 5);
	CHECK(!memcmp(buf, "hello", 5));
	CHECK_EQ(size, 12345);
	CHECK_EQ(mtime, 999);

	/* an OSD that returns more than asked is refused, not trusted */
	r->steps[0].out_len = sizeof(buf) + 1;
	r->steps[0].out = (const uint8_t *)"0123456789abcdefg";
	CHECK_EQ(cl_reply_apply(r, s, 2, CL_RES_BYTES, 0), NORN_ECORRUPT);
	/* a short stat too */
	r->steps[0].out_len = 1;
	r->steps[1].out_len = 8;
	CHECK_EQ(cl_reply_apply(r, s, 2, CL_RES_BYTES, 0), NORN_ECORRUPT);
	/* a wrong step count */
	mk_reply(r, 0, 1);
	CHECK_EQ(cl_reply_apply(r, s, 2, CL_RES_PLAIN, 0), NORN_ECORRUPT);
	/* failed op: stops at the failing step, result passes through */
	mk_reply(r, -ENOENT, 1);
	r->steps[0].rval = -ENOENT;
	CHECK_EQ(cl_reply_apply(r, s, 2, CL_RES_BYTES, 0), -ENOENT);
	cl_step_free(&s[0]);
	cl_step_free(&s[1]);
	free(r);
}

TEST(reply_omap_one_and_lists)
{
	struct cl_step s;
	struct osd_op_reply *r = malloc(sizeof(*r));
	struct norn_list l;
	void *val = NULL;
	struct enc e;

	enc_init(&e, 64);
	osd_kv_list_begin(&e, 1);
	osd_kv_list_add(&e, "key", 3, "val\0ue", 6);
	cl_step_set(&s, OSD_OP_OMAP_GET_BY_KEYS, 0, 0, 0, NULL, 0, NULL, 0, NULL, 0, 0);
	memset(&l, 0, sizeof(l));
	s.out.list = &l;
	s.out.valp = &val;
	mk_reply(r, 0, 1);
	r->steps[0].out = e.buf;
	r->steps[0].out_len = e.len;
	CHECK_EQ(cl_reply_apply(r, &s, 1, CL_RES_OMAP_ONE, 0), 6);
	CHECK(val && !memcmp(val, "val\0ue", 6));
	free(val);
	val = NULL;
	enc_reset(&e);
	osd_kv_list_begin(&e, 0);
	r->steps[0].out = e.buf;
	r->steps[0].out_len = e.len;
	CHECK_EQ(cl_reply_apply(r, &s, 1, CL_RES_OMAP_ONE, 0), -ENOENT);
	CHECK(val == NULL);
	enc_free(&e);
	cl_step_free(&s);

	/* omap_get_vals page: kv list + more */
	enc_init(&e, 64);
	osd_kv_list_begin(&e, 2);
	osd_kv_list_add(&e, "a", 1, "1", 1);
	osd_kv_list_add(&e, "b", 1, "", 0);
	enc_u8(&e, 1);
	CHECK_EQ(cl_parse_kv_list(e.buf, e.len, 1, &l), 0);
	CHECK_EQ(l.n, 2);
	CHECK_EQ(l.more, 1);
	CHECK_STREQ(l.items[0].key, "a");
	CHECK_EQ(l.items[0].val_len, 1);
	CHECK_STREQ(l.items[1].key, "b");
	CHECK_EQ(l.items[1].val_len, 0);
	norn_list_free(&l);
	/* truncated / trailing garbage / hostile counts */
	CHECK_EQ(cl_parse_kv_list(e.buf, e.len - 1, 1, &l), NORN_ECORRUPT);
	CHECK_EQ(cl_parse_kv_list(e.buf, e.len, 0, &l), NORN_ECORRUPT);
	norn_put_le32(e.buf, 0xffffffffu);
	CHECK_EQ(cl_parse_kv_list(e.buf, e.len, 1, &l), NORN_ECORRUPT);
	CHECK(l.items == NULL);
	enc_free(&e);

	/* PG list: names + more */
	enc_init(&e, 64);
	enc_u32(&e, 3);
	enc_blob(&e, "x", 1);
	enc_blob(&e, "yy", 2);
	enc_blob(&e, "", 0);
	enc_u8(&e, 0);
	CHECK_EQ(cl_parse_name_list(e.buf, e.len, &l), 0);
	CHECK_EQ(l.n, 3);
	CHECK_STREQ(l.items[1].key, "yy");
	CHECK(l.items[1].val == NULL);
	CHECK_EQ(l.more, 0);
	norn_list_free(&l);
	enc_free(&e);
	free(r);
}

TEST(cursor_format)
{
	uint32_t seed;
	const char *after;
	char *c = cl_cursor_make(0x2f, "obj/with/slash", 14);
	CHECK_STREQ(c, "2f/obj/with/slash");
	CHECK_EQ(cl_cursor_parse(c, &seed, &after), 0);
	CHECK_EQ(seed, 0x2f);
	CHECK_STREQ(after, "obj/with/slash");
	free(c);
	CHECK_EQ(cl_cursor_parse("", &seed, &after), 0);
	CHECK_EQ(seed, 0);
	CHECK_EQ(cl_cursor_parse("zz", &seed, &after), -EINVAL);
	CHECK_EQ(cl_cursor_parse("-1/x", &seed, &after), -EINVAL);
	CHECK_EQ(cl_cursor_parse("123456789/x", &seed, &after), -EINVAL);
}

/* ---- completions ---------------------------------------------------------------- */

static int g_cb_calls;
static ssize_t g_cb_result;

static void cb_release(norn_completion_t *c, void *arg)
{
	(void)arg;
	g_cb_calls++;
	g_cb_result = norn_completion_result(c);
	norn_completion_release(c);    /* the usual pattern: release inside */
}

TEST(completion_release_in_callback)
{
	norn_completion_t *c = norn_completion_create(cb_release, NULL);
	cl_completion_get(c);          /* what op_submit does */
	CHECK_EQ(norn_completion_is_complete(c), 0);
	CHECK_EQ(norn_completion_result(c), -EINPROGRESS);
	cl_completion_finish(c, 17);
	CHECK_EQ(g_cb_calls, 1);
	CHECK_EQ(g_cb_result, 17);
}

struct waiter {
	norn_completion_t *c;
	int got;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	w->got = norn_completion_wait(w->c);
	return NULL;
}

TEST(completion_wait_across_threads)
{
	norn_completion_t *c = norn_completion_create(NULL, NULL);
	struct waiter w[4];
	pthread_t t[4];

	cl_completion_get(c);
	for (int i = 0; i < 4; i++) {
		w[i].c = c;
		w[i].got = 0;
		pthread_create(&t[i], NULL, wait_thread, &w[i]);
	}
	usleep(20000);
	cl_completion_finish(c, -ETIMEDOUT);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(w[i].got, -ETIMEDOUT);
	}
	CHECK_EQ(norn_completion_is_complete(c), 1);
	CHECK_EQ(norn_completion_result(c), -ETIMEDOUT);
	norn_completion_release(c);
}

TEST(completion_released_before_finish)
{
	/* the user may release before the op completes: the op's reference
	 * keeps it alive until then (ASan checks the rest) */
	norn_completion_t *c = norn_completion_create(NULL, NULL);
	cl_completion_get(c);
	norn_completion_release(c);
	cl_completion_finish(c, 0);
}

TEST(connect_errors_without_cluster)
{
	norn_cluster_t *cl = (norn_cluster_t *)1;
	char path[] = "/tmp/norn-client-unit-XXXXXX";
	int fd;

	CHECK_EQ(norn_connect("/nonexistent/norn.conf", NULL, NULL, &cl), -ENOENT);
	CHECK(cl == NULL);
	CHECK_EQ(norn_connect(NULL, "not an entity", NULL, &cl), -EINVAL);
	/* a config without fsid */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, "[global]\nmon_host = 127.0.0.1:1\n", 32) == 32);
	close(fd);
	CHECK_EQ(norn_connect(path, NULL, "/nonexistent.keyring", &cl), -EINVAL);
	const char *bad[1] = { "no_such_option=1" };
	CHECK_EQ(norn_connect2(path, NULL, NULL, bad, 1, &cl), -EINVAL);
	unlink(path);
}

TEST_MAIN(TEST_ENTRY(write_op_steps_copy_and_encode), TEST_ENTRY(write_op_errors_stick),
          TEST_ENTRY(large_write_is_zero_copy), TEST_ENTRY(encode_refuses_bad_args),
          TEST_ENTRY(reply_read_and_stat), TEST_ENTRY(reply_omap_one_and_lists),
          TEST_ENTRY(cursor_format), TEST_ENTRY(completion_release_in_callback),
          TEST_ENTRY(completion_wait_across_threads), TEST_ENTRY(completion_released_before_finish),
          TEST_ENTRY(connect_errors_without_cluster), TEST_ENTRY(snap_context_and_read_op_encode))
