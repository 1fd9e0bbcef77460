/* Messenger benchmark: round trips per second for 4 KiB messages and MB/s
 * for a stream of 4 MiB messages over loopback, each next to the same
 * pattern on plain blocking sockets measured in the same run, printed as
 * ratios (messenger / plain).
 *
 *   bench_msg [--seconds N] [--rounds R] [--tls] [--rt-bytes B] [--stream-bytes B]
 *
 * The four measurements are interleaved R times (plain, msgr, plain,
 * msgr, ...) and the best of each is reported, so a burst of load from
 * elsewhere on the machine skews both sides alike rather than one.
 *
 * Each side runs on its own thread (the server on a second thread with
 * its own libuv loop for the messenger, a blocking echo/sink thread for
 * plain sockets), so both patterns use the same two cores.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/env.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/tls.h"
#include "norn/errors.h"

#define T_PING 300
#define T_DATA 301

static double seconds = 2.0;
static int rounds = 3;
static size_t rt_bytes = 4096;
static size_t stream_bytes = 4u << 20;
static struct tls_ctx *tls;
static uint8_t key[32] = { 7 };

static double now_s(void) { return (double)norn_mono_ns() / 1e9; }

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_msg: %s: %d (%s)\n", what, rc, rc < 0 ? norn_strerror(rc) : "");
	exit(1);
}

/* ---- plain sockets ----------------------------------------------------- */

static int listen_any(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4))
		die("bind", -errno);
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect", -errno);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t put = 0;
	while (put < n) {
		ssize_t r = write(fd, (const char *)buf + put, n - put);
		if (r <= 0)
			return -1;
		put += (size_t)r;
	}
	return 0;
}

struct plain_srv { int lfd; int echo; _Atomic uint64_t bytes; };

static void *plain_server(void *arg)
{
	struct plain_srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	size_t cap = s->echo ? rt_bytes : stream_bytes;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (s->echo) {
			if (read_full(fd, buf, rt_bytes) || write_full(fd, buf, rt_bytes))
				break;
		} else {
			ssize_t r = read(fd, buf, cap);
			if (r <= 0)
				break;
			atomic_fetch_add(&s->bytes, (uint64_t)r);
		}
	}
	free(buf);
	close(fd);
	return NULL;
}

static double plain_pingpong(void)
{
	struct plain_srv s = { .echo = 1 };
	int port;
	s.lfd = listen_any(&port);
	pthread_t th;
	pthread_create(&th, NULL, plain_server, &s);
	int fd = connect_to(port);
	uint8_t *buf = calloc(1, rt_bytes);
	uint64_t n = 0;
	double t0 = now_s(), t;
	while ((t = now_s()) - t0 < seconds) {
		if (write_full(fd, buf, rt_bytes) || read_full(fd, buf, rt_bytes))
			die("plain ping-pong", -EIO);
		n++;
	}
	close(fd);
	pthread_join(th, NULL);
	close(s.lfd);
	free(buf);
	return (double)n / (t - t0);
}

static double plain_stream(void)
{
	struct plain_srv s = { .echo = 0 };
	int port;
	s.lfd = listen_any(&port);
	pthread_t th;
	pthread_create(&th, NULL, plain_server, &s);
	int fd = connect_to(port);
	uint8_t *buf = calloc(1, stream_bytes);
	double t0 = now_s(), t;
	uint64_t b0 = atomic_load(&s.bytes);
	while ((t = now_s()) - t0 < seconds)
		if (write_full(fd, buf, stream_bytes))
			die("plain stream", -EIO);
	uint64_t b = atomic_load(&s.bytes) - b0;
	t = now_s();
	close(fd);
	pthread_join(th, NULL);
	close(s.lfd);
	free(buf);
	return (double)b / (t - t0) / 1e6;
}

/* ---- messenger --------------------------------------------------------- */

struct side {
	uv_loop_t loop;
	struct msgr *m;
	uv_async_t stop;
	int port;
	_Atomic uint64_t bytes;
	_Atomic int ready;
	/* client */
	struct msgr_conn *c;
	uint8_t *buf;
	uint64_t n, tid;
	double t0, t_end;
	int done, up;
	int stream;
};

