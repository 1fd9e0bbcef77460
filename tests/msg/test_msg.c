/* Messenger tests: two endpoints in one process on one libuv loop (plus
 * raw sockets and a forked child for misbehaving peers).
 *
 * Every test runs in its own forked child (harness.h). The environment
 * variable NORN_MSG_TEST_TLS=1 (set by the *_tls ctest entries) turns TLS
 * on for every msgr, with a throwaway self-signed certificate made by the
 * openssl CLI, so the same tests cover both transports.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/assert.h"
#include "common/auth.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "common/env.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/tls.h"
#include "norn/errors.h"
#include "tests/harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define T_PING 300
#define T_DATA 301

static uv_loop_t loop;
static struct tls_ctx *tls;
static uint8_t key_admin[32], key_osd[32], service_key[32];
static char tls_dir[64];

struct ep {
	struct msgr *m;
	int port;
	int up, down, authfail, writable;
	uint64_t nmsgs, bytes;
	uint64_t next_tid;
	int order_errors, content_errors;
	struct msgr_conn *last_in;     /* server: last incoming conn up (ref held) */
	int get_key_calls;
	int pause_on_up;
	uint8_t *stolen;
	size_t stolen_len;
	char last_caps[AUTH_CAPS_STR_MAX];
};

static struct ep srv, cli, cli2;

static void tls_setup(void)
{
	const char *e = getenv("NORN_MSG_TEST_TLS");
	if (!e || strcmp(e, "1"))
		return;
	snprintf(tls_dir, sizeof(tls_dir), "/tmp/norn-tls-XXXXXX");
	CHECK(mkdtemp(tls_dir));
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=norn-test "
	         "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1", tls_dir, tls_dir);
	CHECK(system(cmd) == 0);
	char c[128], k[128];
	snprintf(c, sizeof(c), "%s/cert.pem", tls_dir);
	snprintf(k, sizeof(k), "%s/key.pem", tls_dir);
	CHECK_EQ(tls_ctx_create(c, k, c, &tls), 0);
}

static void tls_teardown(void)
{
	if (!tls)
		return;
	tls_ctx_free(tls);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tls_dir);
	CHECK(system(cmd) == 0);
}

static void on_message(struct msgr_conn *c, struct msg_in *m, void *user)
{
	(void)c;
	struct ep *e = user;
	if (m->hdr.tid != e->next_tid)
		e->order_errors++;
	e->next_tid = m->hdr.tid + 1;
	if (m->hdr.type == T_PING) {
		/* Payload: the tid as 8 bytes, repeated. */
		for (size_t i = 0; i + 8 <= m->len; i += 8)
			if (norn_get_le64(m->payload + i) != m->hdr.tid)
				e->content_errors++;
	} else if (m->hdr.type == T_DATA) {
		for (size_t i = 0; i < m->len; i += 4093)
			if (m->payload[i] != (uint8_t)(i * 7 + (i >> 20)))
				e->content_errors++;
		if (m->len && m->payload[m->len - 1] != (uint8_t)((m->len - 1) * 7 + ((m->len - 1) >> 20)))
			e->content_errors++;
		free(e->stolen);
		e->stolen_len = m->len;
		e->stolen = msg_in_steal(m);
		CHECK(e->stolen);
	}
	e->nmsgs++;
	e->bytes += m->len;
}

static void on_state(struct msgr_conn *c, enum msgr_conn_state st, void *user)
{
	struct ep *e = user;
	if (st == MSGR_CONN_UP) {
		e->up++;
		if (!msgr_conn_is_outgoing(c)) {
			if (e->last_in)
				msgr_conn_put(e->last_in);
			msgr_conn_get(c);
			e->last_in = c;
			snprintf(e->last_caps, sizeof(e->last_caps), "%s", msgr_conn_caps(c));
			if (e->pause_on_up)
				msgr_conn_pause_read(c);
		}
	} else if (st == MSGR_CONN_DOWN) {
		e->down++;
	} else {
		e->authfail++;
	}
}

static void on_writable(struct msgr_conn *c, void *user)
{
	(void)c;
	((struct ep *)user)->writable++;
}

static int get_key(const char *entity, const uint8_t *ticket, size_t ticket_len,
                   uint8_t key_out[AUTH_KEY_LEN], char caps_out[AUTH_CAPS_STR_MAX], void *user)
{
	struct ep *e = user;
	e->get_key_calls++;
	if (ticket_len) {
		char ent[AUTH_ENTITY_NAME_MAX];
		int rc = auth_ticket_verify(service_key, ticket, ticket_len, norn_real_ns(), ent,
		                            caps_out, key_out, NULL);
		if (rc)
			return rc;
		return strcmp(ent, entity) ? NORN_EAUTH : 0;
	}
	if (!strcmp(entity, "client.admin") || !strcmp(entity, "client.child")) {
		memcpy(key_out, key_admin, 32);
		snprintf(caps_out, AUTH_CAPS_STR_MAX, "mon allow *");
		return 0;
	}
	if (!strcmp(entity, "osd.1")) {
		memcpy(key_out, key_osd, 32);
		caps_out[0] = 0;
		return 0;
	}
	return -ENOENT;
}

