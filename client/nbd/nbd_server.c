/* The NBD server engine on libuv. See nbd_server.h for the contract.
 *
 * How a connection reads. Each connection owns a 256 KiB staging buffer.
 * libuv reads into it; conn_process() then consumes whole protocol units
 * (client flags, option headers and payloads, request headers, write
 * payloads) from it, one state at a time, until it runs out of bytes or
 * has to wait. Large write payloads skip the staging buffer: once a WRITE
 * header is parsed and the staging buffer is empty, the alloc callback
 * hands libuv the request's own buffer, so bulk data is copied once, from
 * the kernel into the buffer the backend writes from.
 *
 * How a connection waits. Reading stops whenever the connection must not
 * take more input: while the backend opens an export or lists exports
 * (negotiation handles one option at a time, as the spec requires), while
 * too many requests or payload bytes are in flight, while too many option
 * reply bytes are queued, and once the client said DISC or ABORT. Every
 * event that can lift such a condition (a backend completion, a finished
 * socket write) calls conn_kick(), which resumes processing the staged
 * bytes and restarts reading. A re-entrancy guard keeps conn_process() from
 * nesting when a completion happens inside it.
 *
 * How a connection dies. conn_close() closes the socket and the timer at
 * once, but the struct lives on while anything refers to it: the two
 * handles until their close callbacks, every request until its backend op
 * completes and its reply write finishes (or is cancelled), every
 * negotiation reply write, and a pending export open. The last reference
 * releases the export and frees the connection. So a backend completion
 * never touches freed memory, however the client behaves.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/nbd/nbd_proto.h"
#include "client/nbd/nbd_server.h"
#include "common/assert.h"
#include "common/encode.h"
#include "common/log.h"
#include "norn/errors.h"

#define CONN_IN_BYTES          (256u * 1024u)
#define CONN_DIRECT_MIN_BYTES  (64u * 1024u)   /* payload big enough to read in place */
#define CONN_NEG_PENDING_BYTES (1u << 20)      /* option replies queued before pausing */
#define SERVER_LIST_MAX        1024u           /* exports listed by NBD_OPT_LIST */
#define LISTEN_BACKLOG         128

/* ---- an intrusive doubly-linked list ------------------------------------- */

struct nlist { struct nlist *prev, *next; };