static void reply_free(void *arg, int status)
{
	(void)status;
	free(arg);
}

static void srv_on_message(struct msgr_conn *c, struct msg_in *m, void *user)
{
	struct side *s = user;
	atomic_fetch_add_explicit(&s->bytes, m->len, memory_order_relaxed);
	if (m->hdr.type != T_PING)
		return;
	size_t len = m->len;
	uint8_t *p = msg_in_steal(m);
	struct iovec iov = { p, len };
	if (msgr_send(c, T_PING, m->hdr.tid, 0, &iov, p ? 1 : 0, reply_free, p))
		free(p);
}

static int srv_get_key(const char *entity, const uint8_t *ticket, size_t ticket_len,
                       uint8_t key_out[AUTH_KEY_LEN], char caps_out[AUTH_CAPS_STR_MAX], void *user)
{
	(void)entity; (void)ticket; (void)ticket_len; (void)user;
	memcpy(key_out, key, 32);
	caps_out[0] = 0;
	return 0;
}

static void stop_cb(uv_async_t *a)
{
	struct side *s = a->data;
	msgr_close(s->m, NULL, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void *msgr_server(void *arg)
{
	struct side *s = arg;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void opts_for(struct msgr_opts *o, const char *entity, void *user)
{
	msgr_opts_init(o, NULL);
	snprintf(o->entity, sizeof(o->entity), "%s", entity);
	snprintf(o->cred.entity, sizeof(o->cred.entity), "%s", entity);
	memcpy(o->cred.key, key, 32);
	o->cb.user = user;
	o->tls = tls;
	o->send_queue_bytes = 64u << 20;
}

static void start_server(struct side *s)
{
	memset(s, 0, sizeof(*s));
	uv_loop_init(&s->loop);
	struct msgr_opts o;
	opts_for(&o, "osd.0", s);
	o.cb.on_message = srv_on_message;
	o.cb.get_key = srv_get_key;
	int rc = msgr_create(&s->loop, &o, &s->m);
	if (rc)
		die("msgr_create", rc);
	if ((rc = msgr_listen(s->m, "127.0.0.1", 0, &s->port)))
		die("msgr_listen", rc);
	uv_async_init(&s->loop, &s->stop, stop_cb);
	s->stop.data = s;
}

static void stop_server(struct side *s, pthread_t th)
{
	uv_async_send(&s->stop);
	pthread_join(th, NULL);
	uv_loop_close(&s->loop);
}

static void cli_send_ping(struct side *s)
{
	struct iovec iov = { s->buf, rt_bytes };
	int rc = msgr_send(s->c, T_PING, s->tid++, 0, &iov, 1, NULL, NULL);
	if (rc)
		die("msgr_send", rc);
}

static void cli_fill(struct side *s)
{
	while (!s->done) {
		if (now_s() - s->t0 >= seconds) {
			s->done = 1;
			break;
		}
		struct iovec iov = { s->buf, stream_bytes };
		int rc = msgr_send(s->c, T_DATA, s->tid++, 0, &iov, 1, NULL, NULL);
		if (rc == NORN_EAGAIN)
			return;
		if (rc)
			die("msgr_send", rc);
	}
}

static void cli_on_message(struct msgr_conn *c, struct msg_in *m, void *user)
{
	(void)c; (void)m;
	struct side *s = user;
	s->n++;
	double t = now_s();
	if (t - s->t0 >= seconds) {
		s->t_end = t;
		s->done = 1;
		return;
	}
	cli_send_ping(s);
}

static void cli_on_state(struct msgr_conn *c, enum msgr_conn_state st, void *user)
{
	(void)c;
	struct side *s = user;
	if (st != MSGR_CONN_UP)
		die("conn state", (int)st);
	s->up = 1;
}

static void cli_on_writable(struct msgr_conn *c, void *user)
{
	(void)c;
	cli_fill(user);
}

static void tick(uv_timer_t *t)
{
	struct side *s = t->data;
	if (s->stream && !s->done && now_s() - s->t0 >= seconds)
		s->done = 1;
}

static double msgr_bench(int stream, double *result_rate)
{
	struct side srv, cli;
	start_server(&srv);
	pthread_t th;
	pthread_create(&th, NULL, msgr_server, &srv);

	memset(&cli, 0, sizeof(cli));
	cli.stream = stream;
	uv_loop_init(&cli.loop);
	struct msgr_opts o;
	opts_for(&o, "client.bench", &cli);
	o.cb.on_message = cli_on_message;
	o.cb.on_conn_state = cli_on_state;
	o.cb.on_writable = cli_on_writable;
	int rc = msgr_create(&cli.loop, &o, &cli.m);
	if (rc)
		die("msgr_create", rc);
	if ((rc = msgr_connect(cli.m, "127.0.0.1", srv.port, NULL, &cli.c)))
		die("msgr_connect", rc);
	while (!cli.up)
		uv_run(&cli.loop, UV_RUN_ONCE);
	cli.buf = calloc(1, stream ? stream_bytes : rt_bytes);
	uv_timer_t t;
	uv_timer_init(&cli.loop, &t);
	t.data = &cli;
	uv_timer_start(&t, tick, 10, 10);
	uint64_t b0 = atomic_load(&srv.bytes);
	cli.t0 = now_s();
	if (stream)
		cli_fill(&cli);
	else
		cli_send_ping(&cli);
	while (!cli.done)
		uv_run(&cli.loop, UV_RUN_ONCE);
	double t1 = now_s();
	uint64_t b = atomic_load(&srv.bytes) - b0;
	if (stream)
		*result_rate = (double)b / (t1 - cli.t0) / 1e6;
	else
		*result_rate = (double)cli.n / (cli.t_end - cli.t0);
	uv_close((uv_handle_t *)&t, NULL);
	msgr_conn_close(cli.c, NULL, NULL);
	msgr_close(cli.m, NULL, NULL);
	uv_run(&cli.loop, UV_RUN_DEFAULT);
	uv_loop_close(&cli.loop);
	stop_server(&srv, th);
	free(cli.buf);
	return *result_rate;
}

int main(int argc, char **argv)
{
	int use_tls = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tls"))
			use_tls = 1;
		else if (!strcmp(argv[i], "--rt-bytes") && i + 1 < argc)
			rt_bytes = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--stream-bytes") && i + 1 < argc)
			stream_bytes = (size_t)atol(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_msg [--seconds N] [--rounds R] [--tls] [--rt-bytes B] "
			        "[--stream-bytes B]\n");
			return 2;
		}
	}
	norn_log_init("bench", stderr, NORN_LOG_WARN);
	if (use_tls) {
		const char *c = getenv("NORN_BENCH_TLS_CERT"), *k = getenv("NORN_BENCH_TLS_KEY");
		if (!c || !k) {
			fprintf(stderr, "--tls needs NORN_BENCH_TLS_CERT and NORN_BENCH_TLS_KEY\n");
			return 2;
		}
		int rc = tls_ctx_create(c, k, NULL, &tls);
		if (rc)
			die("tls_ctx_create", rc);
	}
	double prt = 0, mrt = 0, pst = 0, mst = 0, x;
	for (int r = 0; r < rounds; r++) {
		x = plain_pingpong();
		prt = x > prt ? x : prt;
		msgr_bench(0, &x);
		mrt = x > mrt ? x : mrt;
		x = plain_stream();
		pst = x > pst ? x : pst;
		msgr_bench(1, &x);
		mst = x > mst ? x : mst;
	}
	printf("messenger%s, best of %d x %.1f s per measurement, loopback\n",
	       use_tls ? " (TLS)" : "", rounds, seconds);
	printf("%zu B round trips/s : plain %10.0f  msgr %10.0f  ratio %.2f\n", rt_bytes, prt, mrt,
	       mrt / prt);
	printf("%zu B stream MB/s   : plain %10.1f  msgr %10.1f  ratio %.2f\n", stream_bytes, pst,
	       mst, mst / pst);
	tls_ctx_free(tls);
	return 0;
}
