/* The messenger: authenticated, framed messages over libuv TCP.
 *
 * Every daemon and the client library talk through this module. One
 * struct msgr belongs to one libuv loop (one thread); it shares nothing
 * with other loops, and every function here must be called on that loop's
 * thread. A msgr listens on host:port and/or connects to host:port.
 *
 * Wire format. Each message is one frame: a fixed MSG_HDR_LEN-byte header
 * followed by the payload. Header (little-endian):
 *
 *     off size field
 *      0   4   magic MSG_MAGIC ("NMSG")
 *      4   1   protocol version MSG_PROTO_VERSION
 *      5   1   flags (0; unknown bits are refused)
 *      6   2   message type
 *      8   8   tid (transaction id, chosen by the sender)
 *     16   8   sender epoch (map epoch, chosen by the sender)
 *     24  16   cluster fsid
 *     40   4   payload length in bytes
 *     44   4   payload crc32c
 *     48  12   reserved (must be zero)
 *     60   4   header crc32c over bytes 0..59
 *
 * A receiver checks the length and the header crc before trusting any
 * other field, then the magic, version, flags and fsid; the payload is
 * read into one buffer and its crc checked before delivery. Any failure
 * closes that one connection with a log line naming the peer and the
 * reason; nothing else is affected.
 *
 * Connection set-up. Right after TCP connect (and after the TLS handshake
 * when TLS is on, see tls.h) both sides run the mutual challenge-response
 * handshake of auth.h; no application message passes before it succeeds.
 * A connection whose handshake fails is closed; an outgoing one reports
 * MSGR_CONN_AUTH_FAILED and does not retry (a wrong key would only hammer
 * the peer); the application closes it.
 *
 * Delivery semantics: at most once, in order, per connection. Messages
 * given to msgr_send() on an outgoing connection that is down (or
 * reconnecting) stay queued and are sent after the next successful
 * handshake. Messages already handed to the socket when a connection
 * breaks are considered sent and are not repeated: they may or may not
 * have arrived. Callers that need a reply resend their request on
 * reconnect (MSGR_CONN_UP) with the same tid and make the receiver
 * idempotent by tid.
 *
 * Keepalives: a connection idle (nothing sent) for keepalive_ms sends a
 * MSG_T_KEEPALIVE frame; a connection from which nothing arrived for
 * timeout_ms is closed (and an outgoing one reconnects).
 *
 * Backpressure: each connection's send queue is bounded by
 * send_queue_bytes (payload + header bytes not yet written to the socket).
 * When a send would exceed it msgr_send() returns NORN_EAGAIN and the
 * message is not queued; once the queue drains below half the limit the
 * on_writable callback fires and the producer may resume. In the other
 * direction an overloaded application calls msgr_conn_pause_read(): the
 * messenger stops reading from that peer (uv_read_stop), TCP flow control
 * then slows the peer's sender, until msgr_conn_resume_read().
 */
#ifndef NORN_MSG_H
#define NORN_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "common/auth.h"

struct norn_config;
struct tls_ctx;

/* ---- frames ----------------------------------------------------------- */

#define MSG_MAGIC 0x47534d4eu          /* "NMSG" little-endian */
#define MSG_PROTO_VERSION 1
#define MSG_HDR_LEN 64
#define MSG_FSID_LEN 16
#define MSG_MAX_IOV 16                 /* payload iovecs per msgr_send() */

/* Message type ranges. Modules define their own numbers in their range. */
#define MSG_T_INTERNAL_MIN 1           /* 1-99: messenger-internal */
#define MSG_T_KEEPALIVE 1
#define MSG_T_AUTH_HELLO 2             /* client -> server */
#define MSG_T_AUTH_CHALLENGE 3         /* server -> client */
#define MSG_T_AUTH_PROOF 4             /* client -> server */
#define MSG_T_AUTH_DONE 5              /* server -> client */
#define MSG_T_AUTH_FAIL 6              /* either way, then close */
#define MSG_T_INTERNAL_MAX 99
#define MSG_T_MON_MIN 100              /* 100-199: monitor */
#define MSG_T_OSD_MIN 200              /* 200-299: OSD <-> OSD, OSD <-> mon */
#define MSG_T_CLIENT_MIN 300           /* 300-399: client <-> OSD */
#define MSG_T_USER_MIN 100             /* smallest type msgr_send() accepts */

