/* The messenger (see msg.h for the protocol and the API contract).
 *
 * Structure. A struct msgr owns a listener, a housekeeping timer and a
 * list of connections. A struct msgr_conn outlives its sockets: an
 * outgoing conn keeps its send queue and identity across reconnects, and
 * each TCP attempt is a separate struct msgr_sock so an old socket can
 * finish closing (libuv closes asynchronously) while a new one connects.
 *
 * Lifetime. Conns are reference counted. References are held by: the
 * application (msgr_connect's result, msgr_conn_get()), the msgr's list
 * for incoming conns, each open socket and the conn's timer (released in
 * their close callbacks), and the receive loop while it runs callbacks.
 * The conn is freed when the count reaches zero, at which point no handle
 * can refer to it any more.
 *
 * Sending. Application messages wait in a FIFO (q) of struct msg_out; a
 * second FIFO (iq) holds messenger-internal frames (handshake,
 * keepalives), which always go first, and application frames go only once
 * the handshake is done. At most one uv_write is in flight per conn; when
 * it completes, everything queued meanwhile goes out in the next batch
 * (one writev of header + payload iovecs per message). Payload bytes are
 * never copied except into TLS.
 *
 * Send coalescing. msgr_send() does not write at once: it puts the conn
 * on the msgr's dirty list, and the list is flushed at the end of the
 * current loop iteration (a uv_check handle, which runs right after the
 * I/O callbacks of one poll) and before the loop next blocks (a
 * uv_prepare handle, which catches sends made from timers). Everything an
 * iteration sends to one peer -- the replies to a burst of requests, the
 * completions of one group commit -- then leaves in one writev: one
 * syscall and, on loopback, one wakeup of the peer instead of one per
 * message. The latency cost is nil (the flush happens before the loop
 * sleeps); a conn whose queue grows past COALESCE_BYTES is flushed at
 * once so a producer cannot pile up much before the first byte moves.
 *
 * Receiving. Bytes land in a 64 KiB per-conn read buffer and are parsed in
 * place; small payloads are delivered pointing into it. When a header
 * announces a payload larger than the buffer, one allocation of exactly
 * that size is made and the socket reads straight into it.
 */
#include "common/msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/assert.h"
#include "common/config.h"
#include "common/crc32c.h"
#include "common/encode.h"
#include "common/env.h"
#include "common/log.h"
#include "common/tls.h"
#include "norn/errors.h"

#define RBUF_BYTES (64u * 1024u + MSG_HDR_LEN)
#define DIRECT_MIN (RBUF_BYTES - MSG_HDR_LEN)  /* payloads above go direct */
#define TLS_IN_BYTES (64u * 1024u)
#define BATCH_MAX_MSGS 256
#define TLS_BATCH_BYTES (512u * 1024u)
#define HANDSHAKE_PAYLOAD_MAX (AUTH_TICKET_MAX + 256)
#define COALESCE_BYTES (256u * 1024u)   /* queued beyond this: flush now */
#define DIRTY_ROUNDS_MAX 4096           /* conns flushed per end-of-iteration pass */

struct msg_out {
	struct msg_out *next;
	uint8_t hdr[MSG_HDR_LEN];
	struct iovec iov[MSG_MAX_IOV];
	int iovcnt;
	bool app;               /* counted in q_bytes / inflight_bytes */
	uint64_t bytes;         /* header + payload */
	msgr_free_cb free_cb;
	void *cb_arg;
	uint8_t *own;           /* internal payload buffer, freed with the msg */
};

struct msgr_sock {
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct msgr_conn *c;
	struct msgr *m;
};

struct wreq {
	uv_write_t req;
	struct msgr_conn *c;
	struct msgr_sock *sock;
	struct msg_out *head;   /* messages written by this request */
	uint8_t *tlsbuf;
	unsigned nbufs;
	uv_buf_t bufs[];
};

enum hs_state {
	HS_NONE = 0,            /* no socket */
	HS_CONNECTING,
	HS_TLS,
	HS_WAIT_HELLO,          /* server */
	HS_WAIT_CHALLENGE,      /* client */
	HS_WAIT_PROOF,          /* server */
	HS_WAIT_DONE,           /* client */
	HS_UP,
};

struct msgr_conn {
	struct msgr *m;
	struct msgr_conn *prev, *next;   /* m->conns */
	int refs;
	bool outgoing;
	bool in_list;
	bool closed;             /* by the app or msgr_close: final */
	bool auth_failed;
	bool user_ref_dropped;
	bool read_paused;
	bool want_writable;
	bool writing;
	bool fail_pending;       /* close once the FAIL frame is written */
	bool in_rx;
	bool flushing;
	bool dirty;              /* on m->dirty (holds a reference) */
	struct msgr_conn *dirty_next;
	enum msgr_conn_state reported;
	enum hs_state hs;
	struct msgr_sock *sock;
	struct tls_sess *tls;
	uv_timer_t timer;

	struct sockaddr_storage addr;
	char peer_addr[64];
	char peer_entity[AUTH_ENTITY_NAME_MAX];
	char caps[AUTH_CAPS_STR_MAX];
	struct msgr_cred cred;
	uint8_t ticket[AUTH_TICKET_MAX];
	uint8_t nonce_c[AUTH_NONCE_LEN];
	uint8_t nonce_s[AUTH_NONCE_LEN];
	uint8_t key[AUTH_KEY_LEN];

	struct msg_out *q_head, *q_tail;   /* application frames */
	struct msg_out *iq_head, *iq_tail; /* internal frames */
	uint64_t q_bytes;
	uint64_t inflight_bytes;

	uint8_t *rbuf;
	size_t rstart, rlen;
	bool direct;
	struct msg_hdr dhdr;
	uint8_t *dbuf;
	size_t dgot;
	uint8_t *tls_in;

	uint64_t last_rx_ms, last_tx_ms, sock_start_ms;
	uint64_t backoff_ms;

	void (*close_cb)(void *arg);
	void *close_arg;
	void *user;
};

struct msgr {
	uv_loop_t *loop;
	struct msgr_opts o;
	uv_tcp_t listener;
	bool listening;
	bool closing;
	uv_timer_t htimer;          /* keeps msgr_close() asynchronous */
	uv_check_t flush_check;     /* send coalescing: flush after the I/O callbacks */
	uv_prepare_t flush_prep;    /* ... and before the loop blocks */
	uv_idle_t flush_idle;       /* keeps poll from blocking while conns stay dirty */
	struct msgr_conn *dirty_head, *dirty_tail;
	unsigned handles;           /* open handles owned by us */
	struct msgr_conn *conns;
	void (*close_cb)(void *arg);
	void *close_arg;
};

/* ---- frames ------------------------------------------------------------ */

void msg_hdr_encode(const struct msg_hdr *h, uint8_t out[MSG_HDR_LEN])
{
	memset(out, 0, MSG_HDR_LEN);
	norn_put_le32(out + 0, MSG_MAGIC);
	out[4] = MSG_PROTO_VERSION;
	out[5] = h->flags;
	norn_put_le16(out + 6, h->type);
	norn_put_le64(out + 8, h->tid);
	norn_put_le64(out + 16, h->epoch);
	memcpy(out + 24, h->fsid, MSG_FSID_LEN);
	norn_put_le32(out + 40, h->payload_len);
	norn_put_le32(out + 44, h->payload_crc);
	norn_put_le32(out + 60, norn_crc32c(0, out, 60));
}

