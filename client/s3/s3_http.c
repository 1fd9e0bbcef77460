/* HTTP/1.1 server for the S3 gateway; the design is described in
 * s3_http.h. The heart is conn_pump(): a small state machine run after
 * every event (read, application call) that decides, in order, whether to
 * dispatch a parsed request, deliver body bytes, retire a finished
 * request, parse the stash, or (re)start/stop reading the socket. It never
 * runs application callbacks from inside http_parser_execute(), and it is
 * never re-entered: calls made while it runs only mark the connection for
 * another pass. */
#include "client/s3/s3_http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/assert.h"
#include "common/env.h"
#include "common/log.h"

/* A body left unread when the response ends is drained (kept alive) only
 * if at most this much remains; otherwise the connection closes. */
#define S3_HTTP_DISCARD_MAX_BYTES (1u << 20)
#define S3_HTTP_SWEEP_MS 1000

struct s3_http_conn {
	uv_tcp_t tcp;
	struct s3_http_server *srv;
	http_parser parser;
	struct s3_http_req *req;      /* request being parsed or served */
	char *stash;                  /* unparsed bytes (parser paused) */
	size_t stash_len;
	int refs;
	int reading, closing, dead, close_after, in_pump, pump_again, queued;
	int in_parse;
	size_t header_bytes;
	int hdr_state;                /* 0 none, 1 in field, 2 in value */
	uint64_t last_active_ns;
	uint64_t rate_window_ns;
	uint32_t rate_count;
	size_t pending_writes;
	struct s3_http_conn *prev, *next;      /* all connections */
	struct s3_http_conn *ready_next;       /* pump queue */
	char peer[64];
	SSL *ssl;                     /* NULL for plain HTTP */
	BIO *rbio, *wbio;             /* owned by ssl */
};

struct deferred_cb {
	s3_http_write_cb cb;
	struct s3_http_req *req;
	void *arg;
	int status;
	struct deferred_cb *next;
};

struct s3_http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t sweep;
	uv_idle_t idle;
	struct s3_http_config cfg;
	struct s3_http_handlers h;
	http_parser_settings settings;
	struct s3_http_conn *conns;
	size_t nconns;
	struct s3_http_conn *ready_head, *ready_tail;
	struct deferred_cb *deferred;
	int closing, handles_open, idle_active, idle_closed;
	size_t conn_objs;      /* conn structs not yet freed (may outlive their socket) */
	size_t live_reqs;
	char *rbuf;
	int rbuf_busy;
	struct s3_buf plain;          /* TLS: plaintext decrypted from one read */
};

struct write_req {
	uv_write_t w;
	struct s3_http_req *req;
	struct s3_http_conn *conn;
	s3_http_write_cb cb;
	void *arg;
	size_t len;
	char *owned;   /* TLS: ciphertext buffer freed with the request */
	char data[];   /* copies only */
};

static void conn_pump(struct s3_http_conn *c);
static void conn_close(struct s3_http_conn *c);
static void conn_unref(struct s3_http_conn *c);

static void on_handle_closed(uv_handle_t *h);

/* During shutdown the idle handle (which runs deferred work) stays open
 * until every connection and request is gone, so requests the
 * application still holds can finish; then it closes too. */
static void server_maybe_close_idle(struct s3_http_server *s)
{
	if (s->closing && !s->idle_closed && s->nconns == 0 && s->live_reqs == 0 &&
	    !s->ready_head && !s->deferred) {
		s->idle_closed = 1;
		s->idle_active = 0;
		uv_close((uv_handle_t *)&s->idle, on_handle_closed);
	}
}

static void server_maybe_free(struct s3_http_server *s)
{
	if (s->closing && s->handles_open == 0 && s->nconns == 0 && s->conn_objs == 0) {
		s3_buf_free(&s->plain);
		free(s->rbuf);
		free(s);
	}
}

static void conn_schedule(struct s3_http_conn *c)
{
	struct s3_http_server *s = c->srv;
	if (c->queued)
		return;
	c->queued = 1;
	c->refs++;
	c->ready_next = NULL;
	if (s->ready_tail)
		s->ready_tail->ready_next = c;
	else
		s->ready_head = c;
	s->ready_tail = c;
}

