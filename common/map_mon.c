/* The monmap and the shared map value types (addresses, uuids, framing).
 * See map_mon.h for the model and the encoding. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "common/map_mon.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "norn/errors.h"

/* ---- framing ---------------------------------------------------------- */

size_t map__frame_begin(struct enc *e, uint32_t magic)
{
	size_t start = e->len;

	enc_u32(e, magic);
	return start;
}

void map__frame_end(struct enc *e, size_t start)
{
	if (e->err)
		return;
	NORN_ASSERT(start + 4 <= e->len);
	enc_u32(e, norn_crc32c(0, e->buf + start, e->len - start));
}

int map__frame_open(const void *buf, size_t len, uint32_t magic, struct dec *body)
{
	const uint8_t *p = buf;

	dec_init(body, buf, 0);
	if (!buf || len < 8)
		return NORN_ECORRUPT;
	if (norn_get_le32(p) != magic)
		return NORN_ECORRUPT;
	if (norn_get_le32(p + len - 4) != norn_crc32c(0, p, len - 4))
		return NORN_ECRC;
	dec_init(body, p + 4, len - 8);
	return 0;
}

void map__struct_end(struct dec *d, const struct dec_struct *tok, uint8_t version, uint8_t known)
{
	if (!d->err && version <= known && dec_left(d))
		dec_fail(d, NORN_ECORRUPT);
	dec_struct_end(d, tok);
}

/* ---- text output ---------------------------------------------------- */

void map__printf(struct enc *e, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!e->err)
			e->err = -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		enc_bytes(e, small, (size_t)n);
		return;
	}
	{
		char *d = enc_reserve(e, (size_t)n + 1);

		if (!d)
			return;
		va_start(ap, fmt);
		vsnprintf(d, (size_t)n + 1, fmt, ap);
		va_end(ap);
		e->len--;   /* drop the NUL */
	}
}

/* A JSON string literal. Map strings are validated to a safe alphabet,
 * but escape anyway so the dump is correct whatever they hold. */
void map__json_str(struct enc *e, const char *s)
{
	enc_u8(e, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			map__printf(e, "\\%c", c);
		else if (c < 0x20)
			map__printf(e, "\\u%04x", c);
		else
			enc_u8(e, c);
	}
	enc_u8(e, '"');
}

/* ---- addresses -------------------------------------------------------- */

static int host_char_ok(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_' || c == '%';
}

static int host_ok(const char *h, size_t n)
{
	if (n == 0 || n >= MAP_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!host_char_ok((unsigned char)h[i]))
			return 0;
	return 1;
}

static int parse_port(const char *s, size_t n, uint16_t *out)
{
	uint32_t v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int map_addr_parse(const char *s, size_t len, uint16_t default_port, struct map_addr *out)
{
	const char *host, *port = NULL;
	size_t host_n, port_n = 0;
	uint16_t p = default_port;

	memset(out, 0, sizeof(*out));
	if (!s || len == 0)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb)
			return -EINVAL;
		host = s + 1;
		host_n = (size_t)(rb - host);
		if (rb + 1 < s + len) {
			if (rb[1] != ':')
				return -EINVAL;
			port = rb + 2;
			port_n = len - (size_t)(port - s);
		}
	} else {
		const char *c1 = memchr(s, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;

		host = s;
		if (c1 && !c2) {              /* host:port */
			host_n = (size_t)(c1 - s);
			port = c1 + 1;
			port_n = len - host_n - 1;
		} else {                      /* bare host or bare v6 literal */
			host_n = len;
		}
	}
	if (!host_ok(host, host_n))
		return -EINVAL;
	if (port) {
		if (parse_port(port, port_n, &p))
			return -EINVAL;
	} else if (p == 0) {
		return -EINVAL;
	}
	memcpy(out->host, host, host_n);
	out->host[host_n] = 0;
	out->port = p;
	return 0;
}

