/* TLS for the messenger: OpenSSL driven through memory BIOs.
 *
 * The messenger owns the socket (a libuv stream); OpenSSL never touches
 * it. Ciphertext read from the socket is fed in with tls_sess_feed();
 * plaintext comes out of tls_sess_read(); plaintext written with
 * tls_sess_write() turns into ciphertext that the messenger takes with
 * tls_sess_take_out() and writes to the socket. TLS sits under the
 * framing: frames and the auth handshake run inside the TLS stream.
 *
 * One tls_ctx (certificate, key, CA) serves both directions. Clients
 * verify the server's certificate against the CA when one is configured
 * (cluster-internal CA: no host name check; identities are proven by the
 * auth handshake on top). TLS 1.2 is the minimum.
 */
#ifndef NORN_TLS_H
#define NORN_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct norn_config;
struct tls_ctx;
struct tls_sess;

/* Create a context from PEM files: @cert and @key are required (servers
 * present them; clients too, for mutual TLS), @ca may be NULL or "" (no
 * peer verification). Returns 0 and *@out, or -EINVAL after logging what
 * failed to load (file and OpenSSL reason), or -ENOMEM. */
int tls_ctx_create(const char *cert, const char *key, const char *ca, struct tls_ctx **out);

/* tls_ctx_create() from cfg->tls_cert/tls_key/tls_ca when cfg->msg_tls is
 * set; *@out = NULL (and 0) when TLS is off. */
int tls_ctx_from_config(const struct norn_config *cfg, struct tls_ctx **out);

void tls_ctx_free(struct tls_ctx *ctx);

/* A TLS session for one connection; @server selects the side. Returns 0
 * and *@out or -ENOMEM. */
int tls_sess_create(struct tls_ctx *ctx, bool server, struct tls_sess **out);
void tls_sess_free(struct tls_sess *s);

/* Feed @len bytes of ciphertext from the socket. Returns 0 or -ENOMEM. */
int tls_sess_feed(struct tls_sess *s, const void *data, size_t len);

/* Advance the handshake. Returns 1 when established, 0 when it needs more
 * input (flush tls_sess_take_out() output first), or -EPROTO (logged
 * reason in @err_out, may be NULL). */
int tls_sess_handshake(struct tls_sess *s, char *err_out, size_t errlen);

/* Read decrypted bytes. Returns > 0 (bytes), 0 (need more input) or
 * -EPROTO / -ECONNRESET (peer closed the TLS session). */
long tls_sess_read(struct tls_sess *s, void *buf, size_t cap);

/* Encrypt all of @len bytes (memory BIOs never block). Returns 0 or
 * -EPROTO. */
int tls_sess_write(struct tls_sess *s, const void *buf, size_t len);

/* Bytes of ciphertext waiting to go to the socket. */
size_t tls_sess_pending_out(const struct tls_sess *s);

/* Move up to @cap bytes of pending ciphertext to @buf; returns the count. */
size_t tls_sess_take_out(struct tls_sess *s, void *buf, size_t cap);

#endif