static void idle_cb(uv_idle_t *h)
{
	struct s3_http_server *s = h->data;
	/* Deferred write callbacks first (they only report failures). */
	struct deferred_cb *d = s->deferred;
	s->deferred = NULL;
	while (d) {
		struct deferred_cb *n = d->next;
		struct s3_http_conn *c = d->req->conn;
		d->cb(d->req, d->status, d->arg);
		conn_unref(c);
		free(d);
		d = n;
	}
	struct s3_http_conn *c = s->ready_head;
	s->ready_head = s->ready_tail = NULL;
	while (c) {
		struct s3_http_conn *n = c->ready_next;
		c->queued = 0;
		conn_pump(c);
		conn_unref(c);
		c = n;
	}
	if (!s->ready_head && !s->deferred && !s->idle_closed) {
		uv_idle_stop(&s->idle);
		s->idle_active = 0;
	}
	server_maybe_close_idle(s);
}

static void wake(struct s3_http_server *s)
{
	if (!s->idle_active && !s->idle_closed) {
		s->idle_active = 1;
		uv_idle_start(&s->idle, idle_cb);
	}
}

static void schedule(struct s3_http_conn *c)
{
	conn_schedule(c);
	wake(c->srv);
}

const char *s3_http_header(const struct s3_http_req *req, const char *name)
{
	for (size_t i = 0; i < req->nhdrs; i++)
		if (!strcasecmp(req->hdrs[i].name, name))
			return req->hdrs[i].value;
	return NULL;
}

/* --- request objects -------------------------------------------------- */

static struct s3_http_req *req_new(struct s3_http_conn *c)
{
	struct s3_http_req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->conn = c;
	s3_buf_init(&r->hbuf);
	s3_buf_init(&r->bodyq);
	snprintf(r->peer, sizeof(r->peer), "%s", c->peer);
	r->start_ns = norn_mono_ns();
	c->refs++;
	c->srv->live_reqs++;
	return r;
}

static void req_free(struct s3_http_req *r)
{
	struct s3_http_conn *c = r->conn;
	if (c->req == r)
		c->req = NULL;
	s3_buf_free(&r->hbuf);
	s3_buf_free(&r->bodyq);
	free(r);
	NORN_ASSERT(c->srv->live_reqs > 0);
	c->srv->live_reqs--;
	if (c->srv->closing)
		wake(c->srv);
	conn_unref(c);
}

/* --- parser callbacks ------------------------------------------------- */

static int hdr_limit(struct s3_http_conn *c, size_t n)
{
	c->header_bytes += n;
	return c->header_bytes > c->srv->cfg.max_header_bytes;
}

static int on_message_begin(http_parser *p)
{
	struct s3_http_conn *c = p->data;
	NORN_ASSERT(c->req == NULL);
	c->req = req_new(c);
	if (!c->req)
		return -1;
	c->header_bytes = 0;
	c->hdr_state = 0;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct s3_http_conn *c = p->data;
	if (hdr_limit(c, n))
		return -1;
	/* The URL goes first into hbuf, before any header. */
	s3_buf_add(&c->req->hbuf, at, n);
	return c->req->hbuf.err ? -1 : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct s3_http_conn *c = p->data;
	struct s3_http_req *r = c->req;
	if (hdr_limit(c, n))
		return -1;
	if (c->hdr_state != 1) {
		if (r->nhdrs == S3_HTTP_MAX_HEADERS) {
			c->header_bytes = SIZE_MAX / 2;
			return -1;
		}
		/* Separator ending the URL or the previous value. */
		s3_buf_addc(&r->hbuf, 0);
		r->hdrs[r->nhdrs].name = (const char *)(uintptr_t)r->hbuf.len;
		r->nhdrs++;
		c->hdr_state = 1;
	}
	s3_buf_add(&r->hbuf, at, n);
	return r->hbuf.err ? -1 : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct s3_http_conn *c = p->data;
	struct s3_http_req *r = c->req;
	if (hdr_limit(c, n))
		return -1;
	if (c->hdr_state != 2) {
		s3_buf_addc(&r->hbuf, 0);
		r->hdrs[r->nhdrs - 1].value = (const char *)(uintptr_t)r->hbuf.len;
		c->hdr_state = 2;
	}
	s3_buf_add(&r->hbuf, at, n);
	return r->hbuf.err ? -1 : 0;
}

static void trim_value(char *v)
{
	size_t l = strlen(v);
	while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
		v[--l] = 0;
	size_t s = 0;
	while (v[s] == ' ' || v[s] == '\t')
		s++;
	if (s)
		memmove(v, v + s, l - s + 1);
}