static void nlist_init(struct nlist *l) { l->prev = l->next = l; }
static bool nlist_empty(const struct nlist *l) { return l->next == l; }
static void nlist_add_tail(struct nlist *head, struct nlist *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}
static void nlist_del(struct nlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* ---- types ------------------------------------------------------------------- */

struct nbd_listener {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct nbd_server *srv;
	bool is_pipe;
	bool active;
	int port;
	char path[108];
};

enum export_state { EX_OPENING, EX_OPEN, EX_CLOSING };

struct nbd_export {
	struct nbd_server *srv;
	struct nlist link;            /* srv->exports while OPENING or OPEN */
	enum export_state state;
	uint32_t refs;                /* connections holding or awaiting it */
	struct nlist waiters;         /* conns waiting for the open to finish */
	struct nbd_bdev *dev;
	struct nbd_export_info info;
	struct nbd_export_limits limits;
	char name[];
};

enum conn_state {
	CS_FLAGS,       /* waiting for the client's 4 flag bytes */
	CS_OPT_HDR,     /* negotiation: next option header */
	CS_OPT_DATA,    /* negotiation: option payload */
	CS_OPT_BUSY,    /* negotiation: waiting for the backend */
	CS_REQ_HDR,     /* transmission: next request header */
	CS_REQ_PAYLOAD, /* transmission: write payload (stored or discarded) */
	CS_DRAIN,       /* DISC/ABORT received: finish, then close */
};

struct nbd_conn {
	struct nbd_server *srv;
	struct nlist link;            /* srv->conns */
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t timer;             /* negotiation deadline */
	uint64_t id;
	char peer[64];
	enum conn_state state;
	uint32_t refs;
	bool closing, reading, processing, timer_on;

	/* negotiation */
	uint32_t client_flags;
	uint32_t n_options;
	struct nbd_opt_hdr opt;
	uint32_t opt_got;
	uint8_t opt_data[NBD_MAX_OPT_BYTES];
	struct nbd_opt_go go;         /* decoded GO/INFO/EXPORT_NAME request */
	uint64_t neg_pending_bytes;   /* option replies not yet written */
	struct nlist wait_link;       /* in an export's waiters */
	struct nbd_export *waiting;   /* export being opened for us */

	/* transmission */
	struct nbd_export *exp;
	struct nbd_io *cur;           /* request whose payload is arriving */
	uint32_t payload_left;
	uint32_t inflight;
	uint64_t inflight_bytes;
	bool blocked;                 /* a bound was hit: header left unparsed */

	/* input staging */
	uint8_t *in;
	uint32_t in_start, in_end;
};

struct nbd_io {
	struct nbd_conn *conn;
	struct nbd_request rq;
	uint8_t *buf;                 /* READ/WRITE data, NULL otherwise */
	uint32_t acct_bytes;          /* counted in conn->inflight_bytes */
	uint32_t wire_err;            /* NBD error to reply */
	uint8_t reply[NBD_SIMPLE_REPLY_BYTES];
	uv_write_t wr;
};

struct neg_write {
	uv_write_t wr;
	struct nbd_conn *conn;
	uint8_t *data;
	size_t len;
};

struct nbd_server {
	uv_loop_t *loop;
	struct nbd_server_config cfg;
	char *default_export;
	const struct nbd_backend_ops *ops;
	void *backend;
	struct nbd_listener listeners[NBD_SERVER_MAX_LISTEN];
	unsigned n_listeners;
	unsigned listeners_open;      /* handles not yet closed */
	struct nlist conns;
	struct nlist exports;
	uint32_t exports_closing;
	uint64_t next_conn_id;
	struct nbd_server_stats st;
	bool closing;
	nbd_server_closed_cb closed_cb;
	void *closed_arg;
};

static void conn_process(struct nbd_conn *c);
static void conn_close(struct nbd_conn *c, const char *why);
static void io_free(struct nbd_io *io);
static void conn_kick(struct nbd_conn *c);
static void server_maybe_done(struct nbd_server *s);

/* ---- config --------------------------------------------------------------- */

void nbd_server_config_defaults(struct nbd_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_connections = 64;
	cfg->max_inflight = 64;
	cfg->max_buffer_bytes = 64u << 20;
	cfg->max_payload_bytes = NBD_MAX_PAYLOAD_BYTES;
	cfg->handshake_timeout_ms = 30000;
	cfg->max_options = 1024;
}

/* ---- exports ---------------------------------------------------------------- */

static bool is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

/* Turn what the backend said into what we tell clients and check against. */
static void export_derive(struct nbd_export *e)
{
	struct nbd_export_info *in = &e->info;
	struct nbd_server_config *cfg = &e->srv->cfg;
	bool ro = (in->flags & NBD_BACKEND_F_READ_ONLY) || cfg->read_only;
	uint16_t tf = NBD_FLAG_HAS_FLAGS;

	/* A backend that breaks the block size rules is a bug, but clients
	 * must still get a coherent answer: fall back to byte granularity. */
	if (!is_pow2(in->min_block) || in->min_block > 65536)
		in->min_block = 1;
	if (!is_pow2(in->pref_block) || in->pref_block < in->min_block)
		in->pref_block = NORN_MAX(in->min_block, 4096u);
	if (in->max_payload == 0 || in->max_payload > cfg->max_payload_bytes)
		in->max_payload = cfg->max_payload_bytes;
	if (in->max_payload < in->min_block)
		in->max_payload = in->min_block;

	if (ro)
		tf |= NBD_FLAG_READ_ONLY;
	if (in->flags & NBD_BACKEND_F_FLUSH)
		tf |= NBD_FLAG_SEND_FLUSH;
	if (!ro && (in->flags & NBD_BACKEND_F_FUA))
		tf |= NBD_FLAG_SEND_FUA;
	if (!ro && (in->flags & NBD_BACKEND_F_TRIM))
		tf |= NBD_FLAG_SEND_TRIM;
	if (!ro && (in->flags & NBD_BACKEND_F_WRITE_ZEROES))
		tf |= NBD_FLAG_SEND_WRITE_ZEROES;
	if (in->flags & NBD_BACKEND_F_MULTI_CONN)
		tf |= NBD_FLAG_CAN_MULTI_CONN;
	if (in->flags & NBD_BACKEND_F_ROTATIONAL)
		tf |= NBD_FLAG_ROTATIONAL;

	e->limits.size_bytes = in->size_bytes;
	e->limits.min_block = in->min_block;
	e->limits.max_payload = in->max_payload;
	e->limits.tflags = tf;
}

static struct nbd_export *export_find(struct nbd_server *s, const char *name)
{
	for (struct nlist *n = s->exports.next; n != &s->exports; n = n->next) {
		struct nbd_export *e = NORN_CONTAINER_OF(n, struct nbd_export, link);
		if (!strcmp(e->name, name))
			return e;
	}
	return NULL;
}

static void export_closed(void *arg)
{
	struct nbd_export *e = arg;
	struct nbd_server *s = e->srv;

	NLOG(NBD, INFO, "export '%s' closed", e->name);
	NORN_ASSERT(s->exports_closing > 0);
	s->exports_closing--;
	free(e);
	server_maybe_done(s);
}

static void export_release(struct nbd_export *e)
{
	struct nbd_server *s = e->srv;

	NORN_ASSERT(e->refs > 0 && e->state == EX_OPEN);
	if (--e->refs)
		return;
	nlist_del(&e->link);
	e->state = EX_CLOSING;
	NORN_ASSERT(s->st.exports_open > 0);
	s->st.exports_open--;
	s->exports_closing++;
	s->ops->close(e->dev, export_closed, e);
}

static void conn_export_ready(struct nbd_conn *c, struct nbd_export *e, int err);

static void export_opened(void *arg, int err, struct nbd_bdev *dev,
                          const struct nbd_export_info *info)
{
	struct nbd_export *e = arg;
	struct nbd_server *s = e->srv;

	NORN_ASSERT(e->state == EX_OPENING);
	if (err == 0 && (!dev || !info))
		err = -EIO;
	if (err == 0) {
		e->dev = dev;
		e->info = *info;
		e->info.description[sizeof(e->info.description) - 1] = 0;
		export_derive(e);
		e->state = EX_OPEN;
		s->st.exports_open++;
		NLOG(NBD, INFO, "export '%s' open: %" PRIu64 " bytes, flags 0x%x", e->name,
		     e->info.size_bytes, e->limits.tflags);
	} else {
		nlist_del(&e->link);
		NLOG(NBD, INFO, "export '%s' open failed: %s", e->name, norn_strerror(err));
	}
	/* Hold a reference across the loop so that a waiter that releases
	 * its share at once (NBD_OPT_INFO) cannot close the export while we
	 * still walk the list. */
	if (err == 0)
		e->refs++;
	while (!nlist_empty(&e->waiters)) {
		struct nbd_conn *c = NORN_CONTAINER_OF(e->waiters.next, struct nbd_conn, wait_link);
		nlist_del(&c->wait_link);
		c->waiting = NULL;
		if (err)
			e->refs--;
		conn_export_ready(c, err ? NULL : e, err);
	}
	if (err) {
		NORN_ASSERT(e->refs == 0);
		free(e);
		server_maybe_done(s);
		return;
	}
	export_release(e);
}

/* Get the export @name for @c. Returns 0 and *out when it is open already, 1 when the connection must wait for
 * conn_export_ready(), or a negative error. */
static int export_acquire(struct nbd_conn *c, const char *name, struct nbd_export **out)
{
	struct nbd_server *s = c->srv;
	struct nbd_export *e = export_find(s, name);
	size_t n;
	int err;

	if (e && e->state == EX_OPEN) {
		e->refs++;
		*out = e;
		return 0;
	}
	if (!e) {
		n = strlen(name);
		e = calloc(1, sizeof(*e) + n + 1);
		if (!e)
			return -ENOMEM;
		memcpy(e->name, name, n + 1);
		e->srv = s;
		e->state = EX_OPENING;
		nlist_init(&e->waiters);
		nlist_add_tail(&s->exports, &e->link);
		e->refs = 1;
		nlist_add_tail(&e->waiters, &c->wait_link);
		c->waiting = e;
		c->refs++;
		err = s->ops->open(s->backend, name, export_opened, e);
		if (err) {
			nlist_del(&c->wait_link);
			c->waiting = NULL;
			c->refs--;
			nlist_del(&e->link);
			free(e);
			return err;
		}
		return 1;
	}
	NORN_ASSERT(e->state == EX_OPENING);
	e->refs++;
	nlist_add_tail(&e->waiters, &c->wait_link);
	c->waiting = e;
	c->refs++;
	return 1;
}

/* ---- connection lifetime --------------------------------------------------------- */

static void conn_unref(struct nbd_conn *c)
{
	struct nbd_server *s = c->srv;

	NORN_ASSERT(c->refs > 0);
	if (--c->refs)
		return;
	NORN_ASSERT(c->closing && c->inflight == 0 && !c->waiting);
	if (c->exp)
		export_release(c->exp);
	nlist_del(&c->link);
	NORN_ASSERT(s->st.connections > 0);
	s->st.connections--;
	NLOG(NBD, DEBUG, "conn %" PRIu64 " freed", c->id);
	free(c->in);
	free(c);
	server_maybe_done(s);
}

static void conn_handle_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void conn_close(struct nbd_conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	c->reading = false;
	NLOG(NBD, INFO, "conn %" PRIu64 " %s: closing (%s)", c->id, c->peer, why);
	uv_close(&c->h.handle, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	if (c->cur) {
		/* A write whose payload will never arrive: drop it. */
		struct nbd_io *io = c->cur;
		c->cur = NULL;
		io_free(io);
	}
}

static void conn_protocol_error(struct nbd_conn *c, const char *what)
{
	c->srv->st.protocol_errors++;
	NLOG(NBD, WARN, "conn %" PRIu64 " %s: protocol error: %s", c->id, c->peer, what);
	conn_close(c, "protocol error");
}

static void conn_timeout(uv_timer_t *t)
{
	struct nbd_conn *c = t->data;

	conn_close(c, "negotiation timed out");
}

/* ---- reading ------------------------------------------------------------------------ */

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct nbd_conn *c = h->data;

	/* Large write payload, nothing staged: read straight into it. */
	if (c->state == CS_REQ_PAYLOAD && c->cur && c->cur->buf && c->in_start == c->in_end &&
	    c->payload_left >= CONN_DIRECT_MIN_BYTES) {
		uint32_t got = c->cur->rq.len_bytes - c->payload_left;
		*buf = uv_buf_init((char *)c->cur->buf + got, c->payload_left);
		return;
	}
	if (c->in_start == c->in_end) {
		c->in_start = c->in_end = 0;
	} else if (c->in_end == CONN_IN_BYTES && c->in_start > 0) {
		memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
		c->in_end -= c->in_start;
		c->in_start = 0;
	}
	*buf = uv_buf_init((char *)c->in + c->in_end, CONN_IN_BYTES - c->in_end);
}

static void io_submit(struct nbd_io *io);

static void conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct nbd_conn *c = stream->data;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread == UV_ENOBUFS) {
			/* Only possible if we kept reading with a full staging
			 * buffer, which conn_update_reading() prevents. */
			conn_protocol_error(c, "input buffer full");
			return;
		}
		conn_close(c, nread == UV_EOF ? "client closed" : uv_strerror((int)nread));
		return;
	}
	if ((uint8_t *)buf->base < c->in || (uint8_t *)buf->base >= c->in + CONN_IN_BYTES) {
		/* Direct payload read into c->cur->buf. */
		NORN_ASSERT(c->state == CS_REQ_PAYLOAD && c->cur && (size_t)nread <= c->payload_left);
		c->payload_left -= (uint32_t)nread;
		if (c->payload_left == 0) {
			struct nbd_io *io = c->cur;
			c->cur = NULL;
			c->state = CS_REQ_HDR;
			io_submit(io);
		}
	} else {
		NORN_ASSERT((size_t)nread <= CONN_IN_BYTES - c->in_end);
		c->in_end += (uint32_t)nread;
	}
	conn_process(c);
}

