/* libFuzzer: raw bytes into the gateway's HTTP server. The input is split
 * at its first byte into up to four writes, sent over a socketpair to a
 * server whose application echoes every request and reads its body. Any
 * crash, leak or sanitizer report is a bug; responses are ignored. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/s3/s3_http.h"

static void body_cb(struct s3_http_req *req, int err, const char *p, size_t n, void *arg)
{
	if (err || n == 0) {
		s3_http_send_head(req, err ? 400 : 200, "X-T: 1\r\n", 2);
		s3_http_write_copy(req, "ok", 2);
		s3_http_end(req);
		return;
	}
	s3_http_body_read(req, body_cb, arg);
}

static void on_request(void *ctx, struct s3_http_req *req)
{
	(void)s3_http_header(req, "host");
	if (req->path && req->path[1] == 'e') {   /* answer without reading the body */
		s3_http_send_head(req, 404, NULL, 0);
		s3_http_end(req);
		return;
	}
	s3_http_body_read(req, body_cb, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uv_loop_t loop;
	/* The server may close first; a write must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	struct s3_http_server *s;
	struct s3_http_config cfg = { .addr = "127.0.0.1", .port = 0, .max_header_bytes = 4096,
	                              .max_req_per_sec = 50 };
	struct s3_http_handlers h = { on_request, NULL };
	if (s3_http_server_start(&loop, &cfg, &h, &s))
		abort();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	/* Close with a reset: thousands of runs a second would otherwise
	 * leave as many connections in TIME_WAIT and run the loopback's
	 * ephemeral ports out (connect then fails with EADDRNOTAVAIL). */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		abort();
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s3_http_port(s)) };
	sa.sin_addr.s_addr = htonl(0x7f000001);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	size_t split = size ? data[0] % 4 + 1 : 1;
	size_t off = size ? 1 : 0, piece = size / split + 1;
	uv_run(&loop, UV_RUN_NOWAIT);
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;
		if (write(fd, data + off, n) < 0)
			break;
		off += n;
		for (int i = 0; i < 4; i++)
			uv_run(&loop, UV_RUN_NOWAIT);
	}
	shutdown(fd, SHUT_WR);
	char buf[4096];
	for (int i = 0; i < 50; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0)
			break;
	}
	close(fd);
	s3_http_server_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return 0;
}