static int on_headers_complete(http_parser *p)
{
	struct s3_http_conn *c = p->data;
	struct s3_http_req *r = c->req;
	s3_buf_addc(&r->hbuf, 0);
	if (r->hbuf.err)
		return -1;
	/* hbuf is final: turn offsets into pointers. */
	char *base = r->hbuf.p;
	r->url = base;
	for (size_t i = 0; i < r->nhdrs; i++) {
		r->hdrs[i].name = base + (uintptr_t)r->hdrs[i].name;
		if (r->hdrs[i].value == NULL)
			r->hdrs[i].value = base + r->hbuf.len - 1;  /* "" */
		else
			r->hdrs[i].value = base + (uintptr_t)r->hdrs[i].value;
		trim_value((char *)r->hdrs[i].value);
	}
	r->method = http_method_str((enum http_method)p->method);
	char *q = strchr(r->url, '?');
	/* Split path and query in a copy so url stays whole for the log. */
	size_t ul = strlen(r->url);
	char *pq = malloc(ul + 2);
	if (!pq)
		return -1;
	memcpy(pq, r->url, ul + 1);
	r->path = pq;
	r->query = NULL;
	if (q) {
		pq[q - r->url] = 0;
		r->query = pq + (q - r->url) + 1;
	}
	/* Absolute-form targets ("http://host/path") are accepted too. */
	if (strncmp(r->path, "http://", 7) == 0 || strncmp(r->path, "https://", 8) == 0) {
		char *slash = strchr(r->path + 8, '/');
		memmove(r->path, slash ? slash : "/", strlen(slash ? slash : "/") + 1);
	}
	r->has_content_length = (p->flags & F_CONTENTLENGTH) != 0;
	r->content_length = r->has_content_length ? p->content_length : 0;
	r->chunked_te = (p->flags & F_CHUNKED) != 0;
	r->keep_alive = http_should_keep_alive(p);
	const char *ex = s3_http_header(r, "expect");
	r->expect_continue = ex && !strcasecmp(ex, "100-continue");

	/* Requests per second per connection. */
	uint32_t lim = c->srv->cfg.max_req_per_sec;
	uint64_t now = norn_mono_ns();
	if (now - c->rate_window_ns >= 1000000000ull) {
		c->rate_window_ns = now;
		c->rate_count = 0;
	}
	if (lim && ++c->rate_count > lim)
		r->limit = S3_HTTP_LIMIT_RATE;

	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct s3_http_conn *c = p->data;
	struct s3_http_req *r = c->req;
	if (!r)
		return -1;
	r->body_bytes_in += n;
	if (r->discard)
		return 0;
	if (r->into && at == r->into + r->into_len && n <= r->into_cap - r->into_len) {
		/* read into the application's buffer (alloc_cb): in place */
		NORN_ASSERT(r->bodyq.len == 0);
		r->into_len += n;
		return 0;
	}
	s3_buf_add(&r->bodyq, at, n);
	return r->bodyq.err ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct s3_http_conn *c = p->data;
	if (!c->req)
		return -1;
	c->req->msg_complete = 1;
	http_parser_pause(p, 1);
	return 0;
}

/* --- writing ---------------------------------------------------------- */

static void write_done(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct s3_http_conn *c = wr->conn;
	c->pending_writes--;
	if (status < 0 && !c->dead) {
		c->dead = 1;
		conn_close(c);
	}
	if (wr->cb)
		wr->cb(wr->req, status, wr->arg);
	free(wr->owned);
	free(wr);
	if (c->close_after && c->pending_writes == 0 && !c->req)
		conn_close(c);
	else
		schedule(c);
	conn_unref(c);
}

static void defer_fail(struct s3_http_req *r, s3_http_write_cb cb, void *arg, int status)
{
	struct deferred_cb *d = malloc(sizeof(*d));
	NORN_ASSERT(d);   /* tiny; losing a callback would leak a request */
	d->cb = cb;
	d->req = r;
	d->arg = arg;
	d->status = status;
	d->next = r->conn->srv->deferred;
	r->conn->srv->deferred = d;
	r->conn->refs++;
	wake(r->conn->srv);
}

