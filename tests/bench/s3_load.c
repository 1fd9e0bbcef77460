/* s3_load: a small S3 load generator for the gateway benchmark (a Python
 * client caps the small-object rate long before the gateway does).
 *
 *   s3_load HOST PORT ACCESS_KEY SECRET BUCKET put|get SIZE CLIENTS SECONDS [KEYS]
 *
 * CLIENTS threads, each with one keep-alive HTTP/1.1 connection, issue
 * back-to-back requests for SECONDS. put writes objects "o-<client>-<n>"
 * of SIZE bytes (UNSIGNED-PAYLOAD, SigV4 header auth signed with
 * client/s3/s3_sigv4.c; with KEYS, n wraps at KEYS so big objects
 * overwrite each other instead of filling the cluster); get reads "o-<client>-<n % KEYS>" (the keys a put
 * run of the same CLIENTS left: KEYS per client, default 1, every one must
 * exist). Prints one line:
 *   <op> size=<bytes> clients=<n> ops=<n> secs=<s> ops_s=<rate> MB_s=<rate> errors=<n>
 *   p50_ms=<..> p99_ms=<..>
 * and exits non-zero if any request failed. Bodies stream from/to a
 * fixed buffer, so 64 MiB objects cost no client memory. Loopback only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/s3/s3_sigv4.h"
#include "client/s3/s3_util.h"

#define BUF_BYTES (1u << 20)
#define MAX_LAT 200000

struct cfg {
	const char *host, *ak, *sk, *bucket;
	int port;
	int put;
	uint64_t size;
	int clients;
	double seconds;
	long keys;
	int wrap;
};

struct worker {
	const struct cfg *c;
	int id;
	pthread_t thr;
	long ops, errors, keys_written;
	double *lat;
	long nlat;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(const struct cfg *c)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)c->port);
	if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = { 60, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Build the signed request head for @method on /bucket/key. */
static int build_head(const struct cfg *c, const char *method, const char *key, uint64_t len,
                      char *out, size_t cap)
{
	char path[512], host[128], amz[17], date8[9];
	time_t t = time(NULL);
	snprintf(path, sizeof(path), "/%s/%s", c->bucket, key);
	snprintf(host, sizeof(host), "%s:%d", c->host, c->port);
	s3_fmt_amz_date((int64_t)t, amz);
	memcpy(date8, amz, 8);
	date8[8] = 0;
	struct s3_hdr h[3] = { { "host", host }, { "x-amz-content-sha256", S3_UNSIGNED_PAYLOAD },
	                       { "x-amz-date", amz } };
	const char *signed_hdrs = "host;x-amz-content-sha256;x-amz-date";
	struct s3_buf canon, sts;
	s3_buf_init(&canon);
	s3_buf_init(&sts);
	int rc = s3_sigv4_canonical_request(method, path, NULL, h, 3, signed_hdrs, S3_UNSIGNED_PAYLOAD,
	                                    0, &canon);
	char scope[128];
	snprintf(scope, sizeof(scope), "%s/us-east-1/s3/aws4_request", date8);
	if (!rc)
		rc = s3_sigv4_string_to_sign(amz, scope, canon.p, canon.len, &sts);
	uint8_t k[32];
	char sig[65];
	if (!rc) {
		s3_sigv4_signing_key(c->sk, date8, "us-east-1", "s3", k);
		s3_sigv4_sign(k, sts.p, sts.len, sig);
	}
	s3_buf_free(&canon);
	s3_buf_free(&sts);
	if (rc)
		return -1;
	int n = snprintf(out, cap,
	                 "%s %s HTTP/1.1\r\nHost: %s\r\nx-amz-content-sha256: %s\r\nx-amz-date: %s\r\n"
	                 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
	                 "Signature=%s\r\nContent-Length: %llu\r\n\r\n",
	                 method, path, host, S3_UNSIGNED_PAYLOAD, amz, c->ak, scope, signed_hdrs, sig,
	                 (unsigned long long)len);
	return n > 0 && (size_t)n < cap ? n : -1;
}

/* Read one response: status, headers, Content-Length body (discarded).
 * @rb/@rlen carry bytes read past the previous response. */