static void base_opts(struct msgr_opts *o, struct ep *e, const char *entity)
{
	msgr_opts_init(o, NULL);
	snprintf(o->entity, sizeof(o->entity), "%s", entity);
	snprintf(o->cred.entity, sizeof(o->cred.entity), "%s", entity);
	memcpy(o->cred.key, !strcmp(entity, "osd.1") ? key_osd : key_admin, 32);
	memset(o->fsid, 0x5a, sizeof(o->fsid));
	o->cb.on_message = on_message;
	o->cb.on_conn_state = on_state;
	o->cb.on_writable = on_writable;
	o->cb.get_key = get_key;
	o->cb.user = e;
	o->reconnect_min_ms = 20;
	o->reconnect_max_ms = 200;
	o->tls = tls;
}

static void setup(void)
{
	norn_log_init("test", stderr, NORN_LOG_WARN);
	CHECK_EQ(uv_loop_init(&loop), 0);
	for (int i = 0; i < 32; i++) {
		key_admin[i] = (uint8_t)(i + 1);
		key_osd[i] = (uint8_t)(i * 3 + 7);
		service_key[i] = (uint8_t)(i * 5 + 11);
	}
	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	memset(&cli2, 0, sizeof(cli2));
	tls_setup();
}

static void start_server(struct msgr_opts *o_override)
{
	struct msgr_opts o;
	if (o_override)
		o = *o_override;
	else
		base_opts(&o, &srv, "osd.1");
	CHECK_EQ(msgr_create(&loop, &o, &srv.m), 0);
	CHECK_EQ(msgr_listen(srv.m, "127.0.0.1", srv.port, &srv.port), 0);
	CHECK(srv.port > 0);
}

static void start_client(struct ep *e, const char *entity)
{
	struct msgr_opts o;
	base_opts(&o, e, entity);
	CHECK_EQ(msgr_create(&loop, &o, &e->m), 0);
}

static void tick_cb(uv_timer_t *t) { (void)t; }

/* Run the loop until *@flag >= @want or @ms elapse. */
static int run_until(const volatile uint64_t *v, uint64_t want, uint64_t ms)
{
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, tick_cb, 5, 5);
	uint64_t end = norn_mono_ns() + ms * 1000000ull;
	while (*v < want && norn_mono_ns() < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return *v >= want;
}

static int run_int_until(const int *v, int want, uint64_t ms)
{
	uint64_t x = 0;
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, tick_cb, 5, 5);
	uint64_t end = norn_mono_ns() + ms * 1000000ull;
	while (*v < want && norn_mono_ns() < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	x = *v >= want;
	return (int)x;
}

static void run_for(uint64_t ms)
{
	uint64_t never = 0;
	run_until(&never, 1, ms);
}

static int closed_count;
static void closed_cb(void *arg) { (void)arg; closed_count++; }