int msg_hdr_decode(const void *buf, size_t len, uint64_t max_frame_bytes,
                   struct msg_hdr *out)
{
	const uint8_t *p = buf;
	if (len < MSG_HDR_LEN)
		return NORN_ECORRUPT;
	if (norn_crc32c(0, p, 60) != norn_get_le32(p + 60))
		return NORN_ECRC;
	if (norn_get_le32(p) != MSG_MAGIC)
		return NORN_ECORRUPT;
	if (p[4] != MSG_PROTO_VERSION)
		return NORN_EVERSION;
	if (p[5] != 0)
		return NORN_ECORRUPT;
	for (int i = 48; i < 60; i++)
		if (p[i])
			return NORN_ECORRUPT;
	uint32_t plen = norn_get_le32(p + 40);
	if ((uint64_t)plen + MSG_HDR_LEN > max_frame_bytes)
		return -EMSGSIZE;
	out->flags = p[5];
	out->type = norn_get_le16(p + 6);
	out->tid = norn_get_le64(p + 8);
	out->epoch = norn_get_le64(p + 16);
	memcpy(out->fsid, p + 24, MSG_FSID_LEN);
	out->payload_len = plen;
	out->payload_crc = norn_get_le32(p + 44);
	return 0;
}

int msg_frame_decode(const void *buf, size_t len, uint64_t max_frame_bytes,
                     struct msg_hdr *hdr_out, const uint8_t **payload_out,
                     size_t *frame_len_out)
{
	int rc = msg_hdr_decode(buf, len, max_frame_bytes, hdr_out);
	if (rc)
		return rc;
	size_t plen = hdr_out->payload_len;
	if (len - MSG_HDR_LEN < plen)
		return NORN_ECORRUPT;
	const uint8_t *pl = (const uint8_t *)buf + MSG_HDR_LEN;
	if (norn_crc32c(0, pl, plen) != hdr_out->payload_crc)
		return NORN_ECRC;
	*payload_out = pl;
	*frame_len_out = MSG_HDR_LEN + plen;
	return 0;
}

uint8_t *msg_in_steal(struct msg_in *m)
{
	if (!m->len)
		return NULL;
	if (m->owned) {
		uint8_t *p = m->owned;
		m->owned = NULL;
		m->payload = NULL;
		return p;
	}
	uint8_t *p = malloc(m->len);
	if (!p)
		return NULL;
	memcpy(p, m->payload, m->len);
	m->payload = NULL;
	return p;
}

/* ---- options and creation ---------------------------------------------- */

void msgr_opts_init(struct msgr_opts *o, const struct norn_config *cfg)
{
	memset(o, 0, sizeof(*o));
	if (cfg) {
		o->max_frame_bytes = cfg->msg_max_frame_bytes;
		o->send_queue_bytes = cfg->msg_send_queue_bytes;
		o->keepalive_ms = cfg->msg_keepalive_ms;
		o->timeout_ms = cfg->msg_timeout_ms;
		o->reconnect_min_ms = cfg->msg_reconnect_min_ms;
		o->reconnect_max_ms = cfg->msg_reconnect_max_ms;
		snprintf(o->entity, sizeof(o->entity), "%s", cfg->entity);
		snprintf(o->cred.entity, sizeof(o->cred.entity), "%s", cfg->entity);
	} else {
		o->max_frame_bytes = 128u << 20;
		o->send_queue_bytes = 256u << 20;
		o->keepalive_ms = 2000;
		o->timeout_ms = 15000;
		o->reconnect_min_ms = 50;
		o->reconnect_max_ms = 5000;
	}
	o->handshake_timeout_ms = 10000;
}

static void htimer_close_cb(uv_handle_t *h);
static void flush_check_cb(uv_check_t *h);
static void flush_prep_cb(uv_prepare_t *h);
static void flush_idle_cb(uv_idle_t *h);

int msgr_create(uv_loop_t *loop, const struct msgr_opts *opts, struct msgr **out)
{
	if (!loop || !auth__entity_ok(opts->entity) || opts->max_frame_bytes < 4096 ||
	    opts->max_frame_bytes > (1ull << 31) || opts->send_queue_bytes == 0 ||
	    opts->keepalive_ms == 0 || opts->timeout_ms == 0 || opts->reconnect_min_ms == 0 ||
	    opts->reconnect_max_ms < opts->reconnect_min_ms || opts->handshake_timeout_ms == 0 ||
	    opts->cred.ticket_len > AUTH_TICKET_MAX)
		return -EINVAL;
	struct msgr *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->o = *opts;
	m->o.cred.ticket = NULL;        /* copied per conn in msgr_connect */
	m->o.cred.ticket_len = 0;
	if (opts->cred.ticket_len) {
		/* Keep the default ticket in a heap copy owned by m. */
		uint8_t *t = malloc(opts->cred.ticket_len);
		if (!t) {
			free(m);
			return -ENOMEM;
		}
		memcpy(t, opts->cred.ticket, opts->cred.ticket_len);
		m->o.cred.ticket = t;
		m->o.cred.ticket_len = opts->cred.ticket_len;
	}
	uv_timer_init(loop, &m->htimer);
	m->htimer.data = m;
	uv_check_init(loop, &m->flush_check);
	m->flush_check.data = m;
	uv_prepare_init(loop, &m->flush_prep);
	m->flush_prep.data = m;
	uv_idle_init(loop, &m->flush_idle);
	m->flush_idle.data = m;
	/* Always running but unreferenced: they never keep the loop alive,
	 * they only flush what the live handles queued. */
	uv_check_start(&m->flush_check, flush_check_cb);
	uv_unref((uv_handle_t *)&m->flush_check);
	uv_prepare_start(&m->flush_prep, flush_prep_cb);
	uv_unref((uv_handle_t *)&m->flush_prep);
	uv_unref((uv_handle_t *)&m->flush_idle);
	m->handles = 4;
	*out = m;
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static void msgr_handle_closed(struct msgr *m)
{
	NORN_ASSERT(m->handles > 0);
	if (--m->handles == 0 && m->closing) {
		void (*cb)(void *) = m->close_cb;
		void *arg = m->close_arg;
		free((void *)m->o.cred.ticket);
		OPENSSL_cleanse(m, sizeof(*m));
		free(m);
		if (cb)
			cb(arg);
	}
}

static void htimer_close_cb(uv_handle_t *h)
{
	msgr_handle_closed(h->data);
}

static const char *peer_name(const struct msgr_conn *c)
{
	return c->peer_entity[0] ? c->peer_entity : "?";
}

static void free_msg(struct msg_out *mo, int status)
{
	if (mo->free_cb)
		mo->free_cb(mo->cb_arg, status);
	free(mo->own);
	free(mo);
}

static void drop_list(struct msg_out **head, struct msg_out **tail, int status)
{
	struct msg_out *mo = *head;
	*head = *tail = NULL;
	while (mo) {
		struct msg_out *n = mo->next;
		free_msg(mo, status);
		mo = n;
	}
}

static void conn_free(struct msgr_conn *c)
{
	NORN_ASSERT(!c->sock && !c->q_head && !c->iq_head && !c->in_list);
	void (*cb)(void *) = c->close_cb;
	void *arg = c->close_arg;
	tls_sess_free(c->tls);
	free(c->rbuf);
	free(c->dbuf);
	free(c->tls_in);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	if (cb)
		cb(arg);
}

void msgr_conn_get(struct msgr_conn *c)
{
	NORN_ASSERT(c->refs > 0);
	c->refs++;
}

void msgr_conn_put(struct msgr_conn *c)
{
	NORN_ASSERT(c->refs > 0);
	if (--c->refs == 0)
		conn_free(c);
}

static void report(struct msgr_conn *c, enum msgr_conn_state st)
{
	if (c->reported == st || c->closed)
		return;
	c->reported = st;
	if (c->m->o.cb.on_conn_state)
		c->m->o.cb.on_conn_state(c, st, c->m->o.cb.user);
}

static void list_remove(struct msgr_conn *c)
{
	if (!c->in_list)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->in_list = false;
}

static void sock_close_cb(uv_handle_t *h)
{
	struct msgr_sock *s = h->data;
	struct msgr *m = s->m;
	struct msgr_conn *c = s->c;
	free(s);
	msgr_conn_put(c);
	msgr_handle_closed(m);
}

static void timer_close_cb(uv_handle_t *h)
{
	struct msgr_conn *c = h->data;
	struct msgr *m = c->m;
	msgr_conn_put(c);
	msgr_handle_closed(m);
}

static void rx_reset(struct msgr_conn *c)
{
	c->rstart = c->rlen = 0;
	c->direct = false;
	free(c->dbuf);
	c->dbuf = NULL;
	c->dgot = 0;
}

/* Close the current socket (if any) and forget per-socket state. */
static void sock_detach(struct msgr_conn *c)
{
	struct msgr_sock *s = c->sock;
	if (!s)
		return;
	c->sock = NULL;
	uv_read_stop((uv_stream_t *)&s->tcp);
	uv_close((uv_handle_t *)&s->tcp, sock_close_cb);
	c->writing = false;
	c->fail_pending = false;
	c->hs = HS_NONE;
	tls_sess_free(c->tls);
	c->tls = NULL;
	rx_reset(c);
	/* Internal frames belong to the dead socket's handshake. */
	drop_list(&c->iq_head, &c->iq_tail, -ECONNRESET);
	memset(c->nonce_c, 0, sizeof(c->nonce_c));
	memset(c->nonce_s, 0, sizeof(c->nonce_s));
}

/* Final close: nothing of @c runs any more. */
static void conn_shutdown(struct msgr_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	sock_detach(c);
	drop_list(&c->q_head, &c->q_tail, -ECANCELED);
	c->q_bytes = 0;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, timer_close_cb);
	bool had_list_ref = c->in_list && !c->outgoing;
	list_remove(c);
	if (had_list_ref)
		msgr_conn_put(c);
}