static int read_response(int fd, char *rb, size_t cap, size_t *rlen, int *status)
{
	size_t have = *rlen;
	char *end;
	for (;;) {
		rb[have] = 0;
		end = strstr(rb, "\r\n\r\n");
		if (end)
			break;
		if (have + 1 >= cap)
			return -1;
		ssize_t r = recv(fd, rb + have, cap - 1 - have, 0);
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	size_t hlen = (size_t)(end - rb) + 4;
	if (sscanf(rb, "HTTP/1.1 %d", status) != 1)
		return -1;
	unsigned long long clen = 0;
	for (char *l = strstr(rb, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, "content-length:", 15))
			clen = strtoull(l + 17, NULL, 10);
	size_t in_buf = have - hlen;
	if (in_buf >= clen) {
		memmove(rb, rb + hlen + clen, in_buf - clen);
		*rlen = in_buf - clen;
		return 0;
	}
	unsigned long long left = clen - in_buf;
	while (left) {
		ssize_t r = recv(fd, rb, left < cap - 1 ? left : cap - 1, 0);
		if (r <= 0)
			return -1;
		left -= (unsigned long long)r;
	}
	*rlen = 0;
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	const struct cfg *c = w->c;
	char *body = malloc(BUF_BYTES);
	char *rb = malloc(65536);
	char head[2048], key[64];
	if (!body || !rb)
		return NULL;
	for (size_t i = 0; i < BUF_BYTES; i++)
		body[i] = (char)(i * 131 + (size_t)w->id);
	int fd = dial(c);
	size_t rlen = 0;
	double t_end = now_s() + c->seconds;
	long n = 0;
	while (fd >= 0 && now_s() < t_end) {
		long idx = c->put && !c->wrap ? n : n % c->keys;
		snprintf(key, sizeof(key), "o-%d-%ld", w->id, idx);
		double t0 = now_s();
		int hl = build_head(c, c->put ? "PUT" : "GET", key, c->put ? c->size : 0, head,
		                    sizeof(head));
		int status = 0;
		int ok = hl > 0 && send_all(fd, head, (size_t)hl) == 0;
		for (uint64_t left = c->put ? c->size : 0; ok && left;) {
			size_t k = left < BUF_BYTES ? (size_t)left : BUF_BYTES;
			ok = send_all(fd, body, k) == 0;
			left -= k;
		}
		ok = ok && read_response(fd, rb, 65536, &rlen, &status) == 0;
		if (!ok || status != 200) {
			if (w->errors++ < 2)
				fprintf(stderr, "s3_load: client %d: %s %s: %s (status %d)\n", w->id,
				        c->put ? "PUT" : "GET", key, ok ? "error answer" : "connection failed",
				        status);
			if (!ok) {
				close(fd);
				rlen = 0;
				fd = dial(c);
			}
		} else {
			w->ops++;
			if (w->nlat < MAX_LAT)
				w->lat[w->nlat++] = now_s() - t0;
		}
		n++;
		if (c->put)
			w->keys_written = c->wrap && n > c->keys ? c->keys : n;
	}
	if (fd >= 0)
		close(fd);
	free(body);
	free(rb);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 10) {
		fprintf(stderr, "usage: s3_load HOST PORT AK SK BUCKET put|get SIZE CLIENTS SECONDS [KEYS]\n");
		return 2;
	}
	struct cfg c = { argv[1], argv[3], argv[4], argv[5], atoi(argv[2]), !strcmp(argv[6], "put"),
	                 strtoull(argv[7], NULL, 10), atoi(argv[8]), atof(argv[9]),
	                 argc > 10 ? atol(argv[10]) : 1, argc > 10 };
	if (c.clients < 1 || c.clients > 1024 || c.seconds <= 0 || c.keys < 1 || c.port <= 0) {
		fprintf(stderr, "s3_load: bad arguments\n");
		return 2;
	}
	struct worker *w = calloc((size_t)c.clients, sizeof(*w));
	if (!w)
		return 1;
	double t0 = now_s();
	for (int i = 0; i < c.clients; i++) {
		w[i].c = &c;
		w[i].id = i;
		w[i].lat = malloc(sizeof(double) * MAX_LAT);
		pthread_create(&w[i].thr, NULL, run, &w[i]);
	}
	long ops = 0, errors = 0, nlat = 0, minkeys = -1;
	for (int i = 0; i < c.clients; i++) {
		pthread_join(w[i].thr, NULL);
		ops += w[i].ops;
		errors += w[i].errors;
		nlat += w[i].nlat;
		if (minkeys < 0 || w[i].keys_written < minkeys)
			minkeys = w[i].keys_written;
	}
	double secs = now_s() - t0;
	double *all = malloc(sizeof(double) * (size_t)(nlat ? nlat : 1));
	long k = 0;
	for (int i = 0; i < c.clients; i++)
		for (long j = 0; j < w[i].nlat; j++)
			all[k++] = w[i].lat[j];
	qsort(all, (size_t)nlat, sizeof(double), cmp_d);
	double p50 = nlat ? all[nlat / 2] * 1e3 : 0, p99 = nlat ? all[(nlat * 99) / 100] * 1e3 : 0;
	printf("%s size=%llu clients=%d ops=%ld secs=%.2f ops_s=%.0f MB_s=%.1f errors=%ld p50_ms=%.2f "
	       "p99_ms=%.2f keys_per_client=%ld\n",
	       c.put ? "put" : "get", (unsigned long long)c.size, c.clients, ops, secs, ops / secs,
	       (double)ops * (double)c.size / secs / 1e6, errors, p50, p99, c.put ? minkeys : c.keys);
	return errors ? 1 : 0;
}
