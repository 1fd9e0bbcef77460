/* A raw, blocking NBD client for tests: every byte under the test's control.
 *
 * Used by test_nbd_server (in-process server, fake backend) and
 * test_nbd_raw (the real norn-nbd binary) to drive handshakes, options and
 * requests, including malformed ones no real client would send. Sockets
 * get a receive timeout so a server that fails to answer fails the test
 * instead of hanging it. Header-only; all functions are static.
 */
#ifndef NORN_TESTS_NBD_TESTCLIENT_H
#define NORN_TESTS_NBD_TESTCLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/nbd/nbd_proto.h"

static int tc_connect(int port)
{
	struct sockaddr_in a;
	struct timeval tv = { .tv_sec = 10 };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* 0 when @n bytes were read, -1 on EOF, error or timeout. */
static int tc_read(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int tc_write(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* 1 if the peer closed the connection (EOF or reset) within @ms, else 0
 * (data arrived, or nothing happened). Discards what it reads. */
static int tc_closed_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t junk[4096];

	for (int waited = 0; waited <= ms; waited += 10) {
		if (poll(&p, 1, 10) > 0) {
			ssize_t r = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno == ECONNRESET))
				return 1;
			if (r > 0)
				continue;
		}
	}
	return 0;
}

/* Read the greeting and answer with @cflags. Returns 0 or -1. */
static int tc_handshake(int fd, uint32_t cflags, uint16_t *hs_flags_out)
{
	uint8_t g[NBD_GREETING_BYTES], f[4];

	if (tc_read(fd, g, sizeof(g)))
		return -1;
	if (nbd_get_be64(g) != NBD_MAGIC || nbd_get_be64(g + 8) != NBD_OPTS_MAGIC)
		return -1;
	if (hs_flags_out)
		*hs_flags_out = nbd_get_be16(g + 16);
	nbd_put_be32(f, cflags);
	return tc_write(fd, f, 4);
}

static int tc_send_opt(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[NBD_OPT_HDR_BYTES];

	nbd_enc_opt_hdr(h, opt, len);
	if (tc_write(fd, h, sizeof(h)))
		return -1;
	return len ? tc_write(fd, data, len) : 0;
}

/* Read one option reply; its payload (up to @cap bytes, rest dropped) goes
 * to @buf. Returns 0 or -1. */
static int tc_read_opt_reply(int fd, struct nbd_opt_reply_hdr *h, uint8_t *buf, size_t cap)
{
	uint8_t raw[NBD_OPT_REPLY_HDR_BYTES], junk[256];
	uint32_t left;

	if (tc_read(fd, raw, sizeof(raw)) || nbd_decode_opt_reply_hdr(raw, h))
		return -1;
	left = h->len_bytes;
	if (left <= cap)
		return left ? tc_read(fd, buf, left) : 0;
	if (tc_read(fd, buf, cap))
		return -1;
	left -= (uint32_t)cap;
	while (left) {
		uint32_t n = left < sizeof(junk) ? left : (uint32_t)sizeof(junk);
		if (tc_read(fd, junk, n))
			return -1;
		left -= n;
	}
	return 0;
}

/* Build an INFO/GO payload for @name asking for @n_info info types. */
static uint32_t tc_go_payload(uint8_t *out, const char *name, const uint16_t *info, uint16_t n_info)
{
	uint32_t nl = (uint32_t)strlen(name), off = 0;

	nbd_put_be32(out, nl);
	off += 4;
	memcpy(out + off, name, nl);
	off += nl;
	nbd_put_be16(out + off, n_info);
	off += 2;
	for (uint16_t i = 0; i < n_info; i++, off += 2)
		nbd_put_be16(out + off, info[i]);
	return off;
}

struct tc_export {
	uint64_t size;
	uint16_t tflags;
	uint32_t min_block, pref_block, max_payload;
	int have_block_size;
};

/* Send INFO or GO for @name; collect the info replies. Returns 0 on ACK,
 * the NBD_REP_ERR_* type on an error reply, -1 on a broken connection. */
static long tc_info_go(int fd, uint32_t opt, const char *name, struct tc_export *ex)
{
	uint8_t pl[4200], buf[4200];
	uint16_t req[] = { NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME };
	struct nbd_opt_reply_hdr h;
	uint32_t len = tc_go_payload(pl, name, req, 2);

	memset(ex, 0, sizeof(*ex));
	if (tc_send_opt(fd, opt, pl, len))
		return -1;
	for (int i = 0; i < 16; i++) {
		if (tc_read_opt_reply(fd, &h, buf, sizeof(buf)) || h.opt != opt)
			return -1;
		if (h.type == NBD_REP_ACK)
			return 0;
		if (h.type & NBD_REP_FLAG_ERROR)
			return (long)h.type;
		if (h.type != NBD_REP_INFO || h.len_bytes < 2)
			return -1;
		uint16_t it = nbd_get_be16(buf);
		if (it == NBD_INFO_EXPORT && h.len_bytes == 12) {
			ex->size = nbd_get_be64(buf + 2);
			ex->tflags = nbd_get_be16(buf + 10);
		} else if (it == NBD_INFO_BLOCK_SIZE && h.len_bytes == 14) {
			ex->min_block = nbd_get_be32(buf + 2);
			ex->pref_block = nbd_get_be32(buf + 6);
			ex->max_payload = nbd_get_be32(buf + 10);
			ex->have_block_size = 1;
		}
	}
	return -1;
}

/* Connect, handshake with FIXED_NEWSTYLE|NO_ZEROES and GO to @name.
 * Returns the fd or -1. */
static int tc_open(int port, const char *name, struct tc_export *ex)
{
	int fd = tc_connect(port);

	if (fd < 0)
		return -1;
	if (tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, NULL) ||
	    tc_info_go(fd, NBD_OPT_GO, name, ex) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int tc_send_req(int fd, uint16_t type, uint16_t flags, uint64_t cookie, uint64_t off,
                       uint32_t len, const void *payload)
{
	struct nbd_request rq = { .flags = flags, .type = type, .cookie = cookie,
	                          .offset = off, .len_bytes = len };
	uint8_t h[NBD_REQUEST_BYTES];

	nbd_enc_request(h, &rq);
	if (tc_write(fd, h, sizeof(h)))
		return -1;
	return payload && len ? tc_write(fd, payload, len) : 0;
}

/* Read a simple reply header. Returns 0 or -1. */
static int tc_read_reply(int fd, uint32_t *err, uint64_t *cookie)
{
	uint8_t r[NBD_SIMPLE_REPLY_BYTES];

	if (tc_read(fd, r, sizeof(r)))
		return -1;
	return nbd_decode_simple_reply(r, err, cookie) ? -1 : 0;
}

/* One synchronous request; read data (for READ without error) into @buf.
 * Returns the NBD error (0 = success) or -1 if the connection broke. */
static long tc_cmd(int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len, void *buf)
{
	static uint64_t cookie = 1000;
	uint64_t c = ++cookie, got;
	uint32_t err;

	if (tc_send_req(fd, type, flags, c, off, len, type == NBD_CMD_WRITE ? buf : NULL))
		return -1;
	if (tc_read_reply(fd, &err, &got) || got != c)
		return -1;
	if (type == NBD_CMD_READ && err == 0 && tc_read(fd, buf, len))
		return -1;
	return (long)err;
}

#endif
