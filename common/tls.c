/* TLS sessions over memory BIOs (see tls.h).
 *
 * Each session has two memory BIOs: rbio receives ciphertext from the
 * socket, wbio collects ciphertext for the socket. Memory BIOs never
 * block, so SSL_write always consumes everything (it grows wbio) and
 * SSL_read reports WANT_READ when it needs more input.
 */
#include "common/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "common/log.h"
#include "norn/errors.h"

struct tls_ctx {
	SSL_CTX *ssl;
};

struct tls_sess {
	SSL *ssl;
	BIO *rbio;   /* owned by ssl */
	BIO *wbio;   /* owned by ssl */
};

static void last_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
}

int tls_ctx_create(const char *cert, const char *key, const char *ca, struct tls_ctx **out)
{
	char err[256];
	if (!cert || !*cert || !key || !*key) {
		NLOG(MSG, ERR, "tls: tls_cert and tls_key must be set");
		return -EINVAL;
	}
	struct tls_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ssl = SSL_CTX_new(TLS_method());
	if (!c->ssl)
		goto fail_free;
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (SSL_CTX_use_certificate_chain_file(c->ssl, cert) != 1) {
		last_error(err, sizeof(err));
		NLOG(MSG, ERR, "tls: cannot load certificate %s: %s", cert, err);
		goto fail_ctx;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ssl) != 1) {
		last_error(err, sizeof(err));
		NLOG(MSG, ERR, "tls: cannot load key %s: %s", key, err);
		goto fail_ctx;
	}
	if (ca && *ca) {
		if (SSL_CTX_load_verify_locations(c->ssl, ca, NULL) != 1) {
			last_error(err, sizeof(err));
			NLOG(MSG, ERR, "tls: cannot load CA %s: %s", ca, err);
			goto fail_ctx;
		}
		SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	}
	*out = c;
	return 0;
fail_ctx:
	SSL_CTX_free(c->ssl);
	free(c);
	return -EINVAL;
fail_free:
	free(c);
	return -ENOMEM;
}

int tls_ctx_from_config(const struct norn_config *cfg, struct tls_ctx **out)
{
	*out = NULL;
	if (!cfg->msg_tls)
		return 0;
	return tls_ctx_create(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, out);
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

int tls_sess_create(struct tls_ctx *ctx, bool server, struct tls_sess **out)
{
	struct tls_sess *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ssl = SSL_new(ctx->ssl);
	if (!s->ssl)
		goto fail_free;
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	if (!s->rbio || !s->wbio) {
		BIO_free(s->rbio);
		BIO_free(s->wbio);
		SSL_free(s->ssl);
		goto fail_free;
	}
	/* An empty memory BIO reports "retry", not EOF. */
	BIO_set_mem_eof_return(s->rbio, -1);
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	if (server)
		SSL_set_accept_state(s->ssl);
	else
		SSL_set_connect_state(s->ssl);
	*out = s;
	return 0;
fail_free:
	free(s);
	return -ENOMEM;
}

void tls_sess_free(struct tls_sess *s)
{
	if (!s)
		return;
	SSL_free(s->ssl);
	free(s);
}

int tls_sess_feed(struct tls_sess *s, const void *data, size_t len)
{
	while (len) {
		int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
		int n = BIO_write(s->rbio, data, chunk);
		if (n <= 0)
			return -ENOMEM;
		data = (const char *)data + n;
		len -= (size_t)n;
	}
	return 0;
}

int tls_sess_handshake(struct tls_sess *s, char *err_out, size_t errlen)
{
	int r = SSL_do_handshake(s->ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	char buf[256];
	last_error(buf, sizeof(buf));
	if (err_out && errlen) {
		long v = SSL_get_verify_result(s->ssl);
		if (v != X509_V_OK)
			snprintf(err_out, errlen, "%s (verify: %s)", buf,
			         X509_verify_cert_error_string(v));
		else
			snprintf(err_out, errlen, "%s", buf);
	}
	return -EPROTO;
}

long tls_sess_read(struct tls_sess *s, void *buf, size_t cap)
{
	int want = cap > (1u << 30) ? (1 << 30) : (int)cap;
	int n = SSL_read(s->ssl, buf, want);
	if (n > 0)
		return n;
	int e = SSL_get_error(s->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	ERR_clear_error();
	if (e == SSL_ERROR_ZERO_RETURN)
		return -ECONNRESET;
	return -EPROTO;
}

int tls_sess_write(struct tls_sess *s, const void *buf, size_t len)
{
	while (len) {
		int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
		int n = SSL_write(s->ssl, buf, chunk);
		if (n <= 0) {
			ERR_clear_error();
			return -EPROTO;
		}
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

size_t tls_sess_pending_out(const struct tls_sess *s)
{
	return BIO_ctrl_pending(s->wbio);
}

size_t tls_sess_take_out(struct tls_sess *s, void *buf, size_t cap)
{
	int want = cap > (1u << 30) ? (1 << 30) : (int)cap;
	int n = BIO_read(s->wbio, buf, want);
	return n > 0 ? (size_t)n : 0;
}