/* TLS: move whatever OpenSSL produced into a heap buffer. */
static int tls_drain(struct s3_http_conn *c, char **out, size_t *len)
{
	size_t pend = BIO_ctrl_pending(c->wbio);
	*out = NULL;
	*len = 0;
	if (!pend)
		return 0;
	char *b = malloc(pend);
	if (!b)
		return -ENOMEM;
	int got = BIO_read(c->wbio, b, (int)pend);
	if (got <= 0) {
		free(b);
		return -EIO;
	}
	*out = b;
	*len = (size_t)got;
	return 0;
}

static int submit_write(struct s3_http_req *r, struct write_req *wr, const void *p, size_t n)
{
	struct s3_http_conn *c = r->conn;
	wr->req = r;
	wr->conn = c;
	wr->len = n;
	size_t plain_n = n;
	if (c->ssl) {
		/* Memory BIOs never block: SSL_write takes everything. */
		if (n && SSL_write(c->ssl, p, (int)n) != (int)n)
			return -EIO;
		int rc = tls_drain(c, &wr->owned, &n);
		if (rc)
			return rc;
		p = wr->owned;
	}
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, write_done);
	if (rc < 0)
		return rc;
	c->pending_writes++;
	c->refs++;
	r->bytes_out += plain_n;
	return 0;
}

/* TLS: send handshake/alert bytes not tied to a request. */
static void tls_flush(struct s3_http_conn *c)
{
	char *buf;
	size_t n;
	if (tls_drain(c, &buf, &n) || !n || c->closing)
		return free(buf);
	struct write_req *wr = calloc(1, sizeof(*wr));
	if (!wr) {
		free(buf);
		return;
	}
	wr->conn = c;
	wr->owned = buf;
	uv_buf_t b = uv_buf_init(buf, (unsigned)n);
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, write_done) < 0) {
		free(buf);
		free(wr);
		return;
	}
	c->pending_writes++;
	c->refs++;
}

int s3_http_write_copy(struct s3_http_req *r, const void *p, size_t n)
{
	if (r->conn->dead || r->conn->closing)
		return -ECONNRESET;
	if (n == 0)
		return 0;
	struct write_req *wr = malloc(sizeof(*wr) + n);
	if (!wr)
		return -ENOMEM;
	memset(wr, 0, sizeof(*wr));
	memcpy(wr->data, p, n);
	int rc = submit_write(r, wr, wr->data, n);
	if (rc < 0) {
		free(wr->owned);
		free(wr);
	}
	return rc;
}

void s3_http_write(struct s3_http_req *r, const void *p, size_t n, s3_http_write_cb cb,
                   void *arg)
{
	if (r->conn->dead || r->conn->closing) {
		defer_fail(r, cb, arg, -ECONNRESET);
		return;
	}
	struct write_req *wr = malloc(sizeof(*wr));
	if (!wr) {
		defer_fail(r, cb, arg, -ENOMEM);
		return;
	}
	memset(wr, 0, sizeof(*wr));
	wr->cb = cb;
	wr->arg = arg;
	int rc = submit_write(r, wr, p, n);
	if (rc < 0) {
		free(wr->owned);
		free(wr);
		defer_fail(r, cb, arg, rc);
	}
}

static const char *status_text(int st)
{
	switch (st) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

int s3_http_send_head(struct s3_http_req *r, int status, const char *extra, int64_t clen)
{
	struct s3_buf b;
	char date[32];
	NORN_ASSERT(!r->head_sent);
	r->head_sent = 1;
	r->status = status;
	/* A body we will not read in full means the connection cannot be
	 * reused unless we drain it; decide now so the header says so. */
	if (!r->msg_complete) {
		/* Answering before the body ended: drain a small rest, close
		 * rather than read a large one (or one never sent). */
		if (r->expect_continue && !r->continue_sent)
			r->keep_alive = 0;
		else if (r->chunked_te || (r->has_content_length &&
		         r->content_length > r->body_bytes_in + S3_HTTP_DISCARD_MAX_BYTES))
			r->keep_alive = 0;
	}
	s3_buf_init(&b);
	s3_fmt_http_date((int64_t)(norn_real_ns() / 1000000000ull), date);
	s3_buf_printf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: NornS3\r\n", status,
	              status_text(status), date);
	if (clen >= 0)
		s3_buf_printf(&b, "Content-Length: %lld\r\n", (long long)clen);
	if (extra)
		s3_buf_adds(&b, extra);
	s3_buf_adds(&b, r->keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
	int rc = b.err ? b.err : s3_http_write_copy(r, b.p, b.len);
	s3_buf_free(&b);
	return rc;
}

void s3_http_body_read(struct s3_http_req *r, s3_http_body_cb cb, void *arg)
{
	NORN_ASSERT(!r->body_waiting && !r->ended);
	if (r->body_holding) {
		r->body_holding = 0;
		s3_buf_reset(&r->bodyq);
	}
	r->body_waiting = 1;
	r->body_cb = cb;
	r->body_arg = arg;
	r->into = NULL;
	r->into_cap = r->into_len = 0;
	if (r->expect_continue && !r->continue_sent && !r->msg_complete) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		r->continue_sent = 1;
		(void)s3_http_write_copy(r, cont, sizeof(cont) - 1);
		r->bytes_out -= sizeof(cont) - 1;
	}
	schedule(r->conn);
}

