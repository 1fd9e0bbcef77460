/* Configuration parsing on libinih. See config.h for the model. */
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>
#include "common/config.h"
#include "common/assert.h"

enum opt_type { T_BOOL, T_INT, T_SIZE, T_MS, T_STR };

struct opt_desc {
	const char *name;
	enum opt_type type;
	size_t offset;
	int64_t def_i;
	const char *def_s;
	uint64_t min, max;
	const char *help;
};

#define OPT_DEF_STR_STR(d) (d)
#define OPT_DEF_STR_BOOL(d) NULL
#define OPT_DEF_STR_INT(d) NULL
#define OPT_DEF_STR_SIZE(d) NULL
#define OPT_DEF_STR_MS(d) NULL
#define OPT_DEF_I_STR(d) 0
#define OPT_DEF_I_BOOL(d) (int64_t)(d)
#define OPT_DEF_I_INT(d) (int64_t)(d)
#define OPT_DEF_I_SIZE(d) (int64_t)(d)
#define OPT_DEF_I_MS(d) (int64_t)(d)

static const struct opt_desc opts[] = {
#define NORN_OPT(name, type, def, min, max, help) \
	{ #name, T_##type, offsetof(struct norn_config, name), OPT_DEF_I_##type(def), \
	  OPT_DEF_STR_##type(def), (uint64_t)(min), (uint64_t)(max), help },
#include "common/config_opts.h"
#undef NORN_OPT
};

static const char *const type_names[] = { "bool", "int", "size", "ms", "str" };

static const struct opt_desc *find_opt(const char *name)
{
	char norm[96];
	size_t i;

	for (i = 0; name[i] && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '-' ? '_' : name[i];
	norm[i] = 0;
	for (i = 0; i < NORN_ARRAY_SIZE(opts); i++)
		if (!strcmp(opts[i].name, norm))
			return &opts[i];
	return NULL;
}

int norn_config_init(struct norn_config *cfg, const char *entity)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->entity, sizeof(cfg->entity), "%s", entity ? entity : "client.admin");
	for (size_t i = 0; i < NORN_ARRAY_SIZE(opts); i++) {
		char *field = (char *)cfg + opts[i].offset;
		switch (opts[i].type) {
		case T_BOOL: *(bool *)field = opts[i].def_i != 0; break;
		case T_INT: *(int64_t *)field = opts[i].def_i; break;
		case T_SIZE:
		case T_MS: *(uint64_t *)field = (uint64_t)opts[i].def_i; break;
		case T_STR:
			*(char **)field = strdup(opts[i].def_s);
			if (!*(char **)field) {
				norn_config_free(cfg);
				return -ENOMEM;
			}
			break;
		}
	}
	return 0;
}

void norn_config_free(struct norn_config *cfg)
{
	for (size_t i = 0; i < NORN_ARRAY_SIZE(opts); i++) {
		if (opts[i].type == T_STR) {
			char **f = (char **)((char *)cfg + opts[i].offset);
			free(*f);
			*f = NULL;
		}
	}
}

int norn_parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parses an unsigned number with a unit suffix from @units (suffix ->
 * multiplier); the bare number uses @bare. */
struct unit { const char *sfx; uint64_t mult; };

static int parse_units(const char *s, const struct unit *units, size_t n, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < n; i++) {
		if (!strcasecmp(end, units[i].sfx)) {
			if (units[i].mult && v > UINT64_MAX / units[i].mult)
				return -EINVAL;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int norn_parse_size(const char *s, uint64_t *out)
{
	static const struct unit u[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1ull << 10 }, { "kb", 1ull << 10 }, { "kib", 1ull << 10 },
		{ "m", 1ull << 20 }, { "mb", 1ull << 20 }, { "mib", 1ull << 20 },
		{ "g", 1ull << 30 }, { "gb", 1ull << 30 }, { "gib", 1ull << 30 },
		{ "t", 1ull << 40 }, { "tb", 1ull << 40 }, { "tib", 1ull << 40 },
	};
	return parse_units(s, u, NORN_ARRAY_SIZE(u), out);
}

int norn_parse_ms(const char *s, uint64_t *out)
{
	static const struct unit u[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "min", 60000 },
		{ "h", 3600000 },
	};
	return parse_units(s, u, NORN_ARRAY_SIZE(u), out);
}

int norn_parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