/* A decoded frame header. */
struct msg_hdr {
	uint16_t type;
	uint8_t flags;
	uint64_t tid;
	uint64_t epoch;
	uint8_t fsid[MSG_FSID_LEN];
	uint32_t payload_len;
	uint32_t payload_crc;
};

/* Encode @h into @out (MSG_HDR_LEN bytes), computing the header crc.
 * h->payload_crc must already hold the payload's crc32c. */
void msg_hdr_encode(const struct msg_hdr *h, uint8_t out[MSG_HDR_LEN]);

/* Decode and validate a frame header from @len bytes at @buf (pure; used
 * by the messenger, tests and the fuzzer). @max_frame_bytes bounds header
 * + payload. Returns 0 and fills @out, or:
 *   NORN_ECORRUPT  @len < MSG_HDR_LEN, bad magic, unknown flags, reserved
 *                  bytes not zero
 *   NORN_ECRC      header crc mismatch (checked before anything but length)
 *   NORN_EVERSION  unknown protocol version
 *   -EMSGSIZE      header + payload larger than @max_frame_bytes
 * Never reads more than MSG_HDR_LEN bytes. */
int msg_hdr_decode(const void *buf, size_t len, uint64_t max_frame_bytes,
                   struct msg_hdr *out);

/* Decode a whole frame (header + payload) from @buf: as msg_hdr_decode(),
 * then NORN_ECORRUPT if fewer than header + payload bytes are present and
 * NORN_ECRC if the payload crc mismatches. On success *@payload_out points
 * into @buf and *@frame_len_out is the frame's total length (the caller
 * may decode the next frame after it). */
int msg_frame_decode(const void *buf, size_t len, uint64_t max_frame_bytes,
                     struct msg_hdr *hdr_out, const uint8_t **payload_out,
                     size_t *frame_len_out);

/* ---- the messenger ---------------------------------------------------- */

struct msgr;
struct msgr_conn;

enum msgr_conn_state {
	MSGR_CONN_UP = 1,          /* handshake done; messages flow */
	MSGR_CONN_DOWN = 2,        /* connection lost (outgoing: reconnecting) */
	MSGR_CONN_AUTH_FAILED = 3, /* handshake refused; no retry */
};

/* A received message, valid only during the on_message callback. */
struct msg_in {
	struct msg_hdr hdr;
	const uint8_t *payload;    /* payload_len bytes (NULL when 0) */
	size_t len;                /* == hdr.payload_len */
	/* private */
	uint8_t *owned;            /* heap buffer holding payload, or NULL */
};

/* Take ownership of the payload as a heap buffer the caller frees with
 * free(). For large payloads (read straight into their own allocation)
 * this is free; a small payload that sits in the connection's read buffer
 * is copied once. Returns NULL if @m has no payload or on -ENOMEM; call at
 * most once, and do not use m->payload afterwards. */
uint8_t *msg_in_steal(struct msg_in *m);

/* Application callbacks. All run on the msgr's loop thread. A callback may
 * call any msgr function, including closing the connection or the msgr. */
struct msgr_callbacks {
	/* A message of type >= MSG_T_USER_MIN arrived on @c. */
	void (*on_message)(struct msgr_conn *c, struct msg_in *m, void *user);
	/* @c changed state. For incoming conns DOWN is final: the msgr drops
	 * its reference right after this callback (take one with
	 * msgr_conn_get() to keep using the pointer). */
	void (*on_conn_state)(struct msgr_conn *c, enum msgr_conn_state st, void *user);
	/* @c's send queue drained below half its limit after a msgr_send()
	 * returned NORN_EAGAIN. Optional. */
	void (*on_writable)(struct msgr_conn *c, void *user);
	/* Server side of the handshake: return the key for @entity (a
	 * client presenting @ticket_len > 0 bytes of @ticket must be
	 * verified with auth_ticket_verify() and the session key returned).
	 * Fill @key_out and @caps_out (a NUL-terminated caps string, may be
	 * empty) and return 0, or return a negative error to refuse. NULL:
	 * this msgr accepts no incoming connections' handshakes. */
	int (*get_key)(const char *entity, const uint8_t *ticket, size_t ticket_len,
	               uint8_t key_out[AUTH_KEY_LEN], char caps_out[AUTH_CAPS_STR_MAX],
	               void *user);
	void *user;                /* passed to every callback */
};

