/* The gateway's HTTP/1.1 server: libuv TCP + Debian's libhttp-parser.
 *
 * One libuv loop, one thread. Each connection parses one request at a
 * time; the parser is paused at the end of the headers and at the end of
 * each message, so pipelined requests queue up in the socket (or in the
 * small unparsed "stash") until the previous response has been handed
 * over. That one rule gives keep-alive, pipelining and backpressure:
 *
 *  - the socket is read only while no request is in progress or while the
 *    application has asked for more body (s3_http_body_read);
 *  - body bytes are delivered in pieces of at most one read buffer plus
 *    the stash, and no more is read until the application asks again, so
 *    a 5 GiB PUT never sits in memory;
 *  - response bodies are written with s3_http_write(), whose callback fires
 *    when the kernel took the bytes, so a GET reads its next piece from
 *    the backend only when the previous one is on its way.
 *
 * Idle connections cost one struct (no buffer: all reads go through one
 * per-server read buffer and only an unparsed tail is copied). A sweep
 * timer closes connections idle longer than the idle timeout and requests
 * that stall longer than the request timeout. Limits: header bytes per
 * request (431-style 400 + close), requests per second per connection
 * (flagged on the request; the API answers 503 SlowDown).
 *
 * TLS (optional): with cfg.tls_ctx every connection runs OpenSSL over a
 * pair of memory BIOs: ciphertext read from the socket goes into one BIO,
 * the plaintext from SSL_read into the parser; response bytes go through
 * SSL_write and the other BIO to uv_write. A write callback still fires
 * only when its (encrypted) bytes left, so backpressure is unchanged.
 *
 * Lifecycle: the server calls handlers->on_request(req) once the headers
 * are in; the application then reads the body (optional), sends the head,
 * writes the body and calls s3_http_end(req) exactly once. The request
 * stays valid until then even if the peer goes away (writes and reads
 * then fail with a negative code).
 */
#ifndef NORN_S3_HTTP_H
#define NORN_S3_HTTP_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "client/s3/s3_util.h"

#define S3_HTTP_MAX_HEADERS 128
#define S3_HTTP_READ_BUF_BYTES (256u << 10)

struct s3_http_server;
struct s3_http_conn;
struct s3_http_req;

enum s3_http_limit { S3_HTTP_LIMIT_NONE = 0, S3_HTTP_LIMIT_RATE = 1 };

typedef void (*s3_http_body_cb)(struct s3_http_req *req, int err, const char *p, size_t n,
                                void *arg);
typedef void (*s3_http_write_cb)(struct s3_http_req *req, int status, void *arg);

struct s3_http_req {
	struct s3_http_conn *conn;
	const char *method;         /* "GET", ... (static string) */
	char *url;                  /* raw request target, NUL-terminated */
	char *path;                 /* raw path (percent-encoded), before '?' */
	char *query;                /* raw query after '?', or NULL */
	struct s3_hdr hdrs[S3_HTTP_MAX_HEADERS];
	size_t nhdrs;
	uint64_t content_length;    /* valid if has_content_length */
	int has_content_length;
	int chunked_te;             /* Transfer-Encoding: chunked */
	int expect_continue;
	int keep_alive;
	enum s3_http_limit limit;   /* a limit this request tripped */
	char peer[64];
	uint64_t start_ns;
	uint64_t body_bytes_in;
	uint64_t bytes_out;
	int status;
	char log_user[64];          /* filled by the app for the access log */
	char log_op[48];
	void *app;                  /* the application's per-request state */

	/* private to s3_http.c */
	struct s3_buf hbuf;         /* "name\0value\0..." then url */
	struct s3_buf bodyq;
	s3_http_body_cb body_cb;
	void *body_arg;
	char *into;                 /* s3_http_body_read_into: where to read */
	size_t into_cap, into_len;
	int body_waiting, body_holding, msg_complete, dispatched, head_sent, ended;
	int discard, continue_sent, err;
};

struct s3_http_handlers {
	void (*on_request)(void *ctx, struct s3_http_req *req);
	void *ctx;
};

struct s3_http_config {
	const char *addr;           /* bind address, e.g. "127.0.0.1" */
	int port;                   /* 0: ephemeral (see s3_http_port) */
	size_t max_header_bytes;
	uint64_t idle_timeout_ms;
	uint64_t request_timeout_ms;  /* no progress on a request this long: close */
	uint32_t max_req_per_sec;   /* per connection; 0 = unlimited */
	uint32_t max_conns;
	FILE *access_log;           /* NULL: no access log */
	void *tls_ctx;              /* SSL_CTX * (not owned): serve HTTPS; NULL: plain HTTP */
};

/* Create and start listening on @loop. Returns 0 or a negative errno
 * (bind failure etc.). *out is freed by s3_http_server_close(). */
int s3_http_server_start(uv_loop_t *loop, const struct s3_http_config *cfg,
                         const struct s3_http_handlers *h, struct s3_http_server **out);
/* The bound port (after start with port 0). */
int s3_http_port(const struct s3_http_server *s);
/* Number of open connections. */
size_t s3_http_conn_count(const struct s3_http_server *s);
/* Stop listening, close every connection; frees the server once every
 * handle has closed (run the loop afterwards). */
void s3_http_server_close(struct s3_http_server *s);

/* Header lookup (case-insensitive); NULL if absent. */
const char *s3_http_header(const struct s3_http_req *req, const char *name);

/* Ask for the next piece of request body. @cb runs later from the loop
 * (never inside this call) with (err=0, p, n>0) for data that stays valid
 * until the next s3_http_body_read or s3_http_end, with (0, NULL, 0) at the
 * end of the body, or with a negative error (peer gone: -ECONNRESET; bad
 * framing: -EBADMSG). The first call answers "Expect: 100-continue". */
void s3_http_body_read(struct s3_http_req *req, s3_http_body_cb cb, void *arg);
/* As s3_http_body_read, but the next piece may be read from the socket
 * straight into @dst (up to @cap > 0 bytes): the callback's p is then @dst
 * and no copy was made. That happens when it can (a plain-HTTP
 * Content-Length body with no bytes already buffered); otherwise p points
 * elsewhere as with s3_http_body_read, and @dst is untouched. @dst must
 * stay valid until the callback. */
void s3_http_body_read_into(struct s3_http_req *req, char *dst, size_t cap, s3_http_body_cb cb,
                            void *arg);

/* Queue the status line and headers. @extra_headers is a block of
 * "Name: value\r\n" lines (may be NULL). The server adds Date,
 * Content-Length (if @content_length >= 0), Connection and Server. */
int s3_http_send_head(struct s3_http_req *req, int status, const char *extra_headers,
                      int64_t content_length);
/* Queue a copy of @n bytes. */
int s3_http_write_copy(struct s3_http_req *req, const void *p, size_t n);
/* Queue @n bytes that stay owned by the caller until @cb (status 0 or a
 * negative libuv error) runs; @cb always runs, from the loop. */
void s3_http_write(struct s3_http_req *req, const void *p, size_t n, s3_http_write_cb cb,
                   void *arg);
/* The response is complete (or abandoned). Writes the access log line,
 * frees the request and lets the connection move to the next one. A body
 * not read to the end is discarded if small, else the connection closes
 * after the response. Call exactly once; @req is invalid afterwards. */
void s3_http_end(struct s3_http_req *req);

/* Close the connection after queued writes (e.g. after a fatal error). */
void s3_http_close_after(struct s3_http_req *req);
/* Non-zero once the peer has gone or the connection failed. */
int s3_http_req_dead(const struct s3_http_req *req);

#endif