void s3_http_body_read_into(struct s3_http_req *r, char *dst, size_t cap, s3_http_body_cb cb,
                            void *arg)
{
	NORN_ASSERT(dst && cap > 0);
	s3_http_body_read(r, cb, arg);
	r->into = dst;
	r->into_cap = cap;
}

int s3_http_req_dead(const struct s3_http_req *r)
{
	return r->conn->dead || r->conn->closing;
}

void s3_http_close_after(struct s3_http_req *r)
{
	r->keep_alive = 0;
}

static void access_log(struct s3_http_req *r)
{
	FILE *f = r->conn->srv->cfg.access_log;
	if (!f)
		return;
	char ts[32];
	s3_fmt_iso8601((int64_t)(norn_real_ns() / 1000000ull), ts);
	uint64_t us = (norn_mono_ns() - r->start_ns) / 1000;
	fprintf(f, "%s %s %s \"%s %s\" %d %s in=%llu out=%llu us=%llu\n", ts, r->peer,
	        r->log_user[0] ? r->log_user : "-", r->method ? r->method : "-",
	        r->url ? r->url : "-", r->status, r->log_op[0] ? r->log_op : "-",
	        (unsigned long long)r->body_bytes_in, (unsigned long long)r->bytes_out,
	        (unsigned long long)us);
	fflush(f);
}

void s3_http_end(struct s3_http_req *r)
{
	struct s3_http_conn *c = r->conn;
	NORN_ASSERT(!r->ended);
	r->ended = 1;
	r->body_waiting = 0;
	r->body_holding = 0;
	r->into = NULL;
	r->into_cap = r->into_len = 0;
	access_log(r);
	free(r->path);
	r->path = NULL;
	if (!r->keep_alive)
		c->close_after = 1;
	/* With close_after set, conn_pump parses nothing more (the parser
	 * may even be in an error state, where pausing it would abort). */
	if (!r->msg_complete && !c->dead && !c->close_after) {
		r->discard = 1;
		s3_buf_free(&r->bodyq);
	}
	schedule(c);
}

/* --- connection ------------------------------------------------------- */

static void conn_unref(struct s3_http_conn *c)
{
	NORN_ASSERT(c->refs > 0);
	if (--c->refs)
		return;
	struct s3_http_server *s = c->srv;
	if (c->ssl)
		SSL_free(c->ssl);
	free(c->stash);
	free(c);
	s->conn_objs--;
	server_maybe_free(s);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct s3_http_conn *c = h->data;
	struct s3_http_server *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	if (s->closing)
		wake(s);
	conn_unref(c);
}

static void conn_close(struct s3_http_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->dead = 1;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	/* A request still being parsed was never seen by the application:
	 * free it here. One the application holds fails its body wait. */
	if (c->req && !c->req->dispatched)
		req_free(c->req);
	else if (c->req)
		schedule(c);
}

static void alloc_cb(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
	struct s3_http_conn *c = h->data;
	struct s3_http_server *s = c->srv;
	struct s3_http_req *r = c->req;
	(void)sugg;
	/* A body the application wants in its own buffer: read no more than
	 * the body's rest, so nothing but body bytes land there. */
	if (r && r->into && r->body_waiting && !r->into_len && !r->bodyq.len && !c->stash_len &&
	    !c->ssl && r->dispatched && !r->msg_complete && !r->discard && !r->ended &&
	    r->has_content_length && !r->chunked_te && r->content_length > r->body_bytes_in) {
		uint64_t left = r->content_length - r->body_bytes_in;
		buf->base = r->into;
		buf->len = (size_t)NORN_MIN((uint64_t)r->into_cap, left);
		return;
	}
	if (s->rbuf_busy) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	s->rbuf_busy = 1;
	buf->base = s->rbuf;
	buf->len = S3_HTTP_READ_BUF_BYTES;
}