/* Start or stop reading to match what the connection can take now. */
static void conn_update_reading(struct nbd_conn *c)
{
	bool want = !c->closing && !c->blocked && c->state != CS_OPT_BUSY &&
	            c->state != CS_DRAIN && c->in_end - c->in_start < CONN_IN_BYTES;

	if (want && !c->reading) {
		int err = uv_read_start(&c->h.stream, conn_alloc, conn_read);
		if (err) {
			conn_close(c, uv_strerror(err));
			return;
		}
		c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
}

/* ---- writing: negotiation replies ----------------------------------------------- */

static void neg_written(uv_write_t *wr, int status)
{
	struct neg_write *w = NORN_CONTAINER_OF(wr, struct neg_write, wr);
	struct nbd_conn *c = w->conn;

	NORN_ASSERT(c->neg_pending_bytes >= w->len);
	c->neg_pending_bytes -= w->len;
	free(w->data);
	free(w);
	if (status < 0 && !c->closing)
		conn_close(c, uv_strerror(status));
	conn_kick(c);
	conn_unref(c);
}

/* Send what @e holds (and reset it). Closes the connection on failure. */
static void neg_send(struct nbd_conn *c, struct enc *e)
{
	struct neg_write *w;
	size_t len;
	uint8_t *data;
	uv_buf_t b;
	int err;

	if (c->closing) {
		enc_free(e);
		return;
	}
	data = enc_take(e, &len);
	if (!data) {
		enc_free(e);
		conn_close(c, "out of memory");
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		free(data);
		conn_close(c, "out of memory");
		return;
	}
	w->conn = c;
	w->data = data;
	w->len = len;
	b = uv_buf_init((char *)data, (unsigned)len);
	err = uv_write(&w->wr, &c->h.stream, &b, 1, neg_written);
	if (err) {
		free(data);
		free(w);
		conn_close(c, uv_strerror(err));
		return;
	}
	c->refs++;
	c->neg_pending_bytes += len;
}

static void neg_reply_error(struct nbd_conn *c, uint32_t type, const char *msg)
{
	struct enc e;

	enc_init(&e, 64);
	nbd_enc_opt_error(&e, c->opt.opt, type, msg);
	neg_send(c, &e);
}

static void neg_reply_ack(struct nbd_conn *c)
{
	struct enc e;

	enc_init(&e, 32);
	nbd_enc_opt_reply(&e, c->opt.opt, NBD_REP_ACK, NULL, 0);
	neg_send(c, &e);
}

/* ---- negotiation ------------------------------------------------------------------ */

static void conn_enter_transmission(struct nbd_conn *c, struct nbd_export *e)
{
	c->exp = e;
	c->state = CS_REQ_HDR;
	if (c->timer_on) {
		uv_timer_stop(&c->timer);
		c->timer_on = false;
	}
	NLOG(NBD, INFO, "conn %" PRIu64 " %s: serving '%s' (%" PRIu64 " bytes, flags 0x%x)",
	     c->id, c->peer, e->name, e->limits.size_bytes, e->limits.tflags);
}

static uint32_t open_err_to_rep(int err)
{
	switch (err) {
	case -EACCES: case -EPERM: case -EBUSY: case -EROFS: case NORN_EPERM: case NORN_EAUTH:
		return NBD_REP_ERR_POLICY;
	case -ENOMEM:
		return NBD_REP_ERR_SHUTDOWN; /* closest "try again later" the spec has */
	default:
		return NBD_REP_ERR_UNKNOWN;
	}
}

/* The export for the current GO/INFO/EXPORT_NAME option is open (@e) or
 * failed (@err). Called synchronously from conn_handle_option() or later
 * from export_opened(). */
static void conn_export_ready(struct nbd_conn *c, struct nbd_export *e, int err)
{
	bool async = c->state == CS_OPT_BUSY;
	struct enc enc;
	char msg[128];

	if (c->closing) {
		if (e)
			export_release(e);
		goto out;
	}
	if (c->opt.opt == NBD_OPT_EXPORT_NAME) {
		/* The old option has no error reply: the spec says close. */
		if (err) {
			NLOG(NBD, INFO, "conn %" PRIu64 ": EXPORT_NAME '%s': %s", c->id, c->go.name,
			     norn_strerror(err));
			conn_close(c, "unknown export");
			goto out;
		}
		enc_init(&enc, 160);
		nbd_enc_export_name_reply(&enc, e->limits.size_bytes, e->limits.tflags,
		                          c->client_flags & NBD_FLAG_C_NO_ZEROES);
		conn_enter_transmission(c, e);
		neg_send(c, &enc);
		goto out;
	}
	if (err) {
		snprintf(msg, sizeof(msg), "export '%.64s': %s", c->go.name, norn_strerror(err));
		neg_reply_error(c, open_err_to_rep(err), msg);
		c->state = CS_OPT_HDR;
		goto out;
	}
	enc_init(&enc, 256);
	nbd_enc_info_export(&enc, c->opt.opt, e->limits.size_bytes, e->limits.tflags);
	/* Block sizes are always sent (the spec lets a server send info the
	 * client did not ask for); clients that ignore them still get an
	 * export whose minimum block is honoured by EINVAL replies. */
	nbd_enc_info_block_size(&enc, c->opt.opt, e->info.min_block, e->info.pref_block,
	                        e->info.max_payload);
	if (c->go.want_name)
		nbd_enc_info_string(&enc, c->opt.opt, NBD_INFO_NAME, e->name);
	if (c->go.want_description && e->info.description[0])
		nbd_enc_info_string(&enc, c->opt.opt, NBD_INFO_DESCRIPTION, e->info.description);
	nbd_enc_opt_reply(&enc, c->opt.opt, NBD_REP_ACK, NULL, 0);
	if (c->opt.opt == NBD_OPT_GO) {
		conn_enter_transmission(c, e);
	} else {
		export_release(e);
		c->state = CS_OPT_HDR;
	}
	neg_send(c, &enc);
out:
	if (async) {
		conn_kick(c);
		conn_unref(c); /* the reference taken while waiting */
	}
}

static void list_done(void *arg, int err, const char *const *names, size_t n)
{
	struct nbd_conn *c = arg;
	struct enc e;

	if (!c->closing) {
		if (err) {
			neg_reply_error(c, NBD_REP_ERR_SHUTDOWN, norn_strerror(err));
		} else {
			enc_init(&e, 256);
			for (size_t i = 0; i < n && names && names[i]; i++)
				nbd_enc_rep_server(&e, names[i], NULL);
			nbd_enc_opt_reply(&e, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
			neg_send(c, &e);
		}
		c->state = CS_OPT_HDR;
	}
	conn_kick(c);
	conn_unref(c);
}

/* Act on a complete option (header in c->opt, payload in c->opt_data). */
static void conn_handle_option(struct nbd_conn *c)
{
	struct nbd_server *s = c->srv;
	struct nbd_export *e = NULL;
	const char *name;
	int r;

	NLOG(NBD, DEBUG, "conn %" PRIu64 ": option %s (%u), %u bytes", c->id,
	     nbd_opt_name(c->opt.opt), c->opt.opt, c->opt.len_bytes);
	c->state = CS_OPT_HDR;
	if (!(c->client_flags & NBD_FLAG_C_FIXED_NEWSTYLE) && c->opt.opt != NBD_OPT_EXPORT_NAME) {
		/* Plain newstyle clients get no option replies at all. */
		conn_protocol_error(c, "option other than EXPORT_NAME without fixed newstyle");
		return;
	}
	switch (c->opt.opt) {
	case NBD_OPT_ABORT:
		neg_reply_ack(c);
		c->state = CS_DRAIN;
		return;
	case NBD_OPT_LIST:
		if (c->opt.len_bytes) {
			neg_reply_error(c, NBD_REP_ERR_INVALID, "LIST takes no data");
			return;
		}
		c->state = CS_OPT_BUSY;
		c->refs++;
		r = s->ops->list(s->backend, SERVER_LIST_MAX, list_done, c);
		if (r) {
			c->refs--;
			c->state = CS_OPT_HDR;
			neg_reply_error(c, NBD_REP_ERR_SHUTDOWN, norn_strerror(r));
		}
		return;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		if (nbd_decode_opt_go(c->opt_data, c->opt.len_bytes, &c->go)) {
			neg_reply_error(c, NBD_REP_ERR_INVALID, "malformed INFO/GO request");
			return;
		}
		break;
	case NBD_OPT_EXPORT_NAME:
		memset(&c->go, 0, sizeof(c->go));
		if (nbd_decode_export_name(c->opt_data, c->opt.len_bytes, c->go.name,
		                           sizeof(c->go.name))) {
			conn_protocol_error(c, "malformed EXPORT_NAME");
			return;
		}
		break;
	default:
		/* STARTTLS, STRUCTURED_REPLY, META_CONTEXT, EXTENDED_HEADERS
		 * and anything newer: simple replies, no TLS (yet). */
		neg_reply_error(c, NBD_REP_ERR_UNSUP, "option not supported");
		return;
	}

	name = c->go.name;
	if (!name[0]) {
		if (!s->default_export) {
			if (c->opt.opt == NBD_OPT_EXPORT_NAME)
				conn_close(c, "no default export");
			else
				neg_reply_error(c, NBD_REP_ERR_UNKNOWN, "no default export");
			return;
		}
		name = s->default_export;
	}
	c->state = CS_OPT_BUSY;
	r = export_acquire(c, name, &e);
	if (r == 1)
		return; /* conn_export_ready() follows */
	c->state = CS_OPT_HDR;
	conn_export_ready(c, e, r);
}

/* ---- transmission ------------------------------------------------------------------- */

static void io_free(struct nbd_io *io)
{
	struct nbd_conn *c = io->conn;

	NORN_ASSERT(c->inflight > 0 && c->inflight_bytes >= io->acct_bytes);
	c->inflight--;
	c->inflight_bytes -= io->acct_bytes;
	free(io->buf);
	free(io);
	conn_kick(c);
	conn_unref(c);
}

static void io_written(uv_write_t *wr, int status)
{
	struct nbd_io *io = NORN_CONTAINER_OF(wr, struct nbd_io, wr);

	if (status < 0 && !io->conn->closing)
		conn_close(io->conn, uv_strerror(status));
	io_free(io);
}

/* The backend finished @io (or it was refused before reaching it). */
static void io_done(void *arg, int err)
{
	struct nbd_io *io = arg;
	struct nbd_conn *c = io->conn;
	uv_buf_t b[2];
	unsigned nb = 1;
	int r;

	if (err && !io->wire_err)
		io->wire_err = nbd_errno_to_wire(err);
	if (io->wire_err) {
		c->srv->st.error_replies++;
		NLOG(NBD, DEBUG, "conn %" PRIu64 ": %s off %" PRIu64 " len %u -> error %u", c->id,
		     nbd_cmd_name(io->rq.type), io->rq.offset, io->rq.len_bytes, io->wire_err);
	}
	if (c->closing) {
		io_free(io);
		return;
	}
	nbd_enc_simple_reply(io->reply, io->wire_err, io->rq.cookie);
	b[0] = uv_buf_init((char *)io->reply, sizeof(io->reply));
	if (io->rq.type == NBD_CMD_READ && !io->wire_err) {
		b[1] = uv_buf_init((char *)io->buf, io->rq.len_bytes);
		nb = 2;
	}
	r = uv_write(&io->wr, &c->h.stream, b, nb, io_written);
	if (r) {
		conn_close(c, uv_strerror(r));
		io_free(io);
	}
}

static void io_submit(struct nbd_io *io)
{
	struct nbd_conn *c = io->conn;
	const struct nbd_backend_ops *ops = c->srv->ops;
	struct nbd_bdev *dev = c->exp->dev;
	struct nbd_request *rq = &io->rq;
	bool fua = rq->flags & NBD_CMD_FLAG_FUA;
	int r;

	if (io->wire_err || c->closing) {
		io_done(io, 0);
		return;
	}
	switch (rq->type) {
	case NBD_CMD_READ:
		c->srv->st.read_bytes += rq->len_bytes;
		r = ops->read(dev, rq->offset, rq->len_bytes, io->buf, io_done, io);
		break;
	case NBD_CMD_WRITE:
		c->srv->st.write_bytes += rq->len_bytes;
		r = ops->write(dev, rq->offset, rq->len_bytes, io->buf, fua, io_done, io);
		break;
	case NBD_CMD_FLUSH:
		r = ops->flush(dev, io_done, io);
		break;
	case NBD_CMD_TRIM:
		r = ops->trim(dev, rq->offset, rq->len_bytes, fua, io_done, io);
		break;
	case NBD_CMD_WRITE_ZEROES:
		r = ops->write_zeroes(dev, rq->offset, rq->len_bytes,
		                      !(rq->flags & NBD_CMD_FLAG_NO_HOLE), fua, io_done, io);
		break;
	default:
		NORN_ASSERT(0 && "request type passed the check");
		r = -EINVAL;
	}
	if (r)
		io_done(io, r);
}

/* Parse the request header at the front of the staging buffer. Returns
 * false when the connection must stop processing (blocked or closing). */
static bool conn_handle_request(struct nbd_conn *c)
{
	struct nbd_server *s = c->srv;
	struct nbd_request rq;
	struct nbd_io *io;
	enum nbd_verdict v;
	uint32_t err = 0, need = 0, payload;

	if (nbd_decode_request(c->in + c->in_start, &rq)) {
		conn_protocol_error(c, "bad request magic");
		return false;
	}
	v = nbd_request_check(&rq, &c->exp->limits, &err);
	switch (v) {
	case NBD_VERDICT_CLOSE:
		conn_protocol_error(c, "request length beyond the maximum payload");
		return false;
	case NBD_VERDICT_DISC:
		c->in_start += NBD_REQUEST_BYTES;
		c->state = CS_DRAIN;
		NLOG(NBD, INFO, "conn %" PRIu64 " %s: disconnect requested", c->id, c->peer);
		return false;
	case NBD_VERDICT_OK:
		if (rq.type == NBD_CMD_READ || rq.type == NBD_CMD_WRITE)
			need = rq.len_bytes;
		break;
	case NBD_VERDICT_ERROR:
		break;
	}
	/* Admission: a bounded number of requests and of payload bytes. One
	 * request is always admitted when nothing is in flight, so a payload
	 * larger than the byte bound still makes progress. */
	if (c->inflight >= s->cfg.max_inflight ||
	    (c->inflight_bytes && c->inflight_bytes + need > s->cfg.max_buffer_bytes)) {
		if (!c->blocked)
			s->st.read_pauses++;
		c->blocked = true;
		return false;
	}
	io = calloc(1, sizeof(*io));
	if (io && need) {
		io->buf = malloc(need);
		if (!io->buf) {
			free(io);
			io = NULL;
		}
	}
	if (!io) {
		/* Treat memory exhaustion as a reason to wait, not to fail:
		 * completions free memory, and kick us again. With nothing in
		 * flight there is nothing to wait for, so give up. */
		if (c->inflight == 0) {
			conn_close(c, "out of memory");
			return false;
		}
		c->blocked = true;
		return false;
	}
	c->in_start += NBD_REQUEST_BYTES;
	s->st.requests++;
	io->conn = c;
	io->rq = rq;
	io->wire_err = v == NBD_VERDICT_ERROR ? err : 0;
	io->acct_bytes = need;
	c->inflight++;
	c->inflight_bytes += need;
	c->refs++;
	payload = nbd_request_payload(&rq);
	if (payload) {
		/* Even a refused write has its payload on the wire: swallow it
		 * (io->buf is NULL then) before replying. */
		c->cur = io;
		c->payload_left = payload;
		c->state = CS_REQ_PAYLOAD;
		return true;
	}
	io_submit(io);
	return !c->closing;
}

/* ---- the input state machine -------------------------------------------------------- */

static void conn_process(struct nbd_conn *c)
{
	struct nbd_server *s = c->srv;
	uint32_t avail, n;
	int err;

	if (c->processing)
		return;
	c->processing = true;
	while (!c->closing) {
		avail = c->in_end - c->in_start;
		switch (c->state) {
		case CS_FLAGS:
			if (avail < NBD_CLIENT_FLAGS_BYTES)
				goto out;
			if (nbd_decode_client_flags(c->in + c->in_start, &c->client_flags)) {
				conn_protocol_error(c, "unknown client flags");
				goto out;
			}
			c->in_start += NBD_CLIENT_FLAGS_BYTES;
			c->state = CS_OPT_HDR;
			break;
		case CS_OPT_HDR:
			if (avail < NBD_OPT_HDR_BYTES)
				goto out;
			if (c->neg_pending_bytes > CONN_NEG_PENDING_BYTES) {
				/* The client is not reading our replies. */
				c->blocked = true;
				goto out;
			}
			err = nbd_decode_opt_hdr(c->in + c->in_start, &c->opt);
			if (err) {
				conn_protocol_error(c, "bad option header");
				goto out;
			}
			if (++c->n_options > s->cfg.max_options) {
				conn_protocol_error(c, "too many options");
				goto out;
			}
			c->in_start += NBD_OPT_HDR_BYTES;
			c->opt_got = 0;
			if (c->opt.len_bytes == 0)
				conn_handle_option(c);
			else
				c->state = CS_OPT_DATA;
			break;
		case CS_OPT_DATA:
			if (avail == 0)
				goto out;
			n = NORN_MIN(avail, c->opt.len_bytes - c->opt_got);
			memcpy(c->opt_data + c->opt_got, c->in + c->in_start, n);
			c->opt_got += n;
			c->in_start += n;
			if (c->opt_got == c->opt.len_bytes)
				conn_handle_option(c);
			break;
		case CS_OPT_BUSY:
		case CS_DRAIN:
			goto out;
		case CS_REQ_HDR:
			if (avail < NBD_REQUEST_BYTES)
				goto out;
			if (!conn_handle_request(c))
				goto out;
			break;
		case CS_REQ_PAYLOAD:
			if (avail == 0)
				goto out;
			n = NORN_MIN(avail, c->payload_left);
			if (c->cur->buf)
				memcpy(c->cur->buf + (c->cur->rq.len_bytes - c->payload_left),
				       c->in + c->in_start, n);
			c->in_start += n;
			c->payload_left -= n;
			if (c->payload_left == 0) {
				struct nbd_io *io = c->cur;
				c->cur = NULL;
				c->state = CS_REQ_HDR;
				io_submit(io);
			}
			break;
		}
	}
out:
	c->processing = false;
	if (c->state == CS_DRAIN && !c->closing && c->inflight == 0 && c->neg_pending_bytes == 0)
		conn_close(c, "client finished");
	if (!c->closing)
		conn_update_reading(c);
}

/* Something that may unblock @c happened: resume processing. */
static void conn_kick(struct nbd_conn *c)
{
	if (c->closing)
		return;
	c->blocked = false;
	conn_process(c);
}

/* ---- accepting ------------------------------------------------------------------------ */

static void conn_peer_name(struct nbd_conn *c, bool is_pipe)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";

	if (is_pipe) {
		snprintf(c->peer, sizeof(c->peer), "unix");
		return;
	}
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			uv_ip4_name(a, host, sizeof(host));
			snprintf(c->peer, sizeof(c->peer), "%s:%u", host, ntohs(a->sin_port));
			return;
		}
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(a, host, sizeof(host));
			snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, ntohs(a->sin6_port));
			return;
		}
	}
	snprintf(c->peer, sizeof(c->peer), "?");
}