static void teardown(struct msgr_conn **conns, int n)
{
	for (int i = 0; i < n; i++)
		if (conns[i])
			msgr_conn_close(conns[i], NULL, NULL);
	if (srv.last_in)
		msgr_conn_put(srv.last_in);
	srv.last_in = NULL;
	int want = 0;
	closed_count = 0;
	struct ep *eps[] = { &srv, &cli, &cli2 };
	for (int i = 0; i < 3; i++)
		if (eps[i]->m) {
			msgr_close(eps[i]->m, closed_cb, NULL);
			eps[i]->m = NULL;
			want++;
		}
	CHECK(run_int_until(&closed_count, want, 5000));
	free(srv.stolen);
	free(cli.stolen);
	/* Nothing of ours may remain on the loop. */
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	tls_teardown();
#ifdef HAVE_LSAN
	/* The harness ends tests with _exit(), which skips LeakSanitizer's
	 * exit-time check: run it here, after everything was closed. */
	CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

static void free_count(void *arg, int status)
{
	int *p = arg;
	if (status == 0)
		p[0]++;
	else
		p[1]++;
}

struct ping { uint64_t words[4]; };

TEST(order_10000)
{
	setup();
	start_server(NULL);
	start_client(&cli, "client.admin");
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	/* Queue everything before the connection is even up. */
	static struct ping p[10000];
	int freed[2] = { 0, 0 };
	for (uint64_t i = 0; i < 10000; i++) {
		for (int k = 0; k < 4; k++)
			p[i].words[k] = i;
		struct iovec iov = { .iov_base = &p[i], .iov_len = sizeof(p[i]) };
		CHECK_EQ(msgr_send(c, T_PING, i, 1, &iov, 1, free_count, freed), 0);
	}
	CHECK(run_until(&srv.nmsgs, 10000, 20000));
	CHECK_EQ(srv.order_errors, 0);
	CHECK_EQ(srv.content_errors, 0);
	CHECK_EQ(cli.up, 1);
	CHECK_EQ(srv.up, 1);
	CHECK_STREQ(msgr_conn_peer_entity(c), "osd.1");
	CHECK_STREQ(msgr_conn_peer_entity(srv.last_in), "client.admin");
	CHECK_STREQ(srv.last_caps, "mon allow *");
	CHECK_EQ(freed[0], 10000);
	/* And replies the other way on the incoming conn. */
	srv.next_tid = 0;
	for (uint64_t i = 0; i < 1000; i++) {
		struct iovec iov = { .iov_base = &p[i], .iov_len = sizeof(p[i]) };
		CHECK_EQ(msgr_send(srv.last_in, T_PING, i, 1, &iov, 1, NULL, NULL), 0);
	}
	CHECK(run_until(&cli.nmsgs, 1000, 10000));
	CHECK_EQ(cli.order_errors, 0);
	/* Bad arguments. */
	struct iovec iov = { .iov_base = p, .iov_len = 8 };
	CHECK_EQ(msgr_send(c, MSG_T_KEEPALIVE, 0, 0, &iov, 1, NULL, NULL), -EINVAL);
	CHECK_EQ(msgr_send(c, T_PING, 0, 0, &iov, MSG_MAX_IOV + 1, NULL, NULL), -EINVAL);
	teardown(&c, 1);
}

static uint8_t *make_data(size_t len)
{
	uint8_t *d = malloc(len);
	CHECK(d);
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)(i * 7 + (i >> 20));
	return d;
}

TEST(payload_64mib)
{
	setup();
	start_server(NULL);
	start_client(&cli, "client.admin");
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	size_t len = 64u << 20;
	uint8_t *d = make_data(len);
	/* Three iovecs with odd split points. */
	struct iovec iov[3] = { { d, 12345 }, { d + 12345, (32u << 20) }, { d + 12345 + (32u << 20), len - 12345 - (32u << 20) } };
	int freed[2] = { 0, 0 };
	for (uint64_t i = 0; i < 2; i++)
		CHECK_EQ(msgr_send(c, T_DATA, i, 1, iov, 3, free_count, freed), 0);
	CHECK(run_until(&srv.nmsgs, 2, 30000));
	CHECK_EQ(srv.content_errors, 0);
	CHECK_EQ(srv.stolen_len, len);
	CHECK(!memcmp(srv.stolen, d, len));
	CHECK_EQ(freed[0], 2);
	/* Mixed sizes interleaved keep order: small, big, small. */
	srv.nmsgs = 0;
	struct ping p = { { 2, 2, 2, 2 } }, q = { { 4, 4, 4, 4 } };
	struct iovec pi = { &p, sizeof(p) }, qi = { &q, sizeof(q) };
	struct iovec big = { d, 100000 };
	CHECK_EQ(msgr_send(c, T_PING, 2, 1, &pi, 1, NULL, NULL), 0);
	CHECK_EQ(msgr_send(c, T_DATA, 3, 1, &big, 1, NULL, NULL), 0);
	CHECK_EQ(msgr_send(c, T_PING, 4, 1, &qi, 1, NULL, NULL), 0);
	CHECK(run_until(&srv.nmsgs, 3, 10000));
	CHECK_EQ(srv.order_errors, 0);
	CHECK_EQ(srv.content_errors, 0);
	/* A payload whose crc the sender derived (combined from its pieces)
	 * goes through msgr_send_crc and arrives intact. */
	srv.nmsgs = 0;
	struct iovec two[2] = { { d, 777 }, { d + 777, 1u << 20 } };
	uint32_t crc = norn_crc32c_combine(norn_crc32c(0, d, 777), norn_crc32c(0, d + 777, 1u << 20),
	                                   1u << 20);
	CHECK_EQ(msgr_send_crc(c, T_DATA, 5, 1, two, 2, crc, NULL, NULL), 0);
	CHECK(run_until(&srv.nmsgs, 1, 10000));
	CHECK_EQ(srv.content_errors, 0);
	CHECK_EQ(srv.stolen_len, 777 + (1u << 20));
	CHECK(!memcmp(srv.stolen, d, 777 + (1u << 20)));
	/* Larger than max_frame_bytes is refused at the sender. */
	struct iovec huge[2] = { { d, len }, { d, len } };
	CHECK_EQ(msgr_send(c, T_DATA, 6, 1, huge, 2, NULL, NULL), -EMSGSIZE);
	teardown(&c, 1);
	free(d);
}