int norn_config_set(struct norn_config *cfg, const char *name, const char *value,
                    char *errbuf, size_t errlen)
{
	const struct opt_desc *o = find_opt(name);
	char *field;
	uint64_t u;
	int64_t i;
	bool b;

	if (!o) {
		snprintf(errbuf, errlen, "unknown option '%s'", name);
		return -ENOENT;
	}
	field = (char *)cfg + o->offset;
	switch (o->type) {
	case T_BOOL:
		if (norn_parse_bool(value, &b))
			goto bad;
		*(bool *)field = b;
		return 0;
	case T_INT:
		if (norn_parse_int(value, &i))
			goto bad;
		if (i < (int64_t)o->min || i > (int64_t)o->max)
			goto range;
		*(int64_t *)field = i;
		return 0;
	case T_SIZE:
	case T_MS:
		if ((o->type == T_SIZE ? norn_parse_size(value, &u) : norn_parse_ms(value, &u)))
			goto bad;
		if (u < o->min || u > o->max)
			goto range;
		*(uint64_t *)field = u;
		return 0;
	case T_STR: {
		char *d = strdup(value);
		if (!d) {
			snprintf(errbuf, errlen, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = d;
		return 0;
	}
	}
bad:
	snprintf(errbuf, errlen, "option '%s': bad %s value '%s'", o->name, type_names[o->type], value);
	return -EINVAL;
range:
	if (o->type == T_INT)
		snprintf(errbuf, errlen, "option '%s': value '%s' out of range [%" PRId64 ", %" PRId64 "]",
		         o->name, value, (int64_t)o->min, (int64_t)o->max);
	else
		snprintf(errbuf, errlen, "option '%s': value '%s' out of range [%" PRIu64 ", %" PRIu64 "]",
		         o->name, value, o->min, o->max);
	return -EINVAL;
}

struct load_ctx {
	struct norn_config *cfg;
	const char *path;
	const char *pass_section;   /* only apply this section on this pass */
	char *errbuf;
	size_t errlen;
	int err;
	int lineno;
};

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = user;
	char msg[256];

	c->lineno++;
	if (c->err)
		return 0;
	if (strcmp(section, c->pass_section))
		return 1;
	if (norn_config_set(c->cfg, name, value, msg, sizeof(msg))) {
		snprintf(c->errbuf, c->errlen, "%s [%s]: %s", c->path, section, msg);
		c->err = -EINVAL;
		return 0;
	}
	return 1;
}

/* Check that every section header names global, a known type or an
 * entity, and every key in any section is a known option, so a typo in
 * another daemon's section is caught by every daemon. */
static int check_cb(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = user;
	(void)value;
	if (c->err)
		return 0;
	if (!find_opt(name)) {
		snprintf(c->errbuf, c->errlen, "%s [%s]: unknown option '%s'", c->path, section, name);
		c->err = -EINVAL;
		return 0;
	}
	return 1;
}

int norn_config_load_file(struct norn_config *cfg, const char *path,
                          char *errbuf, size_t errlen)
{
	struct load_ctx c = { cfg, path, NULL, errbuf, errlen, 0, 0 };
	char type[64];
	const char *passes[3];
	int r;

	FILE *fp = fopen(path, "r");
	if (!fp) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	r = ini_parse_file(fp, check_cb, &c);
	if (r > 0 && !c.err) {
		snprintf(errbuf, errlen, "%s:%d: syntax error", path, r);
		c.err = -EINVAL;
	}
	if (c.err) {
		fclose(fp);
		return c.err;
	}
	snprintf(type, sizeof(type), "%s", cfg->entity);
	char *dot = strchr(type, '.');
	if (dot)
		*dot = 0;
	passes[0] = "global";
	passes[1] = type;
	passes[2] = cfg->entity;
	for (int p = 0; p < 3 && !c.err; p++) {
		if (p == 2 && !strcmp(passes[2], passes[1]))
			break;
		rewind(fp);
		c.pass_section = passes[p];
		ini_parse_file(fp, ini_cb, &c);
	}
	fclose(fp);
	return c.err;
}

int norn_config_parse_args(struct norn_config *cfg, int *argc, char **argv,
                           char *errbuf, size_t errlen)
{
	int out = 1;
	int r;

	for (int i = 1; i < *argc; i++) {
		char *a = argv[i];
		char name[96];
		const char *value;

		if (strncmp(a, "--", 2) || !a[2]) {
			argv[out++] = a;
			continue;
		}
		const char *eq = strchr(a + 2, '=');
		size_t nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
		if (nlen >= sizeof(name)) {
			argv[out++] = a;
			continue;
		}
		memcpy(name, a + 2, nlen);
		name[nlen] = 0;
		if (!find_opt(name)) {
			argv[out++] = a;
			continue;
		}
		if (eq) {
			value = eq + 1;
		} else {
			if (i + 1 >= *argc) {
				snprintf(errbuf, errlen, "option '--%s' needs a value", name);
				return -EINVAL;
			}
			value = argv[++i];
		}
		r = norn_config_set(cfg, name, value, errbuf, errlen);
		if (r)
			return r;
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

void norn_config_print_help(FILE *fp)
{
	for (size_t i = 0; i < NORN_ARRAY_SIZE(opts); i++) {
		const struct opt_desc *o = &opts[i];
		if (o->type == T_STR)
			fprintf(fp, "  %-32s %-5s default \"%s\"\n      %s\n", o->name,
			        type_names[o->type], o->def_s, o->help);
		else
			fprintf(fp, "  %-32s %-5s default %" PRId64 "\n      %s\n", o->name,
			        type_names[o->type], o->def_i, o->help);
	}
}
