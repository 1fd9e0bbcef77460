/* The HTTP server in-process: keep-alive, pipelining, header-size limit,
 * rate limit flag, body streaming with backpressure, garbage input. A
 * tiny echo application answers each request with its method, path and
 * body length; a client thread talks over 127.0.0.1. */
#include "tests/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "client/s3/s3_http.h"

struct app {
	int requests;
	uint64_t max_piece;
	int into;                /* read bodies with s3_http_body_read_into */
	uint64_t inplace_bytes;  /* body bytes that arrived in the app's buffer */
};

struct echo {
	struct app *app;
	uint64_t total;
	uint64_t fnv;            /* FNV-1a of the body */
	char buf[100003];        /* into mode: the body lands here, cyclically */
	size_t off;
	char out[256];
};

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h;
}

static void echo_body(struct s3_http_req *req, int err, const char *p, size_t n, void *arg)
{
	struct echo *e = arg;
	if (err || n == 0) {
		int len = snprintf(e->out, sizeof(e->out), "%s %s %llu%s fnv=%016llx", req->method,
		                   req->path, (unsigned long long)e->total, req->limit ? " limited" : "",
		                   (unsigned long long)e->fnv);
		s3_http_send_head(req, err ? 400 : 200, NULL, len);
		s3_http_write_copy(req, e->out, (size_t)len);
		free(e);
		s3_http_end(req);
		return;
	}
	if (n > e->app->max_piece)
		e->app->max_piece = n;
	e->total += n;
	e->fnv = fnv1a(e->fnv, p, n);
	if (e->app->into) {
		if (p == e->buf + e->off) {
			CHECK(n <= sizeof(e->buf) - e->off);
			e->app->inplace_bytes += n;
		}
		e->off += n;
		if (e->off >= sizeof(e->buf) - 7)
			e->off = 0;
		s3_http_body_read_into(req, e->buf + e->off, sizeof(e->buf) - e->off, echo_body, e);
		return;
	}
	s3_http_body_read(req, echo_body, e);
}

static void on_request(void *ctx, struct s3_http_req *req)
{
	struct app *a = ctx;
	struct echo *e = calloc(1, sizeof(*e));
	a->requests++;
	e->app = a;
	e->fnv = 0xcbf29ce484222325ull;
	if (a->into)
		s3_http_body_read_into(req, e->buf, sizeof(e->buf), echo_body, e);
	else
		s3_http_body_read(req, echo_body, e);
}

struct client_job {
	int port;
	const char *send;
	size_t send_len;
	size_t body_extra;     /* bytes of 'x' appended after send */
	char resp[8192];
	size_t resp_len;
	size_t want_responses;
	int trickle;           /* send in 3-byte pieces with pauses */
};

static void *client_thread(void *arg)
{
	struct client_job *j = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)j->port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return NULL;
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (j->trickle) {
		for (size_t o = 0; o < j->send_len; o += 3) {
			(void)!write(fd, j->send + o, j->send_len - o < 3 ? j->send_len - o : 3);
			usleep(1000);
		}
	} else {
		(void)!write(fd, j->send, j->send_len);
	}
	char *x = malloc(65536);
	memset(x, 'x', 65536);
	for (size_t left = j->body_extra; left;) {
		size_t n = left > 65536 ? 65536 : left;
		ssize_t w = write(fd, x, n);
		if (w <= 0)
			break;
		left -= (size_t)w;
	}
	free(x);
	for (;;) {
		ssize_t r = read(fd, j->resp + j->resp_len, sizeof(j->resp) - 1 - j->resp_len);
		if (r <= 0)
			break;
		j->resp_len += (size_t)r;
		j->resp[j->resp_len] = 0;
		size_t count = 0;
		for (const char *p = j->resp; (p = strstr(p, "HTTP/1.1 ")); p++)
			count++;
		if (j->want_responses && count >= j->want_responses && strstr(j->resp, "\r\n\r\n")) {
			/* wait for the last body a little */
			const char *last = j->resp;
			for (const char *p = j->resp; (p = strstr(p, "HTTP/1.1 ")); p++)
				last = p;
			const char *b = strstr(last, "\r\n\r\n");
			if (b && strlen(b + 4) > 0)
				break;
		}
	}
	close(fd);
	return NULL;
}

static int run_server(struct client_job *j, uint32_t rate, size_t max_hdr, struct app *a)
{
	uv_loop_t loop;
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	struct s3_http_server *s;
	struct s3_http_config cfg = { .addr = "127.0.0.1", .port = 0, .max_header_bytes = max_hdr,
	                              .max_req_per_sec = rate };
	struct s3_http_handlers h = { on_request, a };
	CHECK_EQ(s3_http_server_start(&loop, &cfg, &h, &s), 0);
	j->port = s3_http_port(s);
	pthread_t t;
	pthread_create(&t, NULL, client_thread, j);
	/* Run the loop until the client is done. */
	for (int i = 0; i < 100000; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (pthread_tryjoin_np(t, NULL) == 0)
			break;
		usleep(200);
	}
	s3_http_server_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	return 0;
}

TEST(pipelined_keepalive)
{
	struct app a = { 0 };
	struct client_job j;
	memset(&j, 0, sizeof(j));
	j.send = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	         "PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
	         "GET /c?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
	j.send_len = strlen(j.send);
	j.want_responses = 3;
	run_server(&j, 0, 0, &a);
	CHECK_EQ(a.requests, 3);
	const char *r1 = strstr(j.resp, "GET /a 0");
	const char *r2 = strstr(j.resp, "PUT /b 5");
	const char *r3 = strstr(j.resp, "GET /c 0");
	CHECK(r1 && r2 && r3 && r1 < r2 && r2 < r3);
	CHECK(strstr(j.resp, "Connection: keep-alive"));
}