static void conn_start_connect(struct msgr_conn *c);
static void conn_timer_cb(uv_timer_t *t);

static uint64_t tick_ms(const struct msgr *m)
{
	uint64_t t = NORN_MIN(m->o.keepalive_ms, m->o.timeout_ms) / 2;
	return t < 10 ? 10 : t;
}

/* The socket of @c failed or the peer misbehaved: log, drop it, and
 * either reconnect (outgoing) or finish the conn (incoming). */
static void conn_lost(struct msgr_conn *c, enum msgr_conn_state st)
{
	if (c->closed)
		return;
	sock_detach(c);
	if (st == MSGR_CONN_AUTH_FAILED)
		c->auth_failed = true;
	msgr_conn_get(c);
	if (c->outgoing) {
		/* Report first; the callback may close the conn. */
		report(c, st);
		if (!c->closed && !c->auth_failed) {
			uv_timer_stop(&c->timer);
			uv_timer_start(&c->timer, conn_timer_cb, c->backoff_ms, 0);
			c->backoff_ms = NORN_MIN(c->backoff_ms * 2, c->m->o.reconnect_max_ms);
		}
	} else {
		if (c->reported == MSGR_CONN_UP)
			report(c, MSGR_CONN_DOWN);
		conn_shutdown(c);
	}
	msgr_conn_put(c);
}

#define CONN_LOG(c, lvl, ...) NLOG(MSG, lvl, __VA_ARGS__)

/* ---- sending ----------------------------------------------------------- */

static void write_cb(uv_write_t *req, int status);

static void conn_flush(struct msgr_conn *c);

static struct msg_out *pop(struct msg_out **head, struct msg_out **tail)
{
	struct msg_out *mo = *head;
	if (mo) {
		*head = mo->next;
		if (!*head)
			*tail = NULL;
		mo->next = NULL;
	}
	return mo;
}

static void push(struct msg_out **head, struct msg_out **tail, struct msg_out *mo)
{
	mo->next = NULL;
	if (*tail)
		(*tail)->next = mo;
	else
		*head = mo;
	*tail = mo;
}

/* @crc: the payload's crc32c when the caller knows it, else NULL. */
static struct msg_out *build_msg(struct msgr *m, uint16_t type, uint64_t tid, uint64_t epoch,
                                 const struct iovec *iov, int iovcnt, const uint32_t *known_crc)
{
	struct msg_out *mo = calloc(1, sizeof(*mo));
	if (!mo)
		return NULL;
	struct msg_hdr h = { .type = type, .tid = tid, .epoch = epoch };
	memcpy(h.fsid, m->o.fsid, MSG_FSID_LEN);
	uint64_t len = 0;
	uint32_t crc = 0;
	for (int i = 0; i < iovcnt; i++) {
		mo->iov[i] = iov[i];
		len += iov[i].iov_len;
		if (!known_crc)
			crc = norn_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	}
	if (known_crc)
		crc = *known_crc;
	mo->iovcnt = iovcnt;
	h.payload_len = (uint32_t)len;
	h.payload_crc = crc;
	msg_hdr_encode(&h, mo->hdr);
	mo->bytes = MSG_HDR_LEN + len;
	return mo;
}

/* Queue an internal frame whose payload is the encoder's buffer. */
static int send_internal(struct msgr_conn *c, uint16_t type, struct enc *e)
{
	size_t len = 0;
	uint8_t *buf = NULL;
	if (e) {
		buf = enc_take(e, &len);
		if (!buf)
			return -ENOMEM;
	}
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msg_out *mo = build_msg(c->m, type, 0, 0, &iov, buf ? 1 : 0, NULL);
	if (!mo) {
		free(buf);
		return -ENOMEM;
	}
	mo->own = buf;
	push(&c->iq_head, &c->iq_tail, mo);
	conn_flush(c);
	return 0;
}

static void maybe_writable(struct msgr_conn *c)
{
	if (c->want_writable && !c->closed &&
	    c->q_bytes + c->inflight_bytes <= c->m->o.send_queue_bytes / 2) {
		c->want_writable = false;
		if (c->m->o.cb.on_writable)
			c->m->o.cb.on_writable(c, c->m->o.cb.user);
	}
}

static struct msg_out *next_out(struct msgr_conn *c)
{
	struct msg_out *mo = pop(&c->iq_head, &c->iq_tail);
	if (mo)
		return mo;
	if (c->hs != HS_UP)
		return NULL;
	mo = pop(&c->q_head, &c->q_tail);
	if (mo) {
		c->q_bytes -= mo->bytes;
		c->inflight_bytes += mo->bytes;
	}
	return mo;
}

static int start_write(struct msgr_conn *c, struct wreq *w)
{
	c->writing = true;
	c->last_tx_ms = uv_now(c->m->loop);
	msgr_conn_get(c);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->sock->tcp, w->bufs, w->nbufs, write_cb);
	if (rc) {
		/* Nothing was written: complete as a failed write. */
		c->writing = false;
		msgr_conn_put(c);
		return rc;
	}
	return 0;
}

static void complete_batch(struct msgr_conn *c, struct msg_out *head, int status)
{
	while (head) {
		struct msg_out *n = head->next;
		if (head->app) {
			NORN_ASSERT(c->inflight_bytes >= head->bytes);
			c->inflight_bytes -= head->bytes;
		}
		free_msg(head, status);
		head = n;
	}
}

/* Plain TCP: write batches synchronously with uv_try_write() while the
 * socket takes them (the common case: no write request, no deferred
 * callback, no epoll change); hand the rest of a batch the kernel did not
 * take to uv_write() and wait for its completion. */