/* Credentials used on outgoing connections. */
struct msgr_cred {
	char entity[AUTH_ENTITY_NAME_MAX];  /* our name: "client.admin" */
	uint8_t key[AUTH_KEY_LEN];          /* secret, or a ticket's session key */
	const uint8_t *ticket;              /* ticket blob (copied), or NULL */
	size_t ticket_len;                  /* <= AUTH_TICKET_MAX */
};

struct msgr_opts {
	char entity[AUTH_ENTITY_NAME_MAX];  /* our name, used on both sides */
	uint8_t fsid[MSG_FSID_LEN];         /* every frame must carry it */
	struct msgr_cred cred;              /* default outgoing credentials */
	struct msgr_callbacks cb;
	uint64_t max_frame_bytes;           /* 4096 .. 2^31 */
	uint64_t send_queue_bytes;
	uint64_t keepalive_ms;
	uint64_t timeout_ms;
	uint64_t reconnect_min_ms;
	uint64_t reconnect_max_ms;
	uint64_t handshake_timeout_ms;      /* auth (and TLS) must finish in this */
	struct tls_ctx *tls;                /* non-NULL: TLS on every conn (not owned) */
};

/* Fill @o with the defaults of config_opts.h (or with @cfg's values if
 * @cfg is not NULL); entity/fsid/cred/callbacks are zeroed (entity is set
 * from cfg->entity when @cfg is given). TLS is the caller's job: create a
 * tls_ctx when cfg->msg_tls is set (tls_ctx_from_config()). */
void msgr_opts_init(struct msgr_opts *o, const struct norn_config *cfg);

/* Create a messenger on @loop. @opts is copied. Returns 0 and *@out, or
 * -EINVAL (bad options: empty entity, zero limits, max < min) or -ENOMEM. */
int msgr_create(uv_loop_t *loop, const struct msgr_opts *opts, struct msgr **out);

/* Close every connection (queued messages' free callbacks get -ECANCELED,
 * DOWN callbacks are not called) and the listener, then call @cb (may be
 * NULL) from the loop and free @m. The loop must keep running until @cb.
 * Connections the application still references stay valid (as closed
 * connections) until released with msgr_conn_put(). */
void msgr_close(struct msgr *m, void (*cb)(void *arg), void *arg);

/* Listen on @host (numeric IPv4/IPv6) : @port (0: pick a free port).
 * *@port_out (may be NULL) gets the bound port. Returns 0, -EINVAL (bad
 * address), -EALREADY (already listening) or a negative uv/errno code
 * (e.g. -EADDRINUSE). */
int msgr_listen(struct msgr *m, const char *host, int port, int *port_out);

/* Open an outgoing connection to @host (numeric) : @port, with @cred
 * (NULL: the msgr's default credentials; copied). Returns 0 and *@out with
 * one reference owned by the caller, or -EINVAL / -ENOMEM. Connecting
 * happens in the background; on_conn_state reports UP, DOWN (retrying
 * with backoff from reconnect_min_ms doubling up to reconnect_max_ms) or
 * AUTH_FAILED (no retry). Release with msgr_conn_close(). */
int msgr_connect(struct msgr *m, const char *host, int port,
                 const struct msgr_cred *cred, struct msgr_conn **out);

/* The free callback of a sent message: @status is 0 when the bytes were
 * written to the socket (or handed to TLS), or a negative error when the
 * message was dropped (-ECANCELED: closed; -ECONNRESET: conn broke). */
typedef void (*msgr_free_cb)(void *cb_arg, int status);