static void refused_closed(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct nbd_listener *l = ls->data;
	struct nbd_server *s = l->srv;
	struct nbd_conn *c;
	struct enc e;
	int err;

	if (status < 0) {
		NLOG(NBD, WARN, "accept: %s", uv_strerror(status));
		return;
	}
	if (s->closing)
		return;
	if (s->st.connections >= s->cfg.max_connections) {
		/* Accept and close at once: leaving it in the backlog would
		 * make the client hang instead of failing. */
		uv_handle_t *h = malloc(l->is_pipe ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
		if (!h)
			return;
		if (l->is_pipe)
			uv_pipe_init(s->loop, (uv_pipe_t *)h, 0);
		else
			uv_tcp_init(s->loop, (uv_tcp_t *)h);
		uv_accept(ls, (uv_stream_t *)h);
		uv_close(h, refused_closed);
		s->st.refused++;
		NLOG(NBD, WARN, "connection refused: %u connections open", s->st.connections);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->in = malloc(CONN_IN_BYTES);
	if (!c->in) {
		free(c);
		return;
	}
	c->srv = s;
	c->id = ++s->next_conn_id;
	nlist_init(&c->wait_link);
	if (l->is_pipe)
		err = uv_pipe_init(s->loop, &c->h.pipe, 0);
	else
		err = uv_tcp_init(s->loop, &c->h.tcp);
	NORN_ASSERT(err == 0);
	c->h.handle.data = c;
	err = uv_timer_init(s->loop, &c->timer);
	NORN_ASSERT(err == 0);
	c->timer.data = c;
	c->refs = 2; /* the stream and the timer handles */
	nlist_add_tail(&s->conns, &c->link);
	s->st.connections++;
	s->st.accepted++;

	err = uv_accept(ls, &c->h.stream);
	if (err) {
		NLOG(NBD, WARN, "accept: %s", uv_strerror(err));
		conn_close(c, "accept failed");
		return;
	}
	if (!l->is_pipe)
		uv_tcp_nodelay(&c->h.tcp, 1);
	conn_peer_name(c, l->is_pipe);
	NLOG(NBD, INFO, "conn %" PRIu64 " %s: connected", c->id, c->peer);
	if (s->cfg.handshake_timeout_ms) {
		uv_timer_start(&c->timer, conn_timeout, s->cfg.handshake_timeout_ms, 0);
		c->timer_on = true;
	}
	c->state = CS_FLAGS;
	enc_init(&e, NBD_GREETING_BYTES);
	nbd_enc_greeting(&e, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	neg_send(c, &e);
	if (!c->closing)
		conn_update_reading(c);
}

/* ---- listening ------------------------------------------------------------------------ */

static int parse_tcp_addr(const char *addr, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_s = NULL, *h = addr;
	size_t hl;
	long port = NBD_DEFAULT_PORT;
	char *end;
	bool v6 = false;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close)
			return -EINVAL;
		h = addr + 1;
		hl = (size_t)(close - h);
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1])
			return -EINVAL;
		v6 = true;
	} else {
		const char *colon = strrchr(addr, ':');
		if (colon && strchr(addr, ':') != colon)
			return -EINVAL; /* bare IPv6 needs brackets */
		hl = colon ? (size_t)(colon - addr) : strlen(addr);
		if (colon)
			port_s = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	if (port_s) {
		errno = 0;
		port = strtol(port_s, &end, 10);
		if (errno || end == port_s || *end || port < 0 || port > 65535)
			return -EINVAL;
	}
	if (!v6 && !strcmp(host, "localhost"))
		memcpy(host, "127.0.0.1", sizeof("127.0.0.1"));
	if (v6)
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) ? -EINVAL : 0;
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) ? -EINVAL : 0;
}