static void send_simple_error(struct s3_http_conn *c, int status, const char *code)
{
	char b[512];
	char body[256];
	int bl = snprintf(body, sizeof(body),
	                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
	                  "<Message>%s</Message></Error>", code, code);
	int n = snprintf(b, sizeof(b), "HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
	                 "Content-Length: %d\r\nConnection: close\r\n\r\n%s", status,
	                 status_text(status), bl, body);
	struct s3_http_req tmp;
	memset(&tmp, 0, sizeof(tmp));
	tmp.conn = c;
	(void)s3_http_write_copy(&tmp, b, (size_t)n);
	c->close_after = 1;
}

/* Run the parser over @p[0..n). Unparsed bytes (parser paused) go to the
 * stash. Returns 0, or -1 if the connection must close. */
static int conn_parse(struct s3_http_conn *c, const char *p, size_t n)
{
	c->in_parse = 1;
	size_t done = http_parser_execute(&c->parser, &c->srv->settings, p, n);
	c->in_parse = 0;
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (e == HPE_PAUSED) {
		http_parser_pause(&c->parser, 0);
		/* Stash what is left (it may alias the current stash). */
		size_t left = n - done;
		if (left) {
			char *ns = malloc(left);
			if (!ns)
				return -1;
			memcpy(ns, p + done, left);
			free(c->stash);
			c->stash = ns;
			c->stash_len = left;
		} else {
			free(c->stash);
			c->stash = NULL;
			c->stash_len = 0;
		}
		return 0;
	}
	free(c->stash);
	c->stash = NULL;
	c->stash_len = 0;
	if (e == HPE_OK)
		return 0;
	/* A parse error: answer 400 if no response is under way, then close. */
	struct s3_http_req *r = c->req;
	int hdr_over = c->header_bytes > c->srv->cfg.max_header_bytes;
	if (!r || !r->dispatched) {
		NLOG(S3, DEBUG, "%s: bad request (%s)", c->peer, http_errno_name(e));
		send_simple_error(c, hdr_over ? 431 : 400,
		                  hdr_over ? "RequestHeaderSectionTooLarge" : "BadRequest");
		if (r)
			req_free(r);
		if (c->pending_writes == 0)
			conn_close(c);
		return -1;
	}
	r->err = -EBADMSG;
	c->close_after = 1;
	return -1;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct s3_http_conn *c = st->data;
	struct s3_http_server *s = c->srv;
	if (buf->base == s->rbuf)
		s->rbuf_busy = 0;
	if (nread == 0)
		return;
	if (nread < 0) {
		/* EOF or error: a request in progress sees -ECONNRESET. */
		c->dead = 1;
		if (c->req && !c->req->err)
			c->req->err = -ECONNRESET;
		if (c->req && c->req->dispatched)
			schedule(c);
		conn_close(c);
		return;
	}
	c->last_active_ns = norn_mono_ns();
	if (c->close_after && !c->req)
		return;          /* closing: whatever else the peer sends is dropped */
	NORN_ASSERT(c->stash_len == 0);
	const char *data = buf->base;
	size_t len = (size_t)nread;
	if (c->ssl) {
		/* Decrypt everything this read completed; the plaintext is
		 * never larger than the ciphertext that carried it. */
		if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
			conn_close(c);
			return;
		}
		s3_buf_reset(&s->plain);
		char tmp[16384];
		for (;;) {
			int got = SSL_read(c->ssl, tmp, sizeof(tmp));
			if (got > 0) {
				s3_buf_add(&s->plain, tmp, (size_t)got);
				continue;
			}
			int e = SSL_get_error(c->ssl, got);
			if (e == SSL_ERROR_WANT_READ)
				break;
			NLOG(S3, DEBUG, "%s: TLS error %d", c->peer, e);
			ERR_clear_error();
			tls_flush(c);            /* an alert, if any */
			c->dead = 1;
			if (c->req && !c->req->err)
				c->req->err = -ECONNRESET;
			if (c->req && c->req->dispatched)
				schedule(c);
			conn_close(c);
			return;
		}
		tls_flush(c);                    /* handshake replies */
		if (s->plain.err) {
			conn_close(c);
			return;
		}
		if (!s->plain.len)
			return;
		data = s->plain.p;
		len = s->plain.len;
	}
	c->refs++;
	if (conn_parse(c, data, len) == 0 || (c->req && c->req->dispatched))
		conn_pump(c);
	conn_unref(c);
}