static void flush_plain(struct msgr_conn *c)
{
	struct msgr_sock *s = c->sock;
	for (int rounds = 0; rounds < 64 && c->sock == s && !c->closed && !c->writing; rounds++) {
		struct msg_out *batch[BATCH_MAX_MSGS];
		unsigned n = 0, nbufs = 0;
		struct msg_out *mo;
		while (n < BATCH_MAX_MSGS && (mo = next_out(c))) {
			batch[n++] = mo;
			nbufs += 1 + (unsigned)mo->iovcnt;
		}
		if (!n)
			return;
		for (unsigned i = 0; i < n; i++)
			batch[i]->next = i + 1 < n ? batch[i + 1] : NULL;
		struct wreq *w = malloc(sizeof(*w) + nbufs * sizeof(uv_buf_t));
		if (!w) {
			complete_batch(c, batch[0], -ENOMEM);
			conn_lost(c, MSGR_CONN_DOWN);
			return;
		}
		w->c = c;
		w->sock = s;
		w->tlsbuf = NULL;
		w->head = batch[0];
		unsigned b = 0;
		uint64_t total = 0;
		for (unsigned i = 0; i < n; i++) {
			mo = batch[i];
			total += mo->bytes;
			w->bufs[b++] = uv_buf_init((char *)mo->hdr, MSG_HDR_LEN);
			for (int k = 0; k < mo->iovcnt; k++)
				w->bufs[b++] = uv_buf_init(mo->iov[k].iov_base,
				                           (unsigned)mo->iov[k].iov_len);
		}
		/* The last round always goes through uv_write so a producer that
		 * refills the queue from its free callbacks cannot keep us here
		 * (bounded work per event) nor leave the queue stalled. */
		int rc = rounds < 63 ? uv_try_write((uv_stream_t *)&s->tcp, w->bufs, nbufs) : 0;
		if (rc == UV_EAGAIN || rc == UV_ENOSYS)
			rc = 0;
		if (rc >= 0 && (uint64_t)rc == total) {
			c->last_tx_ms = uv_now(c->m->loop);
			free(w);
			/* May run application code (free callbacks). */
			complete_batch(c, batch[0], 0);
			continue;
		}
		if (rc >= 0) {
			/* Skip what the kernel took; write the rest. */
			w->nbufs = nbufs;
			size_t skip = (size_t)rc;
			unsigned first = 0;
			while (skip >= w->bufs[first].len) {
				skip -= w->bufs[first].len;
				first++;
			}
			w->bufs[first].base += skip;
			w->bufs[first].len -= (unsigned)skip;
			memmove(w->bufs, w->bufs + first, (nbufs - first) * sizeof(uv_buf_t));
			w->nbufs = nbufs - first;
			rc = start_write(c, w);
		}
		if (rc) {
			complete_batch(c, w->head, -ECONNRESET);
			free(w);
			CONN_LOG(c, WARN, "write to %s (%s) failed: %s", c->peer_addr,
			         peer_name(c), uv_strerror(rc));
			conn_lost(c, MSGR_CONN_DOWN);
		}
		return;
	}
}

/* TLS: encrypt a bounded batch (free callbacks run once their bytes are
 * inside TLS) and write whatever ciphertext is pending. */
