/* The CRUSH text format: compile (text -> map) and decompile (map -> text).
 *
 * Grammar (whitespace separated tokens, '#' to end of line is a comment,
 * '{' and '}' are tokens of their own):
 *
 *   tunable choose_total_tries <1..1000>
 *   tunable behavior 1
 *   type <id> <name>                 all type lines before any bucket or
 *                                    rule; without any, the default types
 *   device <id> <name>
 *   <type-name> <bucket-name> {
 *           id <negative id>         optional: the next free id
 *           alg straw2               optional
 *           item <name> weight <w>   a device, weight in decimal (16.16)
 *           item <name>              a bucket defined above; its weight is
 *                                    the sum of its items
 *   }
 *   rule <name> {
 *           id <n>                   optional: the lowest free number
 *           type replicated|erasure  optional: replicated
 *           step take <item>
 *           step choose|chooseleaf firstn|indep <N> type <type-name>
 *           step emit
 *   }
 *
 * Decompile writes exactly this form (bucket children carry their weight
 * as a comment), children before parents, so compile(decompile(m)) is m
 * and decompile is a fixed point. Errors name the line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crush/crush_int.h"

/* ---------------------------------------------------------------- weights */

int crush_parse_weight(const char *s, size_t len, uint32_t *out)
{
	size_t i = 0;
	uint64_t ip = 0, frac = 0, p10 = 1;
	unsigned nint = 0, nfrac = 0;

	if (!s || !out)
		return -EINVAL;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		ip = ip * 10 + (uint64_t)(s[i++] - '0');
		if (++nint > 6)
			return -ERANGE;
	}
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (++nfrac > 9)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(s[i++] - '0');
			p10 *= 10;
		}
		if (!nfrac)
			return -EINVAL;
	}
	if (i != len || !nint)
		return -EINVAL;
	uint64_t v = (ip << 16) + (frac * CRUSH_WEIGHT_ONE + p10 / 2) / p10;
	if (v > UINT32_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

void crush_format_weight(uint32_t w, char *buf, size_t buflen)
{
	uint32_t p10 = 1000;
	for (int d = 3; d <= 5; d++, p10 *= 10) {
		uint64_t ip = w >> 16;
		uint64_t scaled = ((uint64_t)(w & 0xffffu) * p10 + 0x8000u) >> 16;
		if (scaled >= p10) {
			ip++;
			scaled -= p10;
		}
		int n = snprintf(buf, buflen, "%llu.%0*llu", (unsigned long long)ip, d,
				 (unsigned long long)scaled);
		uint32_t back;
		if (n > 0 && (size_t)n < buflen &&
		    crush_parse_weight(buf, (size_t)n, &back) == 0 && back == w)
			return;
	}
	/* unreachable: with 5 decimals the printed value is within 0.5e-5 of
	 * w / 2^16, less than half a step (2^-17), so it always parses back */
	snprintf(buf, buflen, "%u.%05u", w >> 16, 0u);
}

/* ---------------------------------------------------------------- lexer */

struct tok {
	const char *s;
	size_t len;
	unsigned line;
};

struct parser {
	const char *p, *end;
	unsigned line;
	struct tok peeked;
	int have_peek;
	char *err;
	size_t errlen;
	struct crush_map *map;
	int types_set;      /* a "type" line was seen (defaults cleared) */
	int structure_seen; /* a bucket or rule was seen */
	int32_t *items;     /* bucket body scratch */
	uint32_t *weights;
	uint8_t *has_weight;
	unsigned *item_lines;
};

static int perr(struct parser *ps, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parser *ps, unsigned line, const char *fmt, ...)
{
	if (ps->err && ps->errlen) {
		int n = snprintf(ps->err, ps->errlen, "line %u: ", line);
		if (n >= 0 && (size_t)n < ps->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* 1 and the next token, or 0 at end of input. */
static int lex(struct parser *ps, struct tok *t)
{
	if (ps->have_peek) {
		*t = ps->peeked;
		ps->have_peek = 0;
		return 1;
	}
	for (;;) {
		while (ps->p < ps->end && is_space(*ps->p)) {
			if (*ps->p == '\n')
				ps->line++;
			ps->p++;
		}
		if (ps->p < ps->end && *ps->p == '#') {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
			continue;
		}
		break;
	}
	if (ps->p >= ps->end)
		return 0;
	t->s = ps->p;
	t->line = ps->line;
	if (*ps->p == '{' || *ps->p == '}') {
		t->len = 1;
		ps->p++;
		return 1;
	}
	while (ps->p < ps->end && !is_space(*ps->p) && *ps->p != '{' && *ps->p != '}' &&
	       *ps->p != '#')
		ps->p++;
	t->len = (size_t)(ps->p - t->s);
	return 1;
}

static void unlex(struct parser *ps, const struct tok *t)
{
	ps->peeked = *t;
	ps->have_peek = 1;
}

static int tok_is(const struct tok *t, const char *w)
{
	size_t n = strlen(w);
	return t->len == n && !memcmp(t->s, w, n);
}

/* Printable excerpt of a token for messages. */
static const char *tok_show(const struct tok *t, char *buf, size_t buflen)
{
	size_t n = 0;
	for (size_t i = 0; i < t->len && n + 4 < buflen && i < 40; i++) {
		char c = t->s[i];
		buf[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	buf[n] = '\0';
	return buf;
}

/* Next token, which must exist; `what` says what was expected. */
static int need(struct parser *ps, struct tok *t, unsigned line, const char *what)
{
	if (!lex(ps, t))
		return perr(ps, line, "expected %s, got end of input", what);
	return 0;
}

static int expect(struct parser *ps, unsigned line, const char *word)
{
	struct tok t;
	char sh[48];
	if (need(ps, &t, line, word))
		return -EINVAL;
	if (!tok_is(&t, word))
		return perr(ps, t.line, "expected '%s', got '%s'", word, tok_show(&t, sh, sizeof(sh)));
	return 0;
}

static int tok_int(const struct tok *t, long long lo, long long hi, long long *out)
{
	size_t i = 0;
	int neg = 0;
	long long v = 0;
	if (t->len && t->s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i >= t->len || t->len - i > 10)
		return -EINVAL;
	for (; i < t->len; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return -EINVAL;
		v = v * 10 + (t->s[i] - '0');
	}
	if (neg)
		v = -v;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

static int need_int(struct parser *ps, unsigned line, const char *what, long long lo,
                    long long hi, long long *out)
{
	struct tok t;
	char sh[48];
	if (need(ps, &t, line, what))
		return -EINVAL;
	if (tok_int(&t, lo, hi, out))
		return perr(ps, t.line, "%s must be an integer in %lld..%lld, got '%s'", what, lo, hi,
			    tok_show(&t, sh, sizeof(sh)));
	return 0;
}

/* A name token copied into out[CRUSH_MAX_NAME]. */
static int need_name(struct parser *ps, unsigned line, const char *what, char *out,
                     unsigned *line_out)
{
	struct tok t;
	char sh[48];
	if (need(ps, &t, line, what))
		return -EINVAL;
	if (t.len == 0 || t.len >= CRUSH_MAX_NAME)
		return perr(ps, t.line, "bad %s '%s' (1..%u characters)", what,
			    tok_show(&t, sh, sizeof(sh)), CRUSH_MAX_NAME - 1);
	memcpy(out, t.s, t.len);
	out[t.len] = '\0';
	if (!crush__valid_name(out))
		return perr(ps, t.line, "bad %s '%s' (letters, digits, '_', '.', '-')", what,
			    tok_show(&t, sh, sizeof(sh)));
	if (line_out)
		*line_out = t.line;
	return 0;
}

/* ---------------------------------------------------------------- parser */

static int parse_tunable(struct parser *ps, unsigned line)
{
	char name[CRUSH_MAX_NAME];
	long long v;
	if (need_name(ps, line, "tunable name", name, NULL))
		return -EINVAL;
	if (!strcmp(name, "choose_total_tries")) {
		if (need_int(ps, line, "choose_total_tries", 1, CRUSH_MAX_TRIES, &v))
			return -EINVAL;
		ps->map->choose_total_tries = (uint32_t)v;
		return 0;
	}
	if (!strcmp(name, "behavior")) {
		if (need_int(ps, line, "behavior", CRUSH_BEHAVIOR_V1, CRUSH_BEHAVIOR_V1, &v))
			return -EINVAL;
		ps->map->behavior = (uint32_t)v;
		return 0;
	}
	return perr(ps, line, "unknown tunable '%s'", name);
}

static int parse_type(struct parser *ps, unsigned line)
{
	char name[CRUSH_MAX_NAME];
	long long id;
	if (need_int(ps, line, "type id", 0, CRUSH_MAX_TYPES - 1, &id) ||
	    need_name(ps, line, "type name", name, NULL))
		return -EINVAL;
	if (!ps->types_set) {
		if (ps->structure_seen)
			return perr(ps, line, "type lines must come before buckets and rules");
		memset(ps->map->type_names, 0, sizeof(ps->map->type_names));
		ps->types_set = 1;
	}
	if (ps->map->type_names[id][0])
		return perr(ps, line, "type id %lld defined twice", id);
	int rc = crush_set_type_name(ps->map, (int)id, name);
	if (rc == -EEXIST)
		return perr(ps, line, "type name '%s' defined twice", name);
	if (rc)
		return perr(ps, line, "bad type name '%s'", name);
	return 0;
}

static int parse_device(struct parser *ps, unsigned line)
{
	char name[CRUSH_MAX_NAME];
	long long id;
	if (need_int(ps, line, "device id", 0, CRUSH_MAX_DEVICES - 1, &id) ||
	    need_name(ps, line, "device name", name, NULL))
		return -EINVAL;
	int rc = crush_add_device(ps->map, (int)id, name);
	if (rc == -EEXIST)
		return perr(ps, line, "device id %lld or name '%s' already used", id, name);
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return perr(ps, line, "cannot add device %lld '%s'", id, name);
	return 0;
}

static int check_types_default(struct parser *ps, unsigned line)
{
	ps->structure_seen = 1;
	if (!ps->map->type_names[0][0])
		return perr(ps, line, "type 0 (the device type) is not defined");
	return 0;
}

static int parent_id(const struct crush_map *map, int item)
{
	if (item >= 0)
		return map->devices[item].parent;
	return crush_bucket_get(map, item)->parent;
}

static int parse_bucket(struct parser *ps, const struct tok *typetok)
{
	char name[CRUSH_MAX_NAME], tname[CRUSH_MAX_NAME], iname[CRUSH_MAX_NAME], sh[48];
	unsigned line = typetok->line;
	long long id = 0;
	int have_id = 0;
	uint32_t n = 0;
	struct tok t;
	int rc;

	if (typetok->len >= CRUSH_MAX_NAME)
		return perr(ps, line, "unknown keyword or type '%s'", tok_show(typetok, sh, sizeof(sh)));
	memcpy(tname, typetok->s, typetok->len);
	tname[typetok->len] = '\0';
	int type = crush_type_by_name(ps->map, tname);
	if (type < 0)
		return perr(ps, line, "unknown keyword or type '%s'", tok_show(typetok, sh, sizeof(sh)));
	if (type == 0)
		return perr(ps, line, "'%s' is the device type; declare devices with 'device'", tname);
	if (check_types_default(ps, line) || need_name(ps, line, "bucket name", name, NULL) ||
	    expect(ps, line, "{"))
		return -EINVAL;
	for (;;) {
		if (need(ps, &t, line, "'}'"))
			return -EINVAL;
		if (tok_is(&t, "}"))
			break;
		if (tok_is(&t, "id")) {
			if (have_id)
				return perr(ps, t.line, "bucket '%s' has two ids", name);
			if (need_int(ps, t.line, "bucket id", -(long long)CRUSH_MAX_BUCKETS, -1, &id))
				return -EINVAL;
			have_id = 1;
		} else if (tok_is(&t, "alg")) {
			if (need(ps, &t, t.line, "algorithm"))
				return -EINVAL;
			if (!tok_is(&t, "straw2"))
				return perr(ps, t.line, "unknown bucket algorithm '%s' (only straw2)",
					    tok_show(&t, sh, sizeof(sh)));
		} else if (tok_is(&t, "item")) {
			unsigned iline;
			if (need_name(ps, t.line, "item name", iname, &iline))
				return -EINVAL;
			if (n >= CRUSH_MAX_BUCKET_SIZE)
				return perr(ps, iline, "bucket '%s' has more than %u items", name,
					    CRUSH_MAX_BUCKET_SIZE);
			int item;
			if (crush_item_by_name(ps->map, iname, &item))
				return perr(ps, iline, "unknown item '%s' (define it above)", iname);
			ps->items[n] = item;
			ps->item_lines[n] = iline;
			ps->has_weight[n] = 0;
			ps->weights[n] = 0;
			struct tok w;
			if (lex(ps, &w)) {
				if (tok_is(&w, "weight")) {
					if (need(ps, &w, iline, "weight value"))
						return -EINVAL;
					rc = crush_parse_weight(w.s, w.len, &ps->weights[n]);
					if (rc)
						return perr(ps, w.line, "bad weight '%s' (decimal, 0..65535.99998)",
							    tok_show(&w, sh, sizeof(sh)));
					ps->has_weight[n] = 1;
				} else {
					unlex(ps, &w);
				}
			}
			if (item >= 0 && !ps->has_weight[n])
				return perr(ps, iline, "device item '%s' needs a weight", iname);
			if (item < 0 && ps->has_weight[n])
				return perr(ps, iline, "bucket item '%s' takes no weight (it is the sum of its items)",
					    iname);
			n++;
		} else {
			return perr(ps, t.line, "unexpected '%s' in bucket '%s' (id, alg, item or '}')",
				    tok_show(&t, sh, sizeof(sh)), name);
		}
	}
	int bid;
	rc = crush_add_bucket(ps->map, have_id ? (int)id : 0, type, name, &bid);
	if (rc == -EEXIST)
		return perr(ps, line, "bucket id %lld or name '%s' already used", id, name);
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return perr(ps, line, "cannot add bucket '%s'", name);
	for (uint32_t k = 0; k < n; k++) {
		rc = crush_bucket_add_item(ps->map, bid, ps->items[k], ps->weights[k]);
		if (rc == -ENOMEM)
			return rc;
		if (rc == -EEXIST)
			return perr(ps, ps->item_lines[k], "item '%s' is already in bucket '%s'",
				    crush_item_name(ps->map, ps->items[k]),
				    crush_item_name(ps->map, parent_id(ps->map, ps->items[k])));
		if (rc == -ELOOP)
			return perr(ps, ps->item_lines[k], "item '%s' would make a loop or a tree deeper than %u",
				    crush_item_name(ps->map, ps->items[k]), CRUSH_MAX_DEPTH);
		if (rc == -ERANGE)
			return perr(ps, ps->item_lines[k], "weights under '%s' exceed 65535.99998", name);
		if (rc)
			return perr(ps, ps->item_lines[k], "cannot add item '%s'",
				    crush_item_name(ps->map, ps->items[k]));
	}
	return 0;
}

static int parse_rule(struct parser *ps, unsigned line)
{
	struct crush_rule_step steps[CRUSH_MAX_RULE_STEPS];
	char name[CRUSH_MAX_NAME], word[CRUSH_MAX_NAME], sh[48];
	long long id = -1, n;
	int type = CRUSH_RULE_REPLICATED, have_id = 0, have_type = 0;
	unsigned nsteps = 0;
	struct tok t;

	if (check_types_default(ps, line) || need_name(ps, line, "rule name", name, NULL) ||
	    expect(ps, line, "{"))
		return -EINVAL;
	for (;;) {
		if (need(ps, &t, line, "'}'"))
			return -EINVAL;
		if (tok_is(&t, "}"))
			break;
		unsigned sl = t.line;
		if (tok_is(&t, "id")) {
			if (have_id)
				return perr(ps, sl, "rule '%s' has two ids", name);
			if (need_int(ps, sl, "rule id", 0, CRUSH_MAX_RULES - 1, &id))
				return -EINVAL;
			have_id = 1;
		} else if (tok_is(&t, "type")) {
			if (have_type)
				return perr(ps, sl, "rule '%s' has two types", name);
			if (need_name(ps, sl, "rule type", word, NULL))
				return -EINVAL;
			if (!strcmp(word, "replicated"))
				type = CRUSH_RULE_REPLICATED;
			else if (!strcmp(word, "erasure"))
				type = CRUSH_RULE_ERASURE;
			else
				return perr(ps, sl, "rule type must be replicated or erasure, got '%s'", word);
			have_type = 1;
		} else if (tok_is(&t, "step")) {
			if (nsteps >= CRUSH_MAX_RULE_STEPS)
				return perr(ps, sl, "rule '%s' has more than %u steps", name,
					    CRUSH_MAX_RULE_STEPS);
			struct crush_rule_step *st = &steps[nsteps];
			if (need_name(ps, sl, "step kind", word, NULL))
				return -EINVAL;
			if (!strcmp(word, "take")) {
				int item;
				if (need_name(ps, sl, "item name", word, NULL))
					return -EINVAL;
				if (crush_item_by_name(ps->map, word, &item))
					return perr(ps, sl, "unknown item '%s' in take", word);
				st->op = CRUSH_OP_TAKE;
				st->arg1 = item;
				st->arg2 = 0;
			} else if (!strcmp(word, "emit")) {
				st->op = CRUSH_OP_EMIT;
				st->arg1 = st->arg2 = 0;
			} else if (!strcmp(word, "choose") || !strcmp(word, "chooseleaf")) {
				int leaf = !strcmp(word, "chooseleaf");
				if (need_name(ps, sl, "firstn or indep", word, NULL))
					return -EINVAL;
				int indep;
				if (!strcmp(word, "firstn"))
					indep = 0;
				else if (!strcmp(word, "indep"))
					indep = 1;
				else
					return perr(ps, sl, "expected firstn or indep, got '%s'", word);
				if (need_int(ps, sl, "N", -(long long)CRUSH_MAX_RESULT, CRUSH_MAX_RESULT, &n) ||
				    expect(ps, sl, "type") || need_name(ps, sl, "type name", word, NULL))
					return -EINVAL;
				int ty = crush_type_by_name(ps->map, word);
				if (ty < 0)
					return perr(ps, sl, "unknown type '%s'", word);
				st->op = leaf ? (indep ? CRUSH_OP_CHOOSELEAF_INDEP : CRUSH_OP_CHOOSELEAF_FIRSTN)
					      : (indep ? CRUSH_OP_CHOOSE_INDEP : CRUSH_OP_CHOOSE_FIRSTN);
				st->arg1 = (int32_t)n;
				st->arg2 = ty;
			} else {
				return perr(ps, sl, "unknown step '%s' (take, choose, chooseleaf, emit)", word);
			}
			nsteps++;
		} else {
			return perr(ps, sl, "unexpected '%s' in rule '%s' (id, type, step or '}')",
				    tok_show(&t, sh, sizeof(sh)), name);
		}
	}
	if (!nsteps)
		return perr(ps, line, "rule '%s' has no steps", name);
	int rc = crush_add_rule(ps->map, (int)id, name, type, steps, nsteps, NULL);
	if (rc == -EEXIST)
		return perr(ps, line, "rule id %lld or name '%s' already used", id, name);
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return perr(ps, line, "bad rule '%s'", name);
	return 0;
}

int crush_compile(const char *text, size_t len, struct crush_map **out, char *err, size_t errlen)
{
	struct parser ps;
	struct tok t;
	char sh[48];
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!text && len))
		return -EINVAL;
	*out = NULL;
	memset(&ps, 0, sizeof(ps));
	ps.p = text;
	ps.end = text + len;
	ps.line = 1;
	ps.err = err;
	ps.errlen = errlen;
	rc = crush_create(&ps.map);
	if (rc)
		return rc;
	ps.items = malloc(sizeof(*ps.items) * CRUSH_MAX_BUCKET_SIZE);
	ps.weights = malloc(sizeof(*ps.weights) * CRUSH_MAX_BUCKET_SIZE);
	ps.has_weight = malloc(CRUSH_MAX_BUCKET_SIZE);
	ps.item_lines = malloc(sizeof(*ps.item_lines) * CRUSH_MAX_BUCKET_SIZE);
	if (!ps.items || !ps.weights || !ps.has_weight || !ps.item_lines) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\0') {
			unsigned line = 1;
			for (size_t k = 0; k < i; k++)
				line += text[k] == '\n';
			rc = perr(&ps, line, "NUL byte in text");
			goto fail;
		}
	}
	while (lex(&ps, &t)) {
		if (tok_is(&t, "tunable"))
			rc = parse_tunable(&ps, t.line);
		else if (tok_is(&t, "type"))
			rc = parse_type(&ps, t.line);
		else if (tok_is(&t, "device"))
			rc = parse_device(&ps, t.line);
		else if (tok_is(&t, "rule"))
			rc = parse_rule(&ps, t.line);
		else if (tok_is(&t, "{") || tok_is(&t, "}"))
			rc = perr(&ps, t.line, "unexpected '%s'", tok_show(&t, sh, sizeof(sh)));
		else
			rc = parse_bucket(&ps, &t);
		if (rc)
			goto fail;
	}
	if (!ps.map->type_names[0][0]) {
		rc = perr(&ps, ps.line, "type 0 (the device type) is not defined");
		goto fail;
	}
	free(ps.items);
	free(ps.weights);
	free(ps.has_weight);
	free(ps.item_lines);
	*out = ps.map;
	return 0;
fail:
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "line %u: out of memory", ps.line);
	free(ps.items);
	free(ps.weights);
	free(ps.has_weight);
	free(ps.item_lines);
	crush_destroy(ps.map);
	return rc;
}

/* ---------------------------------------------------------------- output */

struct sbuf {
	char *s;
	size_t len, cap;
	int err;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->err)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->err = -ENOMEM;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* Bucket b and (first) all its children, children before parents. The
 * recursion depth is bounded by CRUSH_MAX_DEPTH. */
static void emit_bucket(const struct crush_map *map, const struct crush_bucket *b, struct sbuf *sb)
{
	char wbuf[32];
	for (uint32_t i = 0; i < b->size; i++)
		if (b->items[i] < 0)
			emit_bucket(map, crush_bucket_get(map, b->items[i]), sb);
	sb_printf(sb, "%s %s {\n\tid %d\n\talg straw2\n", crush_type_name(map, b->type), b->name,
		  b->id);
	for (uint32_t i = 0; i < b->size; i++) {
		crush_format_weight(b->item_weights[i], wbuf, sizeof(wbuf));
		if (b->items[i] >= 0)
			sb_printf(sb, "\titem %s weight %s\n", crush_item_name(map, b->items[i]), wbuf);
		else
			sb_printf(sb, "\titem %s\t# weight %s\n", crush_item_name(map, b->items[i]), wbuf);
	}
	sb_printf(sb, "}\n");
}

int crush_decompile(const struct crush_map *map, char **text_out)
{
	struct sbuf sb = { NULL, 0, 0, 0 };

	if (!map || !text_out)
		return -EINVAL;
	*text_out = NULL;
	sb_printf(&sb, "# begin crush map\n");
	sb_printf(&sb, "tunable behavior %u\n", map->behavior);
	sb_printf(&sb, "tunable choose_total_tries %u\n", map->choose_total_tries);
	sb_printf(&sb, "\n# types\n");
	for (uint32_t t = 0; t < CRUSH_MAX_TYPES; t++)
		if (map->type_names[t][0])
			sb_printf(&sb, "type %u %s\n", t, map->type_names[t]);
	sb_printf(&sb, "\n# devices\n");
	for (uint32_t i = 0; i < map->max_devices; i++)
		if (map->devices[i].exists)
			sb_printf(&sb, "device %u %s\n", i, map->devices[i].name);
	sb_printf(&sb, "\n# buckets\n");
	for (uint32_t i = 0; i < map->max_buckets; i++)
		if (map->buckets[i] && !map->buckets[i]->parent)
			emit_bucket(map, map->buckets[i], &sb);
	sb_printf(&sb, "\n# rules\n");
	for (uint32_t r = 0; r < map->max_rules; r++) {
		const struct crush_rule *rule = map->rules[r];
		if (!rule)
			continue;
		sb_printf(&sb, "rule %s {\n\tid %u\n\ttype %s\n", rule->name, r,
			  rule->type == CRUSH_RULE_ERASURE ? "erasure" : "replicated");
		for (uint32_t s = 0; s < rule->nsteps; s++) {
			const struct crush_rule_step *st = &rule->steps[s];
			switch (st->op) {
			case CRUSH_OP_TAKE:
				sb_printf(&sb, "\tstep take %s\n", crush_item_name(map, st->arg1));
				break;
			case CRUSH_OP_EMIT:
				sb_printf(&sb, "\tstep emit\n");
				break;
			default: {
				int leaf = st->op == CRUSH_OP_CHOOSELEAF_FIRSTN ||
					   st->op == CRUSH_OP_CHOOSELEAF_INDEP;
				int indep = st->op == CRUSH_OP_CHOOSE_INDEP ||
					    st->op == CRUSH_OP_CHOOSELEAF_INDEP;
				sb_printf(&sb, "\tstep %s %s %d type %s\n", leaf ? "chooseleaf" : "choose",
					  indep ? "indep" : "firstn", st->arg1,
					  crush_type_name(map, st->arg2));
				break;
			}
			}
		}
		sb_printf(&sb, "}\n");
	}
	sb_printf(&sb, "\n# end crush map\n");
	if (sb.err) {
		free(sb.s);
		return sb.err;
	}
	*text_out = sb.s;
	return 0;
}