static void conn_read_ctl(struct s3_http_conn *c, int want)
{
	if (c->closing)
		return;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) == 0)
			c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void conn_pump(struct s3_http_conn *c)
{
	if (c->in_pump) {
		c->pump_again = 1;
		return;
	}
	c->in_pump = 1;
	c->refs++;
	for (int guard = 0; guard < 1000000; guard++) {
		struct s3_http_req *r = c->req;
		c->pump_again = 0;
		if (c->close_after && !r) {
			/* The last response is queued: read and parse nothing
			 * more, close once it is written. */
			conn_read_ctl(c, 0);
			if (c->pending_writes == 0)
				conn_close(c);
			break;
		}
		if (r && !r->dispatched && r->url && r->method && !c->dead) {
			r->dispatched = 1;
			c->last_active_ns = norn_mono_ns();
			c->srv->h.on_request(c->srv->h.ctx, r);
			continue;
		}
		if (r && r->body_waiting) {
			s3_http_body_cb cb = r->body_cb;
			NORN_ASSERT(!(r->bodyq.len && r->into_len));
			if (r->bodyq.len > 0) {
				r->body_waiting = 0;
				r->body_holding = 1;
				r->into = NULL;
				cb(r, 0, r->bodyq.p, r->bodyq.len, r->body_arg);
				continue;
			}
			if (r->into_len > 0) {
				char *p = r->into;
				size_t n = r->into_len;
				r->body_waiting = 0;
				r->into = NULL;
				r->into_cap = r->into_len = 0;
				cb(r, 0, p, n, r->body_arg);
				continue;
			}
			if (r->msg_complete) {
				r->body_waiting = 0;
				r->into = NULL;
				cb(r, 0, NULL, 0, r->body_arg);
				continue;
			}
			if (r->err || c->dead) {
				r->body_waiting = 0;
				r->into = NULL;
				cb(r, r->err ? r->err : -ECONNRESET, NULL, 0, r->body_arg);
				continue;
			}
		}
		if (r && r->ended && (r->msg_complete || c->dead || c->close_after)) {
			req_free(r);
			if (c->close_after) {
				if (c->pending_writes == 0)
					conn_close(c);
				break;
			}
			continue;
		}
		if (c->dead || c->closing)
			break;
		/* Read while a request's headers are still arriving, while the
		 * application waits for body, or while draining a body. */
		int want_parse = !r || !r->dispatched || (r->body_waiting && !r->msg_complete) ||
		                 (r->ended && r->discard && !r->msg_complete);
		if (want_parse && c->stash_len) {
			/* conn_parse replaces the stash; parse from a copy. */
			char *st = c->stash;
			size_t sl = c->stash_len;
			c->stash = NULL;
			c->stash_len = 0;
			int rc = conn_parse(c, st, sl);
			free(st);
			if (rc < 0 && !(c->req && c->req->dispatched))
				break;
			continue;
		}
		conn_read_ctl(c, want_parse && !c->close_after);
		if (!c->pump_again)
			break;
	}
	c->in_pump = 0;
	conn_unref(c);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct s3_http_server *s = ls->data;
	if (status < 0)
		return;
	struct s3_http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	s->conn_objs++;
	c->srv = s;
	c->refs = 1;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0 || s->nconns >= s->cfg.max_conns) {
		c->closing = 1;
		s->nconns++;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	c->peer[0] = 0;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		char ip[48];
		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
			snprintf(c->peer, sizeof(c->peer), "%s:%d", ip,
			         ntohs(((struct sockaddr_in *)&ss)->sin_port));
		} else {
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
			snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip,
			         ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
		}
	}
	if (s->cfg.tls_ctx) {
		c->ssl = SSL_new((SSL_CTX *)s->cfg.tls_ctx);
		c->rbio = BIO_new(BIO_s_mem());
		c->wbio = BIO_new(BIO_s_mem());
		if (!c->ssl || !c->rbio || !c->wbio) {
			if (c->ssl)
				SSL_free(c->ssl);
			else {
				BIO_free(c->rbio);
				BIO_free(c->wbio);
			}
			c->ssl = NULL;
			c->closing = 1;
			c->next = s->conns;
			if (s->conns)
				s->conns->prev = c;
			s->conns = c;
			s->nconns++;
			uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
			return;
		}
		SSL_set_bio(c->ssl, c->rbio, c->wbio);
		SSL_set_accept_state(c->ssl);
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->last_active_ns = norn_mono_ns();
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	conn_read_ctl(c, 1);
}