/* A raw TCP socket to the server (blocking connect; loopback accepts from
 * the backlog without the loop running). */
static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

/* Run the loop until the server closes @fd (read returns 0 or an error). */
static int raw_wait_closed(int fd, uint64_t ms)
{
	uint64_t end = norn_mono_ns() + ms * 1000000ull;
	while (norn_mono_ns() < end) {
		run_for(10);
		char b[4096];
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return 1;
	}
	return 0;
}

/* The second client's conn must still carry traffic. */
static void check_other_conn_works(struct msgr_conn *c2, uint64_t tid)
{
	uint64_t before = srv.nmsgs;
	srv.next_tid = tid;
	struct ping p = { { tid, tid, tid, tid } };
	struct iovec iov = { &p, sizeof(p) };
	CHECK_EQ(msgr_send(c2, T_PING, tid, 1, &iov, 1, NULL, NULL), 0);
	CHECK(run_until(&srv.nmsgs, before + 1, 5000));
	CHECK_EQ(srv.order_errors, 0);
}

TEST(peer_killed_mid_frame)
{
	setup();
	start_server(NULL);
	start_client(&cli, "client.admin");
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	CHECK(run_int_until(&srv.up, 1, 5000));

	if (!tls) {
		/* Half a header, then close. */
		int fd = raw_connect(srv.port);
		uint8_t h[MSG_HDR_LEN];
		struct msg_hdr mh = { .type = MSG_T_AUTH_HELLO, .payload_len = 10 };
		memset(mh.fsid, 0x5a, sizeof(mh.fsid));
		msg_hdr_encode(&mh, h);
		CHECK(write(fd, h, 30) == 30);
		run_for(20);
		close(fd);
		run_for(50);
		check_other_conn_works(c, 100);
	}

	/* A forked child, authenticated, killed with SIGKILL while sending
	 * 64 MiB frames. */
	int port = srv.port;
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Child: a fresh loop of its own. */
		uv_loop_t l2;
		uv_loop_init(&l2);
		struct ep ce;
		memset(&ce, 0, sizeof(ce));
		struct msgr_opts o;
		base_opts(&o, &ce, "client.child");
		struct msgr *m2;
		if (msgr_create(&l2, &o, &m2))
			_exit(2);
		struct msgr_conn *cc;
		if (msgr_connect(m2, "127.0.0.1", port, NULL, &cc))
			_exit(3);
		size_t len = 64u << 20;
		uint8_t *d = make_data(len);
		struct iovec iov = { d, len };
		for (int i = 0; i < 4; i++)
			msgr_send(cc, T_DATA, (uint64_t)i, 1, &iov, 1, NULL, NULL);
		for (;;)
			uv_run(&l2, UV_RUN_DEFAULT);
	}
	/* Wait for the child's conn to come up and some bytes to flow. */
	CHECK(run_int_until(&srv.up, 2, 10000));
	run_for(30);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st));
	CHECK(run_int_until(&srv.down, 1, 5000));
	/* The first client is unaffected. */
	CHECK_EQ(cli.down, 0);
	srv.next_tid = 200;
	check_other_conn_works(c, 200);
	teardown(&c, 1);
}

static int raw_send_frame(int fd, const struct msg_hdr *h, const void *p, size_t len)
{
	uint8_t b[MSG_HDR_LEN];
	msg_hdr_encode(h, b);
	if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
		return -1;
	if (len && write(fd, p, len) != (ssize_t)len)
		return -1;
	return 0;
}