/* Queue one message. Only the header is built; the @iovcnt (<=
 * MSG_MAX_IOV) payload iovecs are referenced, never copied, and must stay
 * valid and unchanged until @free_cb (may be NULL) runs, which happens
 * exactly once on the loop thread -- possibly before msgr_send() returns
 * (a queue that passed 256 KiB is written, or encrypted with TLS, at once;
 * a socket error can drop it at once), so after a 0 return the caller must
 * not touch the payload or @cb_arg unless its free_cb allows it. @type
 * must be >= MSG_T_USER_MIN.
 *
 * Send coalescing: the bytes normally leave at the end of the current
 * loop iteration (after the I/O callbacks of this poll, and always before
 * the loop blocks), together with everything else queued to the same peer
 * meanwhile -- one writev per peer per iteration. msgr_conn_close() and
 * msgr_close() still try to write what was queued before them.
 * Returns 0 (queued), or, with nothing queued and @free_cb never called:
 *   NORN_EAGAIN  the send queue is full (wait for on_writable)
 *   -ENOTCONN    the connection is closed (or incoming and down, or
 *                auth failed)
 *   -EMSGSIZE    header + payload exceeds max_frame_bytes
 *   -EINVAL      bad type or iovcnt */
int msgr_send(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch,
              const struct iovec *iov, int iovcnt, msgr_free_cb free_cb, void *cb_arg);

/* msgr_send() with the payload's crc32c given: @payload_crc must equal
 * norn_crc32c over the iovecs in order (the receiver checks it and drops
 * the connection on a mismatch). For a payload sent to several peers, or
 * one whose crc the caller derived without reading it again (see
 * norn_crc32c_combine / norn_crc32c_tail), instead of one pass per send. */
int msgr_send_crc(struct msgr_conn *c, uint16_t type, uint64_t tid, uint64_t epoch,
                  const struct iovec *iov, int iovcnt, uint32_t payload_crc,
                  msgr_free_cb free_cb, void *cb_arg);

/* Close @c: stop reconnecting, drop queued messages (free callbacks get
 * -ECANCELED) and close the socket. For an outgoing conn this also drops
 * the reference msgr_connect() returned (call it exactly once per
 * outgoing conn; release outgoing conns this way, never with
 * msgr_conn_put() alone); references taken with msgr_conn_get() must
 * still be put. For an incoming conn it drops the msgr's reference. @cb (may be
 * NULL) runs when the conn is freed: once its socket and timer are closed
 * and its last reference is gone (possibly inside this call when it was
 * already closed, e.g. by msgr_close()). No state callback follows. Works
 * on incoming conns too. */
void msgr_conn_close(struct msgr_conn *c, void (*cb)(void *arg), void *arg);

/* Reference counting: a conn is freed when its last reference is put and
 * its socket is closed. Put asserts on underflow. */
void msgr_conn_get(struct msgr_conn *c);
void msgr_conn_put(struct msgr_conn *c);

/* Stop / resume reading from @c's peer (see backpressure above). Messages
 * already read are delivered after resume, in order. */
void msgr_conn_pause_read(struct msgr_conn *c);
void msgr_conn_resume_read(struct msgr_conn *c);

void msgr_conn_set_user(struct msgr_conn *c, void *user);
void *msgr_conn_user(const struct msgr_conn *c);
/* The peer's authenticated entity name ("" before the handshake). */
const char *msgr_conn_peer_entity(const struct msgr_conn *c);
/* The caps string get_key() returned for an incoming conn ("" otherwise). */
const char *msgr_conn_caps(const struct msgr_conn *c);
/* "host:port" of the peer (for logs). */
const char *msgr_conn_peer_addr(const struct msgr_conn *c);
bool msgr_conn_is_outgoing(const struct msgr_conn *c);
bool msgr_conn_is_up(const struct msgr_conn *c);
/* Bytes queued but not yet written. */
uint64_t msgr_conn_queued_bytes(const struct msgr_conn *c);
struct msgr *msgr_conn_msgr(const struct msgr_conn *c);

#endif