int map_addr_format(const struct map_addr *a, char *buf, size_t cap)
{
	int n;

	NORN_ASSERT(cap > 0);
	if (strchr(a->host, ':'))
		n = snprintf(buf, cap, "[%s]:%u", a->host, (unsigned)a->port);
	else
		n = snprintf(buf, cap, "%s:%u", a->host, (unsigned)a->port);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int map_addr_valid(const struct map_addr *a)
{
	size_t n = strnlen(a->host, MAP_HOST_MAX);

	return n < MAP_HOST_MAX && host_ok(a->host, n) && a->port != 0;
}

int map_addr_eq(const struct map_addr *a, const struct map_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

void map_addr_encode(struct enc *e, const struct map_addr *a)
{
	enc_str(e, a->host);
	enc_u16(e, a->port);
}

void map_addr_decode(struct dec *d, struct map_addr *a)
{
	memset(a, 0, sizeof(*a));
	dec_str(d, a->host, sizeof(a->host));
	a->port = dec_u16(d);
	if (d->err)
		return;
	if (a->host[0] == 0 && a->port == 0)
		return;
	if (!map_addr_valid(a))
		dec_fail(d, NORN_ECORRUPT);
}

/* ---- uuids ------------------------------------------------------------ */

void map_uuid_format(const uint8_t uuid[MAP_UUID_LEN], char out[MAP_UUID_STR_LEN])
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < MAP_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hx[uuid[i] >> 4];
		out[o++] = hx[uuid[i] & 15];
	}
	out[o] = 0;
	NORN_ASSERT(o == MAP_UUID_STR_LEN - 1);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int map_uuid_parse(const char *s, uint8_t uuid[MAP_UUID_LEN])
{
	uint8_t tmp[MAP_UUID_LEN];
	size_t i = 0;

	if (!s || strlen(s) != MAP_UUID_STR_LEN - 1)
		return -EINVAL;
	for (int b = 0; b < MAP_UUID_LEN; b++) {
		int hi, lo;

		if (b == 4 || b == 6 || b == 8 || b == 10) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
		}
		hi = hexval((unsigned char)s[i]);
		lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[b] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(uuid, tmp, MAP_UUID_LEN);
	return 0;
}

int map_uuid_is_zero(const uint8_t uuid[MAP_UUID_LEN])
{
	for (int i = 0; i < MAP_UUID_LEN; i++)
		if (uuid[i])
			return 0;
	return 1;
}

/* ---- monmap ----------------------------------------------------------- */

#define MONMAP_VERSION 1

void monmap_init(struct monmap *m)
{
	memset(m, 0, sizeof(*m));
}

static int mon_name_ok(const char *name)
{
	size_t n = strnlen(name, MONMAP_NAME_MAX);

	if (n == 0 || n >= MONMAP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)name[i];

		if (!isalnum(c) && c != '_' && c != '-')
			return 0;
	}
	return 1;
}

int monmap_add(struct monmap *m, const char *name, const struct map_addr *addr)
{
	struct monmap_mon *mon;

	if (!mon_name_ok(name) || !map_addr_valid(addr))
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_mons; i++)
		if (!strcmp(m->mons[i].name, name) || map_addr_eq(&m->mons[i].addr, addr))
			return -EEXIST;
	if (m->n_mons >= MONMAP_MAX_MONS)
		return -E2BIG;
	mon = &m->mons[m->n_mons];
	memset(mon, 0, sizeof(*mon));
	memcpy(mon->name, name, strlen(name) + 1);
	mon->addr = *addr;
	mon->rank = m->n_mons++;
	return 0;
}

int monmap_remove(struct monmap *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_mons; i++) {
		if (strcmp(m->mons[i].name, name))
			continue;
		memmove(&m->mons[i], &m->mons[i + 1], (m->n_mons - i - 1) * sizeof(m->mons[0]));
		m->n_mons--;
		memset(&m->mons[m->n_mons], 0, sizeof(m->mons[0]));
		for (uint32_t j = i; j < m->n_mons; j++)
			m->mons[j].rank = j;
		return 0;
	}
	return -ENOENT;
}

const struct monmap_mon *monmap_find(const struct monmap *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_mons; i++)
		if (!strcmp(m->mons[i].name, name))
			return &m->mons[i];
	return NULL;
}

const struct monmap_mon *monmap_find_rank(const struct monmap *m, uint32_t rank)
{
	return rank < m->n_mons ? &m->mons[rank] : NULL;
}

static int is_sep(char c)
{
	return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n';
}