TEST(garbage_frames)
{
	setup();
	start_server(NULL);
	start_client(&cli, "client.admin");
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	CHECK(run_int_until(&srv.up, 1, 5000));
	if (tls) {
		/* Plaintext garbage to a TLS server dies in the TLS layer. */
		int fd = raw_connect(srv.port);
		CHECK(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
		CHECK(raw_wait_closed(fd, 3000));
		close(fd);
		check_other_conn_works(c, 1);
		teardown(&c, 1);
		return;
	}
	uint64_t tid = 10;
	for (int kind = 0; kind < 6; kind++) {
		int fd = raw_connect(srv.port);
		uint8_t b[MSG_HDR_LEN];
		struct msg_hdr h = { .type = MSG_T_AUTH_HELLO, .payload_len = 5 };
		memset(h.fsid, 0x5a, sizeof(h.fsid));
		h.payload_crc = norn_crc32c(0, "hello", 5);
		msg_hdr_encode(&h, b);
		switch (kind) {
		case 0: /* bad magic (crc fixed up) */
			b[0] ^= 0xff;
			norn_put_le32(b + 60, norn_crc32c(0, b, 60));
			break;
		case 1: /* bad header crc */
			b[10] ^= 1;
			break;
		case 2: /* huge length */
			h.payload_len = 0xfffffff0u;
			msg_hdr_encode(&h, b);
			break;
		case 3: /* bad payload crc */
			h.payload_crc ^= 1;
			msg_hdr_encode(&h, b);
			break;
		case 4: /* wrong fsid */
			h.fsid[0] ^= 1;
			msg_hdr_encode(&h, b);
			break;
		case 5: /* random bytes */
			for (int i = 0; i < MSG_HDR_LEN; i++)
				b[i] = (uint8_t)(i * 91 + 3);
			break;
		}
		CHECK(write(fd, b, sizeof(b)) == (ssize_t)sizeof(b));
		CHECK(write(fd, "hello", 5) == 5);
		CHECK(raw_wait_closed(fd, 3000));
		close(fd);
		check_other_conn_works(c, tid++);
	}
	/* An application message before the handshake is refused. */
	int fd = raw_connect(srv.port);
	struct msg_hdr h = { .type = T_PING };
	memset(h.fsid, 0x5a, sizeof(h.fsid));
	CHECK_EQ(raw_send_frame(fd, &h, NULL, 0), 0);
	CHECK(raw_wait_closed(fd, 3000));
	close(fd);
	check_other_conn_works(c, tid++);
	CHECK_EQ(cli.down, 0);
	teardown(&c, 1);
}

/* Read one frame from a raw socket (blocking, with the loop pumped). */
static int raw_read_frame(int fd, struct msg_hdr *h, uint8_t *p, size_t cap)
{
	uint8_t b[MSG_HDR_LEN + 4096];
	size_t got = 0;
	uint64_t end = norn_mono_ns() + 3000000000ull;
	while (norn_mono_ns() < end) {
		run_for(5);
		ssize_t n = recv(fd, b + got, sizeof(b) - got, MSG_DONTWAIT);
		if (n == 0)
			return -1;
		if (n > 0)
			got += (size_t)n;
		const uint8_t *pl;
		size_t fl;
		if (got >= MSG_HDR_LEN && msg_frame_decode(b, got, 1 << 20, h, &pl, &fl) == 0) {
			if (h->payload_len > cap)
				return -1;
			memcpy(p, pl, h->payload_len);
			return 0;
		}
	}
	return -1;
}

TEST(auth_failures)
{
	setup();
	start_server(NULL);
	/* 1. Client with the wrong secret: both sides refuse, no retry loop. */
	struct msgr_opts o;
	base_opts(&o, &cli, "client.admin");
	o.cred.key[0] ^= 1;
	CHECK_EQ(msgr_create(&loop, &o, &cli.m), 0);
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	CHECK(run_int_until(&cli.authfail, 1, 5000));
	CHECK_EQ(cli.up, 0);
	CHECK_EQ(srv.up, 0);
	run_for(300);            /* > several reconnect_max_ms */
	CHECK_EQ(srv.get_key_calls, 1);
	CHECK_EQ(cli.authfail, 1);
	struct ping p = { { 0 } };
	struct iovec iov = { &p, sizeof(p) };
	CHECK_EQ(msgr_send(c, T_PING, 0, 0, &iov, 1, NULL, NULL), -ENOTCONN);
	msgr_conn_close(c, NULL, NULL);

	/* 2. Unknown entity. */
	struct msgr_cred cr = { .entity = "client.nobody" };
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, &cr, &c), 0);
	CHECK(run_int_until(&cli.authfail, 2, 5000));
	msgr_conn_close(c, NULL, NULL);

	if (!tls) {
		/* 3. The server refuses a client that answers with a bad proof
		 * (a client skipping its own check cannot get in either). */
		int fd = raw_connect(srv.port);
		struct auth_hello hl = { .entity = "client.admin" };
		memset(hl.nonce, 1, sizeof(hl.nonce));
		struct enc e;
		enc_init(&e, 0);
		auth_hello_encode(&e, &hl);
		struct msg_hdr h = { .type = MSG_T_AUTH_HELLO, .payload_len = (uint32_t)e.len };
		memset(h.fsid, 0x5a, sizeof(h.fsid));
		h.payload_crc = norn_crc32c(0, e.buf, e.len);
		CHECK_EQ(raw_send_frame(fd, &h, e.buf, e.len), 0);
		enc_free(&e);
		uint8_t buf[4096];
		struct msg_hdr rh;
		CHECK_EQ(raw_read_frame(fd, &rh, buf, sizeof(buf)), 0);
		CHECK_EQ(rh.type, MSG_T_AUTH_CHALLENGE);
		uint8_t bogus[AUTH_PROOF_LEN] = { 0 };
		enc_init(&e, 0);
		auth_proof_encode(&e, bogus);
		h.type = MSG_T_AUTH_PROOF;
		h.payload_len = (uint32_t)e.len;
		h.payload_crc = norn_crc32c(0, e.buf, e.len);
		CHECK_EQ(raw_send_frame(fd, &h, e.buf, e.len), 0);
		enc_free(&e);
		CHECK_EQ(raw_read_frame(fd, &rh, buf, sizeof(buf)), 0);
		CHECK_EQ(rh.type, MSG_T_AUTH_FAIL);
		CHECK(raw_wait_closed(fd, 3000));
		close(fd);
		CHECK_EQ(srv.up, 0);
	}

	/* 4. The right secret still works afterwards. */
	memcpy(cr.key, key_admin, 32);
	snprintf(cr.entity, sizeof(cr.entity), "client.admin");
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, &cr, &c), 0);
	CHECK(run_int_until(&cli.up, 1, 5000));
	CHECK_EQ(srv.up, 1);
	teardown(&c, 1);
}

