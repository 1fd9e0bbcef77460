/* The authmap and caps parsing. See map_auth.h for the model, the caps
 * syntax and the encoding. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "common/map_auth.h"
#include "common/map_mon.h"
#include "common/assert.h"
#include "norn/errors.h"

#define AUTHMAP_VERSION 1

/* ---- caps ------------------------------------------------------------- */

struct cur {
	const char *p;
	const char *end;
};

static void skip_ws(struct cur *c)
{
	while (c->p < c->end && isspace((unsigned char)*c->p))
		c->p++;
}

/* Read a word of characters accepted by @ok; returns its length. */
static size_t take_word(struct cur *c, int (*ok)(int), const char **start)
{
	*start = c->p;
	while (c->p < c->end && ok((unsigned char)*c->p))
		c->p++;
	return (size_t)(c->p - *start);
}

static int word_char(int ch) { return isalpha(ch) || ch == '_'; }
static int name_char(int ch) { return isalnum(ch) || ch == '_' || ch == '.' || ch == '-'; }
static int perm_char(int ch) { return ch == 'r' || ch == 'w' || ch == 'x' || ch == '*'; }

static int word_is(const char *w, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

/* One grant "allow PERMS [pool=NAME|pool_id=N]" inside [c->p, c->end). */
static int parse_grant(struct cur *c, struct auth_cap_grant *g)
{
	const char *w;
	size_t n;

	memset(g, 0, sizeof(*g));
	skip_ws(c);
	n = take_word(c, word_char, &w);
	if (!word_is(w, n, "allow"))
		return -EINVAL;
	skip_ws(c);
	n = take_word(c, perm_char, &w);
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint8_t bit = w[i] == 'r' ? AUTH_CAP_R : w[i] == 'w' ? AUTH_CAP_W :
		              w[i] == 'x' ? AUTH_CAP_X : AUTH_CAP_ALL;
		if (w[i] == '*' && n != 1)
			return -EINVAL;
		if ((g->perms & bit) && w[i] != '*')
			return -EINVAL;   /* "rr" */
		g->perms |= bit;
	}
	skip_ws(c);
	if (c->p < c->end && *c->p != ',') {
		n = take_word(c, word_char, &w);
		if (c->p >= c->end || *c->p != '=')
			return -EINVAL;
		c->p++;
		if (word_is(w, n, "pool")) {
			n = take_word(c, name_char, &w);
			if (n == 0 || n >= AUTH_POOL_NAME_MAX)
				return -EINVAL;
			memcpy(g->pool, w, n);
			g->pool[n] = 0;
			g->pool_kind = 1;
		} else if (word_is(w, n, "pool_id")) {
			int64_t v = 0;

			n = take_word(c, name_char, &w);
			if (n == 0 || n > 18)
				return -EINVAL;
			for (size_t i = 0; i < n; i++) {
				if (!isdigit((unsigned char)w[i]))
					return -EINVAL;
				v = v * 10 + (w[i] - '0');
			}
			g->pool_id = v;
			g->pool_kind = 2;
		} else {
			return -EINVAL;
		}
		skip_ws(c);
	}
	return 0;
}