static void listener_closed(uv_handle_t *h)
{
	struct nbd_listener *l = h->data;
	struct nbd_server *s = l->srv;

	NORN_ASSERT(s->listeners_open > 0);
	s->listeners_open--;
	server_maybe_done(s);
}

int nbd_server_listen(struct nbd_server *s, const char *addr)
{
	struct nbd_listener *l;
	const char *path = NULL;
	int err;

	if (s->closing)
		return -EINVAL;
	if (s->n_listeners >= NBD_SERVER_MAX_LISTEN)
		return -ENOSPC;
	l = &s->listeners[s->n_listeners];
	memset(l, 0, sizeof(*l));
	l->srv = s;
	if (!strncmp(addr, "unix:", 5))
		path = addr + 5;
	else if (addr[0] == '/')
		path = addr;

	if (path) {
		struct stat st;
		if (!path[0] || strlen(path) >= sizeof(l->path))
			return -EINVAL;
		snprintf(l->path, sizeof(l->path), "%s", path);
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path); /* stale socket from an earlier run */
		l->is_pipe = true;
		err = uv_pipe_init(s->loop, &l->h.pipe, 0);
		NORN_ASSERT(err == 0);
		l->h.handle.data = l;
		s->listeners_open++;
		err = uv_pipe_bind(&l->h.pipe, path);
	} else {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		err = parse_tcp_addr(addr, &ss);
		if (err)
			return err;
		err = uv_tcp_init(s->loop, &l->h.tcp);
		NORN_ASSERT(err == 0);
		l->h.handle.data = l;
		s->listeners_open++;
		err = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0);
	}
	if (!err)
		err = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection);
	if (err) {
		NLOG(NBD, ERR, "listen on %s: %s", addr, uv_strerror(err));
		uv_close(&l->h.handle, listener_closed);
		return err;
	}
	if (!l->is_pipe) {
		struct sockaddr_storage ss;
		int len = sizeof(ss);
		if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) == 0)
			l->port = ntohs(ss.ss_family == AF_INET6
			                ? ((struct sockaddr_in6 *)&ss)->sin6_port
			                : ((struct sockaddr_in *)&ss)->sin_port);
	}
	l->active = true;
	s->n_listeners++;
	NLOG(NBD, INFO, "listening on %s%s", addr, l->is_pipe ? " (unix)" : "");
	return 0;
}