TEST(tickets_handshake)
{
	setup();
	start_server(NULL);
	start_client(&cli, "client.admin");
	uint8_t blob[AUTH_TICKET_MAX], sess[32];
	size_t bl;
	uint64_t now = norn_real_ns();
	CHECK_EQ(auth_ticket_create(service_key, 1, "client.s3", "osd allow rw", now + 60000000000ull,
	                            sess, blob, sizeof(blob), &bl), 0);
	struct msgr_cred cr = { .entity = "client.s3", .ticket = blob, .ticket_len = bl };
	memcpy(cr.key, sess, 32);
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, &cr, &c), 0);
	CHECK(run_int_until(&cli.up, 1, 5000));
	CHECK_STREQ(srv.last_caps, "osd allow rw");
	CHECK_STREQ(msgr_conn_peer_entity(srv.last_in), "client.s3");
	msgr_conn_close(c, NULL, NULL);

	/* Expired ticket. */
	CHECK_EQ(auth_ticket_create(service_key, 1, "client.s3", "", now - 1, sess, blob,
	                            sizeof(blob), &bl), 0);
	cr.ticket_len = bl;
	memcpy(cr.key, sess, 32);
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, &cr, &c), 0);
	CHECK(run_int_until(&cli.authfail, 1, 5000));
	msgr_conn_close(c, NULL, NULL);

	/* Tampered ticket. */
	CHECK_EQ(auth_ticket_create(service_key, 1, "client.s3", "", now + 60000000000ull, sess,
	                            blob, sizeof(blob), &bl), 0);
	blob[bl / 2] ^= 4;
	cr.ticket_len = bl;
	memcpy(cr.key, sess, 32);
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, &cr, &c), 0);
	CHECK(run_int_until(&cli.authfail, 2, 5000));
	msgr_conn_close(c, NULL, NULL);

	/* A valid ticket with a wrong session key. */
	blob[bl / 2] ^= 4;
	cr.key[3] ^= 1;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, &cr, &c), 0);
	CHECK(run_int_until(&cli.authfail, 3, 5000));
	CHECK_EQ(cli.up, 1);
	teardown(&c, 1);
}

TEST(reconnect_after_restart)
{
	setup();
	start_server(NULL);
	start_client(&cli, "client.admin");
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	CHECK(run_int_until(&cli.up, 1, 5000));
	struct ping p = { { 0, 0, 0, 0 } };
	struct iovec iov = { &p, sizeof(p) };
	CHECK_EQ(msgr_send(c, T_PING, 0, 1, &iov, 1, NULL, NULL), 0);
	CHECK(run_until(&srv.nmsgs, 1, 5000));

	/* Stop the server. */
	msgr_conn_put(srv.last_in);
	srv.last_in = NULL;
	closed_count = 0;
	msgr_close(srv.m, closed_cb, NULL);
	srv.m = NULL;
	CHECK(run_int_until(&closed_count, 1, 5000));
	CHECK(run_int_until(&cli.down, 1, 5000));
	CHECK(!msgr_conn_is_up(c));
	/* Messages queued while down are sent after reconnect. */
	static struct ping q[10];
	for (uint64_t i = 1; i <= 10; i++) {
		for (int k = 0; k < 4; k++)
			q[i - 1].words[k] = i;
		struct iovec qi = { &q[i - 1], sizeof(q[i - 1]) };
		CHECK_EQ(msgr_send(c, T_PING, i, 1, &qi, 1, NULL, NULL), 0);
	}
	run_for(300);           /* several failed reconnect attempts */
	CHECK_EQ(cli.down, 1);  /* DOWN reported once, not per attempt */
	int port = srv.port;
	uint64_t got = srv.nmsgs;
	start_server(NULL);
	CHECK_EQ(srv.port, port);
	srv.next_tid = 1;
	CHECK(run_int_until(&cli.up, 2, 5000));
	CHECK(run_until(&srv.nmsgs, got + 10, 5000));
	CHECK_EQ(srv.order_errors, 0);
	CHECK_EQ(srv.content_errors, 0);
	teardown(&c, 1);
}