int auth_caps_parse(const char *s, struct auth_caps *out)
{
	struct cur c;
	uint8_t seen = 0;

	memset(out, 0, sizeof(*out));
	if (!s)
		return -EINVAL;
	c.p = s;
	c.end = s + strnlen(s, AUTH_CAPS_STR_MAX);
	if (*c.end)
		goto fail;            /* longer than AUTH_CAPS_STR_MAX - 1 */
	for (;;) {
		const char *w, *close;
		size_t n;
		enum auth_service svc;
		char q;
		struct cur spec;

		skip_ws(&c);
		if (c.p >= c.end)
			break;
		n = take_word(&c, word_char, &w);
		if (word_is(w, n, "mon"))
			svc = AUTH_SVC_MON;
		else if (word_is(w, n, "osd"))
			svc = AUTH_SVC_OSD;
		else
			goto fail;
		if (seen & (1u << svc))
			goto fail;        /* "osd '...' osd '...'": ambiguous */
		seen |= (uint8_t)(1u << svc);
		skip_ws(&c);
		if (c.p >= c.end || (*c.p != '\'' && *c.p != '"'))
			goto fail;
		q = *c.p++;
		close = memchr(c.p, q, (size_t)(c.end - c.p));
		if (!close)
			goto fail;
		spec.p = c.p;
		spec.end = close;
		c.p = close + 1;
		for (;;) {
			if (out->n[svc] >= AUTH_CAPS_MAX_GRANTS)
				goto fail;
			if (parse_grant(&spec, &out->grants[svc][out->n[svc]]))
				goto fail;
			out->n[svc]++;
			if (spec.p >= spec.end)
				break;
			if (*spec.p != ',')
				goto fail;
			spec.p++;
		}
	}
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

int auth_caps_allow(const struct auth_caps *caps, enum auth_service svc,
                    int64_t pool_id, const char *pool_name, unsigned want)
{
	unsigned have = 0;

	if ((unsigned)svc >= AUTH_SVC_COUNT)
		return 0;
	NORN_ASSERT(caps->n[svc] <= AUTH_CAPS_MAX_GRANTS);
	for (uint32_t i = 0; i < caps->n[svc]; i++) {
		const struct auth_cap_grant *g = &caps->grants[svc][i];

		if (g->pool_kind == 1 && !(pool_name && !strcmp(pool_name, g->pool)))
			continue;
		if (g->pool_kind == 2 && !(pool_id >= 0 && pool_id == g->pool_id))
			continue;
		have |= g->perms;
	}
	return want != 0 && (want & ~have) == 0;
}

/* ---- entities --------------------------------------------------------- */

int auth_entity_name_valid(const char *name)
{
	const char *dot;
	size_t n, tn;

	if (!name)
		return 0;
	n = strnlen(name, AUTH_ENTITY_NAME_MAX);
	if (n == 0 || n >= AUTH_ENTITY_NAME_MAX)
		return 0;
	dot = memchr(name, '.', n);
	if (!dot)
		return 0;
	tn = (size_t)(dot - name);
	if (!((tn == 6 && !memcmp(name, "client", 6)) || (tn == 3 && !memcmp(name, "osd", 3)) ||
	      (tn == 3 && !memcmp(name, "mon", 3))))
		return 0;
	if (tn + 1 == n)
		return 0;
	for (size_t i = tn + 1; i < n; i++)
		if (!name_char((unsigned char)name[i]))
			return 0;
	return 1;
}

void authmap_init(struct authmap *m)
{
	memset(m, 0, sizeof(*m));
}

void authmap_free(struct authmap *m)
{
	if (m->entities)
		memset(m->entities, 0, (size_t)m->cap_entities * sizeof(m->entities[0]));
	free(m->entities);
	memset(m, 0, sizeof(*m));   /* secrets do not linger */
}

int authmap_copy(struct authmap *dst, const struct authmap *src)
{
	struct authmap t = *src;

	t.entities = NULL;
	t.cap_entities = src->n_entities;
	if (src->n_entities) {
		t.entities = malloc((size_t)src->n_entities * sizeof(t.entities[0]));
		if (!t.entities)
			return -ENOMEM;
		memcpy(t.entities, src->entities, (size_t)src->n_entities * sizeof(t.entities[0]));
	}
	authmap_free(dst);
	*dst = t;
	return 0;
}

/* Binary search: index of @name, or -(insert position) - 1. */
static long find_idx(const struct authmap *m, const char *name)
{
	size_t lo = 0, hi = m->n_entities;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->entities[mid].name, name);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

const struct auth_entity *authmap_find(const struct authmap *m, const char *name)
{
	long i = find_idx(m, name);

	return i >= 0 ? &m->entities[i] : NULL;
}

int authmap_set(struct authmap *m, const char *name, const uint8_t secret[AUTH_SECRET_LEN],
                const char *caps)
{
	struct auth_caps parsed;
	struct auth_entity *e;
	long i;
	size_t pos;

	if (!auth_entity_name_valid(name) || auth_caps_parse(caps, &parsed))
		return -EINVAL;
	i = find_idx(m, name);
	if (i >= 0) {
		e = &m->entities[i];
	} else {
		pos = (size_t)(-i - 1);
		if (m->n_entities >= AUTHMAP_MAX_ENTITIES)
			return -E2BIG;
		if (m->n_entities == m->cap_entities) {
			uint32_t nc = m->cap_entities ? m->cap_entities * 2 : 8;
			struct auth_entity *ne;

			if (nc > AUTHMAP_MAX_ENTITIES)
				nc = AUTHMAP_MAX_ENTITIES;
			ne = realloc(m->entities, (size_t)nc * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			m->entities = ne;
			m->cap_entities = nc;
		}
		memmove(&m->entities[pos + 1], &m->entities[pos],
		        (m->n_entities - pos) * sizeof(m->entities[0]));
		m->n_entities++;
		e = &m->entities[pos];
		memset(e, 0, sizeof(*e));
		memcpy(e->name, name, strlen(name) + 1);
	}
	memcpy(e->secret, secret, AUTH_SECRET_LEN);
	memset(e->caps_str, 0, sizeof(e->caps_str));
	memcpy(e->caps_str, caps, strlen(caps));
	e->caps = parsed;
	return 0;
}

int authmap_set_caps(struct authmap *m, const char *name, const char *caps)
{
	long i = find_idx(m, name);
	struct auth_caps parsed;
	struct auth_entity *e;

	if (i < 0)
		return -ENOENT;
	if (auth_caps_parse(caps, &parsed))
		return -EINVAL;
	e = &m->entities[i];
	memset(e->caps_str, 0, sizeof(e->caps_str));
	memcpy(e->caps_str, caps, strlen(caps));
	e->caps = parsed;
	return 0;
}

int authmap_rm(struct authmap *m, const char *name)
{
	long i = find_idx(m, name);

	if (i < 0)
		return -ENOENT;
	memmove(&m->entities[i], &m->entities[i + 1],
	        (m->n_entities - (size_t)i - 1) * sizeof(m->entities[0]));
	m->n_entities--;
	memset(&m->entities[m->n_entities], 0, sizeof(m->entities[0]));
	return 0;
}

uint64_t authmap_rotate(struct authmap *m, const uint8_t secret[AUTH_SECRET_LEN],
                        uint64_t expires_ns)
{
	uint64_t id = m->n_keys ? m->keys[m->n_keys - 1].id + 1 : 1;
	struct auth_service_key *k;

	NORN_ASSERT(m->n_keys <= AUTH_ROTATING_KEYS);
	if (m->n_keys == AUTH_ROTATING_KEYS) {
		memmove(&m->keys[0], &m->keys[1], (AUTH_ROTATING_KEYS - 1) * sizeof(m->keys[0]));
		m->n_keys--;
	}
	k = &m->keys[m->n_keys++];
	k->id = id;
	memcpy(k->secret, secret, AUTH_SECRET_LEN);
	k->expires_ns = expires_ns;
	return id;
}

const struct auth_service_key *authmap_key(const struct authmap *m, uint64_t id)
{
	for (uint32_t i = 0; i < m->n_keys; i++)
		if (m->keys[i].id == id)
			return &m->keys[i];
	return NULL;
}

const struct auth_service_key *authmap_current_key(const struct authmap *m)
{
	return m->n_keys ? &m->keys[m->n_keys - 1] : NULL;
}

/* ---- encoding --------------------------------------------------------- */

int authmap_encode(const struct authmap *m, struct enc *e)
{
	size_t frame = map__frame_begin(e, AUTHMAP_MAGIC);
	size_t st = enc_struct_begin(e, AUTHMAP_VERSION, 1);

	enc_u64(e, m->epoch);
	enc_u32(e, m->n_entities);
	for (uint32_t i = 0; i < m->n_entities; i++) {
		const struct auth_entity *en = &m->entities[i];

		enc_str(e, en->name);
		enc_bytes(e, en->secret, AUTH_SECRET_LEN);
		enc_str(e, en->caps_str);
	}
	enc_u32(e, m->n_keys);
	for (uint32_t i = 0; i < m->n_keys; i++) {
		enc_u64(e, m->keys[i].id);
		enc_bytes(e, m->keys[i].secret, AUTH_SECRET_LEN);
		enc_u64(e, m->keys[i].expires_ns);
	}
	enc_struct_end(e, st);
	map__frame_end(e, frame);
	return enc_error(e);
}

int authmap_decode(struct authmap *m, const void *buf, size_t len)
{
	struct authmap t;
	struct dec d;
	struct dec_struct tok;
	uint8_t v;
	uint32_t n;
	int rc;

	authmap_init(&t);
	rc = map__frame_open(buf, len, AUTHMAP_MAGIC, &d);
	if (rc)
		goto fail;
	dec_struct_begin(&d, AUTHMAP_VERSION, &v, &tok);
	t.epoch = dec_u64(&d);
	n = dec_count(&d, AUTHMAP_MAX_ENTITIES, 4 + AUTH_SECRET_LEN + 4 + 4);
	if (n) {
		t.entities = calloc(n, sizeof(t.entities[0]));
		if (!t.entities) {
			rc = -ENOMEM;
			goto fail;
		}
		t.cap_entities = n;
	}
	for (uint32_t i = 0; i < n && !d.err; i++) {
		struct auth_entity *en = &t.entities[i];

		dec_str(&d, en->name, sizeof(en->name));
		dec_copy(&d, en->secret, AUTH_SECRET_LEN);
		dec_str(&d, en->caps_str, sizeof(en->caps_str));
		if (d.err)
			break;
		/* Strictly ascending names: unique and canonical. */
		if (!auth_entity_name_valid(en->name) ||
		    (i > 0 && strcmp(t.entities[i - 1].name, en->name) >= 0) ||
		    auth_caps_parse(en->caps_str, &en->caps))
			dec_fail(&d, NORN_ECORRUPT);
		else
			t.n_entities++;
	}
	n = dec_count(&d, AUTH_ROTATING_KEYS, 8 + AUTH_SECRET_LEN + 8);
	for (uint32_t i = 0; i < n && !d.err; i++) {
		t.keys[i].id = dec_u64(&d);
		dec_copy(&d, t.keys[i].secret, AUTH_SECRET_LEN);
		t.keys[i].expires_ns = dec_u64(&d);
		if (!d.err && i > 0 && t.keys[i].id <= t.keys[i - 1].id)
			dec_fail(&d, NORN_ECORRUPT);
		if (!d.err)
			t.n_keys++;
	}
	map__struct_end(&d, &tok, v, AUTHMAP_VERSION);
	if (!d.err && dec_left(&d))
		dec_fail(&d, NORN_ECORRUPT);
	if (d.err) {
		rc = d.err;
		goto fail;
	}
	authmap_free(m);
	*m = t;
	return 0;
fail:
	authmap_free(&t);
	authmap_free(m);
	return rc;
}

int authmap_dump_json(const struct authmap *m, int with_secrets, struct enc *out)
{
	map__printf(out, "{\"epoch\":%" PRIu64 ",\"entities\":[", m->epoch);
	for (uint32_t i = 0; i < m->n_entities; i++) {
		const struct auth_entity *en = &m->entities[i];

		map__printf(out, "%s{\"entity\":", i ? "," : "");
		map__json_str(out, en->name);
		map__printf(out, ",\"caps\":");
		map__json_str(out, en->caps_str);
		if (with_secrets) {
			map__printf(out, ",\"key\":\"");
			for (int b = 0; b < AUTH_SECRET_LEN; b++)
				map__printf(out, "%02x", en->secret[b]);
			map__printf(out, "\"");
		}
		map__printf(out, "}");
	}
	map__printf(out, "],\"rotating_key_ids\":[");
	for (uint32_t i = 0; i < m->n_keys; i++)
		map__printf(out, "%s%" PRIu64, i ? "," : "", m->keys[i].id);
	map__printf(out, "]}");
	return enc_error(out);
}