TEST(trickled_requests)
{
	struct app a = { 0 };
	struct client_job j;
	memset(&j, 0, sizeof(j));
	j.send = "PUT /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
	         "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
	j.send_len = strlen(j.send);
	j.want_responses = 2;
	j.trickle = 1;
	run_server(&j, 0, 0, &a);
	CHECK_EQ(a.requests, 2);
	CHECK(strstr(j.resp, "PUT /slow 11"));
	CHECK(strstr(j.resp, "GET /next 0"));
}

TEST(streamed_body_in_pieces)
{
	struct app a = { 0 };
	struct client_job j;
	char hdr[128];
	memset(&j, 0, sizeof(j));
	size_t len = 20u << 20;
	snprintf(hdr, sizeof(hdr), "PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", len);
	j.send = hdr;
	j.send_len = strlen(hdr);
	j.body_extra = len;
	j.want_responses = 1;
	run_server(&j, 0, 0, &a);
	char want[64];
	snprintf(want, sizeof(want), "PUT /big %zu", len);
	CHECK(strstr(j.resp, want));
	/* Never more than one read buffer (plus a stash) at a time. */
	CHECK(a.max_piece <= 2 * S3_HTTP_READ_BUF_BYTES);
}

static void expect_fnv(const struct client_job *j, const char *line_prefix, const char *body,
                       size_t n, char fill)
{
	uint64_t h = 0xcbf29ce484222325ull;
	if (body)
		h = fnv1a(h, body, n);
	for (size_t i = 0; !body && i < n; i++)
		h = fnv1a(h, &fill, 1);
	char want[160];
	snprintf(want, sizeof(want), "%s fnv=%016llx", line_prefix, (unsigned long long)h);
	CHECK(strstr(j->resp, want));
}

/* s3_http_body_read_into: pipelined requests whose bodies arrive with
 * their headers (not in place: copied) and after them; every body intact
 * and in order, the next request's bytes never read into a body buffer. */
TEST(read_into_pipelined)
{
	for (int trickle = 0; trickle < 2; trickle++) {
		struct app a = { .into = 1 };
		struct client_job j;
		memset(&j, 0, sizeof(j));
		j.send = "PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		         "PUT /c HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"
		         "hello world"
		         "GET /d HTTP/1.1\r\nHost: h\r\n\r\n";
		j.send_len = strlen(j.send);
		j.want_responses = 4;     /* with the 100 Continue */
		j.trickle = trickle;
		run_server(&j, 0, 0, &a);
		CHECK_EQ(a.requests, 3);
		expect_fnv(&j, "PUT /b 5", "hello", 5, 0);
		expect_fnv(&j, "PUT /c 11", "hello world", 11, 0);
		expect_fnv(&j, "GET /d 0", "", 0, 0);
		if (trickle)
			CHECK(a.inplace_bytes > 0);
	}
}

/* A large body read into the application's buffer: in place (no copy)
 * for nearly all of it, intact, never more than the buffer offered. */
TEST(read_into_big_body)
{
	struct app a = { .into = 1 };
	struct client_job j;
	char hdr[160];
	memset(&j, 0, sizeof(j));
	size_t len = 20u << 20;
	snprintf(hdr, sizeof(hdr),
	         "PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", len);
	j.send = hdr;
	j.send_len = strlen(hdr);
	j.body_extra = len;
	j.want_responses = 1;
	run_server(&j, 0, 0, &a);
	char want[64];
	snprintf(want, sizeof(want), "PUT /big %zu", len);
	expect_fnv(&j, want, NULL, len, 'x');
	CHECK(a.inplace_bytes > len / 2);
	CHECK(a.max_piece <= 2 * S3_HTTP_READ_BUF_BYTES);
}

TEST(header_limit)
{
	struct app a = { 0 };
	struct client_job j;
	memset(&j, 0, sizeof(j));
	static char big[8192];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ");
	memset(big + n, 'p', 5000);
	memcpy(big + n + 5000, "\r\n\r\n", 5);
	j.send = big;
	j.send_len = strlen(big);
	run_server(&j, 0, 2048, &a);
	CHECK_EQ(a.requests, 0);
	CHECK(strstr(j.resp, "HTTP/1.1 431"));
	CHECK(strstr(j.resp, "Connection: close"));
}

TEST(garbage_and_rate_limit)
{
	struct app a = { 0 };
	struct client_job j;
	memset(&j, 0, sizeof(j));
	j.send = "\x16\x03\x01 not http at all\r\n\r\n";
	j.send_len = strlen(j.send);
	run_server(&j, 0, 0, &a);
	CHECK(strstr(j.resp, "HTTP/1.1 400"));
	CHECK_EQ(a.requests, 0);

	struct app b = { 0 };
	memset(&j, 0, sizeof(j));
	j.send = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
	         "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
	j.send_len = strlen(j.send);
	j.want_responses = 3;
	run_server(&j, 2, 0, &b);
	CHECK_EQ(b.requests, 3);
	CHECK(strstr(j.resp, "GET /3 0 limited"));
	CHECK(!strstr(j.resp, "GET /2 0 limited"));
}

TEST_MAIN(TEST_ENTRY(pipelined_keepalive), TEST_ENTRY(trickled_requests), TEST_ENTRY(streamed_body_in_pieces),
          TEST_ENTRY(read_into_pipelined), TEST_ENTRY(read_into_big_body), TEST_ENTRY(header_limit),
          TEST_ENTRY(garbage_and_rate_limit))