static uint8_t bp_buf[16384];

TEST(backpressure)
{
	setup();
	struct msgr_opts so;
	base_opts(&so, &srv, "osd.1");
	start_server(&so);
	srv.pause_on_up = 1;
	struct msgr_opts o;
	base_opts(&o, &cli, "client.admin");
	o.send_queue_bytes = 65536;
	CHECK_EQ(msgr_create(&loop, &o, &cli.m), 0);
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	CHECK(run_int_until(&cli.up, 1, 5000));
	CHECK(run_int_until(&srv.up, 1, 5000));
	/* The server reads nothing: the kernel buffers fill, then our queue. */
	uint64_t sent = 0;
	int eagain = 0;
	for (int round = 0; round < 2000 && !eagain; round++) {
		struct iovec iov = { bp_buf, sizeof(bp_buf) };
		int rc = msgr_send(c, T_DATA + 1, sent, 1, &iov, 1, NULL, NULL);
		if (rc == NORN_EAGAIN)
			eagain = 1;
		else {
			CHECK_EQ(rc, 0);
			sent++;
		}
		run_for(1);
	}
	CHECK(eagain);
	CHECK(msgr_conn_queued_bytes(c) <= 65536 + sizeof(bp_buf) + MSG_HDR_LEN);
	CHECK_EQ(cli.writable, 0);
	run_for(100);
	CHECK_EQ(srv.nmsgs, 0);
	/* Resume reading: everything arrives and the producer is told. */
	msgr_conn_resume_read(srv.last_in);
	CHECK(run_int_until(&cli.writable, 1, 5000));
	CHECK(run_until(&srv.nmsgs, sent, 10000));
	CHECK_EQ(srv.order_errors, 0);
	teardown(&c, 1);
}

TEST(keepalive_and_timeouts)
{
	setup();
	struct msgr_opts so;
	base_opts(&so, &srv, "osd.1");
	so.keepalive_ms = 100;
	so.timeout_ms = 800;
	so.handshake_timeout_ms = 300;
	start_server(&so);
	struct msgr_opts o;
	base_opts(&o, &cli, "client.admin");
	o.keepalive_ms = 100;
	o.timeout_ms = 800;
	CHECK_EQ(msgr_create(&loop, &o, &cli.m), 0);
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &c), 0);
	CHECK(run_int_until(&cli.up, 1, 5000));
	/* Idle for over twice the timeout: keepalives keep it up. */
	run_for(2000);
	CHECK_EQ(cli.down, 0);
	CHECK_EQ(srv.down, 0);
	/* A peer that connects and says nothing is dropped. */
	int fd = raw_connect(srv.port);
	CHECK(raw_wait_closed(fd, 3000));
	close(fd);
	CHECK_EQ(cli.down, 0);
	teardown(&c, 1);
}

TEST(close_cancels_queued)
{
	setup();
	start_client(&cli, "client.admin");
	/* Nothing listens on this port: the conn keeps retrying. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	socklen_t al = sizeof(a);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	int port = ntohs(a.sin_port);
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", port, NULL, &c), 0);
	static struct ping p[100];
	int freed[2] = { 0, 0 };
	for (int i = 0; i < 100; i++) {
		struct iovec iov = { &p[i], sizeof(p[i]) };
		CHECK_EQ(msgr_send(c, T_PING, (uint64_t)i, 1, &iov, 1, free_count, freed), 0);
	}
	run_for(150);
	CHECK(cli.down >= 1);
	CHECK_EQ(cli.up, 0);
	CHECK_EQ(freed[0] + freed[1], 0);
	int closed = 0;
	msgr_conn_close(c, closed_cb, &closed);
	CHECK_EQ(freed[1], 100);      /* every queued message dropped, once */
	CHECK_EQ(freed[0], 0);
	close(fd);
	c = NULL;
	teardown(&c, 1);
}

/* ---- a recording TCP proxy (for "what is on the wire") ----------------- */

struct pxside {
	uv_tcp_t tcp;
	struct pxside *other;
	int record;
	int closed;
};
static struct pxside px_a, px_b;     /* a: from the client, b: to the server */
static uv_tcp_t px_listen;
static uv_connect_t px_creq;
static uint8_t px_rec[1 << 20];
static size_t px_rec_len;
static int px_server_port;
static char px_rbuf[65536];

static void px_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	(void)h; (void)sz;
	*b = uv_buf_init(px_rbuf, sizeof(px_rbuf));
}

