/* The NBD server: libuv listeners, connections and the protocol engine.
 *
 * One struct nbd_server runs on one libuv loop (single-threaded: every
 * function here must be called on that loop's thread). It listens on TCP
 * and/or unix sockets, runs the fixed-newstyle negotiation for each
 * connection, then feeds transmission requests to a block backend (see
 * nbd_backend.h) and writes simple replies as the backend completes them,
 * in completion order.
 *
 * Bounds (struct nbd_server_config): connections per server, requests in
 * flight and payload bytes buffered per connection (when either limit is
 * reached the server stops reading that socket until replies drain: TCP
 * backpressure, never unbounded queues), options per negotiation, bytes of
 * option replies waiting to be sent, and a negotiation deadline. A
 * malformed request (bad magic, a WRITE longer than the largest payload,
 * unknown client flags, an oversized option) closes that connection only;
 * invalid but well-formed requests get NBD error replies.
 *
 * Exports are shared: every connection that opens the same name uses one
 * backend device, opened on first use and closed when the last connection
 * using it is gone. CAN_MULTI_CONN is advertised only when the backend
 * says a flush on one connection covers the others.
 *
 * Lifecycle: nbd_server_create() -> nbd_server_listen() (one or more) ->
 * ... -> nbd_server_close(cb). After the close callback the server is
 * freed, every connection closed, every in-flight backend op completed and
 * every device closed; the caller may then destroy the backend.
 */
#ifndef NORN_NBD_SERVER_H
#define NORN_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "client/nbd/nbd_backend.h"

#define NBD_DEFAULT_PORT      10809
#define NBD_SERVER_MAX_LISTEN 8

struct nbd_server_config {
	uint32_t max_connections;      /* further connections are closed at once */
	uint32_t max_inflight;         /* requests in flight per connection */
	uint64_t max_buffer_bytes;     /* READ/WRITE payload bytes held per connection */
	uint32_t max_payload_bytes;    /* advertised maximum block size (<= 32 MiB) */
	uint64_t handshake_timeout_ms; /* negotiation must finish within this */
	uint32_t max_options;          /* options accepted per negotiation */
	const char *default_export;    /* name served for "" (NULL: refuse); copied */
	bool read_only;                /* serve every export read-only */
};

/* Counters for logs and tests. */
struct nbd_server_stats {
	uint32_t connections;          /* open now */
	uint32_t exports_open;         /* devices open now */
	uint64_t accepted;
	uint64_t refused;              /* closed at accept: over max_connections */
	uint64_t protocol_errors;      /* connections closed for malformed input */
	uint64_t requests;             /* transmission requests received */
	uint64_t error_replies;        /* requests answered with an NBD error */
	uint64_t read_bytes, write_bytes;
	uint64_t read_pauses;          /* times a connection hit a bound and paused */
};

struct nbd_server;

/* Fill @cfg with the defaults (64 connections, 64 requests and 64 MiB in
 * flight per connection, 32 MiB payloads, 30 s handshake, 1024 options). */
void nbd_server_config_defaults(struct nbd_server_config *cfg);

/* Create a server on @loop serving exports of the backend (@ops, @backend;
 * both must outlive the server). @cfg is copied; values are clamped to
 * sane ranges. Returns 0 and *out, or -ENOMEM / -EINVAL. */
int nbd_server_create(uv_loop_t *loop, const struct nbd_server_config *cfg,
                      const struct nbd_backend_ops *ops, void *backend,
                      struct nbd_server **out);

/* Listen on @addr: "HOST:PORT" (IPv4), "[V6]:PORT", "HOST" (port 10809),
 * "unix:PATH" or an absolute PATH (unix socket; a stale socket file at
 * PATH is replaced). Port 0 picks a free port (see nbd_server_port()).
 * Returns 0, -EINVAL (unparseable address), -ENOSPC (too many listeners)
 * or the libuv error from bind/listen (e.g. UV_EADDRINUSE). */
int nbd_server_listen(struct nbd_server *s, const char *addr);

/* The TCP port of the first TCP listener, or -ENOENT. */
int nbd_server_port(const struct nbd_server *s);

void nbd_server_get_stats(const struct nbd_server *s, struct nbd_server_stats *out);

typedef void (*nbd_server_closed_cb)(void *arg);
/* Stop listening, close every connection (in-flight backend ops still run
 * to completion, their replies are dropped), close every device, then call
 * @cb (may be NULL) and free the server. Call once. */
void nbd_server_close(struct nbd_server *s, nbd_server_closed_cb cb, void *arg);

#endif