int nbd_server_port(const struct nbd_server *s)
{
	for (unsigned i = 0; i < s->n_listeners; i++)
		if (!s->listeners[i].is_pipe)
			return s->listeners[i].port;
	return -ENOENT;
}

/* ---- server lifetime ---------------------------------------------------------------- */

int nbd_server_create(uv_loop_t *loop, const struct nbd_server_config *cfg,
                      const struct nbd_backend_ops *ops, void *backend,
                      struct nbd_server **out)
{
	struct nbd_server *s;

	if (!loop || !cfg || !ops || !ops->open || !ops->read || !ops->write || !ops->flush ||
	    !ops->trim || !ops->write_zeroes || !ops->close || !ops->list)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->cfg = *cfg;
	s->cfg.max_connections = NORN_MAX(s->cfg.max_connections, 1u);
	s->cfg.max_inflight = NORN_MAX(s->cfg.max_inflight, 1u);
	s->cfg.max_buffer_bytes = NORN_MAX(s->cfg.max_buffer_bytes, (uint64_t)1 << 20);
	if (s->cfg.max_payload_bytes == 0 || s->cfg.max_payload_bytes > NBD_MAX_PAYLOAD_BYTES)
		s->cfg.max_payload_bytes = NBD_MAX_PAYLOAD_BYTES;
	s->cfg.max_payload_bytes = NORN_MAX(s->cfg.max_payload_bytes, 4096u);
	s->cfg.max_options = NORN_MAX(s->cfg.max_options, 4u);
	if (cfg->default_export && cfg->default_export[0]) {
		s->default_export = strdup(cfg->default_export);
		if (!s->default_export) {
			free(s);
			return -ENOMEM;
		}
	}
	s->cfg.default_export = s->default_export;
	s->ops = ops;
	s->backend = backend;
	nlist_init(&s->conns);
	nlist_init(&s->exports);
	*out = s;
	return 0;
}