int monmap_parse_mon_host(struct monmap *m, const char *mon_host)
{
	const char *p = mon_host;
	uint32_t pos = 0;
	int rc;

	monmap_init(m);
	if (!mon_host)
		return -EINVAL;
	for (;;) {
		const char *start, *eq;
		size_t n;
		char name[MONMAP_NAME_MAX];
		struct map_addr a;

		while (*p && is_sep(*p))
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && !is_sep(*p))
			p++;
		n = (size_t)(p - start);
		eq = memchr(start, '=', n);
		if (eq) {
			size_t nn = (size_t)(eq - start);

			if (nn == 0 || nn >= sizeof(name))
				goto fail_inval;
			memcpy(name, start, nn);
			name[nn] = 0;
			rc = map_addr_parse(eq + 1, n - nn - 1, MONMAP_DEFAULT_PORT, &a);
		} else {
			if (pos >= 26)
				goto fail_big;
			name[0] = (char)('a' + pos);
			name[1] = 0;
			rc = map_addr_parse(start, n, MONMAP_DEFAULT_PORT, &a);
		}
		if (rc)
			goto fail_inval;
		rc = monmap_add(m, name, &a);
		if (rc == -E2BIG)
			goto fail_big;
		if (rc)
			goto fail_inval;
		pos++;
	}
	if (m->n_mons == 0)
		goto fail_inval;
	return 0;

fail_big:
	monmap_init(m);
	return -E2BIG;
fail_inval:
	monmap_init(m);
	return -EINVAL;
}

int monmap_encode(const struct monmap *m, struct enc *e)
{
	size_t frame = map__frame_begin(e, MONMAP_MAGIC);
	size_t st = enc_struct_begin(e, MONMAP_VERSION, 1);

	NORN_ASSERT(m->n_mons <= MONMAP_MAX_MONS);
	enc_u64(e, m->epoch);
	enc_bytes(e, m->fsid, MAP_UUID_LEN);
	enc_u64(e, m->created_ns);
	enc_u64(e, m->modified_ns);
	enc_u32(e, m->n_mons);
	for (uint32_t i = 0; i < m->n_mons; i++) {
		enc_str(e, m->mons[i].name);
		map_addr_encode(e, &m->mons[i].addr);
	}
	enc_struct_end(e, st);
	map__frame_end(e, frame);
	return enc_error(e);
}

int monmap_decode(struct monmap *m, const void *buf, size_t len)
{
	struct dec d;
	struct dec_struct tok;
	uint8_t v;
	uint32_t n;
	int rc;

	monmap_init(m);
	rc = map__frame_open(buf, len, MONMAP_MAGIC, &d);
	if (rc)
		return rc;
	dec_struct_begin(&d, MONMAP_VERSION, &v, &tok);
	m->epoch = dec_u64(&d);
	dec_copy(&d, m->fsid, MAP_UUID_LEN);
	m->created_ns = dec_u64(&d);
	m->modified_ns = dec_u64(&d);
	n = dec_count(&d, MONMAP_MAX_MONS, 4 + 4 + 2);
	for (uint32_t i = 0; i < n && !d.err; i++) {
		char name[MONMAP_NAME_MAX];
		struct map_addr a;

		dec_str(&d, name, sizeof(name));
		map_addr_decode(&d, &a);
		if (d.err)
			break;
		if (monmap_add(m, name, &a))
			dec_fail(&d, NORN_ECORRUPT);
	}
	map__struct_end(&d, &tok, v, MONMAP_VERSION);
	if (!d.err && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (d.err) {
		monmap_init(m);
		return d.err;
	}
	return 0;
}

int monmap_dump_json(const struct monmap *m, struct enc *out)
{
	char fsid[MAP_UUID_STR_LEN], addr[MAP_ADDR_STR_MAX];

	map_uuid_format(m->fsid, fsid);
	map__printf(out, "{\"epoch\":%" PRIu64 ",\"fsid\":\"%s\",\"created_ns\":%" PRIu64
	            ",\"modified_ns\":%" PRIu64 ",\"mons\":[", m->epoch, fsid, m->created_ns,
	            m->modified_ns);
	for (uint32_t i = 0; i < m->n_mons; i++) {
		if (map_addr_format(&m->mons[i].addr, addr, sizeof(addr)) < 0)
			addr[0] = 0;
		map__printf(out, "%s{\"rank\":%u,\"name\":", i ? "," : "", m->mons[i].rank);
		map__json_str(out, m->mons[i].name);
		map__printf(out, ",\"addr\":");
		map__json_str(out, addr);
		map__printf(out, "}");
	}
	map__printf(out, "]}");
	return enc_error(out);
}