static void sweep_cb(uv_timer_t *t)
{
	struct s3_http_server *s = t->data;
	uint64_t now = norn_mono_ns();
	uint64_t idle_ns = s->cfg.idle_timeout_ms * 1000000ull;
	uint64_t req_ns = s->cfg.request_timeout_ms * 1000000ull;
	for (struct s3_http_conn *c = s->conns, *n; c; c = n) {
		n = c->next;
		if (c->closing)
			continue;
		uint64_t age = now - c->last_active_ns;
		int busy = c->req && c->req->dispatched && !c->req->ended;
		/* A request waiting on its body with no bytes for a while is a
		 * stalled or slowloris client; one waiting on the backend is
		 * not ours to judge. */
		if ((!c->req && age > idle_ns && c->pending_writes == 0) ||
		    (c->req && !busy && age > req_ns) ||
		    (busy && c->req->body_waiting && age > req_ns)) {
			NLOG(S3, DEBUG, "closing %s connection %s", busy ? "stalled" : "idle", c->peer);
			if (c->req && !c->req->err)
				c->req->err = -ETIMEDOUT;
			conn_close(c);
		}
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct s3_http_server *s = h->data;
	s->handles_open--;
	server_maybe_free(s);
}

int s3_http_server_start(uv_loop_t *loop, const struct s3_http_config *cfg,
                         const struct s3_http_handlers *h, struct s3_http_server **out)
{
	struct sockaddr_storage ss;
	int rc;
	struct s3_http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rbuf = malloc(S3_HTTP_READ_BUF_BYTES);
	if (!s->rbuf) {
		free(s);
		return -ENOMEM;
	}
	s->loop = loop;
	s->cfg = *cfg;
	if (!s->cfg.max_header_bytes)
		s->cfg.max_header_bytes = 64 << 10;
	if (!s->cfg.idle_timeout_ms)
		s->cfg.idle_timeout_ms = 60000;
	if (!s->cfg.request_timeout_ms)
		s->cfg.request_timeout_ms = 60000;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = 10000;
	s->h = *h;
	http_parser_settings_init(&s->settings);
	s->settings.on_message_begin = on_message_begin;
	s->settings.on_url = on_url;
	s->settings.on_header_field = on_header_field;
	s->settings.on_header_value = on_header_value;
	s->settings.on_headers_complete = on_headers_complete;
	s->settings.on_body = on_body;
	s->settings.on_message_complete = on_message_complete;

	if (strchr(cfg->addr, ':'))
		rc = uv_ip6_addr(cfg->addr, cfg->port, (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(cfg->addr, cfg->port, (struct sockaddr_in *)&ss);
	if (rc < 0)
		goto fail_free;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	uv_timer_init(loop, &s->sweep);
	s->sweep.data = s;
	uv_idle_init(loop, &s->idle);
	s->idle.data = s;
	s->handles_open = 3;
	rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
	if (rc < 0) {
		s->closing = 1;
		s->idle_closed = 1;
		uv_close((uv_handle_t *)&s->listener, on_handle_closed);
		uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
		uv_close((uv_handle_t *)&s->idle, on_handle_closed);
		return rc;
	}
	uv_timer_start(&s->sweep, sweep_cb, S3_HTTP_SWEEP_MS, S3_HTTP_SWEEP_MS);
	*out = s;
	return 0;
fail_free:
	free(s->rbuf);
	free(s);
	return rc;
}

int s3_http_port(const struct s3_http_server *s)
{
	struct sockaddr_storage ss;
	int l = sizeof(ss);
	if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &l))
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

size_t s3_http_conn_count(const struct s3_http_server *s)
{
	return s->nconns;
}

void s3_http_server_close(struct s3_http_server *s)
{
	s->closing = 1;
	for (struct s3_http_conn *c = s->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->listener, on_handle_closed);
	uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
	wake(s);     /* the idle handle closes once the last request is gone */
}