static void flush_tls(struct msgr_conn *c)
{
	struct msg_out *mo;
	uint64_t done = 0;
	int err = 0;
	while (!err && c->hs >= HS_WAIT_HELLO && done < TLS_BATCH_BYTES && (mo = next_out(c))) {
		err = tls_sess_write(c->tls, mo->hdr, MSG_HDR_LEN);
		for (int k = 0; !err && k < mo->iovcnt; k++)
			err = tls_sess_write(c->tls, mo->iov[k].iov_base, mo->iov[k].iov_len);
		done += mo->bytes;
		mo->next = NULL;
		complete_batch(c, mo, err ? -ECONNRESET : 0);
	}
	if (err) {
		CONN_LOG(c, WARN, "TLS write to %s failed", c->peer_addr);
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	size_t pend = tls_sess_pending_out(c->tls);
	if (!pend)
		return;
	struct wreq *w = malloc(sizeof(*w) + sizeof(uv_buf_t));
	uint8_t *buf = malloc(pend);
	if (!w || !buf) {
		free(w);
		free(buf);
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	size_t got = tls_sess_take_out(c->tls, buf, pend);
	w->c = c;
	w->sock = c->sock;
	w->head = NULL;
	w->tlsbuf = buf;
	w->nbufs = 1;
	w->bufs[0] = uv_buf_init((char *)buf, (unsigned)got);
	int rc = start_write(c, w);
	if (rc) {
		free(buf);
		free(w);
		conn_lost(c, MSGR_CONN_DOWN);
	}
}

static void conn_flush(struct msgr_conn *c)
{
	/* Free callbacks run inside the flush may send again: the running
	 * flush picks those messages up, so do not recurse. */
	if (c->flushing || c->closed || !c->sock || c->writing || c->hs == HS_CONNECTING ||
	    c->hs == HS_NONE)
		return;
	c->flushing = true;
	msgr_conn_get(c);
	if (c->tls)
		flush_tls(c);
	else
		flush_plain(c);
	c->flushing = false;
	if (c->sock && !c->closed && !c->writing && c->fail_pending)
		conn_lost(c, c->outgoing ? MSGR_CONN_AUTH_FAILED : MSGR_CONN_DOWN);
	else if (!c->writing)
		maybe_writable(c);
	msgr_conn_put(c);
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = NORN_CONTAINER_OF(req, struct wreq, req);
	struct msgr_conn *c = w->c;
	bool current = (w->sock == c->sock) && !c->closed;
	complete_batch(c, w->head, status ? -ECONNRESET : 0);
	free(w->tlsbuf);
	free(w);
	if (current) {
		c->writing = false;
		if (status) {
			CONN_LOG(c, INFO, "write to %s (%s) failed: %s", c->peer_addr,
			         peer_name(c), uv_strerror(status));
			conn_lost(c, MSGR_CONN_DOWN);
		} else {
			conn_flush(c);
		}
	}
	maybe_writable(c);
	msgr_conn_put(c);
}

/* ---- send coalescing (see the top of the file) ---------------------------- */

static void mark_dirty(struct msgr_conn *c)
{
	if (c->dirty)
		return;
	if (c->m->closing) {
		/* msgr_close() is tearing down; no list may hold references */
		conn_flush(c);
		return;
	}
	c->dirty = true;
	c->dirty_next = NULL;
	msgr_conn_get(c);
	struct msgr *m = c->m;
	if (m->dirty_tail)
		m->dirty_tail->dirty_next = c;
	else
		m->dirty_head = c;
	m->dirty_tail = c;
}

static struct msgr_conn *pop_dirty(struct msgr *m)
{
	struct msgr_conn *c = m->dirty_head;
	if (!c)
		return NULL;
	m->dirty_head = c->dirty_next;
	if (!m->dirty_head)
		m->dirty_tail = NULL;
	c->dirty_next = NULL;
	NORN_ASSERT(c->dirty);
	c->dirty = false;
	return c;
}

/* Flush the dirty conns. Free callbacks may send again and dirty more
 * conns; a pass is bounded, and what is left makes the idle handle keep
 * the next poll from blocking until it is done. */
static void flush_dirty(struct msgr *m)
{
	struct msgr_conn *c;
	for (unsigned n = 0; n < DIRTY_ROUNDS_MAX && (c = pop_dirty(m)); n++) {
		conn_flush(c);
		msgr_conn_put(c);
	}
	if (m->closing)
		return;
	if (m->dirty_head)
		uv_idle_start(&m->flush_idle, flush_idle_cb);
	else
		uv_idle_stop(&m->flush_idle);
}

static void flush_check_cb(uv_check_t *h)
{
	flush_dirty(h->data);
}

static void flush_prep_cb(uv_prepare_t *h)
{
	flush_dirty(h->data);
}

static void flush_idle_cb(uv_idle_t *h)
{
	flush_dirty(h->data);
}

static int send_msg(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch,
                    const struct iovec *iov, int iovcnt, const uint32_t *crc,
                    msgr_free_cb free_cb, void *cb_arg)
{
	if (type < MSG_T_USER_MIN || iovcnt < 0 || iovcnt > MSG_MAX_IOV || (iovcnt && !iov))
		return -EINVAL;
	if (c->closed || c->auth_failed || (!c->outgoing && c->hs != HS_UP))
		return -ENOTCONN;
	uint64_t len = MSG_HDR_LEN;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > c->m->o.max_frame_bytes)
		return -EMSGSIZE;
	uint64_t queued = c->q_bytes + c->inflight_bytes;
	if (queued && queued + len > c->m->o.send_queue_bytes) {
		c->want_writable = true;
		return NORN_EAGAIN;
	}
	struct msg_out *mo = build_msg(c->m, type, tid, epoch, iov, iovcnt, crc);
	if (!mo)
		return -ENOMEM;
	mo->app = true;
	mo->free_cb = free_cb;
	mo->cb_arg = cb_arg;
	push(&c->q_head, &c->q_tail, mo);
	c->q_bytes += mo->bytes;
	if (c->q_bytes >= COALESCE_BYTES)
		conn_flush(c);
	else
		mark_dirty(c);
	return 0;
}

int msgr_send(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch,
              const struct iovec *iov, int iovcnt, msgr_free_cb free_cb, void *cb_arg)
{
	return send_msg(c, type, tid, epoch, iov, iovcnt, NULL, free_cb, cb_arg);
}

int msgr_send_crc(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch,
                  const struct iovec *iov, int iovcnt, uint32_t payload_crc,
                  msgr_free_cb free_cb, void *cb_arg)
{
	return send_msg(c, type, tid, epoch, iov, iovcnt, &payload_crc, free_cb, cb_arg);
}

/* ---- handshake --------------------------------------------------------- */

static void auth_refuse(struct msgr_conn *c, uint32_t reason, const char *who)
{
	NLOG(AUTH, WARN, "auth failed for %s from %s: %s", who, c->peer_addr,
	     auth_fail_reason_str(reason));
	struct enc e;
	enc_init(&e, 16);
	auth_fail_encode(&e, reason);
	c->fail_pending = true;
	if (send_internal(c, MSG_T_AUTH_FAIL, &e))
		conn_lost(c, c->outgoing ? MSGR_CONN_AUTH_FAILED : MSGR_CONN_DOWN);
}

static void conn_up(struct msgr_conn *c)
{
	c->hs = HS_UP;
	c->backoff_ms = c->m->o.reconnect_min_ms;
	NLOG(MSG, DEBUG, "%s %s (%s) up", c->outgoing ? "connected to" : "accepted",
	     c->peer_addr, c->peer_entity);
	msgr_conn_get(c);
	report(c, MSGR_CONN_UP);
	if (!c->closed)
		conn_flush(c);
	msgr_conn_put(c);
}

static void client_start_auth(struct msgr_conn *c)
{
	struct auth_hello h;
	memset(&h, 0, sizeof(h));
	snprintf(h.entity, sizeof(h.entity), "%s", c->cred.entity);
	if (norn_random_bytes(c->nonce_c, AUTH_NONCE_LEN)) {
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	memcpy(h.nonce, c->nonce_c, AUTH_NONCE_LEN);
	h.ticket = c->cred.ticket_len ? c->ticket : NULL;
	h.ticket_len = c->cred.ticket_len;
	struct enc e;
	enc_init(&e, 128 + h.ticket_len);
	auth_hello_encode(&e, &h);
	c->hs = HS_WAIT_CHALLENGE;
	if (send_internal(c, MSG_T_AUTH_HELLO, &e))
		conn_lost(c, MSGR_CONN_DOWN);
}

static void server_on_hello(struct msgr_conn *c, const uint8_t *p, size_t len)
{
	struct msgr *m = c->m;
	struct auth_hello h;
	if (auth_hello_decode(p, len, &h)) {
		auth_refuse(c, AUTH_FAIL_PROTOCOL, "?");
		return;
	}
	if (!m->o.cb.get_key) {
		auth_refuse(c, AUTH_FAIL_NOT_ACCEPTING, h.entity);
		return;
	}
	c->caps[0] = 0;
	int rc = m->o.cb.get_key(h.entity, h.ticket, h.ticket_len, c->key, c->caps, m->o.cb.user);
	c->caps[sizeof(c->caps) - 1] = 0;
	if (rc) {
		auth_refuse(c, h.ticket_len ? AUTH_FAIL_BAD_TICKET : AUTH_FAIL_UNKNOWN_ENTITY,
		            h.entity);
		return;
	}
	snprintf(c->peer_entity, sizeof(c->peer_entity), "%s", h.entity);
	memcpy(c->nonce_c, h.nonce, AUTH_NONCE_LEN);
	struct auth_challenge ch;
	memset(&ch, 0, sizeof(ch));
	snprintf(ch.entity, sizeof(ch.entity), "%s", m->o.entity);
	if (norn_random_bytes(c->nonce_s, AUTH_NONCE_LEN) ||
	    auth_proof_compute(c->key, AUTH_DIR_SERVER, c->nonce_c, c->nonce_s, c->peer_entity,
	                       m->o.entity, ch.proof)) {
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	memcpy(ch.nonce, c->nonce_s, AUTH_NONCE_LEN);
	struct enc e;
	enc_init(&e, 128);
	auth_challenge_encode(&e, &ch);
	c->hs = HS_WAIT_PROOF;
	if (send_internal(c, MSG_T_AUTH_CHALLENGE, &e))
		conn_lost(c, MSGR_CONN_DOWN);
}

static void client_on_challenge(struct msgr_conn *c, const uint8_t *p, size_t len)
{
	struct auth_challenge ch;
	uint8_t want[AUTH_PROOF_LEN], mine[AUTH_PROOF_LEN];
	if (auth_challenge_decode(p, len, &ch)) {
		auth_refuse(c, AUTH_FAIL_PROTOCOL, "server");
		return;
	}
	memcpy(c->nonce_s, ch.nonce, AUTH_NONCE_LEN);
	if (auth_proof_compute(c->cred.key, AUTH_DIR_SERVER, c->nonce_c, c->nonce_s,
	                       c->cred.entity, ch.entity, want) ||
	    auth_proof_compute(c->cred.key, AUTH_DIR_CLIENT, c->nonce_c, c->nonce_s,
	                       c->cred.entity, ch.entity, mine)) {
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	if (!auth_proof_equal(want, ch.proof)) {
		NLOG(AUTH, WARN, "auth failed for %s at %s: bad server proof (wrong key for %s?)",
		     ch.entity, c->peer_addr, c->cred.entity);
		struct enc e;
		enc_init(&e, 16);
		auth_fail_encode(&e, AUTH_FAIL_BAD_PROOF);
		c->fail_pending = true;
		if (send_internal(c, MSG_T_AUTH_FAIL, &e))
			conn_lost(c, MSGR_CONN_AUTH_FAILED);
		return;
	}
	snprintf(c->peer_entity, sizeof(c->peer_entity), "%s", ch.entity);
	struct enc e;
	enc_init(&e, 64);
	auth_proof_encode(&e, mine);
	c->hs = HS_WAIT_DONE;
	if (send_internal(c, MSG_T_AUTH_PROOF, &e))
		conn_lost(c, MSGR_CONN_DOWN);
}

static void server_on_proof(struct msgr_conn *c, const uint8_t *p, size_t len)
{
	uint8_t got[AUTH_PROOF_LEN], want[AUTH_PROOF_LEN];
	if (auth_proof_decode(p, len, got)) {
		auth_refuse(c, AUTH_FAIL_PROTOCOL, c->peer_entity);
		return;
	}
	if (auth_proof_compute(c->key, AUTH_DIR_CLIENT, c->nonce_c, c->nonce_s, c->peer_entity,
	                       c->m->o.entity, want)) {
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	if (!auth_proof_equal(got, want)) {
		char who[AUTH_ENTITY_NAME_MAX];
		snprintf(who, sizeof(who), "%s", c->peer_entity);
		c->peer_entity[0] = 0;
		auth_refuse(c, AUTH_FAIL_BAD_PROOF, who);
		return;
	}
	OPENSSL_cleanse(c->key, sizeof(c->key));
	if (send_internal(c, MSG_T_AUTH_DONE, NULL)) {
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	conn_up(c);
}

/* Returns false if the conn's socket went away. */
static bool handle_internal(struct msgr_conn *c, const struct msg_hdr *h, const uint8_t *p)
{
	struct msgr_sock *s = c->sock;
	size_t len = h->payload_len;
	if (h->type == MSG_T_KEEPALIVE)
		return true;
	if (h->type == MSG_T_AUTH_FAIL) {
		uint32_t reason = 0;
		if (auth_fail_decode(p, len, &reason))
			reason = AUTH_FAIL_PROTOCOL;
		NLOG(AUTH, WARN, "auth failed: %s at %s refused us (%s): %s",
		     c->outgoing ? "server" : "client", c->peer_addr,
		     c->outgoing ? c->cred.entity : c->m->o.entity, auth_fail_reason_str(reason));
		conn_lost(c, c->outgoing ? MSGR_CONN_AUTH_FAILED : MSGR_CONN_DOWN);
		return false;
	}
	if (c->outgoing && h->type == MSG_T_AUTH_CHALLENGE && c->hs == HS_WAIT_CHALLENGE)
		client_on_challenge(c, p, len);
	else if (c->outgoing && h->type == MSG_T_AUTH_DONE && c->hs == HS_WAIT_DONE)
		conn_up(c);
	else if (!c->outgoing && h->type == MSG_T_AUTH_HELLO && c->hs == HS_WAIT_HELLO)
		server_on_hello(c, p, len);
	else if (!c->outgoing && h->type == MSG_T_AUTH_PROOF && c->hs == HS_WAIT_PROOF)
		server_on_proof(c, p, len);
	else {
		NLOG(MSG, WARN, "bad frame from %s (%s): unexpected type %u in state %d",
		     c->peer_addr, peer_name(c), h->type, (int)c->hs);
		conn_lost(c, MSGR_CONN_DOWN);
		return false;
	}
	return c->sock == s && !c->closed;
}

/* ---- receiving --------------------------------------------------------- */

static void bad_frame(struct msgr_conn *c, const char *why)
{
	NLOG(MSG, WARN, "bad frame from %s (%s): %s; closing connection", c->peer_addr,
	     peer_name(c), why);
	conn_lost(c, MSGR_CONN_DOWN);
}

/* Deliver one verified frame. Returns false if the socket went away. */
static bool deliver(struct msgr_conn *c, const struct msg_hdr *h, const uint8_t *p,
                    uint8_t *owned)
{
	struct msgr_sock *s = c->sock;
	if (h->type <= MSG_T_INTERNAL_MAX) {
		bool ok = handle_internal(c, h, p);
		free(owned);
		return ok;
	}
	if (c->hs != HS_UP) {
		free(owned);
		bad_frame(c, "message before authentication");
		return false;
	}
	struct msg_in mi = { .hdr = *h, .payload = h->payload_len ? p : NULL,
	                     .len = h->payload_len, .owned = owned };
	if (c->m->o.cb.on_message)
		c->m->o.cb.on_message(c, &mi, c->m->o.cb.user);
	free(mi.owned);
	return c->sock == s && !c->closed;
}

static bool check_hdr(struct msgr_conn *c, const uint8_t *p, struct msg_hdr *h)
{
	int rc = msg_hdr_decode(p, MSG_HDR_LEN, c->m->o.max_frame_bytes, h);
	if (rc) {
		const char *why = rc == NORN_ECRC ? "header crc mismatch" :
		                  rc == NORN_EVERSION ? "unknown protocol version" :
		                  rc == -EMSGSIZE ? "frame larger than msg_max_frame_bytes" :
		                  "bad magic or reserved bits";
		bad_frame(c, why);
		return false;
	}
	if (memcmp(h->fsid, c->m->o.fsid, MSG_FSID_LEN)) {
		bad_frame(c, "wrong cluster fsid");
		return false;
	}
	if (h->type <= MSG_T_INTERNAL_MAX && h->payload_len > HANDSHAKE_PAYLOAD_MAX) {
		bad_frame(c, "oversized internal frame");
		return false;
	}
	/* Refuse before allocating anything for an unauthenticated peer. */
	if (h->type > MSG_T_INTERNAL_MAX && c->hs != HS_UP) {
		bad_frame(c, "message before authentication");
		return false;
	}
	return true;
}

/* Parse and deliver what the read buffer holds. */
static void rx_process(struct msgr_conn *c)
{
	if (c->in_rx)
		return;
	c->in_rx = true;
	msgr_conn_get(c);
	while (c->sock && !c->closed && !c->read_paused && !c->direct) {
		size_t avail = c->rlen - c->rstart;
		if (avail < MSG_HDR_LEN)
			break;
		const uint8_t *f = c->rbuf + c->rstart;
		struct msg_hdr h;
		if (!check_hdr(c, f, &h))
			break;
		size_t plen = h.payload_len;
		if (plen > DIRECT_MIN) {
			/* Large payload: one allocation, socket reads into it. */
			uint8_t *d = malloc(plen);
			if (!d) {
				bad_frame(c, "out of memory for payload");
				break;
			}
			size_t have = NORN_MIN(avail - MSG_HDR_LEN, plen);
			memcpy(d, f + MSG_HDR_LEN, have);
			c->rstart += MSG_HDR_LEN + have;
			NORN_ASSERT(c->rstart == c->rlen);
			c->rstart = c->rlen = 0;
			c->dbuf = d;
			c->dgot = have;
			c->dhdr = h;
			c->direct = true;
			if (have == plen) {
				/* Cannot happen with DIRECT_MIN >= buffer, but be safe. */
				c->direct = false;
				c->dbuf = NULL;
				if (norn_crc32c(0, d, plen) != h.payload_crc) {
					free(d);
					bad_frame(c, "payload crc mismatch");
					break;
				}
				if (!deliver(c, &h, d, d))
					break;
			}
			break;
		}
		if (avail < MSG_HDR_LEN + plen)
			break;
		const uint8_t *p = f + MSG_HDR_LEN;
		if (norn_crc32c(0, p, plen) != h.payload_crc) {
			bad_frame(c, "payload crc mismatch");
			break;
		}
		c->rstart += MSG_HDR_LEN + plen;
		if (!deliver(c, &h, p, NULL))
			break;
	}
	if (c->sock && c->rstart == c->rlen)
		c->rstart = c->rlen = 0;
	c->in_rx = false;
	msgr_conn_put(c);
}

static void rx_get_buf(struct msgr_conn *c, uint8_t **p, size_t *cap)
{
	if (c->direct) {
		*p = c->dbuf + c->dgot;
		*cap = c->dhdr.payload_len - c->dgot;
		return;
	}
	if (c->rstart && RBUF_BYTES - c->rlen < MSG_HDR_LEN + 4096) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rlen - c->rstart);
		c->rlen -= c->rstart;
		c->rstart = 0;
	}
	*p = c->rbuf + c->rlen;
	*cap = RBUF_BYTES - c->rlen;
}

/* @n bytes arrived where rx_get_buf() pointed. */
static void rx_commit(struct msgr_conn *c, size_t n)
{
	c->last_rx_ms = uv_now(c->m->loop);
	if (c->direct) {
		c->dgot += n;
		if (c->dgot < c->dhdr.payload_len)
			return;
		uint8_t *d = c->dbuf;
		struct msg_hdr h = c->dhdr;
		c->dbuf = NULL;
		c->direct = false;
		if (norn_crc32c(0, d, h.payload_len) != h.payload_crc) {
			free(d);
			bad_frame(c, "payload crc mismatch");
			return;
		}
		msgr_conn_get(c);
		bool ok = deliver(c, &h, d, d);
		if (ok)
			rx_process(c);
		msgr_conn_put(c);
		return;
	}
	c->rlen += n;
	rx_process(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct msgr_sock *s = h->data;
	struct msgr_conn *c = s->c;
	if (c->sock != s) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	if (c->tls) {
		*buf = uv_buf_init((char *)c->tls_in, TLS_IN_BYTES);
		return;
	}
	uint8_t *p;
	size_t cap;
	rx_get_buf(c, &p, &cap);
	if (cap > (1u << 30))
		cap = 1u << 30;
	*buf = uv_buf_init((char *)p, (unsigned)cap);
}

static void tls_established(struct msgr_conn *c)
{
	if (c->outgoing)
		client_start_auth(c);
	else
		c->hs = HS_WAIT_HELLO;
}

/* Drive TLS after ciphertext arrived: handshake, then decrypt into the
 * framing buffers. */
static void tls_input(struct msgr_conn *c)
{
	struct msgr_sock *s = c->sock;
	msgr_conn_get(c);
	if (c->hs == HS_TLS) {
		char err[256] = "";
		int r = tls_sess_handshake(c->tls, err, sizeof(err));
		if (r < 0) {
			NLOG(MSG, WARN, "TLS handshake with %s failed: %s", c->peer_addr, err);
			/* Let the alert go out, best effort, then close. */
			conn_flush(c);
			if (c->sock == s)
				conn_lost(c, c->outgoing ? MSGR_CONN_AUTH_FAILED : MSGR_CONN_DOWN);
			goto out;
		}
		if (r == 1)
			tls_established(c);
	}
	while (c->sock == s && !c->closed && c->hs > HS_TLS && !c->read_paused) {
		uint8_t *p;
		size_t cap;
		rx_get_buf(c, &p, &cap);
		if (cap == 0)
			break;
		long n = tls_sess_read(c->tls, p, cap);
		if (n == 0)
			break;
		if (n < 0) {
			NLOG(MSG, INFO, "TLS session with %s (%s) ended: %s", c->peer_addr,
			     peer_name(c), n == -ECONNRESET ? "closed by peer" : "protocol error");
			conn_lost(c, MSGR_CONN_DOWN);
			goto out;
		}
		rx_commit(c, (size_t)n);
	}
	if (c->sock == s && !c->closed)
		conn_flush(c);
out:
	msgr_conn_put(c);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct msgr_sock *s = st->data;
	struct msgr_conn *c = s->c;
	if (c->sock != s || c->closed)
		return;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			NLOG(MSG, INFO, "%s (%s) closed the connection%s", c->peer_addr,
			     peer_name(c), (c->rlen > c->rstart || c->direct) ? " mid-frame" : "");
		else
			NLOG(MSG, INFO, "read from %s (%s) failed: %s", c->peer_addr,
			     peer_name(c), uv_strerror((int)nread));
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	if (c->tls) {
		c->last_rx_ms = uv_now(c->m->loop);
		if (tls_sess_feed(c->tls, c->tls_in, (size_t)nread)) {
			conn_lost(c, MSGR_CONN_DOWN);
			return;
		}
		tls_input(c);
		return;
	}
	rx_commit(c, (size_t)nread);
}

/* ---- sockets and timers ------------------------------------------------ */

static void addr_to_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[64] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(out, cap, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(out, cap, "[%s]:%d", host, port);
	} else {
		snprintf(out, cap, "?");
	}
}

static struct msgr_conn *conn_alloc(struct msgr *m, bool outgoing)
{
	struct msgr_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->rbuf = malloc(RBUF_BYTES);
	if (m->o.tls)
		c->tls_in = malloc(TLS_IN_BYTES);
	if (!c->rbuf || (m->o.tls && !c->tls_in)) {
		free(c->rbuf);
		free(c->tls_in);
		free(c);
		return NULL;
	}
	c->m = m;
	c->outgoing = outgoing;
	c->backoff_ms = m->o.reconnect_min_ms;
	c->refs = 1;               /* the timer's */
	uv_timer_init(m->loop, &c->timer);
	c->timer.data = c;
	m->handles++;
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	c->in_list = true;
	return c;
}

static struct msgr_sock *sock_new(struct msgr_conn *c)
{
	struct msgr_sock *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	uv_tcp_init(c->m->loop, &s->tcp);
	s->tcp.data = s;
	s->c = c;
	s->m = c->m;
	c->m->handles++;
	msgr_conn_get(c);
	return s;
}

static int sock_begin(struct msgr_conn *c, bool server)
{
	uint64_t now = uv_now(c->m->loop);
	c->last_rx_ms = c->last_tx_ms = c->sock_start_ms = now;
	uv_tcp_nodelay(&c->sock->tcp, 1);
	int rc = uv_read_start((uv_stream_t *)&c->sock->tcp, alloc_cb, read_cb);
	if (rc)
		return rc;
	if (c->read_paused)
		uv_read_stop((uv_stream_t *)&c->sock->tcp);
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, conn_timer_cb, tick_ms(c->m), tick_ms(c->m));
	if (c->m->o.tls) {
		rc = tls_sess_create(c->m->o.tls, server, &c->tls);
		if (rc)
			return rc;
		c->hs = HS_TLS;
		if (!server) {
			tls_sess_handshake(c->tls, NULL, 0);
			conn_flush(c);
		}
		return 0;
	}
	if (server)
		c->hs = HS_WAIT_HELLO;
	else
		client_start_auth(c);
	return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct msgr_sock *s = NORN_CONTAINER_OF(req, struct msgr_sock, creq);
	struct msgr_conn *c = s->c;
	if (c->sock != s || c->closed)
		return;
	if (status) {
		NLOG(MSG, DEBUG, "connect to %s failed: %s", c->peer_addr, uv_strerror(status));
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	int rc = sock_begin(c, false);
	if (rc) {
		NLOG(MSG, WARN, "cannot start conn to %s: %s", c->peer_addr, norn_strerror(rc));
		conn_lost(c, MSGR_CONN_DOWN);
	}
}

static void conn_start_connect(struct msgr_conn *c)
{
	NORN_ASSERT(!c->sock);
	c->sock = sock_new(c);
	if (!c->sock) {
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	c->hs = HS_CONNECTING;
	c->sock_start_ms = uv_now(c->m->loop);
	/* The tick bounds the connect too (handshake_timeout_ms). */
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, conn_timer_cb, tick_ms(c->m), tick_ms(c->m));
	int rc = uv_tcp_connect(&c->sock->creq, &c->sock->tcp,
	                        (const struct sockaddr *)&c->addr, connect_cb);
	if (rc) {
		NLOG(MSG, DEBUG, "connect to %s failed: %s", c->peer_addr, uv_strerror(rc));
		conn_lost(c, MSGR_CONN_DOWN);
	}
}

static void conn_timer_cb(uv_timer_t *t)
{
	struct msgr_conn *c = t->data;
	struct msgr *m = c->m;
	if (c->closed)
		return;
	if (!c->sock) {
		if (c->outgoing && !c->auth_failed)
			conn_start_connect(c);
		return;
	}
	uint64_t now = uv_now(m->loop);
	if (c->hs != HS_UP && now - c->sock_start_ms >= m->o.handshake_timeout_ms) {
		NLOG(MSG, WARN, "handshake with %s timed out", c->peer_addr);
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	if (c->hs == HS_CONNECTING)
		return;
	if (now - c->last_rx_ms >= m->o.timeout_ms) {
		NLOG(MSG, WARN, "%s (%s) silent for %llu ms; closing", c->peer_addr,
		     peer_name(c), (unsigned long long)(now - c->last_rx_ms));
		conn_lost(c, MSGR_CONN_DOWN);
		return;
	}
	if (c->hs == HS_UP && !c->writing && !c->q_head && !c->iq_head &&
	    now - c->last_tx_ms >= m->o.keepalive_ms)
		send_internal(c, MSG_T_KEEPALIVE, NULL);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct msgr *m = server->data;
	if (status || m->closing)
		return;
	struct msgr_conn *c = conn_alloc(m, false);
	if (!c) {
		/* Accept and drop, so the listener does not spin. */
		uv_tcp_t *tmp = malloc(sizeof(*tmp));
		if (tmp) {
			uv_tcp_init(m->loop, tmp);
			if (uv_accept(server, (uv_stream_t *)tmp) == 0)
				NLOG(MSG, WARN, "out of memory, dropping new connection");
			uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
		}
		return;
	}
	/* The conn's reference is the timer's (1) plus the list's (incoming). */
	msgr_conn_get(c);
	c->sock = sock_new(c);
	if (!c->sock) {
		conn_shutdown(c);
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&c->sock->tcp)) {
		conn_shutdown(c);
		return;
	}
	int alen = sizeof(c->addr);
	if (uv_tcp_getpeername(&c->sock->tcp, (struct sockaddr *)&c->addr, &alen) == 0)
		addr_to_str(&c->addr, c->peer_addr, sizeof(c->peer_addr));
	else
		snprintf(c->peer_addr, sizeof(c->peer_addr), "?");
	int rc = sock_begin(c, true);
	if (rc) {
		NLOG(MSG, WARN, "cannot start conn from %s: %s", c->peer_addr,
		     norn_strerror(rc));
		conn_shutdown(c);
	}
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
	if (!host || port < 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return -EINVAL;
}

int msgr_listen(struct msgr *m, const char *host, int port, int *port_out)
{
	struct sockaddr_storage ss;
	if (m->closing || parse_addr(host, port, &ss))
		return -EINVAL;
	if (m->listening)
		return -EALREADY;
	uv_tcp_init(m->loop, &m->listener);
	m->listener.data = m;
	m->handles++;
	m->listening = true;
	int rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&m->listener, 511, on_connection);
	if (rc) {
		m->listening = false;
		uv_close((uv_handle_t *)&m->listener, htimer_close_cb);
		return rc;
	}
	if (port_out) {
		struct sockaddr_storage b;
		int blen = sizeof(b);
		uv_tcp_getsockname(&m->listener, (struct sockaddr *)&b, &blen);
		*port_out = b.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&b)->sin_port)
		                                   : ntohs(((struct sockaddr_in6 *)&b)->sin6_port);
	}
	return 0;
}

int msgr_connect(struct msgr *m, const char *host, int port,
                 const struct msgr_cred *cred, struct msgr_conn **out)
{
	struct sockaddr_storage ss;
	if (m->closing || parse_addr(host, port, &ss) || port == 0)
		return -EINVAL;
	if (!cred)
		cred = &m->o.cred;
	if (!auth__entity_ok(cred->entity) || cred->ticket_len > AUTH_TICKET_MAX ||
	    (cred->ticket_len && !cred->ticket))
		return -EINVAL;
	struct msgr_conn *c = conn_alloc(m, true);
	if (!c)
		return -ENOMEM;
	msgr_conn_get(c);          /* the caller's */
	c->addr = ss;
	addr_to_str(&ss, c->peer_addr, sizeof(c->peer_addr));
	c->cred = *cred;
	if (cred->ticket_len)
		memcpy(c->ticket, cred->ticket, cred->ticket_len);
	c->cred.ticket = NULL;
	conn_start_connect(c);
	*out = c;
	return 0;
}

void msgr_conn_close(struct msgr_conn *c, void (*cb)(void *arg), void *arg)
{
	c->close_cb = cb;
	c->close_arg = arg;
	msgr_conn_get(c);
	/* What was sent just before the close still gets its chance to reach
	 * the socket, as it would have without send coalescing. */
	if (c->dirty)
		conn_flush(c);
	conn_shutdown(c);
	if (c->outgoing) {
		NORN_ASSERT(!c->user_ref_dropped);
		c->user_ref_dropped = true;
		msgr_conn_put(c);
	}
	msgr_conn_put(c);
}

void msgr_close(struct msgr *m, void (*cb)(void *arg), void *arg)
{
	NORN_ASSERT(!m->closing);
	/* Sends made just before the close still go out (best effort), then
	 * the dirty list lets go of its references. */
	struct msgr_conn *dc;
	for (unsigned n = 0; n < DIRTY_ROUNDS_MAX && (dc = pop_dirty(m)); n++) {
		conn_flush(dc);
		msgr_conn_put(dc);
	}
	m->closing = true;
	while ((dc = pop_dirty(m)))
		msgr_conn_put(dc);
	m->close_cb = cb;
	m->close_arg = arg;
	while (m->conns)
		conn_shutdown(m->conns);
	if (m->listening) {
		m->listening = false;
		uv_close((uv_handle_t *)&m->listener, htimer_close_cb);
	}
	uv_close((uv_handle_t *)&m->htimer, htimer_close_cb);
	uv_close((uv_handle_t *)&m->flush_check, htimer_close_cb);
	uv_close((uv_handle_t *)&m->flush_prep, htimer_close_cb);
	uv_close((uv_handle_t *)&m->flush_idle, htimer_close_cb);
}

/* ---- small accessors --------------------------------------------------- */

void msgr_conn_pause_read(struct msgr_conn *c)
{
	if (c->read_paused)
		return;
	c->read_paused = true;
	if (c->sock && !c->closed)
		uv_read_stop((uv_stream_t *)&c->sock->tcp);
}

void msgr_conn_resume_read(struct msgr_conn *c)
{
	if (!c->read_paused)
		return;
	c->read_paused = false;
	if (!c->sock || c->closed || c->hs == HS_CONNECTING)
		return;
	uv_read_start((uv_stream_t *)&c->sock->tcp, alloc_cb, read_cb);
	if (c->tls)
		tls_input(c);
	else
		rx_process(c);
}

void msgr_conn_set_user(struct msgr_conn *c, void *user) { c->user = user; }
void *msgr_conn_user(const struct msgr_conn *c) { return c->user; }
const char *msgr_conn_peer_entity(const struct msgr_conn *c) { return c->peer_entity; }
const char *msgr_conn_caps(const struct msgr_conn *c) { return c->caps; }
const char *msgr_conn_peer_addr(const struct msgr_conn *c) { return c->peer_addr; }
bool msgr_conn_is_outgoing(const struct msgr_conn *c) { return c->outgoing; }
bool msgr_conn_is_up(const struct msgr_conn *c) { return !c->closed && c->hs == HS_UP; }
uint64_t msgr_conn_queued_bytes(const struct msgr_conn *c) { return c->q_bytes + c->inflight_bytes; }
struct msgr *msgr_conn_msgr(const struct msgr_conn *c) { return c->m; }