void nbd_server_get_stats(const struct nbd_server *s, struct nbd_server_stats *out)
{
	*out = s->st;
}

static void server_maybe_done(struct nbd_server *s)
{
	nbd_server_closed_cb cb;
	void *arg;

	if (!s->closing || s->listeners_open || !nlist_empty(&s->conns) ||
	    !nlist_empty(&s->exports) || s->exports_closing)
		return;
	cb = s->closed_cb;
	arg = s->closed_arg;
	NLOG(NBD, INFO, "server stopped");
	free(s->default_export);
	free(s);
	if (cb)
		cb(arg);
}

void nbd_server_close(struct nbd_server *s, nbd_server_closed_cb cb, void *arg)
{
	NORN_ASSERT(!s->closing);
	s->closing = true;
	s->closed_cb = cb;
	s->closed_arg = arg;
	/* Hold the server open while we walk: a synchronous completion
	 * inside conn_close() must not free it under us. */
	s->listeners_open++;
	for (unsigned i = 0; i < s->n_listeners; i++) {
		struct nbd_listener *l = &s->listeners[i];
		if (!l->active)
			continue;
		l->active = false;
		uv_close(&l->h.handle, listener_closed);
		if (l->is_pipe)
			unlink(l->path);
	}
	for (struct nlist *n = s->conns.next, *next; n != &s->conns; n = next) {
		next = n->next;
		conn_close(NORN_CONTAINER_OF(n, struct nbd_conn, link), "server shutting down");
	}
	s->listeners_open--;
	server_maybe_done(s);
}