static void px_wdone(uv_write_t *w, int st)
{
	(void)st;
	free(w);
}

static void px_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct pxside *s = st->data;
	if (n <= 0)
		return;
	if (s->record) {
		size_t k = NORN_MIN((size_t)n, sizeof(px_rec) - px_rec_len);
		memcpy(px_rec + px_rec_len, b->base, k);
		px_rec_len += k;
	}
	/* Copy into the write request: the read buffer is reused. */
	uv_write_t *w = malloc(sizeof(*w) + (size_t)n);
	CHECK(w);
	memcpy(w + 1, b->base, (size_t)n);
	uv_buf_t wb = uv_buf_init((char *)(w + 1), (unsigned)n);
	CHECK_EQ(uv_write(w, (uv_stream_t *)&s->other->tcp, &wb, 1, px_wdone), 0);
}

static void px_connected(uv_connect_t *r, int st)
{
	(void)r;
	CHECK_EQ(st, 0);
	uv_read_start((uv_stream_t *)&px_a.tcp, px_alloc, px_read);
	uv_read_start((uv_stream_t *)&px_b.tcp, px_alloc, px_read);
}

static void px_accept(uv_stream_t *l, int st)
{
	CHECK_EQ(st, 0);
	uv_tcp_init(&loop, &px_a.tcp);
	CHECK_EQ(uv_accept(l, (uv_stream_t *)&px_a.tcp), 0);
	uv_tcp_init(&loop, &px_b.tcp);
	px_a.tcp.data = &px_a;
	px_b.tcp.data = &px_b;
	px_a.other = &px_b;
	px_b.other = &px_a;
	px_a.record = 1;
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", px_server_port, &a);
	CHECK_EQ(uv_tcp_connect(&px_creq, &px_b.tcp, (struct sockaddr *)&a, px_connected), 0);
}

static int px_start(int server_port)
{
	px_server_port = server_port;
	px_rec_len = 0;
	uv_tcp_init(&loop, &px_listen);
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", 0, &a);
	CHECK_EQ(uv_tcp_bind(&px_listen, (struct sockaddr *)&a, 0), 0);
	CHECK_EQ(uv_listen((uv_stream_t *)&px_listen, 4, px_accept), 0);
	struct sockaddr_storage b;
	int bl = sizeof(b);
	uv_tcp_getsockname(&px_listen, (struct sockaddr *)&b, &bl);
	return ntohs(((struct sockaddr_in *)&b)->sin_port);
}

static void px_stop(void)
{
	uv_close((uv_handle_t *)&px_listen, NULL);
	uv_close((uv_handle_t *)&px_a.tcp, NULL);
	uv_close((uv_handle_t *)&px_b.tcp, NULL);
}

static int px_contains(const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= px_rec_len; i++)
		if (!memcmp(px_rec + i, needle, n))
			return 1;
	return 0;
}

TEST(wire_contents)
{
	setup();
	start_server(NULL);
	start_client(&cli, "client.admin");
	int pport = px_start(srv.port);
	struct msgr_conn *c;
	CHECK_EQ(msgr_connect(cli.m, "127.0.0.1", pport, NULL, &c), 0);
	static char secret[256];
	for (size_t i = 0; i + 1 < sizeof(secret); i++)
		secret[i] = "NORN-WIRE-MARKER-"[i % 17];
	struct iovec iov = { secret, sizeof(secret) - 1 };
	CHECK_EQ(msgr_send(c, T_DATA + 2, 0, 1, &iov, 1, NULL, NULL), 0);
	CHECK(run_until(&srv.nmsgs, 1, 5000));
	run_for(20);
	CHECK(px_rec_len > 0);
	if (tls) {
		/* Neither the payload nor the entity name is visible. */
		CHECK(!px_contains("NORN-WIRE-MARKER"));
		CHECK(!px_contains("client.admin"));
	} else {
		/* The proxy really records the stream. */
		CHECK(px_contains("NORN-WIRE-MARKER"));
		CHECK(px_contains("client.admin"));
	}
	msgr_conn_close(c, NULL, NULL);
	c = NULL;
	px_stop();
	teardown(&c, 1);
}

TEST_MAIN_TIMEOUT(90, TEST_ENTRY(order_10000), TEST_ENTRY(payload_64mib),
                  TEST_ENTRY(peer_killed_mid_frame), TEST_ENTRY(garbage_frames),
                  TEST_ENTRY(auth_failures), TEST_ENTRY(tickets_handshake),
                  TEST_ENTRY(reconnect_after_restart), TEST_ENTRY(backpressure),
                  TEST_ENTRY(keepalive_and_timeouts), TEST_ENTRY(wire_contents),
                  TEST_ENTRY(close_cancels_queued))
